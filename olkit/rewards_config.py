"""Reward and training-selection sections of a Policy."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from olkit.config import Section


class RewardPolicy(Section):
    """How a budget becomes payouts."""

    rule: str = "attribution"
    budget_per_epoch: float = Field(1000.0, ge=0)
    params: dict[str, Any] = {}


class TrainingSelection(Section):
    """Which submissions a fine-tuning run trains on."""

    mode: Literal["accepted", "all", "reputation_weighted"] = "accepted"
    max_examples: int | None = Field(None, ge=1)
