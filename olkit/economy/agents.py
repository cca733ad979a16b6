"""Contributor agents of the economy: who submits what, and how adversaries respond to pay.

Every agent has an archetype and a *strategy mix*: the probability that one of its items is a
genuine answer, a low-effort one-liner, spam, machine text, a near or exact duplicate of a pool
item, or a ``copy`` of an item that was already paid in the economy.  Items are real: each
strategy draws from the sample datanet's content pool of that label
(:func:`olkit.data.sample.sample_stream`), and a ``copy`` repeats a paid item's text.

Honest agents (experts, casual contributors) keep their mix; they leave when their income stays
below their effort (retention hazard, as in :mod:`olkit.sim`).  Adversaries (spammers, farmers,
sybil rings, recyclers, copycats) adapt from the payouts of earlier rounds: each keeps an estimate
of the net return per item of every strategy (its own payouts, blended with what the market paid
other adversaries for it), submits more of what paid (softmax over those returns) and more items
when its items paid more than they cost; idle adversaries enter when the market's best
strategy pays more than it costs, active ones leave when their income stays below their cost.

All state is plain arrays (:class:`AgentState`), so a round's state is stored in the ledger and a
run resumes exactly.  Every update is vectorised over agents; the only loops are over strategies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import polars as pl

from olkit.errors import InputError

STRATEGIES: tuple[str, ...] = ("genuine", "low_effort", "off_topic", "other_language", "spam", "synthetic",
                               "near_duplicate", "exact_duplicate", "copy")
HONEST: tuple[str, ...] = ("expert", "casual")
ADVERSARIES: tuple[str, ...] = ("spammer", "farmer", "sybil", "recycler", "copycat")
ARCHETYPES: tuple[str, ...] = HONEST + ADVERSARIES

#: Effort per item by strategy, in fair shares (budget / expected items of a round).
COST: dict[str, float] = {"genuine": 1.0, "low_effort": 0.2, "off_topic": 0.3, "other_language": 0.3, "spam": 0.05,
                          "synthetic": 0.1, "near_duplicate": 0.15, "exact_duplicate": 0.05, "copy": 0.05}

#: Initial strategy mix per archetype (the sample datanet's label mix; copycats copy paid items).
BASE_MIX: dict[str, dict[str, float]] = {
    "expert": {"genuine": 0.94, "near_duplicate": 0.05, "low_effort": 0.01},
    "casual": {"genuine": 0.64, "low_effort": 0.12, "off_topic": 0.06, "other_language": 0.09,
               "exact_duplicate": 0.04, "near_duplicate": 0.05},
    "spammer": {"spam": 0.77, "low_effort": 0.08, "off_topic": 0.07, "other_language": 0.03, "genuine": 0.05},
    "farmer": {"synthetic": 0.45, "near_duplicate": 0.20, "exact_duplicate": 0.10, "spam": 0.10,
               "low_effort": 0.05, "genuine": 0.10},
    "sybil": {"exact_duplicate": 0.30, "near_duplicate": 0.25, "synthetic": 0.15, "genuine": 0.15,
              "copy": 0.05, "spam": 0.05, "low_effort": 0.05},
    "recycler": {"exact_duplicate": 0.35, "near_duplicate": 0.30, "off_topic": 0.10, "other_language": 0.05,
                 "genuine": 0.20},
    "copycat": {"copy": 0.60, "near_duplicate": 0.20, "synthetic": 0.10, "genuine": 0.10},
}
#: Mean items per round per active agent (before an adversary's volume multiplier).
ITEMS_PER_ROUND: dict[str, float] = {"expert": 3, "casual": 2, "spammer": 5, "farmer": 6, "sybil": 3,
                                     "recycler": 4, "copycat": 4}
DEFAULT_MIX: dict[str, float] = {"expert": 0.25, "casual": 0.30, "spammer": 0.08, "farmer": 0.10, "sybil": 0.12,
                                 "recycler": 0.07, "copycat": 0.08}
RING_SIZE = 3

_S = {s: i for i, s in enumerate(STRATEGIES)}
_COST = np.array([COST[s] for s in STRATEGIES])


def _codes(values: pl.Series, names: tuple[str, ...]) -> np.ndarray:
    """Index of each value in ``names`` (vectorised)."""
    return values.replace_strict({n: i for i, n in enumerate(names)}, return_dtype=pl.Int64).to_numpy()


def population(agents: int | Mapping[str, int] = 40, mix: Mapping[str, float] | None = None) -> pl.DataFrame:
    """The population: one row per agent (``agent, contributor_id, archetype, honest, ring``).

    ``agents`` is a total (split by ``mix``, largest remainder) or an archetype -> count mapping.

    Example
    -------
    >>> population(10)["archetype"].value_counts().height > 3
    True
    """
    if isinstance(agents, Mapping):
        unknown = sorted(set(agents) - set(ARCHETYPES))
        if unknown:
            raise InputError(f"unknown archetype(s) {unknown}; known: {', '.join(ARCHETYPES)}", field="agents")
        counts = {a: int(agents.get(a, 0)) for a in ARCHETYPES}
    else:
        if int(agents) < 2:
            raise InputError(f"the economy needs at least 2 agents, got {agents}", field="agents")
        shares = dict(DEFAULT_MIX if mix is None else mix)
        unknown = sorted(set(shares) - set(ARCHETYPES))
        if unknown:
            raise InputError(f"unknown archetype(s) {unknown}; known: {', '.join(ARCHETYPES)}", field="mix")
        w = np.array([max(float(shares.get(a, 0.0)), 0.0) for a in ARCHETYPES])
        if w.sum() <= 0:
            raise InputError("archetype shares must have a positive total", field="mix")
        exact = w / w.sum() * int(agents)
        base = np.floor(exact).astype(int)
        base[np.argsort(-(exact - base), kind="stable")[: int(agents) - base.sum()]] += 1
        counts = dict(zip(ARCHETYPES, base.tolist(), strict=True))
    if any(v < 0 for v in counts.values()) or sum(counts.values()) < 2:
        raise InputError(f"the economy needs at least 2 agents, got {counts}", field="agents")
    arch = np.repeat(np.array(ARCHETYPES), [counts[a] for a in ARCHETYPES])
    idx = np.arange(arch.size)
    sybil_rank = np.cumsum(arch == "sybil") - 1
    ring = np.where(arch == "sybil", sybil_rank // RING_SIZE, -1)
    ids = [f"{a}-{i:03d}" if r < 0 else f"ring{r}-{a}-{i:03d}" for a, i, r in zip(arch, idx, ring, strict=True)]
    return pl.DataFrame({"agent": idx, "contributor_id": ids, "archetype": arch,
                         "honest": np.isin(arch, HONEST), "ring": ring})


@dataclass
class AgentState:
    """Dynamic state of every agent (arrays of length ``n``; ``value`` is ``n x strategies``)."""

    active: np.ndarray
    value: np.ndarray
    volume: np.ndarray
    income: np.ndarray
    cost: np.ndarray
    reject: np.ndarray
    paid: np.ndarray
    cursor: np.ndarray  # per strategy: next item of that content pool

    @classmethod
    def initial(cls, pop: pl.DataFrame, seed: int, reserve: float = 0.3) -> AgentState:
        """Every honest agent active; ``reserve`` of each adversary archetype waits on the side."""
        n = pop.height
        rng = np.random.default_rng([seed, 7])
        adv = ~pop["honest"].to_numpy()
        active = ~adv | (rng.random(n) >= reserve)
        return cls(active=active, value=np.zeros((n, len(STRATEGIES))), volume=np.ones(n), income=np.ones(n),
                   cost=np.ones(n), reject=np.zeros(n), paid=np.zeros(n), cursor=np.zeros(len(STRATEGIES), np.int64))

    def to_json(self) -> dict[str, Any]:
        return {k: v.tolist() for k, v in self.__dict__.items()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AgentState:
        out = cls(**{k: np.asarray(v) for k, v in data.items()})
        out.active = out.active.astype(bool)
        out.cursor = out.cursor.astype(np.int64)
        return out


@dataclass
class ContentPool:
    """Real items per strategy (training split) and a clean held-out eval set (held-out split)."""

    items: dict[str, pl.DataFrame]
    eval: pl.DataFrame

    @classmethod
    def build(cls, n_contributors: int, seed: int, max_eval: int) -> ContentPool:
        """Draw the sample datanet once; shuffle each label's items (seeded)."""
        from olkit.data import sample_stream

        stream = sample_stream(n_contributors=n_contributors, seed=seed)
        cols = ["instruction", "response", "license", "question_id"]
        train = stream.filter(pl.col("split") == "train")
        items = {}
        for k, s in enumerate(STRATEGIES[:-1]):
            rows = train.filter(pl.col("label") == s).select(cols)
            if rows.height == 0:
                raise InputError(f"the content pool has no {s!r} items; raise pool_contributors", field="pool")
            items[s] = rows.sample(fraction=1.0, shuffle=True, seed=seed + k)
        ev = (stream.filter((pl.col("split") == "heldout") & (pl.col("label") == "genuine"))
              .unique("question_id", keep="first", maintain_order=True))
        ev = ev.sample(min(max_eval, ev.height), seed=seed, shuffle=False).select("instruction", "response")
        return cls(items=items, eval=ev)


