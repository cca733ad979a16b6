"""``olkit filter``: run the filter pipeline over a store and record the decisions.

Example
-------
::

    olkit sample --out sample.jsonl && olkit ingest sample.jsonl --store ledger.duckdb
    olkit filter --store ledger.duckdb --policy data/policies/strict.yaml --out decisions.parquet --json
"""

from __future__ import annotations

import argparse
from pathlib import Path

import polars as pl

from olkit.cli import UserError, emit


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "filter", help="score and decide every submission in a store (decisions are appended, nothing deleted)",
        description="Run the filter pipeline (format -> heuristics -> dedup -> models) over the store's "
                    "submissions, append the decisions with the policy's version hash, and optionally "
                    "write them to Parquet.")
    p.add_argument("--store", required=True, help="DuckDB ledger file (see `olkit ingest`)")
    p.add_argument("--policy", help="policy YAML/JSON file (default: the embedded default policy)")
    p.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="local: in-process; ray: Ray Data over Parquet shards, dedup shuffled across Ray "
                        "tasks (identical decisions)")
    p.add_argument("--kind", choices=("auto", "instruction", "document"), default="auto",
                   help="default filter list to use (auto: document if the submissions carry 'text')")
    p.add_argument("--models", action="store_true",
                   help="also run the model-based filters (synthetic text, learned quality, relevance)")
    p.add_argument("--datanet", help="only this datanet's submissions")
    p.add_argument("--out", help="write decisions to this Parquet file (submission_id, source_id, "
                                 "contributor_id, accepted, reasons, per-filter scores)")
    p.add_argument("--no-write", action="store_true", help="do not append the decisions to the store")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.set_defaults(func=_filter)


def _filter(args: argparse.Namespace) -> int:
    from olkit.filters.pipeline import Pipeline
    from olkit.filters.registry import default_filters
    from olkit.policy import Policy
    from olkit.store import Store

    store_path = Path(args.store)
    if not store_path.exists():
        raise UserError(f"{store_path}: no such store (create one with `olkit ingest ... --store {store_path}`)")
    policy = Policy.load(args.policy) if args.policy else Policy()
    with Store(store_path, read_only=args.no_write) as store:
        frame = store.submissions(datanet=args.datanet)
        if frame.height == 0:
            raise UserError(f"{store_path}: no submissions" + (f" in datanet {args.datanet!r}" if args.datanet else ""))
        kind = args.kind
        if kind == "auto":
            has_text = frame["text"].is_not_null().sum() if "text" in frame.columns else 0
            kind = "document" if has_text > frame.height / 2 else "instruction"
        pipeline = Pipeline(default_filters(kind, models=args.models, policy=policy), policy)
        result = pipeline.run(frame, engine=args.engine, progress=not args.json)
        run_id = result.write_to_store(store) if not args.no_write else None
    summary = {"store": str(store_path), "run_id": run_id, "kind": kind, **result.summary(),
               "filters": {r["filter"]: {"seen": r["seen"], "rejected": r["rejected"],
                                         "rejected_total": r["rejected_total"],
                                         "seconds": round(r["score_seconds"] + r["decide_seconds"], 4)}
                           for r in result.stats.iter_rows(named=True)}}
    if args.out:
        summary["out"] = str(result.to_parquet(args.out))
    emit(summary, args.json)
    return 0


def decisions_frame(path: str | Path) -> pl.DataFrame:
    """Read a decisions Parquet written by ``olkit filter --out``."""
    return pl.read_parquet(path)
