"""``olkit tour`` and ``olkit lab``: the main job on the embedded defaults, and JupyterLab.

The tour executes every numbered notebook headless with its default parameters, renders each to
HTML under ``reports/``, writes ``reports/index.html`` (status, run time, time budget and the
headline numbers each notebook published with :func:`olkit.notebooks.headline`) and
``reports/tour.json``, and prints the index path.  It prints one line when a notebook starts and
one when it ends (with its time), flushed, so a log shows progress; text progress bars of long
cells are echoed every ``echo_every`` seconds.  A notebook that fails, times out or runs over its
budget is recorded with a one-line error (its HTML shows how far it got) and the tour goes on;
the exit status is non-zero at the end if any did.

Notebooks that start from the sample datanet (their parameters cell declares ``sample_store``)
share one scored sample store: the tour builds it once (or reuses it, keyed by the sample
parameters and the policy hash, under ``<olkit cache>/samples``) with
:func:`olkit.sample_store.scored_sample` and passes its folder as their ``sample_store`` parameter;
a notebook run on its own builds its own.  :data:`TOUR_PARAMETERS` holds the tour's smaller
settings of notebooks whose own defaults are a full-size run (same sections, same kinds of results).
"""

from __future__ import annotations

import argparse
import html
import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

#: Default time budget per notebook (seconds): generous, so a slow shared machine still finishes;
#: lower it with --budget to hold notebooks to a target.
DEFAULT_BUDGET = 1800.0

#: The one sample every sample-based notebook of the tour reads (``olkit.sample_store.scored_sample``).
SHARED_SAMPLE: dict[str, Any] = {"n_contributors": 60, "seed": 0, "models": True}

#: The tour's settings per notebook, where they differ from the notebook's own (full-size) defaults:
#: fewer optimizer steps and a smaller held-out set for the SmolLM2 training notebook (the live run,
#: the before/after loss, the three-policy comparison, its verdict and the adapter bank all stay).
TOUR_PARAMETERS: dict[str, dict[str, Any]] = {
    "04_qlora_training": {"steps": 16, "policy_steps": 10, "max_eval": 24},
}


@dataclass(frozen=True)
class TourEntry:
    """What happened to one notebook."""

    notebook: str
    html: str | None
    seconds: float
    ok: bool
    error: str = ""
    status: str = "ok"  # ok | failed | timeout | over budget
    budget: float | None = None
    headlines: dict[str, Any] = field(default_factory=dict)


def _progress_echo(name: str, out: TextIO, every: float) -> Callable[[str, int], None]:
    """A ``progress`` callback for run_notebook: the latest progress-bar line, at most every ``every`` s."""
    last = {"t": 0.0}

    def echo(text: str, cell_index: int) -> None:
        segment = next((s.strip() for s in reversed(text.replace("\n", "\r").split("\r")) if s.strip()), "")
        if "|" not in segment or "%" not in segment:  # only tqdm bars, not every print
            return
        now = time.monotonic()
        if now - last["t"] >= every:
            last["t"] = now
            print(f"olkit tour:   {name} [cell {cell_index - 1}] {segment[:150]}", file=out, flush=True)

    return echo


def declares(path: Path, name: str) -> bool:
    """Whether the notebook's ``parameters`` cell assigns ``name``."""
    import re

    import nbformat

    from olkit.notebooks import PARAMETERS_TAG

    nb = nbformat.read(path, as_version=4)
    return any(PARAMETERS_TAG in c.get("metadata", {}).get("tags", []) and
               re.search(rf"^{re.escape(name)}\s*=", c.source, re.M) for c in nb.cells)


