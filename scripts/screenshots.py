"""Screenshots of every widget in a real JupyterLab (headless Chromium) for the README.

Run: .venv/bin/python scripts/screenshots.py [WIDGET ...]  (needs /usr/bin/chromium); writes
docs/img/<widget>.png for the named widgets (default: all).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.browser.jupyter import chromium_page, jupyterlab, open_and_run  # noqa: E402
from tests.browser.test_widgets_browser import WIDGETS  # noqa: E402

EXTRA = {
    "training_monitor": (
        "from olkit.data import sample_stream\n"
        "from olkit.train import TrainConfig\n"
        "from olkit.widgets import TrainingMonitor\n"
        "frame = sample_stream(n_contributors=20, seed=0)\n"
        "w = TrainingMonitor(frame, base='tiny-llama', mode='all', max_eval=8,\n"
        "                    config=TrainConfig(steps=25, max_length=96, learning_rate=2e-3))\n"
        "w.start(); w.wait()\n"
        "w"),
    "attribution_explorer": (
        "from olkit.attribution import evaluate as ev\n"
        "from olkit.attribution.task import make_task\n"
        "from olkit.widgets import AttributionExplorer\n"
        "task = make_task(6, 6, 8, n_duplicates=2, seed=0)\n"
        "ctx = ev.Setup.from_task(task, seed=0).train_full()\n"
        "w = AttributionExplorer(ctx, task.train, task.eval, methods=['tracin', 'span'], max_new_tokens=16)\n"
        "w"),
}


def main() -> None:
    out = ROOT / "docs" / "img"
    out.mkdir(parents=True, exist_ok=True)
    cells = {name: setup + "\nw" for name, (setup, _s, _k) in WIDGETS.items()} | EXTRA
    if sys.argv[1:]:
        cells = {name: cells[name] for name in sys.argv[1:]}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, source in cells.items():
            nb = nbformat.v4.new_notebook()
            nb.cells = [nbformat.v4.new_code_cell(source)]
            nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
            nbformat.write(nb, root / f"{name}.ipynb")
        with jupyterlab(root) as url:
            for name in cells:
                with chromium_page(width=1400, height=1100) as page:
                    open_and_run(page, url, f"{name}.ipynb", timeout_ms=600_000)
                    page.wait_for_timeout(3000)
                    output = page.locator(".jp-OutputArea").first
                    output.screenshot(path=str(out / f"{name}.png"))
                    print(out / f"{name}.png")


if __name__ == "__main__":
    main()
