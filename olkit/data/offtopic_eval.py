"""Real off-topic pairs built from real human pairs, and seeded halves of a labelled frame.

An off-topic contribution is a real answer under the wrong question.  From human pairs of several
genres (``source``, ``instruction``, ``response``; e.g. :func:`olkit.data.synthetic_eval.human_texts`)
:func:`mismatched_pairs` builds three kinds, each response a real human answer:

* ``same_genre``: each response under the instruction of another item of its own source (an answer
  to a different question of the same domain: another package, another module);
* ``cross_genre``: each response under the instruction of an item of another source;
* ``canned``: a few responses, each pasted under many instructions of other sources (an engagement
  farmer's one answer for every question).

Example
-------
>>> import polars as pl
>>> from olkit.data.offtopic_eval import mismatched_pairs
>>> h = pl.DataFrame({"source": ["a", "a", "a", "b", "b"], "instruction": ["q1", "q2", "q3", "p1", "p2"],
...                   "response": ["r1", "r2", "r3", "s1", "s2"]})
>>> out = mismatched_pairs(h, "same_genre", seed=0)
>>> own = dict(zip(h["response"], h["instruction"]))
>>> any(own[r] == i for r, i in zip(out["response"], out["instruction"]))   # never its own question
False
>>> mismatched_pairs(h, "canned", n_canned=1, canned_copies=3).height   # 1 answer x 3 copies per source
6
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import polars as pl

from olkit.errors import InputError

Kind = Literal["same_genre", "cross_genre", "canned"]
KINDS: tuple[str, ...] = ("same_genre", "cross_genre", "canned")


def mismatched_pairs(frame: pl.DataFrame, kind: Kind, *, seed: int = 0, n_canned: int = 10,
                     canned_copies: int = 20) -> pl.DataFrame:
    """Real responses under instructions that are not theirs (columns ``source`` = the response's
    source, ``instruction``, ``response``, ``kind``); see the module docstring.

    ``same_genre`` pairs never reuse the item's own instruction text; sources with a single
    distinct instruction contribute no ``same_genre`` pairs.
    """
    for col in ("source", "instruction", "response"):
        if col not in frame.columns:
            raise InputError(f"human pairs need a {col!r} column", field=col)
    if kind not in KINDS:
        raise InputError(f"unknown mismatch kind {kind!r}; known: {list(KINDS)}", field="kind")
    rng = np.random.default_rng(seed)
    src = frame["source"].cast(pl.String).to_numpy()
    instr = np.asarray(frame["instruction"].cast(pl.String).to_list(), dtype=object)
    resp = np.asarray(frame["response"].cast(pl.String).to_list(), dtype=object)
    rows_i: list[np.ndarray] = []
    rows_r: list[np.ndarray] = []
    for name in sorted(set(src.tolist())):
        inside = np.flatnonzero(src == name)
        others = np.flatnonzero(src != name)
        if kind == "same_genre":
            # a random derangement of instruction texts within the source
            j = inside[rng.permutation(len(inside))]
            ok = instr[j] != instr[inside]
            rows_i.append(j[ok])
            rows_r.append(inside[ok])
        elif len(others):
            if kind == "cross_genre":
                rows_i.append(others[rng.integers(0, len(others), len(inside))])
                rows_r.append(inside)
            else:
                pick = inside[rng.permutation(len(inside))[:n_canned]]
                rows_r.append(np.repeat(pick, canned_copies))
                rows_i.append(others[rng.integers(0, len(others), len(pick) * canned_copies)])
    ii = np.concatenate(rows_i) if rows_i else np.zeros(0, dtype=int)
    rr = np.concatenate(rows_r) if rows_r else np.zeros(0, dtype=int)
    return pl.DataFrame({"source": src[rr].tolist(), "instruction": instr[ii].tolist(),
                         "response": resp[rr].tolist(), "kind": [kind] * len(rr)},
                        schema={"source": pl.String, "instruction": pl.String, "response": pl.String,
                                "kind": pl.String})


def source_halves(sources, seed: int = 0) -> np.ndarray:
    """A boolean mask splitting each source's items in two halves (``True`` = first half), seeded.

    >>> int(source_halves(["a", "a", "b", "b", "b"], seed=0).sum())
    2
    """
    src = np.asarray([str(s) for s in sources])
    out = np.zeros(len(src), dtype=bool)
    for i, name in enumerate(sorted(set(src.tolist()))):
        idx = np.flatnonzero(src == name)
        out[idx[np.random.default_rng(seed + i).permutation(len(idx))[: len(idx) // 2]]] = True
    return out
