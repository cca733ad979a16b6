"""Simulation configuration: a :class:`~olkit.policy.Policy` plus the parameters of the economy.

Models are data: the archetypes and item kinds are small tables (:data:`ARCHETYPES`,
:data:`ITEM_KINDS`) that the engine turns into per-agent arrays once, so a new archetype is a new
row, not new code.

Example
-------
>>> from olkit.policy import Policy
>>> cfg = SimConfig.from_policy(Policy(), n_agents=500, epochs=20, seed=3)
>>> cfg.reputation.rule, cfg.n_agents
('decoupled', 500)
>>> cfg.updated(**{"reputation.rule": "beta", "mix.sybil": 0.2}).mix["sybil"]
0.2
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator

from olkit.config import Section
from olkit.errors import InputError
from olkit.reputation.config import ReputationPolicy
from olkit.rewards_config import RewardPolicy
from olkit.schema import ARCHETYPES, DEFAULT_MIX

#: Agent archetypes, in slot order.  ``honest`` agents can leave (retention hazard); the rest are
#: adversaries whose reward share and ROI are tracked.
ARCHETYPE_NAMES: tuple[str, ...] = ARCHETYPES

#: Item kinds an agent can submit.  ``safe``/``experiment`` are genuine work (an experiment is
#: riskier but more valuable); the others are farming strategies.
ITEM_KINDS: tuple[str, ...] = ("safe", "experiment", "low_effort", "synthetic", "spam")
SAFE, EXPERIMENT, LOW_EFFORT, SYNTHETIC, SPAM = range(5)

#: Per-archetype behaviour (one row per archetype; columns are per-agent constants).
#: ``skill``: P(a safe item is good); ``exp_success``: P(an experiment is good);
#: ``explore``: baseline probability of experimenting; ``volume``: items per epoch;
#: ``kind``: fixed item kind (-1: honest choice between safe/experiment, -2: adaptive farmer).
ARCHETYPES: dict[str, dict[str, float]] = {
    "expert":   {"honest": 1, "skill": 0.95, "exp_success": 0.70, "explore": 0.20, "volume": 1, "kind": -1},
    "casual":   {"honest": 1, "skill": 0.80, "exp_success": 0.55, "explore": 0.40, "volume": 1, "kind": -1},
    "spammer":  {"honest": 0, "skill": 0.00, "exp_success": 0.00, "explore": 0.00, "volume": 4, "kind": SPAM},
    "farmer":   {"honest": 0, "skill": 0.70, "exp_success": 0.00, "explore": 0.00, "volume": 2, "kind": -2},
    "sybil":    {"honest": 0, "skill": 0.00, "exp_success": 0.00, "explore": 0.00, "volume": 2, "kind": SYNTHETIC},
    "recycler": {"honest": 0, "skill": 0.00, "exp_success": 0.00, "explore": 0.00, "volume": 2, "kind": SYNTHETIC},
}

#: Per-kind economics: effort ``cost`` (in units of the fair share of one epoch's budget per agent),
#: true ``value`` of a good / bad item to the model.
ITEM_TABLE: dict[str, dict[str, float]] = {
    "safe":       {"cost": 1.00, "value_good": 1.0, "value_bad": 0.0},
    "experiment": {"cost": 1.20, "value_good": 2.5, "value_bad": 0.0},
    "low_effort": {"cost": 0.30, "value_good": 0.2, "value_bad": 0.2},
    "synthetic":  {"cost": 0.15, "value_good": 0.1, "value_bad": 0.1},
    "spam":       {"cost": 0.05, "value_good": 0.0, "value_bad": 0.0},
}

#: Strategies an adaptive farmer chooses between.
FARMER_STRATEGIES: tuple[int, ...] = (SAFE, LOW_EFFORT, SYNTHETIC, SPAM)



class ValidatorModel(Section):
    """Error rates of the validation layer, by item kind (parametric and peer modes).

    ``false_reject_*``: P(reject | good genuine item); ``accept_*``: P(accept | bad item of that kind);
    ``abuse_*``: P(a rejection of that kind is flagged as abuse rather than a quality failure);
    ``score_noise``: half-width of the uniform noise on validator scores.  ``error_scale`` multiplies
    every error rate at once (a one-knob "validator quality").
    """

    false_reject_safe: float = Field(0.05, ge=0, le=1)
    false_reject_experiment: float = Field(0.15, ge=0, le=1)
    accept_failed: float = Field(0.10, ge=0, le=1)
    accept_low_effort: float = Field(0.25, ge=0, le=1)
    accept_synthetic: float = Field(0.35, ge=0, le=1)
    accept_spam: float = Field(0.03, ge=0, le=1)
    abuse_genuine: float = Field(0.03, ge=0, le=1)
    abuse_low_effort: float = Field(0.30, ge=0, le=1)
    abuse_synthetic: float = Field(0.60, ge=0, le=1)
    abuse_spam: float = Field(0.95, ge=0, le=1)
    score_noise: float = Field(0.10, ge=0, le=0.5)
    error_scale: float = Field(1.0, ge=0, le=3)


class AttributionPay(Section):
    """Noise model of the ``attribution`` simulation reward rule (``SimConfig.pay = "attribution"``).

    Each epoch the budget is split in proportion to a noisy estimate of the true value each
    contributor's accepted items added.  ``rank_corr``: target Spearman correlation between the
    estimate and the truth (a Gaussian copula: ``est = v + sigma * sd(v) * eps`` with
    ``sigma = sqrt(1 / rho^2 - 1)``, ``rho = 2 sin(pi * rank_corr / 6)``); ``redundant_share``: the
    share of a near-copy/original pair's credit that the copy gets (0: redundancy-aware, 0.5: the copy
    is paid like the original); a copied (synthetic/recycled) item is credited
    ``redundant_share / (1 - redundant_share)`` of a genuine safe item's value.  Build it from the
    measured attribution benchmark with :func:`olkit.sim.attribution.noise_from_benchmark`.
    """

    rank_corr: float = Field(1.0, gt=0, le=1)
    redundant_share: float = Field(0.0, ge=0, le=0.5)


class SimConfig(Section):
    """Everything one simulation run needs.  Build it with :meth:`from_policy`.

    Validation modes: ``parametric`` (a noisy platform validator with :attr:`validator` error
    rates), ``peer`` (``reviewers_per_item`` of ``n_validators`` staked validators vote; validators
    holding ``colluding_stake`` of the stake approve the sybil ring's items), ``content`` (decisions
    of the real filter pipeline on real sample-datanet items, see :mod:`olkit.sim.validation`).
    """

    n_agents: int = Field(1000, ge=2)
    epochs: int = Field(100, ge=1)
    seed: int = Field(0, ge=0)
    mix: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_MIX))
    reputation: ReputationPolicy = Field(default_factory=ReputationPolicy)
    rewards: RewardPolicy = Field(default_factory=lambda: RewardPolicy(budget_per_epoch=1000.0))
    validation: Literal["parametric", "peer", "content"] = "parametric"
    validator: ValidatorModel = Field(default_factory=ValidatorModel)
    n_validators: int = Field(16, ge=1)
    reviewers_per_item: int = Field(3, ge=1)
    colluding_stake: float = Field(0.0, ge=0, le=1)
    identity_cost: float = Field(0.5, ge=0, description="cost of a new identity, in fair shares")
    whitewash_below: float = Field(0.35, ge=0, le=1, description="sybils consider re-registering below "
                                   "this standing (and do when the regained standing is worth the cost)")
    n_rings: int = Field(1, ge=1)
    ring_observable: bool = True
    standing_horizon: float = Field(5.0, ge=0, description="epochs of income an agent sees in standing")
    learning_rate: float = Field(0.2, gt=0, le=1)
    explore_sensitivity: float = Field(1.5, ge=0)
    farmer_temperature: float = Field(0.25, gt=0)
    hazard_base: float = Field(0.002, ge=0, le=1)
    hazard_return: float = Field(0.08, ge=0, le=1)
    hazard_rejection: float = Field(0.03, ge=0, le=1)
    arrival_rate: float = Field(0.05, ge=0, le=1, description="P(an empty honest slot gets a newcomer)")
    newcomer_window: int = Field(10, ge=1)
    content_pool: int = Field(400, ge=10, description="real items per label in content mode")
    experiment_pay: float = Field(1.0, ge=0, description="pay weight of an accepted experiment "
                                  "relative to an accepted safe item (the experimentation payoff)")
    pay: Literal["policy", "attribution"] = Field("policy", description="policy: the reward policy's "
                                                  "epoch rule; attribution: a noisy estimate of true value")
    attribution: AttributionPay = Field(default_factory=AttributionPay)

    @field_validator("mix")
    @classmethod
    def _check_mix(cls, mix: dict[str, float]) -> dict[str, float]:
        unknown = set(mix) - set(ARCHETYPE_NAMES)
        if unknown:
            raise ValueError(f"unknown archetype(s) {sorted(unknown)}; known: {', '.join(ARCHETYPE_NAMES)}")
        if any(v < 0 for v in mix.values()) or sum(mix.values()) <= 0:
            raise ValueError("archetype shares must be non-negative with a positive total")
        return {k: float(mix.get(k, 0.0)) for k in ARCHETYPE_NAMES}

    @classmethod
    def from_policy(cls, policy: Any = None, **params: Any) -> SimConfig:
        """A config whose reputation and reward sections come from ``policy`` (default Policy)."""
        from olkit.policy import Policy

        policy = policy if policy is not None else Policy()
        data = {"reputation": policy.reputation.model_dump(), "rewards": policy.rewards.model_dump()}
        data.update(params)
        return cls.build(data)

    @classmethod
    def build(cls, data: dict[str, Any]) -> SimConfig:
        """Validate a mapping; errors become an :class:`~olkit.errors.InputError` naming the key."""
        try:
            return cls.model_validate(data)
        except ValidationError as err:
            first = err.errors()[0]
            key = ".".join(str(p) for p in first["loc"]) or "<root>"
            raise InputError(f"invalid simulation parameter: {first['msg']} (got {first.get('input')!r})",
                             field=key) from None

    def updated(self, **changes: Any) -> SimConfig:
        """A copy with dotted-key changes, validated: ``cfg.updated(**{"mix.sybil": 0.2})``."""
        from olkit.kit import dotted_update

        data = dotted_update(self.model_dump(), changes, on_unknown=lambda dotted: InputError(
            f"unknown simulation parameter {dotted!r}", field=dotted))
        if changes.get("reputation.rule") is not None and "reputation.params" not in changes:
            data["reputation"]["params"] = {}
        return SimConfig.build(data)

    def counts(self) -> dict[str, int]:
        """Number of slots per archetype (largest-remainder rounding of ``mix`` to ``n_agents``)."""
        from olkit.kit import largest_remainder

        base = largest_remainder([self.mix[k] for k in ARCHETYPE_NAMES], self.n_agents)
        return dict(zip(ARCHETYPE_NAMES, base.tolist(), strict=True))
