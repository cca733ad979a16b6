"""The committed benchmark results share one frame and meet their targets.

The numbers come from ``benchmarks/*_bench.py`` runs (minutes each, on the reference machine), not
from this suite; what is checked here is that every results file says what it checked, that every
check passed, and that the README quotes each benchmark.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = sorted((ROOT / "benchmarks" / "results").glob("*.json"))


def test_every_benchmark_script_has_results():
    scripts = {p.name.removesuffix("_bench.py") for p in (ROOT / "benchmarks").glob("*_bench.py")}
    assert scripts == {p.stem for p in RESULTS}


@pytest.mark.parametrize("path", RESULTS, ids=[p.stem for p in RESULTS])
def test_results_file_has_checks_machine_and_passes(path):
    result = json.loads(path.read_text())
    checks = result["pass"]
    assert isinstance(checks, dict) and checks and all(isinstance(v, bool) for v in checks.values())
    assert result["all_pass"] is True and all(checks.values()), f"{path.name}: {checks}"
    assert result["machine"]["cores"] >= 1
    assert f"`{path.stem}_bench.py`" in (ROOT / "README.md").read_text()
