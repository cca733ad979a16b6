"""Span attribution: which training submissions does a generated text copy from?

For models where per-example gradients are too expensive, exact text overlap is a cheap and
verifiable attribution signal (as in OpenLedger's "Infini-gram"-style attribution for large
models).  :class:`SpanIndex` builds a word-level **suffix array** over the training submissions
(numpy prefix doubling, ``O(N log^2 N)``) with a unique separator after each document so no match
crosses two documents.  :meth:`SpanIndex.find` computes, for every start position of an output, the
longest span that occurs in the training data (binary search next to the insertion point), keeps the
maximal spans of at least ``min_words`` words and lists every submission that contains each one.

Example
-------
>>> import polars as pl
>>> train = pl.DataFrame({"submission_id": ["s1", "s2"], "contributor_id": ["ann", "bo"],
...                       "instruction": ["q1", "q2"],
...                       "response": ["Bake the bread for ten minutes until golden.", "Boil rice."]})
>>> idx = SpanIndex(train)
>>> idx.find("You should bake the bread for ten minutes, then rest it.", min_words=4)[
...     "text"].to_list()
['bake the bread for ten minutes']
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import polars as pl

from olkit.attribution.base import Attribution, Method, ModelContext

_WORD = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def words(text: str) -> list[str]:
    """Lower-cased word and punctuation tokens (the unit spans are measured in)."""
    return _WORD.findall((text or "").lower())


def suffix_array(tokens: np.ndarray) -> np.ndarray:
    """Suffix array of an integer sequence by prefix doubling (vectorised numpy)."""
    n = tokens.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    rank = np.unique(tokens, return_inverse=True)[1].astype(np.int64)
    sa = np.argsort(rank, kind="stable")
    k = 1
    while True:
        second = np.full(n, -1, dtype=np.int64)
        second[: n - k] = rank[k:] if k < n else second[:0]
        sa = np.lexsort((second, rank))
        key_r, key_s = rank[sa], second[sa]
        new = np.empty(n, dtype=np.int64)
        new[sa] = np.concatenate([[0], np.cumsum((key_r[1:] != key_r[:-1]) | (key_s[1:] != key_s[:-1]))])
        rank = new
        if rank.max() == n - 1 or k >= n:
            return sa
        k *= 2


class SpanIndex:
    """Suffix array over the words of training submissions (``response`` by default)."""

    def __init__(self, train: pl.DataFrame, *, fields: Sequence[str] = ("response",)) -> None:
        self.train = train
        vocab: dict[str, int] = {}
        seq: list[int] = []
        doc: list[int] = []
        self._starts = []
        for d, row in enumerate(train.select(list(fields)).iter_rows()):
            toks = [w for f in row for w in words(f or "")]
            self._starts.append(len(seq))
            seq += [vocab.setdefault(w, len(vocab)) for w in toks]
            doc += [d] * len(toks)
            seq.append(-(d + 1))  # unique separator: no match crosses documents
            doc.append(d)
        self.vocab = vocab
        self.text = np.asarray(seq, dtype=np.int64)
        self.doc = np.asarray(doc, dtype=np.int64)
        self.sa = suffix_array(self.text)
        self._text_list = self.text.tolist()

    def _lcp(self, pos: int, query: list[int]) -> int:
        t = self._text_list
        n, m = len(t), len(query)
        k = 0
        while k < m and pos + k < n and t[pos + k] == query[k]:
            k += 1
        return k

    def _less(self, pos: int, query: list[int]) -> bool:
        """Is the suffix at ``pos`` lexicographically smaller than ``query``?"""
        k = self._lcp(pos, query)
        if k == len(query):
            return False
        if pos + k >= len(self._text_list):
            return True
        return self._text_list[pos + k] < query[k]

    def _lower_bound(self, query: list[int]) -> int:
        lo, hi = 0, len(self.sa)
        while lo < hi:
            mid = (lo + hi) // 2
            if self._less(int(self.sa[mid]), query):
                lo = mid + 1
            else:
                hi = mid
        return lo

    def longest_match(self, query: list[int]) -> int:
        """Length of the longest prefix of ``query`` that occurs in the training text."""
        i = self._lower_bound(query)
        best = 0
        for j in (i - 1, i):
            if 0 <= j < len(self.sa):
                best = max(best, self._lcp(int(self.sa[j]), query))
        return best

    def occurrences(self, span: list[int]) -> np.ndarray:
        """Document indices (rows of ``train``) containing ``span``."""
        lo = self._lower_bound(span)
        hi = lo
        while hi < len(self.sa) and self._lcp(int(self.sa[hi]), span) == len(span):
            hi += 1
        return np.unique(self.doc[self.sa[lo:hi]])

    def find(self, output: str, *, min_words: int = 4) -> pl.DataFrame:
        """Maximal spans of ``output`` (>= ``min_words`` words) found verbatim in training data.

        One row per (span, source submission): ``start, end`` (word offsets in the output),
        ``n_words``, ``text``, ``submission_id``, ``contributor_id``, ``n_sources``.
        """
        toks = words(output)
        ids = [self.vocab.get(w, -(10**9)) for w in toks]
        rows = []
        best_end = 0
        for s in range(len(ids)):
            length = self.longest_match(ids[s:])
            if length < min_words or s + length <= best_end:
                continue
            best_end = s + length
            docs = self.occurrences(ids[s: s + length])
            for d in docs:
                rows.append({"start": s, "end": s + length, "n_words": length,
                             "text": " ".join(toks[s: s + length]),
                             "submission_id": self.train["submission_id"][int(d)],
                             "contributor_id": self.train["contributor_id"][int(d)],
                             "n_sources": int(len(docs))})
        schema = {"start": pl.Int64, "end": pl.Int64, "n_words": pl.Int64, "text": pl.String,
                  "submission_id": pl.String, "contributor_id": pl.String, "n_sources": pl.Int64}
        return pl.DataFrame(rows, schema=schema)

    def coverage_scores(self, output: str, *, min_words: int = 4) -> np.ndarray:
        """Per training row: words of ``output`` it covers, each span shared among its sources,
        divided by the output length (so a row's score is the fraction of the output it explains)."""
        spans = self.find(output, min_words=min_words)
        scores = np.zeros(self.train.height)
        n = max(1, len(words(output)))
        if spans.height:
            index = {sid: i for i, sid in enumerate(self.train["submission_id"].to_list())}
            rows = np.array([index[s] for s in spans["submission_id"].to_list()])
            np.add.at(scores, rows, (spans["n_words"] / spans["n_sources"]).to_numpy() / n)
        return scores


class SpanMatch(Method):
    """Span attribution as a method: ``score_ij`` = share of output ``j`` copied from item ``i``.

    The output of eval row ``j`` is its ``output`` column when present; else, with a model
    (``generate=True``), the model's greedy answer to the instruction; else the reference response.
    """

    name = "span"
    needs_model = False

    def __init__(self, *, min_words: int = 4, generate: bool = False, max_new_tokens: int = 48) -> None:
        self.min_words, self.generate, self.max_new_tokens = min_words, generate, max_new_tokens

    def _scores(self, ctx: ModelContext | None, train: pl.DataFrame, eval: pl.DataFrame):
        index = SpanIndex(train)
        outputs = self.outputs(ctx, eval)
        cols = [index.coverage_scores(o, min_words=self.min_words) for o in outputs]
        return np.stack(cols, axis=1) if cols else np.zeros((train.height, 0)), {}

    def outputs(self, ctx: ModelContext | None, eval: pl.DataFrame) -> list[str]:
        if "output" in eval.columns:
            return eval["output"].fill_null("").to_list()
        if self.generate and ctx is not None:
            return [ctx.generate(q, max_new_tokens=self.max_new_tokens) for q in eval["instruction"]]
        return eval["response"].fill_null("").to_list()


def attribute_output(train: pl.DataFrame, output: str, *, min_words: int = 4) -> Attribution:
    """Span attribution of one text: an :class:`Attribution` with a single eval column."""
    ev = pl.DataFrame({"eval_id": ["output"], "instruction": [""], "response": [output], "output": [output]})
    return SpanMatch(min_words=min_words).attribute(None, train, ev)
