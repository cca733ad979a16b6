"""``olkit store stats|head|verify|export``: inspect, anchor, verify and export the ledger."""

from __future__ import annotations

import argparse

from olkit.cli import emit


def register(subparsers: argparse._SubParsersAction) -> None:
    st = subparsers.add_parser("store", help="inspect, verify or export the store")
    sub = st.add_subparsers(dest="store_command", metavar="ACTION")
    sub.required = True
    a = sub.add_parser("stats", help="row counts and headline numbers")
    a.add_argument("--store", required=True)
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=_stats)
    h = sub.add_parser("head", help="print the chain head (seq and hash): record it elsewhere, check it later "
                       "with `store verify --head`")
    h.add_argument("--store", required=True)
    h.add_argument("--json", action="store_true")
    h.set_defaults(func=_head)
    v = sub.add_parser("verify", help="check every table against the hash chain (exit 1 naming the first bad row)")
    v.add_argument("--store", required=True)
    v.add_argument("--head", default=None, metavar="HASH",
                   help="a head recorded earlier (HASH or SEQ:HASH from `olkit store head`): fail if the chain "
                   "no longer contains it (its tail was cut off or rewritten)")
    v.add_argument("--json", action="store_true")
    v.set_defaults(func=_verify)
    e = sub.add_parser("export", help="write a table to .parquet, .csv or .jsonl")
    e.add_argument("--store", required=True)
    e.add_argument("--table", required=True, help="submissions, contributors, decisions, events, runs, adapters, "
                   "payouts, reputation")
    e.add_argument("--out", required=True, help="output file (.parquet, .csv or .jsonl; never the store itself)")
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=_export)


def _stats(args: argparse.Namespace) -> int:
    from olkit.store import Store

    with Store(args.store, read_only=True) as store:
        stats = store.stats()
        if not args.json:
            top = store.con.sql("SELECT datanet, count(*) AS n FROM submissions GROUP BY 1 ORDER BY 2 DESC").pl()
            stats["per_datanet"] = dict(zip(top["datanet"], top["n"], strict=True))
    emit(stats, args.json)
    return 0


def _head(args: argparse.Namespace) -> int:
    from olkit.store import Store

    with Store(args.store, read_only=True) as store:
        seq, digest = store.head()
    if args.json:
        emit({"store": args.store, "seq": seq, "hash": digest, "head": f"{seq}:{digest}"}, True)
    else:
        print(f"{seq}:{digest}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from olkit.store import Store

    with Store(args.store, read_only=True) as store:
        report = store.verify(head=args.head)
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


__all__ = ["register"]
