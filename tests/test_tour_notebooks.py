"""The tour (00) and the policy lab (06) run end to end, small, and state their verdicts."""

from __future__ import annotations

import pytest

from olkit.notebooks import NOTEBOOK_DIR, cell_errors, run_notebook

pytestmark = pytest.mark.slow

TINY = dict(n_contributors=20, models=False, sim_agents=200, sim_epochs=10, base_model="tiny-llama",
            train_steps=3, max_eval=6, max_attribution_train=12)


def _text(nb) -> str:
    return "\n".join(o.get("text", "") or str(o.get("data", {}).get("text/plain", ""))
                     for c in nb.cells for o in c.get("outputs", []))


def test_tour_notebook_runs_end_to_end(tmp_path):
    nb = run_notebook(NOTEBOOK_DIR / "00_tour.ipynb", TINY, html_out=tmp_path / "00.html")
    assert cell_errors(nb) == []
    text = _text(nb)
    assert "added=0" in text  # re-ingesting added nothing
    assert "held-out loss" in text and "'total_paid': 1000.0" in text
    assert "Plotly.newPlot" in (tmp_path / "00.html").read_text()


def test_policy_lab_notebook_compares_policies(tmp_path):
    nb = run_notebook(NOTEBOOK_DIR / "06_policy_lab.ipynb",
                      {**TINY, "policy_names": ["strict", "lenient"], "sim_seeds": 1},
                      html_out=tmp_path / "06.html")
    assert cell_errors(nb) == []
    text = _text(nb)
    for verdict in ("best filter F1", "smallest adversary reward share", "lowest held-out loss",
                    "smallest adversary share of attribution payouts"):
        assert verdict in text
    assert "rewards.epoch_rule" in text  # the diff table names the keys that differ
