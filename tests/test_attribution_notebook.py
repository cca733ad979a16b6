"""notebooks/05_attribution.ipynb runs end to end with small parameters."""

from __future__ import annotations

from pathlib import Path

from olkit.notebooks import cell_errors, run_notebook

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "05_attribution.ipynb"


def test_attribution_notebook_runs_small(tmp_path):
    nb = run_notebook(NOTEBOOK, {"n_contributors": 4, "items_per_contributor": 5, "n_eval": 6, "seeds": [0],
                                 "n_subsets": 6, "methods": ["tracin_adam", "datainf"]},
                      html_out=tmp_path / "05.html")
    assert cell_errors(nb) == []
    outputs = "".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
                      for c in nb.cells for o in c.get("outputs", []))
    assert "best method" in outputs and "after split" in outputs
    assert (tmp_path / "05.html").stat().st_size > 100_000  # plotly figures embedded
