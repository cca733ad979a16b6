"""``olkit sample``: write the embedded sample datanet (submissions to ingest + ground-truth labels)."""

from __future__ import annotations

import argparse

from olkit.cli import emit


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


def _sample(args: argparse.Namespace) -> int:
    from olkit.ingest.sample_io import write_sample

    emit(write_sample(args.out, contributors=args.contributors, seed=args.seed, fmt=args.format), args.json)
    return 0


__all__ = ["register"]
