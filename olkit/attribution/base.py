"""The result every attribution method returns, and the context gradient methods need.

An :class:`Attribution` is a ``(n_train, n_eval)`` score matrix with the ids of both sides.  The
sign convention is the same for every method: **positive = helpful**, i.e. training on the item
lowers the eval item's loss; harmful data (spam, wrong answers) gets negative scores.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import polars as pl

from olkit.errors import InputError
from olkit.train.data import Batch, build_examples
from olkit.train.qlora import Checkpoint

TRAIN_COLUMNS = ("submission_id", "contributor_id", "instruction", "response")
EVAL_COLUMNS = ("instruction", "response")


@dataclass
class Attribution:
    """Scores of training items (rows) for eval items (columns), plus provenance.

    Example
    -------
    >>> a = Attribution("demo", np.array([[1.0, 0.5], [-1.0, 0.0]]), ["s1", "s2"], ["e1", "e2"],
    ...                 ["alice", "bob"])
    >>> a.by_contributor()["score"].to_list()
    [1.5, -1.0]
    """

    method: str
    scores: np.ndarray
    train_ids: list[str]
    eval_ids: list[str]
    contributor_ids: list[str]
    content_hashes: list[str] | None = None
    seconds: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.scores = np.asarray(self.scores, dtype=np.float64)
        if self.scores.shape != (len(self.train_ids), len(self.eval_ids)):
            raise ValueError(f"scores shape {self.scores.shape} does not match "
                             f"{len(self.train_ids)} train x {len(self.eval_ids)} eval ids")

    def item_scores(self) -> np.ndarray:
        """Total score of each training item over the eval set (``sum`` over columns)."""
        return self.scores.sum(axis=1)

    def to_frame(self) -> pl.DataFrame:
        """Long format: one row per (training item, eval item)."""
        n, m = self.scores.shape
        frame = pl.DataFrame({
            "method": [self.method] * (n * m),
            "submission_id": np.repeat(np.asarray(self.train_ids, dtype=object), m).tolist(),
            "contributor_id": np.repeat(np.asarray(self.contributor_ids, dtype=object), m).tolist(),
            "eval_id": np.tile(np.asarray(self.eval_ids, dtype=object), n).tolist(),
            "score": self.scores.reshape(-1),
        })
        if self.content_hashes is not None:
            frame = frame.with_columns(pl.Series("content_hash",
                                                 np.repeat(np.asarray(self.content_hashes, dtype=object), m).tolist()))
        return frame

    def items(self) -> pl.DataFrame:
        """One row per training item with its total score, rank 1 = most helpful."""
        frame = pl.DataFrame({"submission_id": self.train_ids, "contributor_id": self.contributor_ids,
                              "score": self.item_scores()})
        if self.content_hashes is not None:
            frame = frame.with_columns(pl.Series("content_hash", self.content_hashes))
        return frame.with_columns(pl.col("score").rank("ordinal", descending=True).alias("rank")).sort("rank")

    def by_contributor(self) -> pl.DataFrame:
        """Per contributor: summed score, item count, positive-score share; sorted by score."""
        return (self.items().group_by("contributor_id")
                .agg(pl.col("score").sum(), pl.len().alias("n_items"),
                     (pl.col("score") > 0).mean().alias("share_positive"))
                .sort(["score", "contributor_id"], descending=[True, False]))

    def top(self, eval_index: int, k: int = 5) -> pl.DataFrame:
        """The ``k`` most helpful training items for one eval item (by column index)."""
        col = self.scores[:, eval_index]
        order = np.argsort(-col, kind="stable")[:k]
        return pl.DataFrame({"submission_id": [self.train_ids[i] for i in order],
                             "contributor_id": [self.contributor_ids[i] for i in order],
                             "score": col[order]})


@dataclass
class ModelContext:
    """A trained LoRA model with its tokenizer and (optional) checkpoints, as methods need it.

    Rows are encoded exactly as training encoded them: :func:`olkit.train.data.build_examples`
    (the tokenizer's chat template, loss on the response only), truncated at ``max_length``.
    """

    model: Any
    tokenizer: Any
    checkpoints: list[Checkpoint] = field(default_factory=list)
    max_length: int = 64

    def batch(self, frame: pl.DataFrame) -> Batch:
        """One row of the :class:`~olkit.train.data.Batch` per row of ``frame``, in order."""
        ex = build_examples(frame, self.tokenizer, max_length=self.max_length)
        if len(ex) != frame.height:
            raise InputError(f"{frame.height - len(ex)} rows do not fit max_length {self.max_length} "
                             "(their prompt alone is too long)", field="instruction")
        return ex.batch()

    def generate(self, instruction: str, *, max_new_tokens: int = 48) -> str:
        """Greedy answer of the model to one instruction (:func:`olkit.train.adapters.generate_text`)."""
        from olkit.train.adapters import generate_text

        return generate_text(self.model, self.tokenizer, instruction, max_new_tokens=max_new_tokens)


def check_frame(frame: pl.DataFrame, columns: tuple[str, ...], what: str, source: str | None = None) -> None:
    """Raise :class:`InputError` naming the missing column / the first null row."""
    for col in columns:
        if col not in frame.columns:
            raise InputError(f"{what} has no column {col!r} (columns: {', '.join(frame.columns)})",
                             file=source, field=col)
        nulls = frame[col].is_null()
        if nulls.any():
            raise InputError(f"{what} has an empty {col!r}", file=source, row=int(nulls.arg_true()[0]) + 1,
                             field=col)
    if frame.height == 0:
        raise InputError(f"{what} is empty", file=source)


def eval_ids(frame: pl.DataFrame) -> list[str]:
    if "eval_id" in frame.columns:
        return frame["eval_id"].cast(pl.String).to_list()
    return [f"e{i:04d}" for i in range(frame.height)]


class Method:
    """Base class: subclasses implement :meth:`_scores` and set ``name``."""

    name: ClassVar[str] = "method"
    needs_model: ClassVar[bool] = True

    def attribute(self, ctx: ModelContext | None, train: pl.DataFrame, eval: pl.DataFrame) -> Attribution:
        """Score every training row for every eval row; times itself."""
        check_frame(train, TRAIN_COLUMNS, "training data")
        check_frame(eval, EVAL_COLUMNS, "eval data")
        if self.needs_model and ctx is None:
            raise ValueError(f"{self.name} needs a trained model (ModelContext)")
        t0 = time.perf_counter()
        scores, meta = self._scores(ctx, train, eval)
        seconds = time.perf_counter() - t0
        return Attribution(
            method=self.name, scores=scores, train_ids=train["submission_id"].to_list(),
            eval_ids=eval_ids(eval), contributor_ids=train["contributor_id"].to_list(),
            content_hashes=train["content_hash"].to_list() if "content_hash" in train.columns else None,
            seconds=seconds, meta={**self.params(), **meta},
        )

    def params(self) -> dict:
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def _scores(self, ctx, train, eval) -> tuple[np.ndarray, dict]:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"
