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

import polars as pl

from olkit.filters.base import Filter
from olkit.filters.config import FilterPolicy
from olkit.filters.embeddings import EmbeddingCache, cosine_rows, default_embedder


class RelevanceFilter(Filter):
    """Reject responses whose MiniLM cosine to their instruction is below ``relevance.min_similarity``.

    Scores: ``relevance.cosine`` (in [-1, 1]; null when the item has no instruction or no
    response, e.g. documents, which then pass).  Reason code: ``relevance.off_topic``.
    """

    name: ClassVar[str] = "relevance"
    layer: ClassVar[str] = "models"
    reason_code: ClassVar[str] = "relevance.off_topic"

    def __init__(self, embedder: EmbeddingCache | None = None) -> None:
        self._embedder = embedder

    @property
    def embedder(self) -> EmbeddingCache:
        return self._embedder if self._embedder is not None else default_embedder()

    def score(self, batch: pl.DataFrame) -> pl.DataFrame:
        ids = batch.get_column("submission_id")
        if batch.height == 0:
            return pl.DataFrame({"submission_id": ids, "relevance.cosine": pl.Series([], dtype=pl.Float64)})
        instr, resp = self.embedder.embed_pairs(batch)
        cos = pl.Series("relevance.cosine", cosine_rows(instr, resp), dtype=pl.Float64)
        has_both = (instr.any(axis=1) & resp.any(axis=1)).tolist()
        frame = pl.DataFrame({"submission_id": ids, "relevance.cosine": cos, "_ok": has_both})
        return frame.select(
            "submission_id",
            pl.when(pl.col("_ok")).then(pl.col("relevance.cosine")).otherwise(None).alias("relevance.cosine"),
        )

    def decide(self, scores: pl.DataFrame, policy: FilterPolicy) -> pl.DataFrame:
        cos = pl.col("relevance.cosine")
        reject = cos.is_not_null() & (cos < policy.relevance.min_similarity)
        return scores.select(
            "submission_id",
            (~reject).alias("passed"),
            cos.alias("score"),
            pl.when(reject).then(pl.lit(self.reason_code)).otherwise(None).cast(pl.String).alias("reason_code"),
        )
