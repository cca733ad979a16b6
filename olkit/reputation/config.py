"""Reputation section of a Policy (owned by ``olkit.reputation``)."""

from __future__ import annotations

from typing import Any

from olkit.config import Section


class ReputationPolicy(Section):
    """Which reputation rule to use and its parameters."""

    rule: str = "decoupled"
    params: dict[str, Any] = {}
