"""Training data: select submissions by policy, split off a clean held-out set, build SFT examples.

Three steps, each a small function with stats:

1. :func:`load_submissions` reads submissions (+ latest filter decisions) from a
   :class:`olkit.store.Store`, a store path, or a polars frame.
2. :func:`split_and_select` splits off a **clean held-out set** and selects the training rows by a
   :class:`~olkit.rewards_config.TrainingSelection` (``accepted`` by the latest decisions, ``all``,
   or ``reputation_weighted`` sampling).  Held-out rows are human ``genuine`` items of the
   ``heldout`` split when the ground truth is known (sample datanet: columns ``split``/``label``, or
   the same keys inside ``meta``); otherwise a deterministic 10 % hash split of accepted items.
   No held-out content (normalised instruction+response) ever appears in the training rows.
3. :func:`build_examples` renders chat-template examples and masks the prompt so that the loss is
   on the response tokens only.

Example
-------
>>> from olkit.train.data import split_and_select, build_examples
>>> split = split_and_select(frame, "accepted", seed=0)          # doctest: +SKIP
>>> train = build_examples(split.train, base.tokenizer, max_length=256)  # doctest: +SKIP
>>> train.stats["n_examples"], train.n_response_tokens          # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl
import torch

from olkit.errors import InputError, OlkitError
from olkit.rewards_config import TrainingSelection

SelectionLike = TrainingSelection | str | dict[str, Any]
FALLBACK_TEMPLATE = "### Instruction:\n{instruction}\n\n### Response:\n"


class EmptyTrainingSet(OlkitError, ValueError):
    """No training examples are left after selection/filtering."""


# --------------------------------------------------------------------------------------------
# 1. loading
# --------------------------------------------------------------------------------------------
def load_submissions(source: Any, decisions: pl.DataFrame | None = None) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """Submissions and the latest decisions (or ``None``) from a store, a store path or a frame.

    A frame may carry an ``accepted`` column itself; ``decisions`` (``submission_id, accepted``)
    overrides it.
    """
    if isinstance(source, (str, Path)):
        from olkit.store import Store

        path = Path(source)
        if not path.exists():
            raise InputError("no such store file", file=str(path))
        with Store(path) as store:
            return load_submissions(store, decisions)
    if isinstance(source, pl.DataFrame):
        frame = with_submission_ids(source)
        if decisions is None and "accepted" in frame.columns:
            decisions = frame.select("submission_id", "accepted")
        return frame, decisions
    if hasattr(source, "submissions"):
        frame = source.submissions()
        if decisions is None and hasattr(source, "latest_decisions"):
            latest = source.latest_decisions()
            decisions = latest if latest is not None and latest.height > 0 else None
        return frame, decisions
    raise InputError(f"cannot read training data from a {type(source).__name__}; "
                     "give a Store, a store path or a polars DataFrame")


def with_submission_ids(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with ``submission_id`` (the same content-addressed ids ingestion gives) if missing."""
    if "submission_id" in frame.columns:
        return frame
    if "contributor_id" not in frame.columns:
        raise InputError("training data needs submission_id or contributor_id", field="contributor_id")
    from olkit.ingest.hashing import add_ids

    fill = [pl.lit(None, dtype=pl.String).alias(c) for c in ("instruction", "response", "text", "parent_id")
            if c not in frame.columns]
    if "datanet" not in frame.columns:
        fill.append(pl.lit("default").alias("datanet"))
    return add_ids(frame.with_columns(fill) if fill else frame)


def _with_ground_truth(frame: pl.DataFrame) -> pl.DataFrame:
    """Add ``split``/``label`` from ``meta`` JSON when they are not columns already."""
    exprs = []
    for col in ("split", "label"):
        if col not in frame.columns:
            if "meta" in frame.columns:
                exprs.append(pl.col("meta").str.json_path_match(f"$.{col}").alias(col))
            else:
                exprs.append(pl.lit(None, dtype=pl.String).alias(col))
    return frame.with_columns(exprs) if exprs else frame


def _norm_key(frame: pl.DataFrame) -> pl.Expr:
    def norm(c: str) -> pl.Expr:
        if c not in frame.columns:
            return pl.lit("")
        return pl.col(c).fill_null("").str.to_lowercase().str.replace_all(r"\s+", " ").str.strip_chars()
    return (norm("instruction") + pl.lit("\x1f") + norm("response") + pl.lit("\x1f") + norm("text")).hash(seed=7)


