"""The filter contract: score a batch once, decide many times.

A filter is split in two so that thresholds can be tuned without re-scoring:

* :meth:`Filter.score` computes, vectorised over a polars batch of submissions, the raw signals
  (one or more float/int columns) — the expensive part (embeddings, LM log-probs, MinHash ...);
* :meth:`Filter.decide` turns cached scores plus the Policy's thresholds into, per submission,
  ``passed`` (bool), ``score`` (float, the filter's headline number) and ``reason_code`` (str, null
  when passed) — cheap, pure polars expressions.

Reason codes are ``"<filter>.<rule>"`` (e.g. ``"heuristics.symbol_ratio"``) so every rejection says
which rule fired.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar

import polars as pl

from olkit.errors import InputError
from olkit.filters.config import FilterPolicy

#: Layers, run in this order by the pipeline.
LAYERS = ("format", "heuristics", "dedup", "models")

#: Columns every :meth:`Filter.decide` returns.
DECISION_COLUMNS = ("submission_id", "passed", "score", "reason_code")


class Filter(ABC):
    """One validation step.  Subclasses set :attr:`name` and :attr:`layer`."""

    name: ClassVar[str]
    layer: ClassVar[str]

    @abstractmethod
    def score(self, batch: pl.DataFrame) -> pl.DataFrame:
        """Raw signals for each submission: ``submission_id`` plus ``<name>.<signal>`` columns.

        Must not depend on thresholds.  Must not fail on empty strings, nulls, huge strings or
        non-Latin scripts.  Filters whose result depends on other rows (dedup) use the batch order
        (``created_at`` then ``submission_id``) so results are deterministic.
        """

    @abstractmethod
    def decide(self, scores: pl.DataFrame, policy: FilterPolicy) -> pl.DataFrame:
        """``submission_id, passed, score, reason_code`` from cached scores and thresholds.

        Filters built on :func:`olkit.filters.pipeline.rule_decisions` add ``reason_codes``: every
        rule that fired, not only the first.
        """

    def scoring_params(self) -> dict[str, object]:
        """The scoring-time policy values this instance scores with (dotted keys, see
        :func:`olkit.filters.config.scoring_keys`); empty for filters without any."""
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, layer={self.layer!r})"


#: Columns carried from the input to the results (when present) so decisions can be joined back.
META_COLUMNS = ("submission_id", "contributor_id", "source_id", "source", "datanet", "created_at",
                "label", "archetype", "split")
#: Columns the filters read (when present).
CONTENT_COLUMNS = ("instruction", "response", "text", "content_hash", "parent_id")


def is_cross_row(f: Filter) -> bool:
    """Whether a filter's score for one item depends on other items (dedup): scored on the driver."""
    return bool(getattr(f, "cross_row", False))


def prepare_batch(frame: pl.DataFrame, *, source: str = "<frame>") -> pl.DataFrame:
    """Validate and order a submissions frame for filtering.

    Needs content (``instruction``+``response`` or ``text``) and ``submission_id`` (computed with
    :func:`olkit.ingest.add_ids` when absent); missing optional columns are added as nulls.  Ordered by ``created_at`` then ``submission_id`` (first by time wins).
    """
    if not ({"response", "text"} & set(frame.columns)):
        raise InputError("submissions need 'instruction'/'response' or 'text' columns", file=source,
                         field="response")
    if "submission_id" not in frame.columns:
        # a raw frame (e.g. ``sample_stream()``): content-addressed ids exactly as ingestion makes them
        from olkit.ingest import add_ids

        if "contributor_id" not in frame.columns:
            raise InputError("submissions need a 'submission_id' or a 'contributor_id' column", file=source,
                             field="contributor_id")
        missing = {c: pl.lit(None, dtype=pl.String) for c in ("instruction", "response", "text", "parent_id")
                   if c not in frame.columns}
        if "datanet" not in frame.columns:
            missing["datanet"] = pl.lit("default")
        frame = add_ids(frame.with_columns(**missing))
    nulls = frame["submission_id"].null_count()
    if nulls:
        row = int(frame["submission_id"].is_null().arg_max())
        raise InputError("submission_id is null", file=source, row=row, field="submission_id")
    if frame["submission_id"].n_unique() != frame.height:
        dup = frame.filter(pl.col("submission_id").is_duplicated())["submission_id"][0]
        raise InputError(f"submission_id {dup!r} appears more than once", file=source, field="submission_id")
    out = frame
    for col in ("instruction", "response", "text", "contributor_id", "source_id", "content_hash",
                "parent_id"):
        if col not in out.columns:
            out = out.with_columns(pl.lit(None, dtype=pl.String).alias(col))
        elif out.schema[col] != pl.String:
            out = out.with_columns(pl.col(col).cast(pl.String))
    if "created_at" not in out.columns:
        out = out.with_columns(pl.lit(None, dtype=pl.Datetime("us", "UTC")).alias("created_at"))
    return out.sort(["created_at", "submission_id"], nulls_last=True, maintain_order=True)


def main_text() -> pl.Expr:
    """The content whose quality is judged: ``text`` for documents, else the ``response`` ("" if null)."""
    return pl.coalesce(pl.col("text"), pl.col("response"), pl.lit("")).cast(pl.String)


def full_text() -> pl.Expr:
    """Everything the contributor wrote: ``text``, or ``instruction`` + blank line + ``response``."""
    pair = pl.concat_str([pl.col("instruction").fill_null(""), pl.col("response").fill_null("")],
                         separator="\n\n")
    return pl.coalesce(pl.col("text"), pair, pl.lit("")).cast(pl.String)


def rule_decisions(scores: pl.DataFrame, rules: Sequence[tuple[str, pl.Expr]], score: pl.Expr,
                   *, enabled: bool = True) -> pl.DataFrame:
    """Decision frame from named failure conditions (``(reason_code, fails_expr)``, in priority order).

    Returns the contract columns plus ``reason_codes`` (every rule that fired); nulls in a condition
    count as "does not fire".
    """
    if not rules or not enabled:
        return scores.select(
            "submission_id", pl.lit(True).alias("passed"), score.cast(pl.Float64).alias("score"),
            pl.lit(None, dtype=pl.String).alias("reason_code"),
            pl.lit([], dtype=pl.List(pl.String)).alias("reason_codes"))
    fired = [pl.when(cond.fill_null(False)).then(pl.lit(code)).otherwise(pl.lit(None, dtype=pl.String))
             for code, cond in rules]
    return scores.select(
        "submission_id", score.cast(pl.Float64).alias("score"),
        pl.concat_list(fired).list.drop_nulls().alias("reason_codes"),
    ).with_columns(
        (pl.col("reason_codes").list.len() == 0).alias("passed"),
        pl.col("reason_codes").list.first().alias("reason_code"),
    ).select("submission_id", "passed", "score", "reason_code", "reason_codes")


def with_content_columns(batch: pl.DataFrame) -> pl.DataFrame:
    """``batch`` with any missing ``instruction``/``response``/``text`` column added as nulls."""
    missing = [c for c in ("instruction", "response", "text") if c not in batch.columns]
    if not missing:
        return batch
    return batch.with_columns([pl.lit(None, dtype=pl.String).alias(c) for c in missing])
