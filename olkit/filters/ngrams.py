"""Word n-gram primitives shared by the Gopher-style heuristics and their datatrove-compatible preset.

Words are given as one flat array of 64-bit word hashes ``h`` with the document index ``doc`` of
each word (documents contiguous, in order).  :func:`rolling_ngrams` hashes every n-gram that lies
inside one document for n = 2, 3, ..., :func:`first_seen` marks the first occurrence of each n-gram
within its document and :func:`repeat_coverage` marks the words covered by repeated n-grams.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import polars as pl

#: Gopher's n-gram sizes: the most frequent 2-4-gram, and characters of repeated 5-10-grams.
TOP_NGRAMS = (2, 3, 4)
DUP_NGRAMS = (5, 6, 7, 8, 9, 10)
#: 64-bit odd multiplier (golden ratio) of every rolling/mixing hash here and in dedup.py
MULT = np.uint64(0x9E3779B97F4A7C15)


def rolling_ngrams(doc: np.ndarray, h: np.ndarray, max_n: int) -> Iterator[tuple[int, np.ndarray | None, np.ndarray | None]]:
    """Yield ``(n, keys, inside)`` for n = 2..``max_n``: ``keys[i]`` hashes the n words from word ``i``
    on, ``inside[i]`` says whether they lie in one document.  With fewer than n words in all, ``keys``
    and ``inside`` are None."""
    rolled = h.copy()
    for n in range(2, max_n + 1):
        m = len(h) - n + 1
        if m <= 0:
            yield n, None, None
            continue
        with np.errstate(over="ignore"):
            rolled = rolled[:m] * MULT + h[n - 1:]
        rolled ^= rolled >> np.uint64(29)
        yield n, rolled, doc[:m] == doc[n - 1:]


def first_seen(doc: np.ndarray, key: np.ndarray) -> np.ndarray:
    """True where ``key`` occurs for the first time within its document."""
    with np.errstate(over="ignore"):
        mixed = key ^ (doc.astype(np.uint64) * MULT)
    return pl.Series(mixed, dtype=pl.UInt64).is_first_distinct().to_numpy()


def repeat_coverage(repeat_starts: np.ndarray, n: int, n_words: int) -> np.ndarray:
    """Boolean mask over the ``n_words`` words: covered by an n-gram starting at one of ``repeat_starts``."""
    delta = (np.bincount(repeat_starts, minlength=n_words + 1)
             - np.bincount(repeat_starts + n, minlength=n_words + n + 1)[: n_words + 1])
    return np.cumsum(delta)[:n_words] > 0