# --------------------------------------------------------------------------------------------
# 2. split and select
# --------------------------------------------------------------------------------------------
@dataclass
class DataSplit:
    """Training rows, clean held-out rows and what happened (``stats``)."""

    train: pl.DataFrame
    eval: pl.DataFrame
    selection: TrainingSelection
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def train_ids(self) -> list[str]:
        return self.train["submission_id"].to_list()


def as_selection(selection: SelectionLike | None) -> TrainingSelection:
    """A :class:`TrainingSelection` from a selection, a mode string, a mapping or a Policy."""
    if selection is None:
        return TrainingSelection()
    if isinstance(selection, TrainingSelection):
        return selection
    if hasattr(selection, "training") and isinstance(selection.training, TrainingSelection):
        return selection.training
    if isinstance(selection, str):
        return TrainingSelection(mode=selection)
    if isinstance(selection, dict):
        return TrainingSelection(**selection)
    raise OlkitError(f"not a training selection: {selection!r}")


def split_and_select(
    source: Any,
    selection: SelectionLike | None = None,
    *,
    decisions: pl.DataFrame | None = None,
    reputation: pl.DataFrame | None = None,
    seed: int = 0,
    eval_fraction: float = 0.1,
    max_eval: int | None = None,
) -> DataSplit:
    """Split off a clean held-out set and select the training rows by ``selection``.

    ``reputation`` (``contributor_id, reputation`` in [0, 1]) drives ``reputation_weighted``
    sampling; without it, reputation is computed from the decisions by the policy's reputation rule
    (``selection`` a Policy; otherwise the default rule) with
    :func:`olkit.reputation.ledger.contributor_reputation`, the implementation the economy uses.  Each submission is kept with probability equal to its contributor's
    reputation (seeded).  ``max_examples`` caps any mode by a seeded random subset.

    Raises :class:`EmptyTrainingSet` when nothing is left and :class:`InputError` when the mode
    needs decisions that do not exist.
    """
    sel = as_selection(selection)
    frame, decisions = load_submissions(source, decisions)
    frame = _with_ground_truth(frame).with_columns(_norm_key(frame).alias("_key"))
    if decisions is not None:
        frame = frame.drop("accepted", strict=False).join(
            decisions.select("submission_id", pl.col("accepted").cast(pl.Boolean)),
            on="submission_id", how="left")
    stats: dict[str, Any] = {"mode": sel.mode, "n_submissions": frame.height,
                             "has_decisions": decisions is not None}

    # -- held-out ---------------------------------------------------------------------------
    has_truth = frame["split"].null_count() < frame.height
    if has_truth:
        is_eval = pl.col("split") == "heldout"
        if frame["label"].null_count() < frame.height:
            is_eval = is_eval & (pl.col("label") == "genuine")
        eval_rows = frame.filter(is_eval)
        stats["eval_source"] = "ground truth (split=heldout, label=genuine)"
        excluded = frame.filter(pl.col("split") == "heldout")  # nothing of the held-out split trains
    else:
        bucket = pl.col("submission_id").hash(seed=11) % 1000 < int(eval_fraction * 1000)
        cond = bucket & pl.col("accepted") if decisions is not None else bucket
        eval_rows = frame.filter(cond)
        stats["eval_source"] = f"hash split ({eval_fraction:.0%}" + (", accepted only)" if decisions is not None else ")")
        excluded = eval_rows
    eval_rows = eval_rows.unique("_key", keep="first", maintain_order=True)
    if max_eval is not None and eval_rows.height > max_eval:
        eval_rows = eval_rows.sample(max_eval, seed=seed, shuffle=False)
    pool = frame.join(excluded.select("submission_id"), on="submission_id", how="anti")
    n_pool = pool.height
    pool = pool.join(eval_rows.select("_key"), on="_key", how="anti")  # no held-out content in train
    stats["n_eval"] = eval_rows.height
    stats["n_train_pool"] = pool.height
    stats["n_removed_as_eval_duplicates"] = n_pool - pool.height

    # -- selection ----------------------------------------------------------------------------
    rng = np.random.default_rng(seed)
    if sel.mode == "all":
        train = pool
    elif sel.mode == "accepted":
        if decisions is None:
            raise InputError("training mode 'accepted' needs filter decisions: run `olkit filter` "
                             "first (or pass decisions=, or use mode 'all')", field="accepted")
        train = pool.filter(pl.col("accepted").fill_null(False))
    elif sel.mode == "reputation_weighted":
        if reputation is None:
            if decisions is None:
                raise InputError("reputation-weighted selection needs a reputation table or filter "
                                 "decisions", field="reputation")
            from olkit.reputation.ledger import contributor_reputation

            log = frame.select("submission_id", "contributor_id").join(
                decisions.select("submission_id", *[c for c in ("accepted", "reasons") if c in decisions.columns]),
                on="submission_id", how="inner")
            reputation = contributor_reputation(log, getattr(selection, "reputation", None))
        pool = pool.join(reputation.select("contributor_id", pl.col("reputation").cast(pl.Float64)),
                         on="contributor_id", how="left").with_columns(pl.col("reputation").fill_null(0.0))
        keep = rng.random(pool.height) < pool["reputation"].clip(0.0, 1.0).to_numpy()
        train = pool.filter(pl.Series(keep))
        stats["mean_reputation"] = float(pool["reputation"].mean() or 0.0)
    else:  # pragma: no cover - pydantic validates the mode
        raise OlkitError(f"unknown selection mode {sel.mode!r}")
    if sel.max_examples is not None and train.height > sel.max_examples:
        idx = np.sort(rng.choice(train.height, size=sel.max_examples, replace=False))
        train = train[idx]
    stats["n_train"] = train.height
    if "label" in train.columns and train["label"].null_count() < train.height:
        stats["train_label_counts"] = dict(train.group_by("label").len().sort("label").iter_rows())
    if train.height == 0:
        raise EmptyTrainingSet(f"no training examples left after selection (mode {sel.mode!r}: "
                               f"{stats['n_train_pool']} candidates, 0 selected); relax the "
                               "policy or use mode 'all'")
    return DataSplit(train=train.drop("_key"), eval=eval_rows.drop("_key"), selection=sel, stats=stats)


