"""The tour runner: one HTML per notebook, an index linking them, failures reported not hidden."""

from __future__ import annotations

import io
import json
import time

import nbformat
import numpy as np

from olkit.notebooks import headline, notebook_paths, run_notebook
from olkit.tour import run_tour


def _notebook(path, source, params="n = 3"):
    nb = nbformat.v4.new_notebook()
    p = nbformat.v4.new_code_cell(params)
    p.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# t"), p, nbformat.v4.new_code_cell(source)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_parameters_are_injected_after_the_parameters_cell(tmp_path):
    path = _notebook(tmp_path / "01_a.ipynb", "print(n * 2)")
    nb = run_notebook(path, {"n": 21})
    outputs = [o for c in nb.cells for o in c.get("outputs", [])]
    assert any("42" in o.get("text", "") for o in outputs)


def test_tour_writes_index_and_reports_failures(tmp_path):
    good = _notebook(tmp_path / "01_good.ipynb",
                     "import time\nimport plotly.graph_objects as go\nfrom tqdm.auto import tqdm\n"
                     "from olkit.notebooks import headline\nfrom olkit.viz import show\n"
                     "for _ in tqdm(range(4), desc='work', mininterval=0): time.sleep(0.3)\n"
                     "headline(doubled=n * 2)\nheadline({'a ratio': 0.25})\nshow(go.Figure(go.Bar(y=[1, n])))")
    bad = _notebook(tmp_path / "02_bad.ipynb", "raise ValueError('boom')")
    slow = _notebook(tmp_path / "03_slow.ipynb", "import time\ntime.sleep(120)")
    after = _notebook(tmp_path / "04_after.ipynb", "print(n)")
    log = io.StringIO()
    t0 = time.monotonic()
    index, entries = run_tour(tmp_path / "reports", notebooks=[good, bad, slow, after], budget=10, out=log,
                              echo_every=0)
    assert time.monotonic() - t0 < 100  # the slow notebook was stopped at its budget
    assert [e.status for e in entries] == ["ok", "failed", "over budget", "ok"]
    assert entries[0].headlines == {"doubled": 6, "a ratio": 0.25}
    # a one-line error naming the cell, no raw nbclient traceback
    assert entries[1].error == """02_bad.ipynb: cell 2 ("raise ValueError('boom')") raised ValueError: boom"""
    assert "Traceback" not in entries[1].error and "budget of 10 s" in entries[2].error
    html = index.read_text()
    assert 'href="01_good.html"' in html and "doubled: <b>6</b>" in html and "a ratio" in html
    assert "boom" in html and "over budget" in html
    report = (tmp_path / "reports" / "01_good.html").read_text()
    assert "plotly" in report.lower() and "Plotly.newPlot" in report
    assert "work: 100%" in report and "olkit-headless" not in report  # text progress bar; setup cell gone
    assert "ValueError" in (tmp_path / "reports" / "02_bad.html").read_text()  # how far it got
    lines = log.getvalue().splitlines()
    for name, status in [("01_good", "ok"), ("02_bad", "failed"), ("03_slow", "over budget"), ("04_after", "ok")]:
        assert any(f"{name}.ipynb started" in x for x in lines)
        assert any(f"{name}.ipynb {status} in" in x for x in lines)
    assert any("01_good [cell 2] work:" in x and "%|" in x for x in lines)  # the bar, echoed to the log
    assert json.loads((tmp_path / "reports" / "tour.json").read_text())[0]["headlines"]["doubled"] == 6


def test_headline_outside_a_kernel_prints_one_line(capsys):
    assert headline(n=np.float64(0.5), bad=float("nan")) == {"n": 0.5, "bad": None}
    assert capsys.readouterr().out == "headline: n = 0.5, bad = None\n"


def test_every_notebook_has_a_parameters_cell():
    for path in notebook_paths():
        nb = nbformat.read(path, as_version=4)
        tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1, f"{path.name} needs exactly one cell tagged 'parameters'"
