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
from typing import ClassVar

import polars as pl

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

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, layer={self.layer!r})"
