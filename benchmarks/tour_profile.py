"""Where the tour's time goes: every notebook, every cell, CPU seconds and wall seconds.

Runs the numbered notebooks headless (``olkit.notebooks.run_notebook``) with their default
parameters (or the tour's, with ``--tour-params``) and records, per code cell, the kernel's CPU
seconds (all threads of the kernel process plus its finished child processes) and wall seconds.  CPU seconds
are the number to quote on a shared machine (wall time there is inflated by other work); on a
quiet 2-core machine a notebook takes about max(CPU / 2, CPU / threads used) .. CPU seconds.

    ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 OLKIT_BF16=0 \
        nice -n 10 python benchmarks/tour_profile.py --out /tmp/profile.json [--only 02 04] [--tour-params]

Writes a JSON list of {notebook, cells: [{cell, first_line, cpu_s, wall_s}], cpu_s, wall_s, status}.
Machine-dependent: results are not committed as a benchmark result (see the README for numbers).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

_HOOK = r"""
import json as _olkit_json, os as _olkit_os, resource as _olkit_res, time as _olkit_time
_olkit_cpu_log = _olkit_os.environ.get("OLKIT_CELL_CPU_LOG")
_olkit_t0 = {}
def _olkit_cpu():  # this kernel's threads plus its finished child processes (process pools)
    c = _olkit_res.getrusage(_olkit_res.RUSAGE_CHILDREN)
    return _olkit_time.process_time() + c.ru_utime + c.ru_stime
def _olkit_pre(info=None):
    _olkit_t0["cpu"], _olkit_t0["wall"] = _olkit_cpu(), _olkit_time.perf_counter()
    _olkit_t0["src"] = (getattr(info, "raw_cell", "") or "").strip().splitlines()[:1]
def _olkit_post(result=None):
    if _olkit_cpu_log and "cpu" in _olkit_t0:
        with open(_olkit_cpu_log, "a") as _f:
            _f.write(_olkit_json.dumps({"first_line": (_olkit_t0["src"] or [""])[0][:80],
                                        "cpu_s": _olkit_cpu() - _olkit_t0["cpu"],
                                        "wall_s": _olkit_time.perf_counter() - _olkit_t0["wall"]}) + "\n")
get_ipython().events.register("pre_run_cell", _olkit_pre)
get_ipython().events.register("post_run_cell", _olkit_post)
"""


def profile(paths: list[Path], parameters: dict[str, dict], budget: float | None) -> list[dict]:
    import olkit.notebooks as nbmod

    nbmod._SETUP_SOURCE = nbmod._SETUP_SOURCE + "\n" + _HOOK
    out = []
    for path in paths:
        log = Path(tempfile.mkstemp(suffix=".jsonl")[1])
        os.environ["OLKIT_CELL_CPU_LOG"] = str(log)
        start = time.perf_counter()
        status = "ok"
        try:
            nbmod.run_notebook(path, parameters.get(path.stem, {}), budget=budget)
        except nbmod.NotebookFailed as err:
            status = f"{err.kind}: {err}"[:300]
        wall = time.perf_counter() - start
        cells = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
        cells = cells[1:]  # the first record is the setup cell's own post hook
        for i, c in enumerate(cells):
            c["cell"] = i
        entry = {"notebook": path.name, "status": status, "wall_s": round(wall, 1),
                 "cpu_s": round(sum(c["cpu_s"] for c in cells), 1), "cells": cells}
        out.append(entry)
        print(f"{path.name}: {status[:80]}, CPU {entry['cpu_s']:.0f} s, wall {wall:.0f} s, "
              f"load {os.getloadavg()[0]:.2f}", flush=True)
        for c in sorted(cells, key=lambda c: -c["cpu_s"])[:5]:
            print(f"    cpu {c['cpu_s']:7.1f} s  wall {c['wall_s']:7.1f} s  {c['first_line']}", flush=True)
    return out


def main() -> None:
    from olkit.notebooks import notebook_paths

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="tour_profile.json")
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--budget", type=float, default=None)
    ap.add_argument("--tour-params", action="store_true", help="the parameters olkit tour passes")
    args = ap.parse_args()
    paths = [p for p in notebook_paths() if not args.only or any(p.stem.startswith(o) for o in args.only)]
    params: dict[str, dict] = {}
    if args.tour_params:
        from olkit.tour import shared_sample, tour_parameters

        params = tour_parameters(paths, shared_sample())
    result = profile(paths, params, args.budget)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(f"total CPU {sum(e['cpu_s'] for e in result):.0f} s, wall {sum(e['wall_s'] for e in result):.0f} s")


if __name__ == "__main__":
    main()
