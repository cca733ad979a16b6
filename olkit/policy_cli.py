"""``olkit policy validate|diff``."""

from __future__ import annotations

import argparse

from olkit.cli import emit
from olkit.policy import Policy, diff


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("policy", help="validate or compare policy files")
    sub = p.add_subparsers(dest="policy_command", metavar="ACTION")
    sub.required = True
    v = sub.add_parser("validate", help="check a policy file; print its version hash")
    v.add_argument("file")
    v.add_argument("--json", action="store_true")
    v.set_defaults(func=_validate)
    d = sub.add_parser("diff", help="keys that differ between two policy files")
    d.add_argument("a")
    d.add_argument("b")
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=_diff)


def _validate(args: argparse.Namespace) -> int:
    policy = Policy.load(args.file)
    emit({"file": args.file, "name": policy.name, "version_hash": policy.version_hash, "valid": True},
         args.json)
    return 0


def _diff(args: argparse.Namespace) -> int:
    changes = diff(Policy.load(args.a), Policy.load(args.b))
    emit({key: {"a": a, "b": b} for key, a, b in ((k, *v) for k, v in changes.items())}, args.json)
    return 0
