"""Widgets in a real browser: JupyterLab + headless Debian Chromium driven by Playwright.

For each widget a small notebook is opened in Lab and run; the test moves a slider by keyboard
and asserts that both the numbers (the widget's summary line) and the plot (plotly's trace data in
the DOM) changed.  A screenshot after the move is saved to ``tests/artifacts/`` (CI artefact and
the README's pictures).  Skip locally with ``--skip-browser``; without Chromium the tests skip with
a message saying how to enable them, except in CI (``CI=true``), where they must run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest

from tests.browser.jupyter import browser_available, chromium_page, jupyterlab, open_and_run

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"

#: widget name -> (setup code whose last line displays the widget, summary widget, slider widget)
WIDGETS = {
    "reputation_lab": (
        "from olkit.widgets.reputation_lab import ReputationLab\n"
        "w = ReputationLab(n_agents=500, epochs=40, seed=0)",
        "w.status", 'w.controls["sybil"]'),
    "filter_tuner": (
        "from olkit.data.sample import sample_stream\n"
        "from olkit.filters.pipeline import Pipeline\n"
        "from olkit.filters.registry import default_filters\n"
        "from olkit.widgets.filter_tuner import FilterTuner\n"
        "frame = sample_stream(n_contributors=25, seed=0)\n"
        "result = Pipeline(default_filters(models=False)).run(frame)\n"
        "w = FilterTuner(result)",
        "w.summary_html", 'w.sliders["format.min_words"]'),
    "playground": (  # the ledger is prepared by the fixture (a tiny economy): the kernel only chats
        "from olkit.widgets.playground import Playground\n"
        "w = Playground.from_store('economy.duckdb', max_new_tokens=6, temperature=1.0)",
        "w.summary", 'w.controls["max_new_tokens"]'),
}


def _widget_notebook(path: Path, setup: str, summary: str, slider: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(setup),
        nbformat.v4.new_code_cell(f'{summary}.add_class("olkit-summary")\n{slider}.add_class("olkit-primary")\nw'),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


PLOT_DATA = ("() => JSON.stringify(Array.from(document.querySelectorAll('.js-plotly-plot'))"
             ".map(el => (el.data || []).map(d => [d.x, d.y])))")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    reason = browser_available()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests must run in CI: {reason}")
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("lab")
    from olkit.economy import run_economy

    run_economy(root / "economy.duckdb", None, 2, base="tiny-llama", agents=6, train_steps=1, max_length=96,
                max_eval=2, progress=False)
    for name, spec in WIDGETS.items():
        _widget_notebook(root / f"{name}.ipynb", *spec)
    with jupyterlab(root) as url:
        yield url


@pytest.mark.parametrize("name", list(WIDGETS))
def test_slider_changes_plot_and_numbers(lab, name):
    ARTIFACTS.mkdir(exist_ok=True)
    with chromium_page() as page:
        open_and_run(page, lab, f"{name}.ipynb")
        page.wait_for_selector(".olkit-summary", timeout=120_000)
        page.wait_for_function("() => document.querySelector('.olkit-summary').innerText.trim().length > 0")
        page.wait_for_function("() => { const p = document.querySelector('.js-plotly-plot');"
                               " return p && p.data && p.data.some(d => d.y && d.y.length > 0); }",
                               timeout=120_000)
        numbers_before = page.inner_text(".olkit-summary")
        plot_before = page.evaluate(PLOT_DATA)
        handle = page.locator(".olkit-primary .noUi-handle").first
        handle.scroll_into_view_if_needed()
        handle.focus()
        for _ in range(6):
            page.keyboard.press("ArrowRight")
        page.wait_for_function("(b) => document.querySelector('.olkit-summary').innerText !== b",
                               arg=numbers_before, timeout=60_000)
        page.wait_for_function(f"(b) => ({PLOT_DATA})() !== b", arg=plot_before, timeout=60_000)
        numbers_after = page.inner_text(".olkit-summary")
        plot_after = page.evaluate(PLOT_DATA)
        page.wait_for_timeout(500)  # let plotly finish drawing before the picture
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    assert numbers_after != numbers_before
    assert json.loads(plot_after) != json.loads(plot_before)
    assert (ARTIFACTS / f"{name}.png").stat().st_size > 10_000
