"""The tour runner: one HTML per notebook, an index linking them, failures reported not hidden."""

from __future__ import annotations

import nbformat

from olkit.notebooks import notebook_paths, run_notebook
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
                     "import plotly.graph_objects as go\nfrom olkit.viz import show\nshow(go.Figure(go.Bar(y=[1, n])))")
    bad = _notebook(tmp_path / "02_bad.ipynb", "raise ValueError('boom')")
    index, entries = run_tour(tmp_path / "reports", notebooks=[good, bad])
    assert [e.ok for e in entries] == [True, False]
    html = index.read_text()
    assert 'href="01_good.html"' in html and "02_bad.ipynb" in html and "boom" in html
    report = (tmp_path / "reports" / "01_good.html").read_text()
    assert "plotly" in report.lower() and "Plotly.newPlot" in report
    assert not (tmp_path / "reports" / "02_bad.html").exists()


def test_every_notebook_has_a_parameters_cell():
    for path in notebook_paths():
        nb = nbformat.read(path, as_version=4)
        tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1, f"{path.name} needs exactly one cell tagged 'parameters'"
