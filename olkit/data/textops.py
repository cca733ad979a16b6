"""Small text utilities shared by the sample generator and the external eval set.

The near-duplicate generators edit a text until its word-shingle Jaccard similarity to the
original lies in a target band, so "near" is measured, not assumed.

>>> round(shingle_jaccard("the quick brown fox jumps", "the quick brown fox jumped"), 2)
0.5
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np

_TOKEN = re.compile(r"\w+", re.UNICODE)
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z`\"'(])")

#: The band of word-3-shingle Jaccard similarity a generated near duplicate must fall in.
NEAR_BAND = (0.6, 0.95)


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens (letters/digits/underscore, any script)."""
    return _TOKEN.findall(text.lower())


def shingles(text: str, k: int = 3) -> set[tuple[str, ...]]:
    """The set of word ``k``-shingles of ``text`` (the whole token tuple when shorter)."""
    toks = tokens(text)
    if len(toks) < k:
        return {tuple(toks)} if toks else set()
    return {tuple(toks[i:i + k]) for i in range(len(toks) - k + 1)}


def shingle_jaccard(a: str, b: str, k: int = 3) -> float:
    """Exact Jaccard similarity of the word ``k``-shingle sets of ``a`` and ``b``."""
    sa, sb = shingles(a, k), shingles(b, k)
    if not sa and not sb:
        return 1.0
    return len(sa & sb) / len(sa | sb)


def sentences(text: str) -> list[str]:
    """Split prose into sentences (keeps paragraph breaks inside the pieces)."""
    return [s for s in _SENTENCE.split(text) if s]


EditOp = Callable[[str, np.random.Generator], str]


def edit_into_band(text: str, ops: list[EditOp], rng: np.random.Generator,
                   band: tuple[float, float] = NEAR_BAND, *, margin: float = 0.02,
                   max_tries: int = 40) -> str | None:
    """Apply random edit operations to ``text`` until its Jaccard similarity lies in ``band``.

    Starts with a few operations (more for longer texts), adds one when the copy is still too
    similar and restarts from the original when it drifted too far.  Returns ``None`` when no
    edit in ``max_tries`` attempts lands in the band (very short texts).
    """
    lo, hi = band[0] + margin, band[1] - margin
    n_words = max(len(tokens(text)), 1)
    n_ops = max(1, n_words // 25)
    for _ in range(max_tries):
        out = text
        for op_idx in rng.integers(0, len(ops), size=n_ops):
            out = ops[int(op_idx)](out, rng)
        if out == text:
            n_ops += 1
            continue
        sim = shingle_jaccard(text, out)
        if lo <= sim <= hi:
            return out
        n_ops = n_ops + 1 if sim > hi else max(1, n_ops - 1)
    return None
