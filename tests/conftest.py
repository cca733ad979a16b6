"""Shared pytest setup: offline model hubs, a per-session cache, and the --skip-browser flag.

Hypothesis runs with a derandomised profile in CI (``CI=true``), so a CI failure repeats exactly
on re-run; elsewhere it explores fresh examples each run.  ``HYPOTHESIS_PROFILE`` overrides.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("dev", print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE")
                      or ("ci" if os.environ.get("CI", "").lower() == "true" else "dev"))

# Under pytest-xdist each worker gets its share of the cores: two workers each running torch (or
# polars) with a thread per core oversubscribe the CPU, and OpenMP spin-waiting then makes both
# twice as slow as one thread each (measured: SmolLM2 features 115 s vs 56 s on 2 cores).  Set
# before torch is imported; notebook kernels and Ray workers started by tests inherit it.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
    _cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    _share = str(max(1, _cores // _WORKERS))
    for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "POLARS_MAX_THREADS"):
        os.environ.setdefault(_var, _share)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(params=["bf16-off", "bf16-auto"])
def bf16_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a 4-bit training test both ways: bf16 forced off (``OLKIT_BF16=0``: what an AVX2 CPU
    computes) and ``compute_dtype="auto"`` as found (bf16 where the CPU has it natively).  The
    second is skipped where it would repeat the first (no native bf16, or ``OLKIT_BF16=0`` set)."""
    if request.param == "bf16-off":
        monkeypatch.setenv("OLKIT_BF16", "0")
    else:
        import torch

        from olkit.train.models import auto_bf16

        if not auto_bf16(torch.device("cpu")):
            pytest.skip("bf16-auto is float32 here (no native bf16 or OLKIT_BF16=0): same as bf16-off")
    return request.param


@pytest.fixture
def one_torch_thread():
    """One torch thread for the test: tiny tensors gain nothing from threads, and results stay
    independent of the machine's core count."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--skip-browser", action="store_true",
                     help="skip tests that drive JupyterLab in headless Chromium")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Longest first: tests marked ``slow`` (minutes each) start at once, one per xdist worker, and
    # the short ones fill in around them; left in file order, two slow tests can queue on one
    # worker while the other idles.  The sort is stable, so every worker sees the same order.
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
    if config.getoption("--skip-browser"):
        skip = pytest.mark.skip(reason="--skip-browser given")
        for item in items:
            if "browser" in item.keywords:
                item.add_marker(skip)
