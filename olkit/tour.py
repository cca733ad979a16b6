"""``olkit tour`` and ``olkit lab``: the main job on the embedded defaults, and JupyterLab.

The tour executes every numbered notebook headless with its default parameters, renders each to
HTML under ``reports/``, writes ``reports/index.html`` linking them (with status and run time), and
prints the index path.  It exits non-zero if any cell of any notebook fails — the other notebooks
still run, so one failure does not hide the rest.
"""

from __future__ import annotations

import argparse
import html
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm


@dataclass(frozen=True)
class TourEntry:
    """What happened to one notebook."""

    notebook: str
    html: str | None
    seconds: float
    ok: bool
    error: str = ""


def run_tour(reports: str | Path = "reports", *, parameters: dict[str, dict[str, Any]] | None = None,
             only: list[str] | None = None,
             notebooks: list[Path] | None = None) -> tuple[Path, list[TourEntry]]:
    """Execute the notebooks, write one HTML each and an index; return (index path, entries).

    ``parameters`` maps a notebook stem (``"02_filtering"``) to parameter overrides; ``only``
    restricts the run to notebooks whose stem starts with one of the given prefixes;
    ``notebooks`` replaces the numbered notebooks of the project (tests use it).
    """
    from olkit.notebooks import NotebookFailed, notebook_paths, run_notebook

    reports = Path(reports)
    reports.mkdir(parents=True, exist_ok=True)
    paths = [p for p in (notebooks or notebook_paths()) if not only or any(p.stem.startswith(o) for o in only)]
    entries: list[TourEntry] = []
    for path in tqdm(paths, desc="olkit tour", unit="notebook"):
        out = reports / f"{path.stem}.html"
        start = time.perf_counter()
        try:
            run_notebook(path, (parameters or {}).get(path.stem, {}), html_out=out)
            entries.append(TourEntry(path.name, out.name, time.perf_counter() - start, True))
        except NotebookFailed as err:
            out.unlink(missing_ok=True)
            entries.append(TourEntry(path.name, None, time.perf_counter() - start, False, str(err)))
            print(f"olkit tour: {path.name} failed:\n{err}", file=sys.stderr)
    index = write_index(reports, entries)
    return index, entries


def write_index(reports: Path, entries: list[TourEntry]) -> Path:
    """``reports/index.html``: one link per notebook with its status and time."""
    rows = []
    for e in entries:
        name = html.escape(e.notebook)
        link = f'<a href="{html.escape(e.html)}">{name}</a>' if e.html else name
        status = "ok" if e.ok else f"<b>failed</b><pre>{html.escape(e.error[-2000:])}</pre>"
        rows.append(f"<tr><td>{link}</td><td>{e.seconds:.0f} s</td><td>{status}</td></tr>")
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>olkit tour</title>
<style>body{{font-family:system-ui,sans-serif;max-width:60em;margin:2em auto}}
td{{padding:.3em 1em;border-bottom:1px solid #ddd;vertical-align:top}}</style></head><body>
<h1>olkit tour</h1><p>Every notebook executed headless on the embedded defaults
({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}).</p>
<table><tr><th>notebook</th><th>time</th><th>status</th></tr>{''.join(rows)}</table></body></html>"""
    index = reports / "index.html"
    index.write_text(page, encoding="utf-8")
    (reports / "tour.json").write_text(json.dumps([e.__dict__ for e in entries], indent=2))
    return index


def register(subparsers: argparse._SubParsersAction) -> None:
    t = subparsers.add_parser("tour", help="run every notebook on the embedded defaults; HTML reports")
    t.add_argument("--reports", default="reports", help="output folder (default: reports)")
    t.add_argument("--only", nargs="*", help="notebook name prefixes to run (default: all)")
    t.set_defaults(func=_tour)
    lab = subparsers.add_parser("lab", help="open JupyterLab on the notebooks")
    lab.add_argument("--port", type=int, default=8888)
    lab.set_defaults(func=_lab)


def _tour(args: argparse.Namespace) -> int:
    index, entries = run_tour(args.reports, only=args.only)
    failed = [e.notebook for e in entries if not e.ok]
    if failed:
        print(f"olkit tour: {len(failed)} notebook(s) failed: {', '.join(failed)}", file=sys.stderr)
    print(index.resolve())
    return 1 if failed else 0


def _lab(args: argparse.Namespace) -> int:
    from olkit.notebooks import NOTEBOOK_DIR

    return subprocess.call([sys.executable, "-m", "jupyter", "lab", f"--port={args.port}",
                            str(NOTEBOOK_DIR)])