# --------------------------------------------------------------------------------------------
# 3. examples
# --------------------------------------------------------------------------------------------
@dataclass
class Batch:
    """Right-padded token ids, attention mask and labels (``-100`` outside the response) of some
    examples, as tensors (:meth:`Examples.batch`); what per-example losses and gradients read."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])

    def index(self, idx: torch.Tensor | np.ndarray | slice) -> Batch:
        if isinstance(idx, np.ndarray):
            idx = torch.as_tensor(idx)
        return Batch(self.input_ids[idx], self.attention_mask[idx], self.labels[idx])


@dataclass
class Examples:
    """Tokenised SFT examples; ``prompt_lengths[i]`` leading tokens of example i carry no loss."""

    input_ids: list[np.ndarray]
    prompt_lengths: np.ndarray
    submission_ids: list[str]
    pad_token_id: int
    stats: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def lengths(self) -> np.ndarray:
        return np.fromiter((len(x) for x in self.input_ids), dtype=np.int64, count=len(self.input_ids))

    @property
    def n_response_tokens(self) -> int:
        return int((self.lengths - self.prompt_lengths).sum())

    def subset(self, indices: Any) -> Examples:
        idx = [int(i) for i in np.asarray(indices).ravel()]
        return Examples([self.input_ids[i] for i in idx], self.prompt_lengths[idx],
                        [self.submission_ids[i] for i in idx], self.pad_token_id, dict(self.stats))

    def collate(self, indices: Any) -> dict[str, torch.Tensor]:
        """Right-padded ``input_ids``, ``attention_mask`` and ``labels`` (-100 on prompt and padding)."""
        idx = [int(i) for i in np.asarray(indices).ravel()]
        lens = np.array([len(self.input_ids[i]) for i in idx])
        width = int(lens.max())
        ids = np.full((len(idx), width), self.pad_token_id, dtype=np.int64)
        for row, i in enumerate(idx):  # one memcpy per example
            ids[row, : lens[row]] = self.input_ids[i]
        pos = np.arange(width)[None, :]
        attn = pos < lens[:, None]
        labels = np.where(attn & (pos >= self.prompt_lengths[idx][:, None]), ids, -100)
        return {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(attn.astype(np.int64)),
                "labels": torch.from_numpy(labels)}

    def batch(self, indices: Any = None) -> Batch:
        """:meth:`collate` of ``indices`` (default: every example, in order) as a :class:`Batch`."""
        return Batch(**self.collate(range(len(self)) if indices is None else indices))


def render_prompt(tokenizer: Any, instruction: str, system_prompt: str | None = None) -> str:
    """The chat-template prompt (with the assistant header) for one instruction."""
    if getattr(tokenizer, "chat_template", None):
        messages = ([{"role": "system", "content": system_prompt}] if system_prompt else []) + [
            {"role": "user", "content": instruction}]
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return (f"{system_prompt}\n\n" if system_prompt else "") + FALLBACK_TEMPLATE.format(instruction=instruction)


def _render_pair(tokenizer: Any, instruction: str, response: str, system_prompt: str | None) -> tuple[str, str]:
    prompt = render_prompt(tokenizer, instruction, system_prompt)
    if getattr(tokenizer, "chat_template", None):
        messages = ([{"role": "system", "content": system_prompt}] if system_prompt else []) + [
            {"role": "user", "content": instruction}, {"role": "assistant", "content": response}]
        full = tokenizer.apply_chat_template(messages, tokenize=False)
        if full.startswith(prompt):
            return prompt, full[len(prompt):]
        return prompt, response + (tokenizer.eos_token or "")
    return prompt, response + (tokenizer.eos_token or "")


def build_examples(
    frame: pl.DataFrame,
    tokenizer: Any,
    *,
    max_length: int = 512,
    system_prompt: str | None = None,
    on_overflow: Literal["truncate", "drop", "error"] = "truncate",
    source: str = "<frame>",
) -> Examples:
    """Chat-template SFT examples with loss on response tokens only.

    Prompt and response are tokenised separately and concatenated, so the mask boundary is exact.
    Document rows (``text`` without ``instruction``) become plain LM examples (loss on all tokens).
    Examples longer than ``max_length``: ``truncate`` cuts the response, ``drop`` skips them
    (counted in ``stats``), ``error`` raises :class:`InputError` naming the row; an example whose
    *prompt* alone does not fit is never truncated (dropped, or an error).
    """
    if frame.height == 0:
        raise EmptyTrainingSet(f"{source}: no rows to build training examples from")
    cols = frame.columns
    n = frame.height
    instr = frame["instruction"].to_list() if "instruction" in cols else [None] * n
    resp = frame["response"].to_list() if "response" in cols else [None] * n
    text = frame["text"].to_list() if "text" in cols else [None] * n
    sids = frame["submission_id"].to_list() if "submission_id" in cols else [f"row-{i}" for i in range(n)]
    prompts, answers = [], []
    for i in range(n):  # jinja rendering is per row; tokenisation below is batched
        if instr[i]:
            p, a = _render_pair(tokenizer, instr[i], resp[i] or "", system_prompt)
        elif text[i]:
            p, a = "", text[i] + (tokenizer.eos_token or "")
        else:
            raise InputError("row has neither instruction nor text", file=source, row=i, field="instruction")
        prompts.append(p)
        answers.append(a)
    p_ids = tokenizer(prompts, add_special_tokens=False)["input_ids"]
    a_ids = tokenizer(answers, add_special_tokens=False)["input_ids"]
    out_ids, out_plen, out_sid = [], [], []
    n_trunc = n_drop = 0
    for i in range(n):
        pl_, al = len(p_ids[i]), len(a_ids[i])
        if pl_ + al > max_length:
            if on_overflow == "error" or (pl_ >= max_length and on_overflow != "drop"):
                raise InputError(f"example is {pl_ + al} tokens (prompt {pl_}), longer than "
                                 f"max_length {max_length}", file=source, row=i, field="instruction"
                                 if pl_ >= max_length else "response")
            if on_overflow == "drop" or pl_ >= max_length - 1:
                n_drop += 1
                continue
            a_ids[i] = a_ids[i][: max_length - pl_]
            n_trunc += 1
        out_ids.append(np.asarray(p_ids[i] + a_ids[i], dtype=np.int64))
        out_plen.append(pl_)
        out_sid.append(sids[i])
    if not out_ids:
        raise EmptyTrainingSet(f"{source}: every example was longer than max_length {max_length}")
    ex = Examples(out_ids, np.asarray(out_plen, dtype=np.int64), out_sid,
                  int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id))
    lens = ex.lengths
    ex.stats = {"n_rows": n, "n_examples": len(ex), "n_truncated": n_trunc, "n_dropped": n_drop,
                "n_tokens": int(lens.sum()), "n_response_tokens": ex.n_response_tokens,
                "max_length": max_length, "mean_length": float(lens.mean())}
    return ex
