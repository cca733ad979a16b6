"""``olkit reward``: turn an attribution file into payouts (the rewards stage's command).

::

    olkit reward --attribution att.parquet --budget 1000 [--policy p.yaml] --out payouts.parquet [--json]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import polars as pl

from olkit.errors import InputError


def register(subparsers: Any) -> None:
    r = subparsers.add_parser("reward", help="turn an attribution file into payouts",
                              description="Allocate a budget to contributors from an attribution Parquet file: "
                                          "sums to the budget, duplicates earn once, sybil splits gain nothing.")
    r.add_argument("--attribution", required=True, help="output of `olkit attribute` (.parquet)")
    r.add_argument("--budget", required=True, type=float, help="amount to distribute")
    r.add_argument("--policy", default=None, help="policy YAML/JSON (its rewards section is used)")
    r.add_argument("--reputation", default=None, help="optional contributor_id,reputation table")
    r.add_argument("--out", required=True, help="payouts .parquet")
    r.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    r.set_defaults(func=_reward)


def run_reward(attribution: str | Path, budget: float, out: str | Path, policy: str | Path | None = None,
               reputation: str | Path | None = None) -> dict[str, Any]:
    """What ``olkit reward`` does, as a function returning the summary dict."""
    from olkit.attribution.adapters import read_table
    from olkit.kit import atomic_file
    from olkit.policy import Policy
    from olkit.rewards import allocate, payout_summary

    if not str(out).endswith(".parquet"):
        raise InputError("--out must end in .parquet", file=str(out))
    att = read_table(attribution, "attribution file")
    for col in ("submission_id", "contributor_id", "score"):
        if col not in att.columns:
            raise InputError(f"not an attribution file: no column {col!r}", file=str(attribution), field=col)
    pol = Policy.load(policy) if policy else Policy()
    rep = read_table(reputation, "reputation file") if reputation else None
    payouts = allocate(budget, att, rep, pol).with_columns(pl.lit(pol.version_hash).alias("policy_hash"))
    with atomic_file(out) as tmp:
        payouts.write_parquet(tmp)
    return {"budget": budget, "out": str(out), **payout_summary(payouts), "policy_hash": pol.version_hash}


def _reward(args: argparse.Namespace) -> int:
    from olkit.cli import emit

    emit(run_reward(args.attribution, args.budget, args.out, args.policy, args.reputation), args.json)
    return 0
