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

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--skip-browser", action="store_true",
                     help="skip tests that drive JupyterLab in headless Chromium")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--skip-browser"):
        skip = pytest.mark.skip(reason="--skip-browser given")
        for item in items:
            if "browser" in item.keywords:
                item.add_marker(skip)
