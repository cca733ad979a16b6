"""Notebook 01 runs end to end on a small sample."""

from __future__ import annotations

from olkit.notebooks import NOTEBOOK_DIR, cell_errors, collect_headlines, run_notebook


def test_ingestion_notebook_runs(tmp_path) -> None:
    nb = run_notebook(NOTEBOOK_DIR / "01_ingestion.ipynb", {"n_contributors": 20, "seed": 1, "workdir": str(tmp_path)},
                      html_out=tmp_path / "01.html")
    assert cell_errors(nb) == []
    text = "\n".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []) if c.cell_type == "code")
    assert "tampered: events row seq=1: edited" in text
    assert "original: ok" in text
    heads = collect_headlines(nb)
    assert heads["added_by_re_ingest"] == 0 and heads["tampering_detected"] is True and heads["rows_ingested"] > 0
    assert (tmp_path / "ledger.duckdb").exists() and (tmp_path / "submissions.parquet").exists()
    html = (tmp_path / "01.html").read_text()
    assert "Submissions per contributor" in html and "plotly" in html
