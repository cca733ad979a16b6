"""Instruction–response relevance: MiniLM cosine similarity catches off-topic answers.

Engagement farmers paste the same canned answer under every question, or answer a different
question than the one asked.  The MiniLM embeddings of the instruction and of the response of an
on-topic pair point the same way; an off-topic pair's cosine is near zero.  The embeddings come from
the shared :class:`olkit.filters.embeddings.EmbeddingCache`, so the quality filter reuses them.

Example
-------
>>> import polars as pl
>>> from olkit.filters.relevance import RelevanceFilter
>>> from olkit.filters.config import FilterPolicy
>>> batch = pl.DataFrame({"submission_id": ["a", "b"],
...     "instruction": ["How do I sort a list in Python?", "How do I sort a list in Python?"],
...     "response": ["Call sorted(xs) or xs.sort().", "Paris is the capital of France."]})
>>> f = RelevanceFilter()
>>> f.decide(f.score(batch), FilterPolicy())["passed"].to_list()
[True, False]
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import polars as pl

from olkit.filters.base import rule_decisions
from olkit.filters.config import FilterPolicy
from olkit.filters.embeddings import EmbeddingFilter, cosine_rows


class RelevanceFilter(EmbeddingFilter):
    """Reject responses whose MiniLM cosine to their instruction is below ``relevance.min_similarity``.

    Scores: ``relevance.cosine`` (in [-1, 1]; null when the item has no instruction or no
    response, e.g. documents, which then pass).  Reason code: ``relevance.off_topic``.
    """

    name: ClassVar[str] = "relevance"
    layer: ClassVar[str] = "models"
    reason_code: ClassVar[str] = "relevance.off_topic"
    score_column: ClassVar[str] = "relevance.cosine"

    def score_embedded(self, batch: pl.DataFrame, instr: np.ndarray, resp: np.ndarray) -> np.ndarray:
        cos = cosine_rows(instr, resp)
        cos[~(instr.any(axis=1) & resp.any(axis=1))] = np.nan
        return cos

    def decide(self, scores: pl.DataFrame, policy: FilterPolicy) -> pl.DataFrame:
        p = policy.relevance
        cos = pl.col(self.score_column)
        return rule_decisions(scores, [(self.reason_code, cos < p.min_similarity)], cos, enabled=p.enabled)
