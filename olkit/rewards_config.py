"""Reward and training-selection sections of a Policy."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from olkit.config import Section


class RewardPolicy(Section):
    """How a budget becomes payouts.

    ``rule`` is the payout rule for real runs (``attribution``: by measured influence).  The
    epoch-level fields drive :mod:`olkit.rewards`'s epoch rules and the reputation simulation:
    ``epoch_rule`` splits each epoch's budget by acceptance, by quality score, or by
    reputation-weighted acceptance; ``schedule`` is ``constant`` or ``gravity`` (the budget grows by
    ``growth_rate`` per epoch, up to ``budget_cap`` when set: rising rewards attract farming).
    """

    rule: str = "attribution"
    budget_per_epoch: float = Field(1000.0, ge=0)
    params: dict[str, Any] = {}
    epoch_rule: Literal["acceptance", "quality", "reputation_weighted"] = "reputation_weighted"
    schedule: Literal["constant", "gravity"] = "constant"
    growth_rate: float = Field(0.02, ge=0, le=1)
    budget_cap: float | None = Field(None, gt=0)
    #: standing of an identity with no history when payouts are weighted by reputation; ``None``:
    #: the lowest standing among the existing contributors (a fresh identity never outranks anyone)
    newcomer_prior: float | None = Field(None, ge=0, le=1)
    #: a contributor whose attributed value is below this fraction of the total value is inside the
    #: retraining noise band and is paid nothing for it (``benchmarks/attribution_bench.py`` measures it)
    noise_gate: float = Field(0.05, ge=0, lt=1)


class TrainingSelection(Section):
    """Which submissions a fine-tuning run trains on."""

    mode: Literal["accepted", "all", "reputation_weighted"] = "accepted"
    max_examples: int | None = Field(None, ge=1)
