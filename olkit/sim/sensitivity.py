"""Global sensitivity analysis: where in the space of behavioural assumptions does a rule win?

The punishment-vs-forgiveness verdict depends on assumptions nobody has measured: how many epochs
of income a contributor reads into a change of standing, how fast people quit, how accurate the
abuse flags are on honest and on abusive work, how good the validator is, how well experiments pay.
This module samples those assumptions by Latin hypercube (:data:`PARAMS`, one uniform range each),
runs every reputation *arm* (:data:`ARMS`) at every point over the same seeds (common random
numbers: arms differ only by the rule), and reports per outcome (:data:`OUTCOMES`):

* the **share of the parameter space where each arm beats the acceptance ratio** (the seed-mean
  paired difference is in the arm's favour), with a seed-bootstrap interval (seeds resampled with
  replacement, the share recomputed), and the shares where it wins/loses *clearly* (the paired 95%
  interval over seeds excludes 0);
* the **drivers**: first-order Sobol indices of the paired difference, estimated by binning the LHS
  sample on each parameter (the variance of the bin means, bias-corrected for the within-bin noise,
  over the total variance), and standardised regression coefficients (OLS on the unit-scaled
  parameters) with the regression's R^2;
* a **negative control**: the same points with pay that does not depend on standing (split by
  acceptance) and a standing horizon of 0; every arm must then give *exactly* the same outcomes as
  the acceptance ratio (the rule changes nothing any agent sees).

Outcome definitions (fixed before looking at results): the mean over the last ``last`` epochs of
``accepted_quality`` (quality ceiling), ``honest_retention``, ``experimentation`` and
``adversary_reward_share`` (lower is better, so "beats" means lower).

Fairness of the arms: Beta uses the decoupled rule's forgetting factor, so decoupled vs Beta isolates
what the abuse flags add; the abuse flags' error rates on honest and abusive work are sampled axes,
not fixed at a favourable value.

Example
-------
>>> from olkit.sim import SimConfig
>>> res = run_sensitivity(SimConfig(n_agents=100, epochs=12), n_points=4, seeds=2, engine="serial",
...                       last=4, control_seeds=1)
>>> res.negative_control_max_abs_diff
0.0
>>> sorted(res.shares()["arm"].unique().to_list())
['beta', 'credibility', 'decoupled', 'stake']
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl

from olkit.errors import InputError
from olkit.sim.config import SimConfig, ValidatorModel
from olkit.sim.sweep import map_tasks

#: Sampled behavioural assumptions: name -> (low, high, meaning).  Uniform on each range.
PARAMS: dict[str, tuple[float, float, str]] = {
    "standing_horizon": (0.0, 30.0, "epochs of income an agent reads into a change of standing"),
    "hazard_return": (0.0, 0.2, "quit hazard per unit of income shortfall (income / cost below 1)"),
    "hazard_rejection": (0.0, 0.15, "quit hazard per unit of recent rejection rate"),
    "abuse_error_honest": (0.0, 0.5, "P(an honest rejection is flagged as abuse)"),
    "abuse_recall": (0.2, 1.0, "P(a rejected low-effort / machine-text / spam item is flagged as abuse)"),
    "validator_error": (0.25, 2.5, "multiplier on every accept/reject error rate of the validator"),
    "experiment_pay": (0.5, 3.0, "pay of an accepted experiment relative to an accepted safe item"),
}

#: Reputation arms; the first is the reference every other arm is compared with.
ARMS: dict[str, dict[str, Any]] = {
    "acceptance_ratio": {"reputation.rule": "acceptance_ratio"},
    "beta": {"reputation.rule": "beta", "reputation.params": {"forgetting": 0.9}},  # = decoupled's
    "decoupled": {"reputation.rule": "decoupled", "reputation.params": {"forgetting": 0.9}},
    "credibility": {"reputation.rule": "credibility"},
    "stake": {"reputation.rule": "stake"},
}

#: Outcomes and their direction (+1: higher is better, -1: lower is better).
OUTCOMES: dict[str, int] = {
    "accepted_quality": 1, "honest_retention": 1, "experimentation": 1, "adversary_reward_share": -1,
}

#: The negative control: pay that does not depend on standing and a standing horizon of 0.
NEGATIVE_CONTROL: dict[str, Any] = {"rewards.epoch_rule": "acceptance", "standing_horizon": 0.0}

_ERROR_RATES = ("false_reject_safe", "false_reject_experiment", "accept_failed", "accept_low_effort",
                "accept_synthetic", "accept_spam")


def latin_hypercube(n: int, d: int, *, seed: int = 0) -> np.ndarray:
    """``n`` points in ``[0, 1)^d``: each axis cut into ``n`` strata, one point per stratum, random pairing.

    >>> u = latin_hypercube(5, 2, seed=1)
    >>> sorted((u[:, 0] * 5).astype(int).tolist())
    [0, 1, 2, 3, 4]
    """
    rng = np.random.default_rng(seed)
    strata = np.argsort(rng.random((d, n)), axis=1).T  # n x d: a random permutation per axis
    return (strata + rng.random((n, d))) / n


def to_changes(values: dict[str, float]) -> dict[str, Any]:
    """SimConfig changes (dotted keys) for one point of :data:`PARAMS` (natural units)."""
    defaults = ValidatorModel()
    out: dict[str, Any] = {
        "standing_horizon": float(values["standing_horizon"]),
        "hazard_return": float(values["hazard_return"]),
        "hazard_rejection": float(values["hazard_rejection"]),
        "experiment_pay": float(values["experiment_pay"]),
        "validator.abuse_genuine": float(values["abuse_error_honest"]),
    }
    for k in ("abuse_low_effort", "abuse_synthetic", "abuse_spam"):
        out[f"validator.{k}"] = float(values["abuse_recall"])
    for k in _ERROR_RATES:
        out[f"validator.{k}"] = float(min(1.0, getattr(defaults, k) * values["validator_error"]))
    return out


def sample(n_points: int, *, seed: int = 0, params: dict[str, tuple[float, float, str]] | None = None
           ) -> pl.DataFrame:
    """A Latin-hypercube sample of ``params`` (default :data:`PARAMS`): one row per point, natural units."""
    params = params or PARAMS
    if n_points < 1:
        raise InputError("n_points must be >= 1", field="n_points")
    u = latin_hypercube(n_points, len(params), seed=seed)
    lo = np.array([v[0] for v in params.values()])
    hi = np.array([v[1] for v in params.values()])
    x = lo + u * (hi - lo)
    return pl.DataFrame({k: x[:, i] for i, k in enumerate(params)}).with_row_index("point")


def _run(cfg: SimConfig) -> dict[str, np.ndarray]:
    """One run's per-epoch metric arrays (NaN where undefined), without building a frame."""
    from olkit.sim.engine import Simulation

    sim = Simulation(cfg)
    for _ in range(cfg.epochs):
        sim.step()
    return sim.records


