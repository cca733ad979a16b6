"""``olkit attribute`` and ``olkit reward``.

::

    olkit attribute --adapter adapters/a1 --method tracin --eval eval.jsonl --out att.parquet [--json]
    olkit reward --attribution att.parquet --budget 1000 [--policy p.yaml] --out payouts.parquet
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Any

import polars as pl

from olkit.errors import InputError

METHOD_NAMES = ("gradsim", "gradsim_cos", "tracin", "tracin_adam", "datainf", "trak", "knn_shapley", "span")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("attribute", help="score training submissions by their influence on eval items",
                              description="Attribute an adapter's eval behaviour to its training submissions. "
                                          "Writes one row per (training item, eval item) to a Parquet file.")
    p.add_argument("--adapter", required=True, help="adapter folder (olkit train or save_adapter output)")
    p.add_argument("--method", required=True, choices=METHOD_NAMES, help="attribution method")
    p.add_argument("--eval", required=True, dest="eval_file",
                   help="eval items (.jsonl/.parquet/.csv with instruction, response; optional eval_id, output)")
    p.add_argument("--out", required=True, help="output .parquet")
    p.add_argument("--train", default=None,
                   help="training submissions, when the adapter folder does not carry olkit_train.parquet")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.set_defaults(func=_attribute)

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


def write_parquet_atomic(frame: pl.DataFrame, out: str | Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}-", suffix=".tmp")
    os.close(fd)
    try:
        frame.write_parquet(tmp)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


def run_attribute(adapter: str | Path, method: str, eval_file: str | Path, out: str | Path,
                  train: str | Path | None = None) -> dict[str, Any]:
    """What ``olkit attribute`` does, as a function returning the summary dict."""
    from olkit.attribution.adapters import load_context, read_table
    from olkit.attribution.base import EVAL_COLUMNS, check_frame
    from olkit.attribution.methods import make_method

    if not str(out).endswith(".parquet"):
        raise InputError("--out must end in .parquet", file=str(out))
    ev = read_table(eval_file, "eval file")
    check_frame(ev, EVAL_COLUMNS, "eval file", source=str(eval_file))
    m = make_method(method)
    if m.needs_model or method == "span":
        ctx, frame = load_context(adapter, train=train)
    else:
        from olkit.attribution.adapters import _training_rows, read_manifest

        folder = Path(adapter)
        ctx, frame = None, _training_rows(folder, read_manifest(folder), train)
    att = m.attribute(ctx, frame, ev)
    long = att.to_frame()
    write_parquet_atomic(long, out)
    top = att.by_contributor().head(3)
    return {"method": att.method, "n_train": len(att.train_ids), "n_eval": len(att.eval_ids),
            "seconds": round(att.seconds, 3), "out": str(out),
            "top_contributors": dict(zip(top["contributor_id"].to_list(), [round(x, 6) for x in top["score"]], strict=True))}


def run_reward(attribution: str | Path, budget: float, out: str | Path, policy: str | Path | None = None,
               reputation: str | Path | None = None) -> dict[str, Any]:
    """What ``olkit reward`` does, as a function returning the summary dict."""
    from olkit.attribution.adapters import read_table
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
    write_parquet_atomic(payouts, out)
    return {"budget": budget, "out": str(out), **payout_summary(payouts), "policy_hash": pol.version_hash}


def _attribute(args: argparse.Namespace) -> int:
    from olkit.cli import emit

    emit(run_attribute(args.adapter, args.method, args.eval_file, args.out, args.train), args.json)
    return 0


def _reward(args: argparse.Namespace) -> int:
    from olkit.cli import emit

    emit(run_reward(args.attribution, args.budget, args.out, args.policy, args.reputation), args.json)
    return 0
