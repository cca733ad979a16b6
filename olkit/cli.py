"""The ``olkit`` command line.

Each stage registers its own subcommands from a small ``cli`` module in its subpackage, so this
file only wires them together.  Every command has ``--help``; commands that report take ``--json``.
Errors that are the user's (bad file, bad policy, bad row) print one clear line and exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

#: Modules that define ``register(subparsers)``; each adds its commands.
COMMAND_MODULES = (
    "olkit.sample_cli",  # sample
    "olkit.ingest.cli",  # ingest
    "olkit.store_cli",  # store stats|head|verify|export
    "olkit.filters.cli",  # filter
    "olkit.sim.cli",  # simulate
    "olkit.train.cli",  # train, generate
    "olkit.attribution.cli",  # attribute
    "olkit.rewards_cli",  # reward
    "olkit.policy_cli",  # policy validate|diff
    "olkit.tour",  # tour, lab
    "olkit.economy.cli",  # run
)


class UserError(Exception):
    """An error in what the user gave us (file, row, field, option): printed without a traceback."""


def emit(result: dict[str, Any], as_json: bool) -> None:
    """Print a command's result: one JSON object with ``--json``, else ``key: value`` lines."""
    if as_json:
        print(json.dumps(result, default=str))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")


class _Parser(argparse.ArgumentParser):
    """Usage errors are one line too (plus one JSON object on stdout when ``--json`` was given)."""

    json_errors = False

    def error(self, message: str) -> None:  # type: ignore[override]
        line = f"{message} (see `{self.prog} --help`)"
        print(f"{self.prog}: error: {line}", file=sys.stderr)
        if _Parser.json_errors:
            print(json.dumps({"ok": False, "error": line, "command": self.prog.removeprefix("olkit").strip() or None,
                              "file": None, "row": None, "field": None}))
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="olkit", description="Research workbench for data contribution economies."
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name == name:  # a stage that is not built yet
                continue
            raise
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    _Parser.json_errors = "--json" in (sys.argv[1:] if argv is None else list(argv))
    args = parser.parse_args(argv)
    from olkit.errors import OlkitError

    try:
        code = args.func(args)
    except (UserError, OlkitError, OSError) as err:
        return _fail(args, err)
    except Exception as err:  # noqa: BLE001 - no traceback for users; OLKIT_DEBUG=1 shows it
        if os.environ.get("OLKIT_DEBUG"):
            raise
        return _fail(args, err, internal=True)
    return int(code or 0)


def _fail(args: argparse.Namespace, err: BaseException, *, internal: bool = False) -> int:
    """Print one error line (stderr; with ``--json`` also one JSON object on stdout); exit code 2."""
    if isinstance(err, OSError) and not isinstance(err, UserError):
        text = f"{err.filename}: {err.strerror}" if err.filename and err.strerror else str(err)
    else:
        text = str(err)
    if internal:
        text = f"{type(err).__name__}: {text} (unexpected; OLKIT_DEBUG=1 shows the traceback)"
    line = " | ".join(part.strip() for part in text.splitlines() if part.strip()) or type(err).__name__
    print(f"olkit {args.command}: error: {line}", file=sys.stderr)
    if getattr(args, "json", False):
        print(json.dumps({"ok": False, "error": line, "command": args.command,
                          **{k: getattr(err, k, None) for k in ("file", "row", "field")}}, default=str))
    return 2


if __name__ == "__main__":
    sys.exit(main())
