"""Attribution rewards in the simulation: the noise model comes from the measured benchmark.

The ``attribution`` pay rule (``SimConfig(pay="attribution")``, see
:class:`~olkit.sim.config.AttributionPay` and the engine) splits each epoch's budget by a noisy
estimate of the true value of each contributor's accepted items.  How noisy is not typed in: it is
read from ``benchmarks/results/attribution.json`` by :func:`noise_from_benchmark`:

* ``default_method``, then ``contributor[default_method]["spearman_to_shapley"]["mean"]`` (rank
  correlation of the contributor-level estimate with exact Shapley values) and
  ``contributor[default_method]["redundant_share"]`` (share of credit paid to redundant or
  near-copied data);
* when those keys are missing (older results files), it falls back to the file's item-level
  numbers, with a warning in the returned info: the rank correlation becomes the best method's LDS
  (``methods[best_method]["lds_mean"]``, a Spearman correlation of predicted vs. retrained subset
  losses) and the redundant share ``1 - bad_auc_mean`` (how often a bad item outranks a genuine
  one), capped at 0.5.

:func:`attribution_experiment` asks how accurate attribution must be for attribution pay to beat
acceptance-based and reputation-weighted pay on quality and honest retention, under farming and a
rising ("gravity") budget.

Example
-------
>>> noise, info = noise_from_benchmark()
>>> 0 < noise.rank_corr <= 1 and 0 <= noise.redundant_share <= 0.5 and "source" in info
True
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np
import polars as pl

from olkit.errors import InputError
from olkit.sim.config import AttributionPay, SimConfig

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "attribution.json"


def noise_from_benchmark(path: str | Path | None = None) -> tuple[AttributionPay, dict[str, Any]]:
    """The attribution noise model measured by the attribution benchmark, and where it came from.

    Returns ``(AttributionPay, info)``; ``info`` has ``source`` (the keys read), ``method`` and, when
    the contributor-level keys are missing, ``warning``.
    """
    path = Path(path) if path is not None else BENCHMARK
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise InputError(f"cannot read the attribution benchmark results: {err}", file=str(path)) from None
    method = data.get("default_method")
    contrib = (data.get("contributor") or {}).get(method) if method else None
    info: dict[str, Any] = {"file": str(path), "method": method}
    try:
        rho = float(contrib["spearman_to_shapley"]["mean"])
        red = float(contrib["redundant_share"])
        info["source"] = f"contributor[{method}].spearman_to_shapley.mean, contributor[{method}].redundant_share"
    except (TypeError, KeyError):
        method = data.get("best_method")
        row = next((m for m in data.get("methods", []) if m.get("method") == method), None)
        if row is None:
            raise InputError("the attribution results have neither contributor-level keys nor methods[best_method]",
                             file=str(path), field="default_method") from None
        rho = float(row["lds_mean"])
        red = 1.0 - float(row["bad_auc_mean"])
        info.update(method=method, source=f"methods[{method}].lds_mean, 1 - methods[{method}].bad_auc_mean",
                    warning="contributor-level keys (default_method, contributor[...].spearman_to_shapley, "
                            "redundant_share) missing: fell back to the item-level LDS and bad-data AUC")
    rho_c = float(np.clip(rho, 1e-3, 1.0))
    red_c = float(np.clip(red, 0.0, 0.5))
    info.update(rank_corr=rho_c, redundant_share=red_c)
    return AttributionPay(rank_corr=rho_c, redundant_share=red_c), info


#: The scenario of the attribution experiment: farming and a rising budget.
FARMING_GRAVITY: dict[str, Any] = {
    "mix": {"expert": 0.25, "casual": 0.35, "spammer": 0.05, "farmer": 0.25, "sybil": 0.0, "recycler": 0.10},
    "rewards.schedule": "gravity", "rewards.growth_rate": 0.02,
}


def attribution_experiment(base: SimConfig, *, rank_corrs: Sequence[float] = (0.2, 0.4, 0.6, 0.8, 1.0),
                           seeds: int = 20, last: int = 10, scenario: dict[str, Any] | None = None,
                           measured: AttributionPay | None = None, progress: bool = False) -> pl.DataFrame:
    """Per arm, the seed-mean of quality and honest retention (last ``last`` epochs) with 95% bands,
    and the paired difference to each baseline.

    Arms: ``acceptance`` (pay per accepted item), ``reputation_weighted`` (accepted x standing,
    decoupled rule: the default policy), and ``attribution@r`` for each rank correlation ``r`` (and
    ``attribution@measured`` with the benchmark's noise model).  All arms share seeds.
    """
    from olkit.sim.engine import simulate

    scenario = FARMING_GRAVITY if scenario is None else scenario
    cfg = base.updated(**scenario)
    red = measured.redundant_share if measured is not None else 0.0
    arms: dict[str, dict[str, Any]] = {
        "acceptance": {"rewards.epoch_rule": "acceptance"},
        "reputation_weighted": {"rewards.epoch_rule": "reputation_weighted"},
    }
    for r in rank_corrs:
        arms[f"attribution@{r:g}"] = {"pay": "attribution", "attribution.rank_corr": float(r),
                                      "attribution.redundant_share": red}
    if measured is not None:
        arms["attribution@measured"] = {"pay": "attribution", "attribution.rank_corr": measured.rank_corr,
                                        "attribution.redundant_share": measured.redundant_share}
    outcomes = ("accepted_quality", "honest_retention")
    vals = np.empty((len(arms), seeds, len(outcomes)))
    items = list(arms.items())
    if progress:
        from tqdm.auto import tqdm

        items = tqdm(items, desc="attribution experiment", leave=False)
    for a, (_, ch) in enumerate(items):
        c = cfg.updated(**ch)
        for s in range(seeds):
            tail = simulate(c.updated(seed=s)).epochs.tail(last)
            vals[a, s] = [float(tail[m].mean()) for m in outcomes]
    z = NormalDist().inv_cdf(0.975)
    rows = []
    names = list(arms)
    for a, name in enumerate(names):
        row: dict[str, Any] = {"arm": name, "rank_corr": arms[name].get("attribution.rank_corr")}
        for o, m in enumerate(outcomes):
            x = vals[a, :, o]
            se = x.std(ddof=1) / np.sqrt(seeds) if seeds > 1 else 0.0
            row.update({m: float(x.mean()), f"{m}_lo": float(x.mean() - z * se), f"{m}_hi": float(x.mean() + z * se)})
            for b in ("acceptance", "reputation_weighted"):
                d = x - vals[names.index(b), :, o]
                se_d = d.std(ddof=1) / np.sqrt(seeds) if seeds > 1 else 0.0
                row[f"{m}_vs_{b}"] = float(d.mean())
                row[f"{m}_vs_{b}_lo"] = float(d.mean() - z * se_d)
                row[f"{m}_vs_{b}_hi"] = float(d.mean() + z * se_d)
        rows.append(row)
    return pl.DataFrame(rows).with_columns(pl.lit(seeds).alias("seeds"))


def attribution_verdict(table: pl.DataFrame, info: dict[str, Any] | None = None) -> str:
    """The smallest tested rank correlation at which attribution pay beats both baselines on both
    outcomes (every paired 95% interval above 0), computed from :func:`attribution_experiment`."""
    att = table.filter(pl.col("rank_corr").is_not_null() & (pl.col("arm") != "attribution@measured"))
    att = att.sort("rank_corr")
    cols = [f"{m}_vs_{b}_lo" for m in ("accepted_quality", "honest_retention")
            for b in ("acceptance", "reputation_weighted")]
    wins = att.filter(pl.all_horizontal([pl.col(c) > 0 for c in cols]))
    seeds = int(table["seeds"][0])
    lines = []
    if wins.height:
        r = wins.row(0, named=True)
        # a threshold holds only if every larger tested value also wins
        above = att.filter(pl.col("rank_corr") >= r["rank_corr"])
        steady = above.height == wins.filter(pl.col("rank_corr") >= r["rank_corr"]).height
        lines.append(f"Attribution pay beats both acceptance-based and reputation-weighted pay on quality and "
                     f"honest retention (every paired 95% interval over {seeds} seeds above 0) from a rank "
                     f"correlation of {r['rank_corr']:g} with the true value"
                     + (" upward among the values tested." if steady else
                        "; not at every larger value tested, so there is no clean threshold."))
    else:
        lines.append(f"At no tested rank correlation ({', '.join(f'{x:g}' for x in att['rank_corr'])}) does "
                     f"attribution pay beat both baselines on both outcomes over {seeds} seeds.")
    for m in ("accepted_quality", "honest_retention"):
        one = att.filter(pl.all_horizontal([pl.col(f"{m}_vs_{b}_lo") > 0
                                            for b in ("acceptance", "reputation_weighted")]))
        lines.append(f"- {m}: attribution pay beats both baselines from rank correlation "
                     f"{one['rank_corr'].min():g}" if one.height else
                     f"- {m}: attribution pay does not beat both baselines at any tested rank correlation")
    for r in att.iter_rows(named=True):
        lines.append(f"- rank corr {r['rank_corr']:g}: quality {r['accepted_quality']:.3f} "
                     f"({r['accepted_quality_vs_acceptance']:+.3f} vs acceptance, "
                     f"{r['accepted_quality_vs_reputation_weighted']:+.3f} vs reputation-weighted); retention "
                     f"{r['honest_retention']:.3f} ({r['honest_retention_vs_acceptance']:+.3f}, "
                     f"{r['honest_retention_vs_reputation_weighted']:+.3f})")
    meas = table.filter(pl.col("arm") == "attribution@measured")
    if meas.height:
        r = meas.row(0, named=True)
        src = f" (from {info['source']})" if info else ""
        lines.append(f"With the measured noise model{src}, rank corr {r['rank_corr']:.2f}: quality "
                     f"{r['accepted_quality_vs_acceptance']:+.3f} [{r['accepted_quality_vs_acceptance_lo']:+.3f}, "
                     f"{r['accepted_quality_vs_acceptance_hi']:+.3f}] vs acceptance, retention "
                     f"{r['honest_retention_vs_acceptance']:+.3f} [{r['honest_retention_vs_acceptance_lo']:+.3f}, "
                     f"{r['honest_retention_vs_acceptance_hi']:+.3f}] vs acceptance.")
    if info and info.get("warning"):
        lines.append(f"WARNING: {info['warning']}.")
    return "\n".join(lines)
