"""Notebook 03 runs end to end at reduced size; the ReputationLab widget is driven without a browser."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from olkit.notebooks import NOTEBOOK_DIR, cell_errors, run_notebook
from olkit.reputation.config import RULE_NAMES
from olkit.widgets.reputation_lab import PANELS, ReputationLab

NB = NOTEBOOK_DIR / "03_reputation_simulation.ipynb"
SMALL = {"n_agents": 200, "epochs": 20, "seeds": 20, "attack_seeds": 2, "engine": "serial",
         "horizons": [5.0, 20.0], "live_points": 5, "live_seeds": 2, "live_agents": 60, "live_epochs": 12,
         "et_seeds": 2, "show_lab": True, "content_pool": 80}


def _text(nb) -> str:
    out = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            out.append(o.get("text", ""))
            out.append(str(o.get("data", {}).get("text/plain", "")))
    return "\n".join(out)


def test_notebook_03_runs_small(tmp_path: Path):
    nb = run_notebook(NB, SMALL, html_out=tmp_path / "03.html")
    assert cell_errors(nb) == []
    text = _text(nb)
    # the punishment-vs-forgiveness verdict is computed over 20 seeds for each horizon
    assert "standing horizon 5 epochs" in text and "standing horizon 20 epochs" in text
    assert text.count("20 seeds") >= 4
    html = (tmp_path / "03.html").read_text()
    assert "EigenTrust replication" in html and "Yuma replication" in html
    assert "content (real filters)" in html
    # the sensitivity analysis: the full run's share-of-space figure and generated verdict, and a live one
    assert "share of the assumption space where each rule beats acceptance_ratio" in html
    assert text.count("The two assumptions that most change the verdict") == 2
    assert "negative control (pay independent of standing, horizon 0), max |difference| over every point" in text
    assert "negative control max |difference|: 0.0" in text
    # attribution pay: the noise model is read from the attribution benchmark and the verdict computed
    assert "measured noise model: rank correlation" in text and "rank corr 0.2:" in text
    # every threat model of the EigenTrust replication, and the Yuma strategies
    assert all(f"threat model {t}" in html for t in "ABCD")
    assert "weight just under the consensus clip" in html
    tags = [c.metadata.get("tags", []) for c in nb.cells]
    assert sum("parameters" in t for t in tags) == 1


def test_reputation_lab_controls_drive_the_curves():
    lab = ReputationLab(n_agents=300, epochs=30)
    assert set(lab.controls) >= {"rule", "compare", "spammer", "farmer", "sybil", "recycler",
                                 "identity_cost", "validator_error", "colluding_stake", "validation"}
    assert len(lab.figure.data) == 2 * len(PANELS)
    before = lab.summary["adversary_reward_share"]
    y_before = list(lab.figure.data[2].y)
    lab.controls["sybil"].value = 0.5
    lab.controls["identity_cost"].value = 0.0
    assert lab.summary["adversary_reward_share"] > before
    assert list(lab.figure.data[2].y) != y_before
    lab.controls["rule"].value = "eigentrust"
    assert lab.summary["rule"] == "eigentrust" and lab.figure.data[0].name == "eigentrust"
    lab.controls["compare"].value = "(none)"
    assert lab.figure.data[1].visible is False and "compare_accepted_quality" not in lab.summary
    assert set(lab.controls["rule"].options) == set(RULE_NAMES)


def test_reputation_lab_reruns_1000_agents_100_epochs_in_under_a_second():
    lab = ReputationLab(n_agents=1000, epochs=100, compare=None)
    lab.controls["rule"].value = "beta"  # warm
    best = float("inf")
    for value in (0.2, 0.3):
        t0 = time.perf_counter()
        lab.controls["spammer"].value = value
        best = min(best, time.perf_counter() - t0)
    assert lab.result is not None and lab.result.epochs.height == 100
    assert best < 1.0, f"re-run took {best:.2f} s"


@pytest.mark.parametrize("rule", ["acceptance_ratio", "decoupled"])
def test_lab_config_reflects_controls(rule):
    lab = ReputationLab(n_agents=200, epochs=5, compare=None)
    lab.controls["rule"].value = rule
    lab.controls["validator_error"].value = 2.0
    cfg = lab.config()
    assert cfg.reputation.rule == rule and cfg.validator.error_scale == 2.0
    assert abs(sum(cfg.mix.values()) - 1.0) < 1e-9
