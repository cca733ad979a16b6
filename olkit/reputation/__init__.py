"""Reputation rules: pure, vectorised functions over event arrays (see :mod:`olkit.reputation.rules`)."""

from olkit.reputation.config import RULE_NAMES, ReputationPolicy
from olkit.reputation.rules import (
    RULES,
    EpochEvents,
    Rule,
    correlation_share,
    eigentrust,
    get_rule,
    normalize_local_trust,
    resolve_params,
    stake_weighted_quantile,
    standing_from_log,
    yuma_consensus,
)

__all__ = [
    "RULES", "RULE_NAMES", "EpochEvents", "ReputationPolicy", "Rule", "correlation_share", "eigentrust",
    "get_rule", "normalize_local_trust", "resolve_params", "stake_weighted_quantile",
    "standing_from_log", "yuma_consensus",
]
