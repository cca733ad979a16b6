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

from olkit.kit import gini
from olkit.reputation.rules import EpochEvents, get_rule
from olkit.rewards import budget_schedule, epoch_rewards
from olkit.sim.config import (
    ARCHETYPE_NAMES,
    ARCHETYPES,
    EXPERIMENT,
    FARMER_STRATEGIES,
    ITEM_KINDS,
    ITEM_TABLE,
    SAFE,
    SYNTHETIC,
    SimConfig,
)
from olkit.sim.validation import ParametricValidator, PeerValidator, make_validator

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


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    """Dot product without BLAS (multithreaded BLAS thrashes on a busy 2-core machine)."""
    return float(np.multiply(a, b).sum())


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
        self.volume0 = col["volume"][self.arch]  # float: counts stay exact, and no int->float casts
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
        self.reset: np.ndarray | None = None  # indices of slots with a new identity
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
        self.newcomer_standing = float(self.rule.standing(self.rule.init(1, self.params, n_val), self.params)[0])
        r = cfg.rewards
        self.budgets = budget_schedule(cfg.epochs, r.budget_per_epoch, schedule=r.schedule,
                                       growth_rate=r.growth_rate, cap=r.budget_cap)
        self.unit = r.budget_per_epoch / n if r.budget_per_epoch > 0 else 1.0 / n
        self.t = 0
        self.records: dict[str, np.ndarray] = {m: np.full(cfg.epochs, np.nan) for m in METRICS}
        self.nh = int(self.honest.sum())
        assert self.honest[: self.nh].all(), "archetypes must be ordered honest first"
        self.H, self.A = slice(0, self.nh), slice(self.nh, n)
        f_idx, r_idx = self.farmer_idx, ring_idx
        self.nf, self.nr = int(f_idx.size), int(r_idx.size)
        self.F = slice(int(f_idx[0]), int(f_idx[-1]) + 1) if self.nf else slice(0, 0)
        self.R = slice(int(r_idx[0]), int(r_idx[-1]) + 1) if self.nr else slice(0, 0)
        self.farmer_strats = np.asarray(FARMER_STRATEGIES, dtype=np.int64)
        m = self.multi
        contiguous = m.size and int(m[-1]) - int(m[0]) + 1 == m.size
        self.multi_sel = slice(int(m[0]), int(m[-1]) + 1) if contiguous else m
        self.ranks32 = np.arange(1, n + 1, dtype=np.float32)
        self.skill_h = self.skill[self.H].copy()
        self.exp_delta_h = self.exp_success[self.H] - self.skill_h
        self.honest_single = bool((self.volume0[self.H] <= 1).all())
        # per-agent constants reused every epoch
        self.inv_vol = 1.0 / np.maximum(self.volume0, 1)
        self.inv_vol_unit = self.inv_vol / self.unit
        self.explore0 = self.explore0[self.H].copy()
        self.logit0 = _logit(self.explore0)
        self.explore = self.explore0.copy()
        self.v_safe = np.zeros(self.nh)
        self.v_exp = np.zeros(self.nh)
        self.genuine_good_code = np.zeros(2 * len(ITEM_KINDS))
        self.genuine_good_code[[SAFE * 2 + 1, EXPERIMENT * 2 + 1]] = 1.0
        self.any_reset = False
        self.validator_stake = self.validator.stake if isinstance(self.validator, PeerValidator) else None
        # attribution pay: credited value per (kind, good) code and the noise that gives rank_corr
        ap = cfg.attribution
        self.credit_code = self.value_code.copy()
        copy_credit = ap.redundant_share / (1.0 - ap.redundant_share)
        self.credit_code[2 * SYNTHETIC: 2 * SYNTHETIC + 2] += copy_credit * ITEM_TABLE["safe"]["value_good"]
        rho = 2.0 * np.sin(np.pi * ap.rank_corr / 6.0)
        self.attr_sigma = float(np.sqrt(max(1.0 / rho**2 - 1.0, 0.0))) if ap.rank_corr < 1 else 0.0
        self.rng_attr = np.random.default_rng(np.random.SeedSequence([cfg.seed, 0xA77]))
        if isinstance(self.validator, ParametricValidator):  # draw only what the rules read
            self.validator.need_abuse = cfg.reputation.rule == "decoupled"
            self.validator.need_score = (cfg.reputation.rule == "credibility"
                                         or cfg.rewards.epoch_rule == "quality")

    # -- one epoch ----------------------------------------------------------------------------------
    def step(self) -> None:
        """Advance one epoch.  Slots are ordered by archetype (honest first), so per-group work
        uses array slices (views) rather than masks."""
        cfg, rng, t, n = self.cfg, self.rng, self.t, self.n
        H, F, R = self.H, self.F, self.R
        active = self.active
        h_act = active[H]

        # 1. decide: honest agents experiment with probability `explore`; farmers pick a strategy
        kind = self.fixed_kind.copy()
        kind[H] = rng.random(self.nh) < self.explore  # EXPERIMENT == 1, SAFE == 0 (no np.where)
        pick = None
        if self.nf:
            logits = self.farmer_v / cfg.farmer_temperature
            logits -= logits.max(1, keepdims=True)
            cum = np.cumsum(np.exp(logits), 1)
            pick = (rng.random(self.nf)[:, None] * cum[:, -1:] > cum).sum(1)
            kind[F] = self.farmer_strats[pick]
        # 2. submit: true quality of each agent's batch
        p_good = np.zeros(n)
        p_good[H] = self.skill_h + self.exp_delta_h * kind[H]  # kind[H] is 0 (safe) or 1 (experiment)
        if self.nf:
            p_good[F] = self.skill[F] * (kind[F] == SAFE)
        good = rng.random(n) < p_good
        volume = self.volume0 * active
        code = kind * 2 + good
        # 3. validation layer
        ver = self.validator(rng, code, volume, self.multi_sel, self.ring)
        accepted, abuse = ver.accepted, ver.abuse
        # 4. reputation
        ev = EpochEvents(submitted=volume, accepted=accepted, abuse=abuse, score=ver.score,
                         reset=self.reset if self.any_reset else None, group=self.group,
                         approvals=ver.approvals, reviews=ver.reviews, agreement=ver.agreement,
                         validator_stake=self.validator_stake)
        before = self.standing
        self.rep_state = self.rule.update(self.rep_state, ev, self.params)
        standing = self.rule.standing(self.rep_state, self.params)
        if self.any_reset:
            before = before.copy()
            before[self.reset] = standing[self.reset]
            self.reset = None
            self.any_reset = False
        # 5. rewards
        budget = float(self.budgets[t])
        pay_acc = accepted
        if cfg.experiment_pay != 1.0:  # honest kinds are 0 (safe) / 1 (experiment)
            pay_acc = accepted.astype(float)
            pay_acc[H] *= 1.0 + (cfg.experiment_pay - 1.0) * kind[H]
        if cfg.pay == "attribution":
            reward = self._attribution_pay(budget, code, pay_acc)
        else:
            reward = epoch_rewards(cfg.rewards.epoch_rule, budget, pay_acc, score=ver.score, standing=standing)
        item_cost = self.cost_kind[kind]
        cost = volume * item_cost * self.unit
        # 6. adapt.  Standing is worth future income: a 10% drop in standing reads as 10% less income
        # for `standing_horizon` epochs (agents feel punishment before it shows in their pay).
        lr = cfg.learning_rate
        rel = (standing - before) / np.maximum(before, 0.05)
        ret = (reward + (cfg.standing_horizon * self.unit) * rel * self.income_ema) * self.inv_vol_unit
        ret -= item_cost
        kh, rh = kind[H], ret[H]
        chose_exp = h_act & (kh == EXPERIMENT)
        chose_safe = h_act & (kh == SAFE)
        self.v_exp += (lr * chose_exp) * (rh - self.v_exp)
        self.v_safe += (lr * chose_safe) * (rh - self.v_safe)
        self.explore = _sigmoid(self.logit0 + cfg.explore_sensitivity * (self.v_exp - self.v_safe))
        if self.nf:
            rows = np.arange(self.nf)
            fv = self.farmer_v
            fv[rows, pick] += lr * (ret[F] - fv[rows, pick])
        w = lr * active
        self.income_ema += w * (reward * (1.0 / self.unit) - self.income_ema)
        self.cost_ema += w * (cost * (1.0 / self.unit) - self.cost_ema)
        self.reject_ema += w * ((volume - accepted) * self.inv_vol - self.reject_ema)
        self.cum_reward += reward
        self.cum_cost += cost

        # metrics (before anyone leaves, on what happened this epoch)
        self._record(t, budget, kind, good, code, volume, accepted, reward, standing, h_act)

        # 7. honest agents leave (retention hazard), newcomers arrive in empty honest slots
        ratio = self.income_ema[H] / np.maximum(self.cost_ema[H], 1e-9)
        hazard = (cfg.hazard_base + cfg.hazard_return * np.clip(1.0 - ratio, 0.0, 1.0)
                  + cfg.hazard_rejection * self.reject_ema[H])
        u2 = rng.random(self.nh)
        leave = h_act & (u2 < hazard)
        arrive_h = ~h_act & (u2 < cfg.arrival_rate)  # slots empty since last epoch
        active[H] = h_act & ~leave
        self.initial[H] &= ~leave
        # 8. sybils re-register when their standing is low (identity cost counted in their cost) ...
        # ... when a fresh identity is worth its price: the standing they would regain, read as
        # `standing_horizon` epochs of a fair share, must exceed the identity cost.
        if self.nr:
            gain = cfg.standing_horizon * (self.newcomer_standing - standing[R])
            wash_r = (active[R] & (standing[R] < cfg.whitewash_below) & (gain > cfg.identity_cost)
                      & (self.join_epoch[R] <= t - 2))
        else:
            wash_r = np.zeros(0, dtype=bool)
        n_arrive, n_wash = int(arrive_h.sum()), int(wash_r.sum())
        if n_wash:
            self.cum_cost[R] += wash_r * (cfg.identity_cost * self.unit)
        if n_arrive or n_wash:
            # integer indices of the (few) fresh slots: cheaper than boolean masks over all agents
            ia = np.flatnonzero(arrive_h)  # honest slots start at 0
            fresh = np.concatenate([ia, self.R.start + np.flatnonzero(wash_r)]) if n_wash else ia
            k = fresh.size
            self.identity[fresh] = self.next_identity + np.arange(k)
            self.next_identity += k
            self.join_epoch[fresh] = t + 1
            self.initial[fresh] = False
            self.newcomer[ia] = True
            active[ia] = True
            self.reset = fresh
            self.any_reset = True
            self.v_exp[ia] = 0.0
            self.v_safe[ia] = 0.0
            self.explore[ia] = self.explore0[ia]
            for arr, value in ((self.income_ema, 1.0), (self.cost_ema, 1.0), (self.reject_ema, 0.0)):
                arr[fresh] = value
        self.arrivals[t + 1] = n_arrive
        self.records["whitewashes"][t] = n_wash
        self.standing = standing
        self.t += 1

    def _attribution_pay(self, budget: float, code: np.ndarray, accepted: np.ndarray) -> np.ndarray:
        """Split ``budget`` by a noisy estimate of the true value of each agent's accepted items.

        The credited value is the true value, except that near-copies (synthetic/recycled items) get
        ``redundant_share / (1 - redundant_share)`` of a safe item's value; the estimate adds Gaussian
        noise scaled to the spread of credited values so that its rank correlation with the truth is
        about ``rank_corr``; negative estimates pay nothing.  Only agents with accepted items are paid.
        """
        credited = accepted * self.credit_code[code]
        paid = accepted > 0
        est = credited
        if self.attr_sigma > 0 and paid.any():
            sd = float(credited[paid].std())
            est = credited + (self.attr_sigma * (sd if sd > 0 else 1.0)) * self.rng_attr.standard_normal(self.n)
        w = np.where(paid, np.maximum(est, 0.0), 0.0)
        total = float(w.sum())
        return w * (budget / total) if total > 0 else np.zeros(self.n)

    def _record(self, t: int, budget: float, kind: np.ndarray, good: np.ndarray, code: np.ndarray,
                volume: np.ndarray,
                accepted: np.ndarray, reward: np.ndarray, standing: np.ndarray, h_act: np.ndarray) -> None:
        rec = self.records
        H, A = self.H, self.A
        nc = self.value_code.size
        rec["budget"][t] = budget
        n_h = int(np.count_nonzero(h_act))
        rec["active_honest"][t] = n_h
        rec["honest_retention"][t] = np.count_nonzero(self.initial[H] & h_act) / max(self.nh, 1)
        # per-(kind, good) aggregates: one bincount each instead of a dozen masked reductions
        acc_code = np.bincount(code, weights=accepted, minlength=nc)
        n_acc = acc_code.sum()
        rec["accepted_items"][t] = n_acc
        acc_value = float(acc_code @ self.value_code)
        rec["accepted_value"][t] = acc_value
        if n_acc:
            rec["accepted_quality"][t] = acc_value / n_acc
            rec["bad_accept_share"][t] = 1.0 - float(acc_code @ self.genuine_good_code) / n_acc
        paid = reward.sum()
        if paid > 0:
            rec["adversary_reward_share"][t] = reward[A].sum() / paid
        adv_cost = self.cum_cost[A].sum()
        if adv_cost > 0:
            rec["adversary_roi"][t] = self.cum_reward[A].sum() / adv_cost
        h_cost = self.cum_cost[H].sum()
        if h_cost > 0:
            rec["honest_roi"][t] = self.cum_reward[H].sum() / h_cost
        if n_h:
            rec["experimentation"][t] = _dot(h_act, self.explore) / n_h
            rec["standing_honest"][t] = _dot(h_act, standing[H]) / n_h
            if self.honest_single:  # one item per honest agent: plain counts
                good_h = good[H] & h_act  # honest kinds are genuine: good means good genuine work
                n_good = np.count_nonzero(good_h)
                rec["experiment_share"][t] = np.count_nonzero(kind[H] & h_act) / n_h
                if n_good:
                    rec["false_rejection"][t] = np.count_nonzero(good_h & (accepted[H] == 0)) / n_good
            else:
                code_h = code[H]
                sub_h = np.bincount(code_h, weights=volume[H], minlength=nc)  # inactive: volume 0
                acc_h = np.bincount(code_h, weights=accepted[H], minlength=nc)
                rec["experiment_share"][t] = sub_h[2 * EXPERIMENT: 2 * EXPERIMENT + 2].sum() / sub_h.sum()
                gg = self.genuine_good_code > 0
                if sub_h[gg].sum():
                    rec["false_rejection"][t] = 1.0 - acc_h[gg].sum() / sub_h[gg].sum()
        adv_act = self.active[A]
        n_adv = int(np.count_nonzero(adv_act))
        if n_adv:
            rec["standing_adversary"][t] = _dot(adv_act, standing[A]) / n_adv
        n_active = n_h + n_adv
        # inactive agents are paid nothing: the active ones are the top n_active of the sorted payouts
        # (float32 sort: twice as fast, and Gini needs no more precision than that)
        top = np.sort(reward.astype(np.float32))[self.n - n_active:]
        rec["gini"][t] = gini(top, sorted_ranks=self.ranks32[:n_active]) if n_active else 0.0
        if self.nf:
            rec["farmer_genuine_share"][t] = np.count_nonzero(code[self.F] // 2 == SAFE) / self.nf
        w = self.cfg.newcomer_window
        if t + 1 - w >= 1:
            cohort = t + 1 - w
            self.cohorts += int(self.arrivals[cohort])
            self.survived += int(np.count_nonzero(self.newcomer[H] & self.active[H]
                                                  & (self.join_epoch[H] == cohort)))
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
        standing = self.standing
        explore = np.zeros(self.n)
        explore[self.H] = self.explore
        return pl.DataFrame({
            "slot": np.arange(self.n, dtype=np.int64),
            "archetype": np.asarray(ARCHETYPE_NAMES)[self.arch],
            "honest": self.honest,
            "identity": self.identity,
            "active": self.active,
            "join_epoch": self.join_epoch,
            "standing": standing,
            "explore": explore,
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
