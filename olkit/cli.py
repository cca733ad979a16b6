"""The ``olkit`` command line.

Each stage registers its own subcommands from a small ``cli`` module in its subpackage, so this
file only wires them together.  Every command has ``--help``; commands that report take ``--json``.
Errors that are the user's (bad file, bad policy, bad row) print one clear line and exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence
from typing import Any

#: Modules that define ``register(subparsers)``; each adds its commands.
COMMAND_MODULES = (
    "olkit.ingest.cli",  # sample, ingest, store
    "olkit.filters.cli",  # filter
    "olkit.sim.cli",  # simulate
    "olkit.train.cli",  # train, generate
    "olkit.attribution.cli",  # attribute, reward
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
    args = parser.parse_args(argv)
    from olkit.errors import OlkitError

    try:
        code = args.func(args)
    except (UserError, OlkitError) as err:
        print(f"olkit {args.command}: error: {err}", file=sys.stderr)
        return 2
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