def _outcomes(records: dict[str, np.ndarray], last: int) -> np.ndarray:
    out = np.full(len(OUTCOMES), np.nan)
    for i, m in enumerate(OUTCOMES):
        tail = records[m][-last:]
        if not np.isnan(tail).all():
            out[i] = float(np.nanmean(tail))
    return out


def _point_task(base: dict[str, Any], changes: dict[str, Any], arms: dict[str, dict[str, Any]],
                seeds: list[int], last: int, control_seeds: list[int],
                control: dict[str, Any] | None = None) -> tuple[np.ndarray, float]:
    """All arms x seeds at one point -> (arms x seeds x outcomes, negative-control max |diff|).

    ``control``: the changes that make the rule irrelevant (default :data:`NEGATIVE_CONTROL`).
    """
    from olkit.sim.engine import METRICS

    cfg = SimConfig.build(base).updated(**changes)
    out = np.empty((len(arms), len(seeds), len(OUTCOMES)))
    for a, arm in enumerate(arms.values()):
        arm_cfg = cfg.updated(**arm)
        for s_i, s in enumerate(seeds):
            out[a, s_i] = _outcomes(_run(arm_cfg.updated(seed=s)), last)
    # negative control: pay independent of standing, horizon 0 -> every arm must be identical
    ctrl = cfg.updated(**(NEGATIVE_CONTROL if control is None else control))
    cols = [m for m in METRICS if not m.startswith("standing_")]
    worst = 0.0
    for s in control_seeds:
        ref = None
        for arm in arms.values():
            rec = _run(ctrl.updated(**arm, seed=s))
            frame = np.stack([rec[m] for m in cols])
            if ref is None:
                ref = frame
            else:
                diff = np.abs(frame - ref)
                both_nan = np.isnan(frame) & np.isnan(ref)
                worst = max(worst, float(np.where(both_nan, 0.0, np.nan_to_num(diff, nan=np.inf)).max()))
    return out, worst


