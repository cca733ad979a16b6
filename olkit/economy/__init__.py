"""One economy over the ledger: rounds of contribute -> validate -> reputation -> train -> attribute + pay.

Example
-------
>>> from olkit.economy import run_economy
>>> res = run_economy("ledger.duckdb", "strict", rounds=2, base="tiny-llama", agents=20)  # doctest: +SKIP
>>> res.rounds.select("round", "adversary_payout_share", "honest_retention")              # doctest: +SKIP
"""

from olkit.economy.agents import ADVERSARIES, ARCHETYPES, HONEST, STRATEGIES, population
from olkit.economy.core import (
    STAGES,
    EconomyResult,
    economy_id,
    resolve_policy,
    round_budget,
    rounds_figure,
    run_economy,
    strategy_figure,
)
from olkit.economy.pay import RoundPayout, pay_round
from olkit.reputation.ledger import contributor_reputation

__all__ = [
    "ADVERSARIES", "ARCHETYPES", "HONEST", "STAGES", "STRATEGIES", "EconomyResult", "RoundPayout",
    "contributor_reputation", "economy_id", "pay_round", "population", "resolve_policy", "round_budget",
    "rounds_figure", "run_economy", "strategy_figure",
]
