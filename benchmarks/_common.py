"""What every benchmark script shares: the machine description and how results are written.

Every ``benchmarks/results/<name>.json`` has the same frame around its own numbers:

* ``pass`` — ``{check name: bool}``, one entry per target of the benchmark;
* ``all_pass`` — whether every check passed (the scripts exit 1 when not);
* ``machine`` — cores, CPU model, platform, library versions and the load average, because the
  reference machine is a shared 2-core box and rates vary with what else runs on it.

Results are written atomically (a temporary file renamed over the old one), so an interrupted run
never leaves a half-written JSON behind.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(*packages: str, **extra) -> dict:
    """Cores, CPU, platform, Python, the versions of ``packages`` and the 1-minute load average."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count()
    versions = {}
    for name in packages:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return {"cores": cores, "cpu": _cpu_model(), "platform": platform.platform(),
            "python": sys.version.split()[0], "versions": versions,
            "load_avg_1m": round(os.getloadavg()[0], 2), **extra}


def write_result(result: dict, checks: dict[str, bool], out: str | Path | None) -> int:
    """Add ``pass``/``all_pass`` to ``result``, write it to ``out`` atomically (unless ``None``).

    Returns the process exit status: 0 when every check passed, else 1.
    """
    result["pass"] = {name: bool(ok) for name, ok in checks.items()}
    result["all_pass"] = all(result["pass"].values())
    if out is not None:
        from olkit.kit import write_text_atomic

        out = write_text_atomic(out, json.dumps(result, indent=2, default=float) + "\n")
        print(f"wrote {out}")
    return 0 if result["all_pass"] else 1
