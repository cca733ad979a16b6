"""Notebook 02 (filtering) runs headless at a small size, with the model filters on."""

from __future__ import annotations

from olkit.notebooks import NOTEBOOK_DIR, cell_errors, run_notebook


def test_filtering_notebook_runs_small(tmp_path):
    nb = run_notebook(NOTEBOOK_DIR / "02_filtering.ipynb",
                      {"n_contributors": 4, "seed": 1, "models": True, "external_items": 40,
                       "export_path": str(tmp_path / "tuned.yaml")},
                      html_out=tmp_path / "02.html")
    assert cell_errors(nb) == []
    assert (tmp_path / "tuned.yaml").exists()
    html = (tmp_path / "02.html").read_text()
    assert "plotly" in html and "Rejection rate by true label" in html
    text = "\n".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "stream")
    assert "false rejection (genuine)" in text
