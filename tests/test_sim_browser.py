"""ReputationLab in a real JupyterLab + headless Chromium: moving a control re-runs and redraws."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from tests.browser.jupyter import browser_available, chromium_page, jupyterlab, open_and_run

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CELL = """
from olkit.widgets.reputation_lab import ReputationLab
lab = ReputationLab(n_agents=300, epochs=30)
lab
"""


@pytest.mark.skipif(browser_available() is not None, reason=str(browser_available()))
def test_reputation_lab_in_jupyterlab(tmp_path: Path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(CELL.strip())])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "lab.ipynb")
    with jupyterlab(tmp_path) as url, chromium_page() as page:
        open_and_run(page, url, "lab.ipynb")
        # the figure renders with one legend entry per run: the chosen rule and the comparison
        page.wait_for_selector(".js-plotly-plot .legendtext", timeout=60_000)
        legend = page.evaluate("() => [...document.querySelectorAll('.js-plotly-plot .legendtext')]"
                               ".map(e => e.textContent)")
        assert "decoupled" in legend and "acceptance_ratio" in legend
        # pick another rule in the "rule" dropdown: the kernel re-runs and the legend follows
        rule = page.locator(".widget-dropdown", has=page.locator("label", has_text="rule")).first.locator("select")
        rule.select_option("beta")
        page.wait_for_function(
            "() => [...document.querySelectorAll('.js-plotly-plot .legendtext')]"
            ".some(e => e.textContent === 'beta')", timeout=60_000)
        status = page.locator(".widget-html-content", has_text="re-run in").first.inner_text()
        assert "beta" in status
