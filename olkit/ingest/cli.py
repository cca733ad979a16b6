"""``olkit ingest``: files into the store in one transaction (``sample`` and ``store`` live in
:mod:`olkit.sample_cli` and :mod:`olkit.store_cli`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from olkit.cli import emit


def register(subparsers: argparse._SubParsersAction) -> None:
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


def _ingest(args: argparse.Namespace) -> int:
    from olkit.ingest.core import ingest
    from olkit.store import Store

    progress = not (args.no_progress or args.json) and sys.stderr.isatty()
    store = Store(Path(args.store))
    try:
        result = ingest(args.paths, store, mapping=args.mapping, datanet=args.datanet, progress=progress,
                        on_error=args.on_error)
    except BaseException:
        # a failed first ingest leaves no empty store behind; only the file this process created,
        # removed while it still holds the store's lock
        store.discard_if_new()
        raise
    store.close()
    out = result.to_dict()
    if not args.json:
        out["rejected"] = "; ".join(f"{r['position']}: {r['reason']}" for r in result.rejected[:10]) or "none"
    emit(out, args.json)
    return 0


__all__ = ["register"]
