"""The vectorised agent-based engine.

Agents are a struct of numpy arrays (one slot per agent; a slot gets a new identity when a sybil
re-registers or a newcomer takes the place of someone who left).  One epoch is::

    agents decide -> submit -> validation layer decides -> reputation rule updates
                  -> reward rule pays -> agents adapt (strategy, experimentation, leaving, whitewashing)

with no Python loop over agents.  Results are polars DataFrames: one row per epoch of the metrics
in :data:`METRICS` and, optionally, one row per agent slot at the end.

Example
-------
>>> from olkit.sim import SimConfig, simulate
>>> res = simulate(SimConfig(n_agents=300, epochs=20, seed=1))
>>> res.epochs.height, round(float(res.epochs["adversary_reward_share"].mean()), 2) < 1
(20, True)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from olkit.reputation.rules import EpochEvents, get_rule
from olkit.rewards import budget_schedule, epoch_rewards, gini
from olkit.sim.config import (
    ARCHETYPE_NAMES,
    ARCHETYPES,
    EXPERIMENT,
    FARMER_STRATEGIES,
    ITEM_KINDS,
    ITEM_TABLE,
    SAFE,
    SimConfig,
)
from olkit.sim.validation import PeerValidator, make_validator

#: Per-epoch metrics (columns of :attr:`SimResult.epochs`, besides ``epoch`` and ``seed``).
METRICS: dict[str, str] = {
    "budget": "budget paid out this epoch",
    "active_honest": "honest agents still contributing",
    "honest_retention": "share of the initial honest cohort still contributing",
    "accepted_items": "items accepted this epoch",
    "accepted_quality": "mean true value of accepted items (safe good = 1, experiment good = 2.5)",
    "accepted_value": "total true value accepted this epoch",
    "bad_accept_share": "share of accepted items that are not good genuine work",
    "adversary_reward_share": "share of this epoch's rewards paid to adversaries",
    "adversary_roi": "adversaries' cumulative reward / cumulative cost (effort + identities)",
    "honest_roi": "honest agents' cumulative reward / cumulative effort cost",
    "experimentation": "mean probability that an active honest agent experiments",
    "experiment_share": "share of honest items that were experiments this epoch",
    "false_rejection": "share of good honest items rejected this epoch",
    "gini": "Gini coefficient of this epoch's rewards over active agents",
    "newcomer_survival": "share of newcomers still active newcomer_window epochs after joining",
    "farmer_genuine_share": "share of adaptive farmers' items that were genuine (safe) work",
    "whitewashes": "new sybil identities registered this epoch",
    "standing_honest": "mean standing of active honest agents",
    "standing_adversary": "mean standing of active adversaries",
}


@dataclass
class SimResult:
    """A run's per-epoch metrics (``epochs``), final per-agent state (``agents``) and metadata."""

    epochs: pl.DataFrame
    agents: pl.DataFrame | None
    config: SimConfig
    seconds: float
    meta: dict[str, Any] = field(default_factory=dict)

    def summary(self, last: int = 10) -> dict[str, float]:
        """Mean of each metric over the last ``last`` epochs."""
        tail = self.epochs.tail(last)
        return {m: float(tail[m].mean()) for m in METRICS if tail[m].null_count() < tail.height}


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1.0 - p))


