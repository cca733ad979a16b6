"""``olkit sample``, ``olkit ingest`` and ``olkit store stats|verify|export``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from olkit.cli import emit
from olkit.ingest.sample_io import write_sample


def register(subparsers: argparse._SubParsersAction) -> None:
    s = subparsers.add_parser("sample", help="write the embedded sample datanet (submissions + ground-truth labels)",
                              description="Write the embedded sample contribution stream: DIR/submissions.jsonl "
                              "(or .parquet) to ingest, and DIR/labels.parquet with the ground truth "
                              "(label, archetype, split ...) keyed by submission_id and source_id.")
    s.add_argument("--out", required=True, help="folder to write into (created)")
    s.add_argument("--contributors", type=int, default=200, help="number of simulated contributors (default 200)")
    s.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    s.add_argument("--format", choices=("jsonl", "parquet"), default="jsonl", help="submissions file format")
    s.add_argument("--json", action="store_true", help="print one JSON object")
    s.set_defaults(func=_sample)

    i = subparsers.add_parser("ingest", help="ingest files into the store (one transaction; re-ingest adds nothing)",
                              description="Ingest JSONL/JSON/CSV/TSV/Parquet files or saved HF datasets into a "
                              "DuckDB store. The whole call is one transaction: on any error nothing is written.")
    i.add_argument("paths", nargs="+", metavar="PATH",
                   help="files (.jsonl, .ndjson, .json, .csv, .tsv, .parquet; .jsonl/.csv may be .gz) or saved HF dataset folders")
    i.add_argument("--store", required=True, help="the DuckDB store file (created if missing)")
    i.add_argument("--datanet", default=None, help="datanet name (overrides the file's datanet column; "
                   "default: the file's, else 'default')")
    i.add_argument("--map", dest="mapping", default=None, metavar="SPEC",
                   help="column mapping: a preset (olkit, alpaca, dolly, sharegpt, openai) and/or "
                   "field=column / field='literal' pairs, e.g. \"alpaca,contributor_id='stanford'\"")
    i.add_argument("--on-error", choices=("raise", "skip"), default="raise",
                   help="raise (default): the first bad record aborts and nothing is written; skip: records "
                   "that cannot be read are left out, counted in rejected_rows and listed in the run's event")
    i.add_argument("--json", action="store_true", help="print one JSON object")
    i.add_argument("--no-progress", action="store_true", help="no progress bar")
    i.set_defaults(func=_ingest)

    st = subparsers.add_parser("store", help="inspect, verify or export the store")
    sub = st.add_subparsers(dest="store_command", metavar="ACTION")
    sub.required = True
    a = sub.add_parser("stats", help="row counts and headline numbers")
    a.add_argument("--store", required=True)
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=_stats)
    v = sub.add_parser("verify", help="check the hash chain and content hashes (exit 1 naming the bad row)")
    v.add_argument("--store", required=True)
    v.add_argument("--json", action="store_true")
    v.set_defaults(func=_verify)
    e = sub.add_parser("export", help="write a table to .parquet, .csv or .jsonl")
    e.add_argument("--store", required=True)
    e.add_argument("--table", required=True, help="submissions, contributors, decisions, events, runs, adapters, payouts")
    e.add_argument("--out", required=True, help="output file (.parquet, .csv or .jsonl)")
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=_export)


def _sample(args: argparse.Namespace) -> int:
    emit(write_sample(args.out, contributors=args.contributors, seed=args.seed, fmt=args.format), args.json)
    return 0


def _ingest(args: argparse.Namespace) -> int:
    from olkit.ingest.core import ingest
    from olkit.store import Store

    progress = not (args.no_progress or args.json) and sys.stderr.isatty()
    path = Path(args.store)
    created = not path.exists()
    try:
        with Store(path) as store:
            result = ingest(args.paths, store, mapping=args.mapping, datanet=args.datanet, progress=progress,
                            on_error=args.on_error)
    except BaseException:
        if created:  # a failed first ingest leaves no empty store behind
            for leftover in (path, path.with_name(path.name + ".wal")):
                leftover.unlink(missing_ok=True)
        raise
    out = result.to_dict()
    if not args.json:
        out["rejected"] = "; ".join(f"{r['position']}: {r['reason']}" for r in result.rejected[:10]) or "none"
    emit(out, args.json)
    return 0


def _stats(args: argparse.Namespace) -> int:
    from olkit.store import Store

    with Store(args.store, read_only=True) as store:
        stats = store.stats()
        if not args.json:
            top = store.con.sql("SELECT datanet, count(*) AS n FROM submissions GROUP BY 1 ORDER BY 2 DESC").pl()
            stats["per_datanet"] = dict(zip(top["datanet"], top["n"], strict=True))
    emit(stats, args.json)
    return 0


def _verify(args: argparse.Namespace) -> int:
    from olkit.store import Store

    with Store(args.store, read_only=True) as store:
        report = store.verify()
    if args.json:
        emit({"store": args.store, **report.to_dict()}, True)
    elif report.ok:
        print(f"{args.store}: {report}")
    else:
        for problem in report.problems:
            print(f"{args.store}: FAILED: {problem}")
    return 0 if report.ok else 1


def _export(args: argparse.Namespace) -> int:
    from olkit.store import Store

    with Store(args.store, read_only=True) as store:
        path = store.export(args.table, args.out)
        rows = store.con.execute(f"SELECT count(*) FROM {args.table}").fetchall()[0][0]
    emit({"table": args.table, "out": str(path), "rows": int(rows)}, args.json)
    return 0


__all__ = ["register", "write_sample"]