def shared_sample(root: str | Path | None = None, out: TextIO | None = None) -> Path | None:
    """Build (or reuse) the tour's scored sample under ``root`` (default ``<olkit cache>/samples``);
    its folder, or ``None`` (with a line on ``out``) if it could not be built."""
    from olkit.sample_store import scored_sample

    out = out or sys.stdout
    if root is None:
        from olkit.embedded import cache_dir

        root = cache_dir() / "samples"
    start, cpu = time.perf_counter(), time.process_time()
    try:
        sample = scored_sample(root, progress=True, **SHARED_SAMPLE)
    except Exception as err:  # noqa: BLE001 - the notebooks then build their own
        print(f"olkit tour: shared sample not built ({type(err).__name__}: {str(err)[:200]}); "
              "each notebook builds its own", file=out, flush=True)
        return None
    m = sample.meta
    print(f"olkit tour: shared scored sample {sample.folder.name}: {m['items']} items, {m['accepted']} accepted "
          f"({time.perf_counter() - start:.0f} s here, cpu {time.process_time() - cpu:.0f} s; "
          f"built in {m['seconds']:.0f} s)", file=out, flush=True)
    return sample.folder


def tour_parameters(paths: list[Path], sample_folder: Path | None) -> dict[str, dict[str, Any]]:
    """Per-notebook parameters of the tour: :data:`TOUR_PARAMETERS` plus ``sample_store`` where declared."""
    params = {p.stem: dict(TOUR_PARAMETERS.get(p.stem, {})) for p in paths}
    if sample_folder is not None:
        for p in paths:
            if declares(p, "sample_store"):
                params[p.stem]["sample_store"] = str(sample_folder)
    return params