class Simulation:
    """One run: builds the population from a :class:`SimConfig`, steps it, records metrics.

    Use :func:`simulate` for a whole run; the class is public for widgets that want to step.
    """

    def __init__(self, cfg: SimConfig, *, content_pool: dict[str, np.ndarray] | None = None) -> None:
        self.cfg = cfg
        self.rng = np.random.default_rng(cfg.seed)
        counts = cfg.counts()
        n = self.n = cfg.n_agents
        self.arch = np.repeat(np.arange(len(ARCHETYPE_NAMES), dtype=np.int64),
                              [counts[a] for a in ARCHETYPE_NAMES])
        col = {k: np.array([ARCHETYPES[a][k] for a in ARCHETYPE_NAMES], dtype=float)
               for k in ("honest", "skill", "exp_success", "explore", "volume", "kind")}
        self.honest = col["honest"][self.arch] > 0
        self.skill = col["skill"][self.arch]
        self.exp_success = col["exp_success"][self.arch]
        self.explore0 = col["explore"][self.arch]
        self.volume0 = col["volume"][self.arch].astype(np.int64)
        self.fixed_kind = col["kind"][self.arch].astype(np.int64)
        self.farmer = self.fixed_kind == -2
        self.farmer_idx = np.flatnonzero(self.farmer)
        self.ring = self.arch == ARCHETYPE_NAMES.index("sybil")
        ring_idx = np.flatnonzero(self.ring)
        self.group = np.full(n, -1, dtype=np.int64)
        if cfg.ring_observable and ring_idx.size:
            self.group[ring_idx] = np.arange(ring_idx.size) % cfg.n_rings
        self.multi = np.flatnonzero(self.volume0 > 1)
        self.cost_kind = np.array([ITEM_TABLE[k]["cost"] for k in ITEM_KINDS])
        self.value_good = np.array([ITEM_TABLE[k]["value_good"] for k in ITEM_KINDS])
        self.value_bad = np.array([ITEM_TABLE[k]["value_bad"] for k in ITEM_KINDS])
        self.value_code = np.stack([self.value_bad, self.value_good], axis=1).ravel()
        # dynamic state
        self.active = np.ones(n, dtype=bool)
        self.initial = np.ones(n, dtype=bool)  # still the identity that started the run
        self.identity = np.arange(n, dtype=np.int64)
        self.next_identity = n
        self.join_epoch = np.zeros(n, dtype=np.int64)
        self.newcomer = np.zeros(n, dtype=bool)
        self.reset = np.zeros(n, dtype=bool)
        self.v_safe = np.zeros(n)
        self.v_exp = np.zeros(n)
        self.explore = self.explore0.copy()
        self.logit0 = _logit(self.explore0)
        self.farmer_v = np.zeros((self.farmer_idx.size, len(FARMER_STRATEGIES)))
        self.income_ema = np.ones(n)  # in fair shares; starts at "break even"
        self.cost_ema = np.ones(n)
        self.reject_ema = np.zeros(n)
        self.cum_reward = np.zeros(n)
        self.cum_cost = np.zeros(n)
        self.arrivals = np.zeros(cfg.epochs + 1, dtype=np.int64)
        self.survived = 0
        self.cohorts = 0
        # layers
        self.validator = make_validator(cfg, self.rng) if content_pool is None else None
        if content_pool is not None:
            from olkit.sim.validation import ContentValidator

            self.validator = ContentValidator(cfg, content_pool)
        self.rule = get_rule(cfg.reputation.rule)
        self.params = cfg.reputation.resolved()
        n_val = self.validator.n_validators if isinstance(self.validator, PeerValidator) else 1
        self.rep_state = self.rule.init(n, self.params, n_val)
        self.standing = self.rule.standing(self.rep_state, self.params)
        r = cfg.rewards
        self.budgets = budget_schedule(cfg.epochs, r.budget_per_epoch, schedule=r.schedule,
                                       growth_rate=r.growth_rate, cap=r.budget_cap)
        self.unit = r.budget_per_epoch / n if r.budget_per_epoch > 0 else 1.0 / n
        self.t = 0
        self.records: dict[str, np.ndarray] = {m: np.full(cfg.epochs, np.nan) for m in METRICS}
        self.n_honest0 = int(self.honest.sum())

    # -- one epoch ----------------------------------------------------------------------------------
    def step(self) -> None:
        cfg, rng, t, n = self.cfg, self.rng, self.t, self.n
        active = self.active
        honest_act = self.honest & active

        # 1. decide: honest agents experiment with probability `explore`; farmers pick a strategy
        u = rng.random(n)
        kind = np.where(self.fixed_kind >= 0, self.fixed_kind, np.where(u < self.explore, EXPERIMENT, SAFE))
        if self.farmer_idx.size:
            logits = self.farmer_v / cfg.farmer_temperature
            logits -= logits.max(1, keepdims=True)
            prob = np.exp(logits)
            cum = np.cumsum(prob, 1)
            pick = (rng.random(self.farmer_idx.size)[:, None] * cum[:, -1:] > cum).sum(1)
            strat = np.asarray(FARMER_STRATEGIES)[pick]
            kind[self.farmer_idx] = strat
        # 2. submit: true quality of the batch
        p_good = np.where(kind == SAFE, self.skill, np.where(kind == EXPERIMENT, self.exp_success, 0.0))
        good = rng.random(n) < p_good
        volume = np.where(active, self.volume0, 0)
        code = kind * 2 + good
        # 3. validation layer
        ver = self.validator(rng, code, volume, self.multi[active[self.multi]], self.ring)
        accepted, abuse = ver.accepted, ver.abuse
        rejected = volume - accepted
        # 4. reputation
        stake = self.validator.stake if isinstance(self.validator, PeerValidator) else None
        ev = EpochEvents(submitted=volume, accepted=accepted, abuse=abuse, score=ver.score,
                         reset=self.reset if self.reset.any() else None, group=self.group,
                         approvals=ver.approvals, reviews=ver.reviews, agreement=ver.agreement,
                         validator_stake=stake)
        before = np.where(self.reset, np.nan, self.standing)
        self.rep_state = self.rule.update(self.rep_state, ev, self.params)
        standing = self.rule.standing(self.rep_state, self.params)
        before = np.where(np.isnan(before), standing, before)
        self.reset[:] = False
        # 5. rewards
        budget = float(self.budgets[t])
        reward = epoch_rewards(cfg.rewards.epoch_rule, budget, accepted, score=ver.score, standing=standing)
        cost = volume * self.cost_kind[kind] * self.unit
        # 6. adapt
        # Standing is worth future income: a 10% drop in standing is read as 10% less income for
        # `standing_horizon` epochs (agents feel punishment even before it shows in their pay).
        rel = (standing - before) / np.maximum(before, 0.05)
        per_item = np.maximum(volume, 1) * self.unit
        ret = (reward + cfg.standing_horizon * rel * self.income_ema * self.unit) / per_item - self.cost_kind[kind]
        lr = cfg.learning_rate
        chose_exp = honest_act & (kind == EXPERIMENT)
        chose_safe = honest_act & (kind == SAFE)
        self.v_exp = np.where(chose_exp, (1 - lr) * self.v_exp + lr * ret, self.v_exp)
        self.v_safe = np.where(chose_safe, (1 - lr) * self.v_safe + lr * ret, self.v_safe)
        self.explore = _sigmoid(self.logit0 + cfg.explore_sensitivity * (self.v_exp - self.v_safe))
        if self.farmer_idx.size:
            fv = self.farmer_v
            rows = np.arange(self.farmer_idx.size)
            fv[rows, pick] = (1 - lr) * fv[rows, pick] + lr * ret[self.farmer_idx]
        self.income_ema = np.where(active, (1 - lr) * self.income_ema + lr * reward / self.unit, self.income_ema)
        self.cost_ema = np.where(active, (1 - lr) * self.cost_ema + lr * cost / self.unit, self.cost_ema)
        rej_frac = np.divide(rejected, volume, out=np.zeros(n), where=volume > 0)
        self.reject_ema = np.where(active, (1 - lr) * self.reject_ema + lr * rej_frac, self.reject_ema)
        self.cum_reward += reward
        self.cum_cost += cost

        # metrics (before anyone leaves, on what happened this epoch)
        self._record(t, budget, kind, good, volume, accepted, reward, cost, standing, honest_act)

        # 7. honest agents leave (retention hazard), newcomers arrive in empty honest slots
        ratio = self.income_ema / np.maximum(self.cost_ema, 1e-9)
        hazard = (cfg.hazard_base + cfg.hazard_return * np.clip(1.0 - ratio, 0.0, 1.0)
                  + cfg.hazard_rejection * self.reject_ema)
        u2 = rng.random(n)
        leave = honest_act & (u2 < hazard)
        self.active = active & ~leave
        self.initial &= ~leave
        arrive = self.honest & ~active & (u2 < cfg.arrival_rate)  # slots empty since last epoch
        # 8. sybils re-register when their standing is low (identity cost counted in their cost)
        age = t - self.join_epoch
        wash = self.ring & active & (standing < cfg.whitewash_below) & (age >= 2)
        self.cum_cost += wash * cfg.identity_cost * self.unit
        fresh = arrive | wash
        if fresh.any():
            k = int(fresh.sum())
            self.identity[fresh] = self.next_identity + np.arange(k)
            self.next_identity += k
            self.join_epoch[fresh] = t + 1
            self.initial &= ~fresh
            self.newcomer |= arrive
            self.active |= arrive
            self.reset = fresh.copy()
            for arr, value in ((self.v_exp, 0.0), (self.v_safe, 0.0), (self.income_ema, 1.0),
                               (self.cost_ema, 1.0), (self.reject_ema, 0.0)):
                arr[fresh] = value
            self.explore[arrive] = self.explore0[arrive]
        self.arrivals[t + 1] = int(arrive.sum())
        self.records["whitewashes"][t] = float(wash.sum())
        standing = np.where(fresh, np.nan, standing)
        self.standing = standing
        self.t += 1

    def _record(self, t: int, budget: float, kind: np.ndarray, good: np.ndarray, volume: np.ndarray,
                accepted: np.ndarray, reward: np.ndarray, cost: np.ndarray, standing: np.ndarray,
                honest_act: np.ndarray) -> None:
        rec = self.records
        cfg = self.cfg
        adv = ~self.honest
        rec["budget"][t] = budget
        rec["active_honest"][t] = honest_act.sum()
        rec["honest_retention"][t] = (self.initial & honest_act).sum() / max(self.n_honest0, 1)
        n_acc = accepted.sum()
        rec["accepted_items"][t] = n_acc
        value = self.value_code[kind * 2 + good]
        acc_value = (accepted * value).sum()
        rec["accepted_value"][t] = acc_value
        rec["accepted_quality"][t] = acc_value / n_acc if n_acc else np.nan
        genuine_good = good & ((kind == SAFE) | (kind == EXPERIMENT))
        rec["bad_accept_share"][t] = (accepted * ~genuine_good).sum() / n_acc if n_acc else np.nan
        paid = reward.sum()
        rec["adversary_reward_share"][t] = (reward * adv).sum() / paid if paid > 0 else np.nan
        adv_cost = (self.cum_cost * adv).sum()
        rec["adversary_roi"][t] = (self.cum_reward * adv).sum() / adv_cost if adv_cost > 0 else np.nan
        h_cost = (self.cum_cost * self.honest).sum()
        rec["honest_roi"][t] = (self.cum_reward * self.honest).sum() / h_cost if h_cost > 0 else np.nan
        n_h = honest_act.sum()
        if n_h:
            rec["experimentation"][t] = (self.explore * honest_act).sum() / n_h
            rec["experiment_share"][t] = ((kind == EXPERIMENT) & honest_act).sum() / n_h
            rec["standing_honest"][t] = (standing * honest_act).sum() / n_h
        hg = honest_act & genuine_good
        hg_items = (volume * hg).sum()
        rec["false_rejection"][t] = ((volume - accepted) * hg).sum() / hg_items if hg_items else np.nan
        adv_act = adv & self.active
        if adv_act.any():
            rec["standing_adversary"][t] = (standing * adv_act).sum() / adv_act.sum()
        rec["gini"][t] = gini(reward[self.active])
        if self.farmer_idx.size:
            rec["farmer_genuine_share"][t] = float((kind[self.farmer_idx] == SAFE).mean())
        w = cfg.newcomer_window
        if t + 1 - w >= 1:
            cohort = t + 1 - w
            self.cohorts += int(self.arrivals[cohort])
            self.survived += int((self.newcomer & self.active & (self.join_epoch == cohort)).sum())
        rec["newcomer_survival"][t] = self.survived / self.cohorts if self.cohorts else np.nan

    # -- results ------------------------------------------------------------------------------------
    def epochs_frame(self) -> pl.DataFrame:
        n_done = self.t
        data: dict[str, Any] = {"epoch": np.arange(n_done, dtype=np.int64),
                                "seed": np.full(n_done, self.cfg.seed, dtype=np.int64)}
        data.update({m: v[:n_done] for m, v in self.records.items()})
        df = pl.DataFrame(data)
        return df.with_columns([pl.col(m).fill_nan(None) for m in METRICS])

    def agents_frame(self) -> pl.DataFrame:
        """One row per agent slot: archetype, identity, whether active, cumulative reward/cost."""
        standing = np.where(np.isnan(self.standing), self.rule.standing(self.rep_state, self.params),
                            self.standing)
        return pl.DataFrame({
            "slot": np.arange(self.n, dtype=np.int64),
            "archetype": np.asarray(ARCHETYPE_NAMES)[self.arch],
            "honest": self.honest,
            "identity": self.identity,
            "active": self.active,
            "join_epoch": self.join_epoch,
            "standing": standing,
            "explore": np.where(self.honest, self.explore, 0.0),
            "cum_reward": self.cum_reward,
            "cum_cost": self.cum_cost,
        })


def simulate(cfg: SimConfig, *, agents: bool = False, progress: bool = False,
             content_pool: dict[str, np.ndarray] | None = None) -> SimResult:
    """Run ``cfg.epochs`` epochs; return per-epoch metrics (and per-agent state with ``agents``).

    Deterministic: the same config (including ``seed``) gives identical frames.
    """
    t0 = time.perf_counter()
    sim = Simulation(cfg, content_pool=content_pool)
    steps = range(cfg.epochs)
    if progress:
        from tqdm.auto import tqdm

        steps = tqdm(steps, desc=f"simulate {cfg.reputation.rule}", leave=False)
    for _ in steps:
        sim.step()
    seconds = time.perf_counter() - t0
    meta = {"agent_epochs": cfg.n_agents * cfg.epochs, "rule": cfg.reputation.rule,
            "validation": cfg.validation}
    if isinstance(sim.validator, PeerValidator):
        meta["colluding_stake"] = sim.validator.colluding_share
    return SimResult(sim.epochs_frame(), sim.agents_frame() if agents else None, cfg, seconds, meta)
