"""Named experiments on top of :func:`olkit.sim.sweep.sweep`: attack scenarios, rule comparison,
and the punishment-vs-forgiveness experiment with an honest, computed verdict.

Example
-------
>>> from olkit.sim import SimConfig
>>> base = SimConfig(n_agents=200, epochs=10)
>>> df = punishment_vs_forgiveness(base, seeds=3, engine="serial")
>>> eff = effects(df, "reputation.rule", "acceptance_ratio", "decoupled", ["honest_retention"], last=5)
>>> eff.columns[:4]
['metric', 'acceptance_ratio', 'decoupled', 'difference']
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from statistics import NormalDist
from typing import Any

import numpy as np
import polars as pl

from olkit.sim.config import SimConfig
from olkit.sim.sweep import grid, sweep

#: Attack scenarios as data: dotted SimConfig overrides on top of the base config.
ATTACKS: dict[str, dict[str, Any]] = {
    "no attack": {"mix": {"expert": 0.4, "casual": 0.6}},
    "spam flood": {"mix": {"expert": 0.25, "casual": 0.35, "spammer": 0.4}},
    "adaptive farmers": {"mix": {"expert": 0.25, "casual": 0.35, "farmer": 0.4}},
    "sybil ring (cheap ids)": {"mix": {"expert": 0.25, "casual": 0.35, "sybil": 0.4}, "identity_cost": 0.0},
    "sybil ring (costly ids)": {"mix": {"expert": 0.25, "casual": 0.35, "sybil": 0.4}, "identity_cost": 5.0},
    "ring + colluding validators": {"mix": {"expert": 0.25, "casual": 0.35, "sybil": 0.4},
                                    "validation": "peer", "colluding_stake": 0.4},
    "machine-text recyclers": {"mix": {"expert": 0.25, "casual": 0.35, "recycler": 0.4}},
}

#: Metrics the punishment-vs-forgiveness experiment reports: quantities on the same scale under every
#: rule (each rule's standing has its own scale, so standing itself is not compared across rules).
PF_METRICS = ("experimentation", "honest_retention", "accepted_quality", "accepted_value",
              "false_rejection", "newcomer_survival")


def attack_table(base: SimConfig, rules: Sequence[str], *, seeds: int | Iterable[int] = 5,
                 engine: str = "local", last: int = 10, attacks: dict[str, dict[str, Any]] | None = None
                 ) -> pl.DataFrame:
    """Every attack x rule: the mean over seeds of each seed's average over the last ``last`` epochs,
    and the seed standard deviation (``<metric>_sd``)."""
    attacks = attacks or ATTACKS
    points = [{**spec, "reputation.rule": rule} for spec in attacks.values() for rule in rules]
    names = [name for name in attacks for _ in rules]
    df = sweep(base, points, seeds=seeds, engine=engine)
    t0 = df["epoch"].max() - last + 1
    cols = ["accepted_quality", "adversary_reward_share", "adversary_roi", "honest_retention",
            "bad_accept_share", "whitewashes"]
    per_seed = df.filter(pl.col("epoch") >= t0).group_by("point", "seed").agg(pl.col(cols).mean())
    out = (per_seed.group_by("point")
           .agg([pl.col(c).mean() for c in cols] + [pl.col(c).std().alias(f"{c}_sd") for c in cols])
           .sort("point"))
    labels = pl.DataFrame({"point": list(range(len(points))), "attack": names,
                           "rule": [p["reputation.rule"] for p in points]})
    return labels.join(out, on="point").drop("point")


def punishment_vs_forgiveness(base: SimConfig, *, seeds: int | Iterable[int] = 20, engine: str = "local",
                              extra: dict[str, Sequence[Any]] | None = None) -> pl.DataFrame:
    """Acceptance-ratio (punishing) vs decoupled (forgiving) rule over ``seeds``, optionally crossed
    with ``extra`` axes (e.g. ``{"standing_horizon": [0, 5, 20]}``)."""
    axes: dict[str, Sequence[Any]] = {"reputation.rule": ["acceptance_ratio", "decoupled"]}
    axes.update(extra or {})
    return sweep(base, grid(axes), seeds=seeds, engine=engine)


def effects(df: pl.DataFrame, by: str, a: str, b: str, metrics: Sequence[str] = PF_METRICS, *,
            last: int = 10, level: float = 0.95, where: pl.Expr | None = None) -> pl.DataFrame:
    """Per metric: mean of group ``a`` and ``b`` (per-seed means over the last ``last`` epochs), the
    difference ``b - a`` with a normal-approximation ``level`` confidence interval (Welch standard
    error over seeds), and ``verdict``: ``higher``/``lower`` when the interval excludes 0, else
    ``no clear difference``."""
    z = NormalDist().inv_cdf(0.5 + level / 2)
    d = df if where is None else df.filter(where)
    t0 = d["epoch"].max() - last + 1
    per_seed = d.filter(pl.col("epoch") >= t0).group_by(by, "seed").agg(pl.col(list(metrics)).mean())
    rows = []
    for m in metrics:
        xa = per_seed.filter(pl.col(by) == a)[m].drop_nulls().to_numpy()
        xb = per_seed.filter(pl.col(by) == b)[m].drop_nulls().to_numpy()
        if xa.size < 2 or xb.size < 2:
            continue
        diff = float(xb.mean() - xa.mean())
        se = float(np.sqrt(xa.var(ddof=1) / xa.size + xb.var(ddof=1) / xb.size))
        lo, hi = diff - z * se, diff + z * se
        verdict = "higher" if lo > 0 else "lower" if hi < 0 else "no clear difference"
        rows.append({"metric": m, a: float(xa.mean()), b: float(xb.mean()), "difference": diff,
                     "ci_low": lo, "ci_high": hi, "relative": diff / abs(xa.mean()) if xa.mean() else np.nan,
                     "seeds": int(min(xa.size, xb.size)), "verdict": verdict})
    return pl.DataFrame(rows)


def verdict_text(eff: pl.DataFrame, a: str, b: str) -> str:
    """Plain-language lines from :func:`effects`, worded by the data (whichever way it came out)."""
    lines = []
    for r in eff.iter_rows(named=True):
        if r["verdict"] == "no clear difference":
            lines.append(f"- {r['metric']}: no clear difference between {b} and {a} "
                         f"({r[b]:.3f} vs {r[a]:.3f}; 95% CI of the difference {r['ci_low']:+.3f} to "
                         f"{r['ci_high']:+.3f}, {r['seeds']} seeds)")
        else:
            lines.append(f"- {r['metric']}: {b} is {r['verdict']} than {a} ({r[b]:.3f} vs {r[a]:.3f}, "
                         f"difference {r['difference']:+.3f}, 95% CI {r['ci_low']:+.3f} to {r['ci_high']:+.3f}, "
                         f"{r['relative']:+.1%}, {r['seeds']} seeds)")
    return "\n".join(lines)
