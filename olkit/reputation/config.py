"""Reputation section of a Policy (owned by ``olkit.reputation``).

``rule`` names one of the rules in :mod:`olkit.reputation.rules`; ``params`` overrides that rule's
parameters.  Both are validated: an unknown rule, an unknown parameter for the chosen rule, or a
value out of its range is an error that names the key, so a typo in a policy file never silently
falls back to a default.

Example
-------
>>> from olkit.reputation.config import ReputationPolicy
>>> ReputationPolicy(rule="beta", params={"forgetting": 0.9}).resolved()["forgetting"]
0.9
>>> ReputationPolicy(rule="beta").resolved()["forgetting"]
0.95
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from olkit.config import Section, check_rule_params

RuleName = Literal[
    "acceptance_ratio", "beta", "eigentrust", "credibility", "stake", "yuma", "decoupled"
]

#: Names of the rules, in the order used by plots and widgets.
RULE_NAMES: tuple[str, ...] = (
    "acceptance_ratio", "beta", "eigentrust", "credibility", "stake", "yuma", "decoupled"
)


class _P(Section):
    """Base of the per-rule parameter models."""


class AcceptanceRatioParams(_P):
    """``standing = (accepted + a) / (submitted + a + b)`` (leaderboard style, no forgetting)."""

    prior_accepts: float = Field(1.0, ge=0)
    prior_rejects: float = Field(1.0, ge=0)


class BetaParams(_P):
    """Beta reputation with exponential forgetting ``lambda``."""

    forgetting: float = Field(0.95, gt=0, le=1)
    prior_accepts: float = Field(1.0, gt=0)
    prior_rejects: float = Field(1.0, gt=0)


class EigenTrustParams(_P):
    """EigenTrust over the review graph with pre-trusted validators."""

    alpha: float = Field(0.15, ge=0, le=1, description="weight of the pre-trusted distribution")
    forgetting: float = Field(0.9, gt=0, le=1)
    n_pretrusted: int = Field(2, ge=1)
    max_iter: int = Field(100, ge=1)
    tol: float = Field(1e-9, gt=0)


class CredibilityParams(_P):
    """Credibility EMA of submission scores raised to an exponent."""

    rate: float = Field(0.2, gt=0, le=1)
    exponent: float = Field(2.0, gt=0)
    initial: float = Field(0.5, ge=0, le=1)


class StakeParams(_P):
    """Stake and slash with correlation-aware slashing."""

    initial_stake: float = Field(1.0, gt=0)
    slash_fraction: float = Field(0.1, ge=0, le=1)
    correlation_factor: float = Field(3.0, ge=0)


class YumaParams(_P):
    """Yuma-style consensus clipping of validator weights."""

    kappa: float = Field(0.5, gt=0, lt=1, description="stake quantile that defines consensus")
    rate: float = Field(0.2, gt=0, le=1, description="EMA rate of validator weights")


class DecoupledParams(_P):
    """Submission score and contributor standing kept apart; only abuse lowers standing."""

    forgetting: float = Field(0.9, gt=0, le=1)
    abuse_weight: float = Field(3.0, ge=0)
    prior_good: float = Field(1.0, gt=0)
    prior_abuse: float = Field(1.0, gt=0)


PARAM_MODELS: dict[str, type[_P]] = {
    "acceptance_ratio": AcceptanceRatioParams,
    "beta": BetaParams,
    "eigentrust": EigenTrustParams,
    "credibility": CredibilityParams,
    "stake": StakeParams,
    "yuma": YumaParams,
    "decoupled": DecoupledParams,
}


class ReputationPolicy(Section):
    """Which reputation rule to use and its parameters (validated per rule)."""

    rule: RuleName = "decoupled"
    params: dict[str, Any] = {}

    @model_validator(mode="after")
    def _check_params(self) -> ReputationPolicy:
        check_rule_params(PARAM_MODELS[self.rule], self.rule, self.params)
        return self

    def resolved(self) -> dict[str, Any]:
        """Every parameter of the rule, defaults filled in."""
        return PARAM_MODELS[self.rule].model_validate(self.params).model_dump()