def run_tour(reports: str | Path = "reports", *, parameters: dict[str, dict[str, Any]] | None = None,
             only: list[str] | None = None, notebooks: list[Path] | None = None,
             budget: float | None = DEFAULT_BUDGET, cell_timeout: int = 1800, echo_every: float = 30.0,
             out: TextIO | None = None, sample_root: str | Path | None = None,
             tour_settings: bool | None = None) -> tuple[Path, list[TourEntry]]:
    """Execute the notebooks, write one HTML each and an index; return (index path, entries).

    ``parameters`` maps a notebook stem (``"02_filtering"``) to parameter overrides; ``only``
    restricts the run to notebooks whose stem starts with one of the given prefixes;
    ``notebooks`` replaces the numbered notebooks of the project (tests use it); ``budget`` is
    the time budget of each notebook in seconds (``None``: none); progress lines go to ``out``
    (default stdout).  Notebooks declaring a ``sample_store`` parameter get the shared scored
    sample (built once under ``sample_root``, default ``<olkit cache>/samples``);
    ``tour_settings`` (default: on for the project's notebooks, off for ``notebooks=``) applies
    :data:`TOUR_PARAMETERS` and the shared sample; ``parameters`` override both.

    >>> index, entries = run_tour("reports", only=["01"])              # doctest: +SKIP
    >>> entries[0].status, entries[0].headlines                         # doctest: +SKIP
    """
    from olkit.notebooks import NotebookFailed, collect_headlines, notebook_paths, run_notebook

    out = out or sys.stdout
    reports = Path(reports)
    reports.mkdir(parents=True, exist_ok=True)
    paths = [p for p in (notebooks or notebook_paths()) if not only or any(p.stem.startswith(o) for o in only)]
    tour_start = time.perf_counter()
    if tour_settings is None:
        tour_settings = notebooks is None
    params: dict[str, dict[str, Any]] = {p.stem: {} for p in paths}
    if tour_settings:
        wants = [p for p in paths if declares(p, "sample_store")]
        folder = shared_sample(sample_root, out) if wants else None
        params = tour_parameters(paths, folder)
    for stem, extra in (parameters or {}).items():
        params.setdefault(stem, {}).update(extra)
    entries: list[TourEntry] = []
    for i, path in enumerate(paths, 1):
        html_out = reports / f"{path.stem}.html"
        limit = f", budget {budget:.0f} s" if budget else ""
        print(f"olkit tour: [{i}/{len(paths)}] {path.name} started {time.strftime('%H:%M:%S')}{limit}",
              file=out, flush=True)
        start = time.perf_counter()
        try:
            nb = run_notebook(path, params.get(path.stem, {}), html_out=html_out,
                              timeout=cell_timeout, budget=budget,
                              progress=_progress_echo(path.stem, out, echo_every))
            entry = TourEntry(path.name, html_out.name, time.perf_counter() - start, True, budget=budget,
                              headlines=collect_headlines(nb))
        except NotebookFailed as err:
            status = {"budget": "over budget", "timeout": "timeout"}.get(err.kind, "failed")
            entry = TourEntry(path.name, html_out.name if html_out.exists() else None,
                              time.perf_counter() - start, False, str(err), status, budget,
                              collect_headlines(err.nb) if err.nb is not None else {})
        entries.append(entry)
        tail = "" if entry.ok else f": {entry.error}"
        print(f"olkit tour: [{i}/{len(paths)}] {path.name} {entry.status} in {entry.seconds:.0f} s{tail}",
              file=out, flush=True)
    index = write_index(reports, entries)
    n_bad = sum(not e.ok for e in entries)
    print(f"olkit tour: {len(entries) - n_bad}/{len(entries)} notebooks ok in "
          f"{time.perf_counter() - tour_start:.0f} s; index {index}", file=out, flush=True)
    return index, entries


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def write_index(reports: Path, entries: list[TourEntry]) -> Path:
    """``reports/index.html``: one row per notebook (link, status, time, budget, headline numbers)."""
    from olkit.kit import write_text_atomic

    rows = []
    for e in entries:
        name = html.escape(e.notebook)
        link = f'<a href="{html.escape(e.html)}">{name}</a>' if e.html else name
        status = "ok" if e.ok else f"<b>{html.escape(e.status)}</b><br><code>{html.escape(e.error[-1500:])}</code>"
        budget = f"{e.budget:.0f} s" if e.budget else ""
        heads = "".join(f"<li>{html.escape(k)}: <b>{_cell(v)}</b></li>" for k, v in e.headlines.items())
        rows.append(f"<tr><td>{link}</td><td>{status}</td><td>{e.seconds:.0f} s</td><td>{budget}</td>"
                    f"<td><ul>{heads}</ul></td></tr>")
    total = sum(e.seconds for e in entries)
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>olkit tour</title>
<style>body{{font-family:system-ui,sans-serif;max-width:70em;margin:2em auto}}
td{{padding:.3em 1em;border-bottom:1px solid #ddd;vertical-align:top}} ul{{margin:0;padding-left:1em}}
code{{white-space:pre-wrap}}</style></head><body>
<h1>olkit tour</h1><p>Every notebook executed headless on the embedded defaults
({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}); {sum(e.ok for e in entries)}/{len(entries)} ok,
{total:.0f} s in all.</p>
<table><tr><th>notebook</th><th>status</th><th>time</th><th>budget</th><th>headline numbers</th></tr>
{''.join(rows)}</table></body></html>"""
    index = write_text_atomic(reports / "index.html", page)
    write_text_atomic(reports / "tour.json", json.dumps([asdict(e) for e in entries], indent=2))
    return index


def register(subparsers: argparse._SubParsersAction) -> None:
    t = subparsers.add_parser("tour", help="run every notebook on the embedded defaults; HTML reports")
    t.add_argument("--reports", default="reports", help="output folder (default: reports)")
    t.add_argument("--only", nargs="*", help="notebook name prefixes to run (default: all)")
    t.add_argument("--budget", type=float, default=DEFAULT_BUDGET,
                   help=f"time budget per notebook in seconds; 0: none (default {DEFAULT_BUDGET:.0f})")
    t.set_defaults(func=_tour)
    lab = subparsers.add_parser("lab", help="open JupyterLab on the notebooks")
    lab.add_argument("--port", type=int, default=8888)
    lab.set_defaults(func=_lab)


def _tour(args: argparse.Namespace) -> int:
    index, entries = run_tour(args.reports, only=args.only, budget=args.budget or None)
    failed = [f"{e.notebook} ({e.status})" for e in entries if not e.ok]
    if failed:
        print(f"olkit tour: {len(failed)} notebook(s) did not finish: {', '.join(failed)}", file=sys.stderr)
    print(index.resolve())
    return 1 if failed else 0


def _lab(args: argparse.Namespace) -> int:
    from olkit.notebooks import NOTEBOOK_DIR

    return subprocess.call([sys.executable, "-m", "jupyter", "lab", f"--port={args.port}",
                            str(NOTEBOOK_DIR)])