def strategy_probs(pop: pl.DataFrame, state: AgentState, sensitivity: float) -> np.ndarray:
    """``n x strategies``: base mix for honest agents, softmax(log base + sensitivity * value) otherwise."""
    base = np.array([[BASE_MIX[a].get(s, 0.0) for s in STRATEGIES] for a in ARCHETYPES])
    b = base[_codes(pop["archetype"], ARCHETYPES)]
    adv = ~pop["honest"].to_numpy()
    # adversaries may try any strategy (a small floor), weighted by what it returned
    logits = np.log(np.maximum(b, 1e-3)) + sensitivity * state.value * adv[:, None]
    logits -= logits.max(1, keepdims=True)
    p = np.exp(logits)
    p = np.where(adv[:, None], p, b)
    return p / p.sum(1, keepdims=True)


def intake(pop: pl.DataFrame, state: AgentState, pool: ContentPool, round_: int, *, seed: int, econ: str,
           datanet: str, paid_items: pl.DataFrame | None, sensitivity: float) -> pl.DataFrame:
    """This round's submissions: one row per item with ground truth (``archetype, strategy``) in columns.

    Draws are seeded by ``(seed, round)``; content pools are consumed in order (cursor per
    strategy, wrapping around), so the same state gives the same items.
    """
    from olkit.data.sample import START

    rng = np.random.default_rng([seed, round_, 1])
    arch = pop["archetype"].to_numpy()
    mean = np.array([ITEMS_PER_ROUND[a] for a in ARCHETYPES])[_codes(pop["archetype"], ARCHETYPES)]
    mean = mean * state.volume * state.active
    n_items = rng.poisson(mean)
    agent = np.repeat(np.arange(pop.height), n_items)
    probs = strategy_probs(pop, state, sensitivity)[agent]
    u = rng.random(agent.size)[:, None]
    strat = (u > np.cumsum(probs, 1)).sum(1).clip(0, len(STRATEGIES) - 1)
    copies_ok = paid_items is not None and paid_items.height > 0
    if not copies_ok:  # nothing paid yet: a copycat falls back to copying a pool duplicate
        strat = np.where(strat == _S["copy"], _S["exact_duplicate"], strat)
    parts = []
    for s in np.unique(strat):
        pos = np.flatnonzero(strat == s)
        name = STRATEGIES[int(s)]
        if name == "copy":
            src = paid_items
            pick = rng.integers(0, src.height, pos.size)
        else:
            src = pool.items[name]
            pick = (state.cursor[s] + np.arange(pos.size)) % src.height
            state.cursor[s] += pos.size
        rows = src.select("instruction", "response",
                          pl.col("license") if "license" in src.columns else pl.lit("CC0-1.0").alias("license"))
        parts.append(rows[pick.tolist()].with_columns(pl.Series("_pos", pos)))
    if not parts:
        return pl.DataFrame()
    items = pl.concat(parts).sort("_pos")
    ids = pop["contributor_id"].to_numpy()
    start = START + timedelta(days=7 * round_)
    return items.with_columns(
        pl.Series("contributor_id", ids[agent]),
        pl.Series("archetype", arch[agent]),
        pl.Series("strategy", np.asarray(STRATEGIES)[strat]),
        pl.lit("olkit-economy").alias("source"),
        pl.Series("source_id", [f"{econ}-r{round_}-{i:05d}" for i in range(agent.size)]),
        pl.Series("created_at", [start + timedelta(seconds=int(i)) for i in range(agent.size)]),
        pl.lit(None, dtype=pl.String).alias("parent_id"),
        pl.lit(datanet).alias("datanet"),
        pl.lit("train").alias("split"),
        pl.lit(round_).alias("round"),
    ).drop("_pos")