@dataclass
class SensitivityResult:
    """Per point, arm, seed and outcome: ``values`` (points x arms x seeds x outcomes), the sample."""

    points: pl.DataFrame
    values: np.ndarray
    arms: list[str]
    seeds: list[int]
    negative_control_max_abs_diff: float
    last: int
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def params(self) -> list[str]:
        return [c for c in self.points.columns if c != "point"]

    def differences(self) -> np.ndarray:
        """Paired differences in each arm's favour vs the reference arm: points x arms-1 x seeds x outcomes."""
        sign = np.array(list(OUTCOMES.values()), dtype=float)
        return (self.values[:, 1:] - self.values[:, :1]) * sign

    def shares(self, *, n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> pl.DataFrame:
        """Per arm and outcome: share of the space won (seed-mean difference > 0) with a bootstrap interval.

        Also ``clear_win``/``clear_loss``: shares of points where the paired ``level`` interval over
        seeds lies above/below 0, and ``mean_difference`` over the space.
        """
        from statistics import NormalDist

        d = self.differences()  # P x A x S x O
        n_seeds = d.shape[2]
        rng = np.random.default_rng(seed)
        idx = rng.integers(0, n_seeds, size=(n_boot, n_seeds))
        z = NormalDist().inv_cdf(0.5 + level / 2)
        mean = np.nanmean(d, axis=2)  # P x A x O
        se = np.nanstd(d, axis=2, ddof=1) / np.sqrt(n_seeds) if n_seeds > 1 else np.zeros_like(mean)
        q = (1 - level) / 2
        rows = []
        for a, arm in enumerate(self.arms[1:]):
            for o, outcome in enumerate(OUTCOMES):
                x = d[:, a, :, o]  # P x S
                share = float(np.mean(mean[:, a, o] > 0))
                boot = np.mean(np.nanmean(x[:, idx], axis=2) > 0, axis=0)  # (P x B x S) -> B
                rows.append({"arm": arm, "outcome": outcome, "share_won": share,
                             "lo": float(np.quantile(boot, q)), "hi": float(np.quantile(boot, 1 - q)),
                             "clear_win": float(np.mean(mean[:, a, o] - z * se[:, a, o] > 0)),
                             "clear_loss": float(np.mean(mean[:, a, o] + z * se[:, a, o] < 0)),
                             "mean_difference": float(np.nanmean(mean[:, a, o]))})
        return pl.DataFrame(rows)

    def drivers(self, arm: str = "decoupled", *, bins: int = 10) -> pl.DataFrame:
        """First-order Sobol indices (binned, bias-corrected) and standardised regression coefficients
        of ``arm``'s seed-mean paired difference, per outcome and parameter; sorted by index."""
        a = self.arms.index(arm) - 1
        if a < 0:
            raise InputError(f"{arm!r} is the reference arm; pick another", field="arm")
        x = self.points.select(self.params).to_numpy()
        u = (np.argsort(np.argsort(x, axis=0), axis=0) + 0.5) / x.shape[0]  # ranks -> unit scale
        d = np.nanmean(self.differences()[:, a], axis=1)  # P x O
        rows = []
        for o, outcome in enumerate(OUTCOMES):
            y = d[:, o]
            ok = ~np.isnan(y)
            yv, uv = y[ok], u[ok]
            var = float(yv.var())
            design = np.column_stack([np.ones(ok.sum()), (uv - 0.5) / uv.std(0)])
            coef, *_ = np.linalg.lstsq(design, yv, rcond=None)
            fitted = design @ coef
            r2 = 1.0 - float(((yv - fitted) ** 2).sum()) / max(float(((yv - yv.mean()) ** 2).sum()), 1e-300)
            for i, p in enumerate(self.params):
                b = np.minimum((uv[:, i] * bins).astype(int), bins - 1)
                cnt = np.bincount(b, minlength=bins).astype(float)
                has = cnt > 0
                means = np.bincount(b, weights=yv, minlength=bins)[has] / cnt[has]
                within = np.bincount(b, weights=yv**2, minlength=bins)[has] / cnt[has] - means**2
                between = float(np.average((means - yv.mean()) ** 2, weights=cnt[has]))
                noise = float(np.average(within / np.maximum(cnt[has] - 1, 1), weights=cnt[has]))
                s1 = max(0.0, (between - noise) / var) if var > 0 else 0.0
                rows.append({"arm": arm, "outcome": outcome, "param": p, "first_order": s1,
                             "src": float(coef[i + 1] / np.sqrt(var)) if var > 0 else 0.0, "r2": r2})
        return pl.DataFrame(rows).sort(["outcome", "first_order"], descending=[False, True])

    def verdict_drivers(self, arm: str = "decoupled", *, bins: int = 10) -> list[str]:
        """Parameters ranked by how much they change the *verdict* (win/lose) of ``arm``: the mean over
        outcomes of the first-order index of the win indicator."""
        a = self.arms.index(arm) - 1
        u = self.points.select(self.params).to_numpy()
        u = (np.argsort(np.argsort(u, axis=0), axis=0) + 0.5) / u.shape[0]
        win = (np.nanmean(self.differences()[:, a], axis=1) > 0).astype(float)  # P x O
        score = np.zeros(len(self.params))
        for o in range(win.shape[1]):
            y = win[:, o]
            var = y.var()
            if var <= 0:
                continue
            for i in range(len(self.params)):
                b = np.minimum((u[:, i] * bins).astype(int), bins - 1)
                cnt = np.bincount(b, minlength=bins).astype(float)
                has = cnt > 0
                means = np.bincount(b, weights=y, minlength=bins)[has] / cnt[has]
                between = float(np.average((means - y.mean()) ** 2, weights=cnt[has]))
                noise = float(np.average(means * (1 - means) / np.maximum(cnt[has] - 1, 1), weights=cnt[has]))
                score[i] += max(0.0, between - noise) / var
        order = np.argsort(-score, kind="stable")
        return [self.params[i] for i in order]

    def region(self, arm: str, outcome: str, param: str, *, parts: int = 3) -> pl.DataFrame:
        """Share of points won by ``arm`` on ``outcome`` within ``parts`` equal-count ranges of ``param``."""
        a, o = self.arms.index(arm) - 1, list(OUTCOMES).index(outcome)
        x = self.points[param].to_numpy()
        won = np.nanmean(self.differences()[:, a, :, o], axis=1) > 0
        edges = np.quantile(x, np.linspace(0, 1, parts + 1))
        b = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, parts - 1)
        return pl.DataFrame([{"param": param, "low": float(edges[k]), "high": float(edges[k + 1]),
                              "share_won": float(won[b == k].mean()), "points": int((b == k).sum())}
                             for k in range(parts)])

    def verdict(self, arm: str = "decoupled", *, level: float = 0.95) -> str:
        """Plain-language verdict of ``arm`` vs the reference, generated from the numbers."""
        ref = self.arms[0]
        sh = self.shares(level=level).filter(pl.col("arm") == arm)
        top = self.verdict_drivers(arm)[:2]
        lines = [f"{arm} vs {ref} over {self.points.height} sampled assumption sets x {len(self.seeds)} seeds:"]
        for r in sh.iter_rows(named=True):
            word = ("better than " + ref + " in most of the space" if r["lo"] > 0.5 else
                    "worse than " + ref + " in most of the space" if r["hi"] < 0.5 else
                    "neither better nor worse than " + ref + " in most of the space (the interval contains 50%)")
            lines.append(f"- {r['outcome']}: {arm} is {word}: better in {r['share_won']:.0%} of the sampled "
                         f"points ({level:.0%} seed-bootstrap interval {r['lo']:.0%}-{r['hi']:.0%}; clearly "
                         f"better in {r['clear_win']:.0%}, clearly worse in {r['clear_loss']:.0%})")
        lines.append(f"The two assumptions that most change the verdict: {top[0]} and {top[1]}.")
        for outcome in OUTCOMES:
            reg = self.region(arm, outcome, top[0])
            lo_r, hi_r = reg.row(0, named=True), reg.row(-1, named=True)
            lines.append(f"- {outcome}: {arm} wins in {lo_r['share_won']:.0%} of points with {top[0]} in "
                         f"[{lo_r['low']:.3g}, {lo_r['high']:.3g}] and in {hi_r['share_won']:.0%} with "
                         f"{top[0]} in [{hi_r['low']:.3g}, {hi_r['high']:.3g}]"
                         + (" -- the verdict flips across this range" if (lo_r["share_won"] - 0.5)
                            * (hi_r["share_won"] - 0.5) < 0 else ""))
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        """The ``sensitivity`` block of ``benchmarks/results/sim_credibility.json``."""
        sh = self.shares()
        out: dict[str, Any] = {"points": self.points.height, "seeds": len(self.seeds), "last_epochs": self.last,
                               "params": {k: list(PARAMS[k][:2]) for k in self.params},
                               "reference_arm": self.arms[0], "arms": {}}
        for arm in self.arms[1:]:
            out["arms"][arm] = {r["outcome"]: {k: r[k] for k in ("share_won", "lo", "hi", "clear_win",
                                                                 "clear_loss", "mean_difference")}
                                for r in sh.filter(pl.col("arm") == arm).iter_rows(named=True)}
        dr = self.drivers("decoupled")
        out["drivers_decoupled"] = {o: dr.filter(pl.col("outcome") == o).select("param", "first_order", "src")
                                    .rows(named=True) for o in OUTCOMES}
        top = self.verdict_drivers("decoupled")[:2]
        out["verdict_drivers_decoupled"] = top
        out["regions_decoupled"] = {o: {p: self.region("decoupled", o, p).rows(named=True) for p in top}
                                    for o in OUTCOMES}
        out["verdict_decoupled"] = self.verdict("decoupled")
        return out


