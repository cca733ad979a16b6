"""``olkit attribute`` (``olkit reward`` lives with the rewards, in :mod:`olkit.rewards_cli`).

::

    olkit attribute --adapter adapters/a1 --method tracin --eval eval.jsonl --out att.parquet [--json]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from olkit.errors import InputError

METHOD_NAMES = ("gradsim", "gradsim_cos", "tracin", "tracin_adam", "datainf", "trak", "knn_shapley", "tfidf", "bm25",
                "span")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("attribute", help="score training submissions by their influence on eval items",
                              description="Attribute an adapter's eval behaviour to its training submissions. "
                                          "Writes one row per (training item, eval item) to a Parquet file.")
    p.add_argument("--adapter", required=True, help="adapter folder (written by olkit train)")
    p.add_argument("--method", required=True, choices=METHOD_NAMES, help="attribution method")
    p.add_argument("--eval", required=True, dest="eval_file",
                   help="eval items (.jsonl/.parquet/.csv with instruction, response; optional eval_id, output)")
    p.add_argument("--out", required=True, help="output .parquet")
    p.add_argument("--train", default=None,
                   help="training submissions, when the adapter folder does not carry olkit_train.parquet")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.set_defaults(func=_attribute)

def run_attribute(adapter: str | Path, method: str, eval_file: str | Path, out: str | Path,
                  train: str | Path | None = None) -> dict[str, Any]:
    """What ``olkit attribute`` does, as a function returning the summary dict."""
    from olkit.attribution.adapters import load_context, read_table
    from olkit.attribution.base import EVAL_COLUMNS, check_frame
    from olkit.attribution.methods import make_method
    from olkit.kit import atomic_file

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
    with atomic_file(out) as tmp:
        long.write_parquet(tmp)
    top = att.by_contributor().head(3)
    return {"method": att.method, "n_train": len(att.train_ids), "n_eval": len(att.eval_ids),
            "seconds": round(att.seconds, 3), "out": str(out),
            "top_contributors": dict(zip(top["contributor_id"].to_list(), [round(x, 6) for x in top["score"]], strict=True))}


def _attribute(args: argparse.Namespace) -> int:
    from olkit.cli import emit

    emit(run_attribute(args.adapter, args.method, args.eval_file, args.out, args.train), args.json)
    return 0

