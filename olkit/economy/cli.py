"""``olkit run``: rounds of the economy over one ledger.

Example::

    olkit run --policy strict --rounds 2 --base tiny-llama --store economy.duckdb --json
"""

from __future__ import annotations

import argparse
from typing import Any

from olkit.cli import emit


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "run", help="run (or resume) rounds of the economy: contribute, validate, reputation, train, pay",
        description="Each round, a seeded population of contributors (experts, casual, spammers, farmers, "
                    "sybil rings, recyclers, copycats) submits real items; the policy's filters decide, its "
                    "reputation rule scores contributors from the ledger, an adapter is trained on its "
                    "training selection (warm-started from the last round) and the round's budget is paid "
                    "by attribution over exactly the trained rows. Every write is a chained ledger event "
                    "with the policy hash; rounds already in the store are not redone.")
    p.add_argument("--store", required=True, help="the DuckDB ledger (created if missing)")
    p.add_argument("--policy", default="default",
                   help="policy file, or a bundled policy name (strict, lenient, forgiving); default: default policy")
    p.add_argument("--rounds", type=int, default=2, help="rounds in total (committed ones are skipped; default 2)")
    p.add_argument("--base", default="smollm2-135m", help="base model: smollm2-135m (default) or tiny-llama")
    p.add_argument("--agents", type=int, default=40, help="contributors in the population (default 40)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--budget", type=float,
                   help="budget per round (overrides the policy's rewards.budget_per_epoch; recorded in the run)")
    p.add_argument("--steps", type=int, default=8, help="training steps per round (default 8)")
    p.add_argument("--max-eval", type=int, default=8, help="held-out items for loss and attribution (default 8)")
    p.add_argument("--models", action="store_true", help="also run the model-based filters (slower)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from olkit.economy import run_economy
    from olkit.economy.core import check_settings
    from olkit.store import Store

    check_settings(rounds=args.rounds, budget=args.budget, base=args.base)  # before the ledger is created
    with Store(args.store) as store:
        res = run_economy(store, args.policy, args.rounds, base=args.base, agents=args.agents, seed=args.seed,
                          budget=args.budget, train_steps=args.steps, max_eval=args.max_eval, models=args.models,
                          progress=not args.no_progress)
        stats = store.stats()
    rows = res.rounds.select("round", "submitted", "accepted", "trained", "paid", "adversary_payout_share",
                             "honest_retention", "heldout_loss", "gini").to_dicts() if res.rounds.height else []
    emit({"economy_id": res.economy_id, "policy_hash": res.policy_hash, "rounds": res.rounds.height,
          "new_rounds": res.new_rounds, "seconds": round(res.seconds, 1), "per_round": rows,
          "store": {k: stats[k] for k in ("submissions", "decisions", "events", "adapters", "payouts", "head_seq")}},
         args.json)
    return 0