def run_sensitivity(base: SimConfig | None = None, *, n_points: int = 200, seeds: int | Sequence[int] = 20,
                    arms: dict[str, dict[str, Any]] | None = None, sample_seed: int = 0, last: int = 10,
                    control_seeds: int | Sequence[int] = 2,
                    engine: Literal["local", "ray", "serial"] = "local", workers: int | None = None,
                    progress: bool = False) -> SensitivityResult:
    """Run every arm at every Latin-hypercube point over ``seeds``; see the module docstring.

    One task per point (all arms and seeds), so the engines give identical numbers.
    """
    base = base if base is not None else SimConfig(n_agents=200, epochs=50)
    arms = arms or ARMS
    if len(arms) < 2:
        raise InputError("need a reference arm and at least one other", field="arms")
    seed_list = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    ctrl_list = list(range(control_seeds)) if isinstance(control_seeds, int) else [int(s) for s in control_seeds]
    if not seed_list or last < 1 or last > base.epochs:
        raise InputError("need >= 1 seed and 1 <= last <= epochs", field="seeds")
    pts = sample(n_points, seed=sample_seed)
    changes = [to_changes(r) for r in pts.drop("point").iter_rows(named=True)]
    for arm in arms.values():  # validate up front
        base.updated(**changes[0]).updated(**arm)
    b = base.model_dump()
    tasks = [(b, c, arms, seed_list, last, ctrl_list) for c in changes]
    results = map_tasks(_point_task, tasks, engine=engine, workers=workers, progress=progress,
                        desc=f"sensitivity ({engine})")
    values = np.stack([r[0] for r in results])
    worst = max(r[1] for r in results)
    return SensitivityResult(pts, values, list(arms), seed_list, worst, last,
                             meta={"n_agents": base.n_agents, "epochs": base.epochs, "engine": engine,
                                   "control_seeds": ctrl_list})


#: The committed results of ``benchmarks/sim_credibility_bench.py`` (notebook 03 reads its full-size figures).
CREDIBILITY_RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "sim_credibility.json"


def load_results(path: str | Path | None = None) -> dict[str, Any]:
    """The credibility benchmark's results (``benchmarks/results/sim_credibility.json``)."""
    path = Path(path) if path is not None else CREDIBILITY_RESULTS
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise InputError(f"cannot read the credibility benchmark results: {err}", file=str(path)) from None


def shares_from_json(block: dict[str, Any]) -> pl.DataFrame:
    """The ``sensitivity`` block's per-arm shares as the frame :meth:`SensitivityResult.shares` returns."""
    return pl.DataFrame([{"arm": arm, "outcome": o, **v} for arm, per in block["arms"].items()
                         for o, v in per.items()])


def drivers_from_json(block: dict[str, Any], arm: str = "decoupled") -> pl.DataFrame:
    """The ``sensitivity`` block's drivers of ``arm`` as a frame (outcome, param, first_order, src)."""
    return pl.DataFrame([{"arm": arm, "outcome": o, **r} for o, rows in block[f"drivers_{arm}"].items()
                         for r in rows])