def adapt(pop: pl.DataFrame, state: AgentState, items: pl.DataFrame, unit: float, *, seed: int, round_: int,
          rate: float = 0.5) -> dict[str, int]:
    """Update every agent from this round's outcome; returns how many adversaries entered / left.

    ``items``: this round's submissions with ``agent``, ``strategy``, ``accepted`` and ``payout``
    (0 for items not paid).  Net return per item is ``payout / unit - cost(strategy)`` in fair
    shares.  Adversaries blend their own return per strategy with the market's (all adversaries).
    """
    rng = np.random.default_rng([seed, round_, 2])
    n, k = pop.height, len(STRATEGIES)
    honest = pop["honest"].to_numpy()
    adv = ~honest
    a = items["agent"].to_numpy().astype(np.int64)
    s = _codes(items["strategy"], STRATEGIES)
    pay = items["payout"].to_numpy().astype(float) / unit
    acc = items["accepted"].to_numpy().astype(float)
    key = a * k + s
    cnt = np.bincount(key, minlength=n * k).reshape(n, k)
    ret = np.bincount(key, weights=pay, minlength=n * k).reshape(n, k)
    own = np.divide(ret, cnt, out=np.zeros((n, k)), where=cnt > 0) - _COST
    is_adv_item = adv[a]
    m_cnt = np.bincount(s[is_adv_item], minlength=k)
    m_ret = np.bincount(s[is_adv_item], weights=pay[is_adv_item], minlength=k)
    market = np.divide(m_ret, m_cnt, out=np.zeros(k), where=m_cnt > 0) - _COST
    tried = cnt > 0
    target = np.where(tried, own, market[None, :])
    known = tried | (m_cnt > 0)[None, :]
    state.value += rate * known * (target - state.value)
    # volume: more items when an item paid more than it cost
    items_n = cnt.sum(1)
    paid_n = ret.sum(1)
    cost_n = (cnt * _COST).sum(1)
    net = np.divide(paid_n - cost_n, np.maximum(items_n, 1))
    state.volume = np.where(adv & (items_n > 0), np.clip(state.volume * np.exp(rate * np.clip(net, -1, 1)), 0.3, 3.0),
                            state.volume)
    # income / cost EMAs (fair shares per round) and rejection EMA, for active agents
    w = rate * state.active
    state.income += w * (paid_n - state.income)
    state.cost += w * (cost_n - state.cost)
    rej = np.divide(items_n - np.bincount(a, weights=acc, minlength=n), np.maximum(items_n, 1))
    state.reject += w * (rej - state.reject)
    state.paid += paid_n * unit
    # leaving and entering
    ratio = state.income / np.maximum(state.cost, 1e-9)
    u = rng.random(n)
    hazard_h = 0.02 + 0.3 * np.clip(1.0 - ratio, 0, 1) + 0.1 * state.reject
    leave = state.active & np.where(honest, u < hazard_h, (ratio < 0.5) & (u < 0.4))
    best = float(np.max(np.where(m_cnt > 0, market, -np.inf))) if m_cnt.any() else -1.0
    enter = adv & ~state.active & (u < (0.5 if best > 0 else 0.05))
    state.active = (state.active & ~leave) | enter
    state.income = np.where(enter, 1.0, state.income)
    state.cost = np.where(enter, 1.0, state.cost)
    return {"entered": int(enter.sum()), "left_adversary": int((leave & adv).sum()),
            "left_honest": int((leave & honest).sum())}
