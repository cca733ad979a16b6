"""Content-backed validation: real items from the sample datanet, judged by the real filter pipeline.

:func:`build_pool` draws a labelled stream with :func:`olkit.data.sample.sample_stream`, runs the
actual :class:`olkit.filters.pipeline.Pipeline` over it **once**, and files each item's decision
under the simulation's (kind, good) code by its ground-truth label:

========================  ==============================================================
code                      real items
========================  ==============================================================
safe, good                ``genuine`` answers by experts
safe, failed              ``low_effort`` answers by honest contributors
experiment, good          ``genuine`` answers by casual contributors
experiment, failed        ``off_topic`` / ``other_language`` answers (honest misses)
low effort                ``low_effort``
synthetic (recycled)      ``synthetic`` / ``near_duplicate`` / ``exact_duplicate``
spam                      ``spam``
========================  ==============================================================

A rejection counts as *abuse* when one of its reason codes comes from the spam, synthetic-text or
dedup filters (as opposed to a quality failure).  The item's validator score is the share of
filters it passed.  The simulation then samples decisions from the pool per epoch (vectorised
index draws, see :class:`olkit.sim.validation.ContentValidator`), so the filters run once per pool,
not once per epoch.  The decisions are whatever the real pipeline decides -- including its misses
(without the model-based filters, machine text and off-topic answers mostly pass).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import polars as pl

from olkit.errors import OlkitError
from olkit.sim.config import EXPERIMENT, LOW_EFFORT, SAFE, SPAM, SYNTHETIC

HONEST = ("expert", "casual")
#: (code, label filter) for each pool; codes are ``kind * 2 + good``.
POOLS: tuple[tuple[int, pl.Expr], ...] = (
    (SAFE * 2 + 1, (pl.col("label") == "genuine") & (pl.col("archetype") == "expert")),
    (SAFE * 2 + 0, (pl.col("label") == "low_effort") & pl.col("archetype").is_in(HONEST)),
    (EXPERIMENT * 2 + 1, (pl.col("label") == "genuine") & (pl.col("archetype") == "casual")),
    (EXPERIMENT * 2 + 0, pl.col("label").is_in(["off_topic", "other_language"])),
    (LOW_EFFORT * 2 + 0, pl.col("label") == "low_effort"),
    (LOW_EFFORT * 2 + 1, pl.col("label") == "low_effort"),
    (SYNTHETIC * 2 + 0, pl.col("label").is_in(["synthetic", "near_duplicate", "exact_duplicate"])),
    (SYNTHETIC * 2 + 1, pl.col("label").is_in(["synthetic", "near_duplicate", "exact_duplicate"])),
    (SPAM * 2 + 0, pl.col("label") == "spam"),
    (SPAM * 2 + 1, pl.col("label") == "spam"),
)
ABUSE_FILTERS = ("spam.", "synthetic.", "dedup.")
POOL_MIX = {"expert": 0.25, "casual": 0.30, "spammer": 0.10, "farmer": 0.10, "sybil": 0.10, "recycler": 0.15}


def pipeline_decisions(n_contributors: int = 200, seed: int = 0) -> pl.DataFrame:
    """Run the default filter pipeline on a sample stream; one row per item with its decision."""
    from olkit.data.sample import sample_stream
    from olkit.filters.pipeline import Pipeline

    frame = sample_stream(n_contributors=n_contributors, seed=seed, mix=POOL_MIX)
    result = Pipeline.default().run(frame, progress=False)
    d = result.decisions
    passed = [c for c in d.columns if c.endswith(".passed")]
    abuse = pl.col("reasons").list.eval(
        pl.element().str.starts_with(ABUSE_FILTERS[0]) | pl.element().str.starts_with(ABUSE_FILTERS[1])
        | pl.element().str.starts_with(ABUSE_FILTERS[2])).list.any()
    return d.select(
        "submission_id", "label", "archetype", "accepted", "reasons",
        abuse.fill_null(False).alias("abuse"),
        (pl.sum_horizontal([pl.col(c).cast(pl.Float64) for c in passed]) / max(len(passed), 1)).alias("score"),
    )


@lru_cache(maxsize=4)
def _cached_pool(n_per_label: int, seed: int) -> tuple[tuple[str, np.ndarray], ...]:
    n_contributors = max(60, int(np.ceil(n_per_label / 2)))
    d = pipeline_decisions(n_contributors=n_contributors, seed=seed)
    rng = np.random.default_rng(seed)
    acc, ab, sc, offset, size = [], [], [], np.zeros(10, np.int64), np.zeros(10, np.int64)
    start = 0
    for code, cond in POOLS:
        rows = d.filter(cond)
        if rows.height == 0:
            raise OlkitError(f"the sample stream has no items for simulation code {code}; "
                             f"raise content_pool (now {n_per_label})")
        if rows.height > n_per_label:
            rows = rows[np.sort(rng.choice(rows.height, n_per_label, replace=False)).tolist()]
        acc.append(rows["accepted"].to_numpy())
        ab.append(rows["abuse"].to_numpy())
        sc.append(rows["score"].to_numpy())
        offset[code], size[code] = start, rows.height
        start += rows.height
    return (("accepted", np.concatenate(acc).astype(bool)), ("abuse", np.concatenate(ab).astype(bool)),
            ("score", np.concatenate(sc).astype(float)), ("offset", offset), ("size", size))


def build_pool(n_per_label: int = 400, seed: int = 0) -> dict[str, np.ndarray]:
    """Decision pool for :class:`~olkit.sim.validation.ContentValidator` (cached per process).

    Returns arrays ``accepted``, ``abuse``, ``score`` (concatenated pools) and ``offset``/``size``
    (per code) so a draw is ``offset[code] + floor(u * size[code])``.
    """
    return {k: v.copy() for k, v in _cached_pool(int(n_per_label), int(seed))}


def pool_summary(pool: dict[str, np.ndarray]) -> pl.DataFrame:
    """Per code: pool size, acceptance rate, abuse-flag rate among rejections, mean score."""
    from olkit.sim.config import ITEM_KINDS

    rows = []
    for code in range(10):
        o, n = int(pool["offset"][code]), int(pool["size"][code])
        a = pool["accepted"][o:o + n]
        rej = ~a
        rows.append({"kind": ITEM_KINDS[code // 2], "good": bool(code % 2), "items": n,
                     "accept_rate": float(a.mean()) if n else float("nan"),
                     "abuse_given_reject": float(pool["abuse"][o:o + n][rej].mean()) if rej.any() else float("nan"),
                     "score": float(pool["score"][o:o + n].mean()) if n else float("nan")})
    return pl.DataFrame(rows)
