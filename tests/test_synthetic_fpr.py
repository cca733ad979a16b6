"""Synthetic-text detection with a threshold set by a target false-positive rate on human text.

The threshold really follows the rate (held-out FPR within a binomial bound), the policy field is
validated and decide-time, the calibration survives save/load, and the evaluation sets are
deterministic by seed.  ``benchmarks/synthetic_bench.py`` measures the shipped recipe on real sets.
"""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from pydantic import ValidationError

from olkit.errors import InputError
from olkit.filters.config import FilterPolicy, scoring_keys
from olkit.filters.synthetic import (
    FEATURES,
    SyntheticFilter,
    SyntheticTextClassifier,
    default_classifier,
    fit_features_by_fpr,
)


def _genres(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Human 'feature rows' of three genres that differ in where they sit (like docs vs fortunes)."""
    shifts = {"docs": 0.0, "faq": 0.6, "fortunes": -0.4}
    rows, src = [], []
    for name, shift in shifts.items():
        rows.append(rng.normal(shift, 1.0, size=(n, len(FEATURES))))
        src += [name] * n
    return np.vstack(rows), np.array(src)


def test_threshold_follows_the_target_fpr_on_held_out_human_text():
    rng = np.random.default_rng(0)
    human, src = _genres(rng, 700)
    machine = rng.normal(1.5, 1.0, size=(600, len(FEATURES)))
    clf = SyntheticTextClassifier(seed=0).fit(np.vstack([human, machine]), np.r_[np.zeros(len(human)), np.ones(600)])
    cal, cal_src = _genres(np.random.default_rng(1), 700)  # calibration: other human items of each genre
    clf.calibrate_fpr({g: clf.decision_function(cal[cal_src == g]) for g in set(cal_src)})
    fresh, fresh_src = _genres(np.random.default_rng(2), 3000)
    dec = clf.decision_function(fresh)
    for target in (0.02, 0.05, 0.10):
        t = clf.threshold_for(target)
        assert (clf.human_fpr(np.array([t])) <= target).all()
        below = np.concatenate(list(clf.human_calibration.values()))
        below = below[below < t].max()  # the calibration score just under the threshold is above the rate
        assert (clf.human_fpr(np.array([below])) > target).all()
        flagged = clf.human_fpr(dec) <= target
        per_genre = {g: flagged[fresh_src == g].mean() for g in set(fresh_src)}
        # the worst genre sits at the target (binomial noise of 700 calibration + 3000 fresh items,
        # 3.5 sigma) and no genre is above it
        sigma = np.sqrt(target * (1 - target) * (1 / 700 + 1 / 3000))
        assert abs(max(per_genre.values()) - target) <= 3.5 * sigma, (target, per_genre)
        assert all(v <= target + 3.5 * sigma for v in per_genre.values())
    assert clf.threshold_for(0.02) > clf.threshold_for(0.05) > clf.threshold_for(0.10)
    # the machine rows are mostly caught at 5%
    m = clf.decision_function(rng.normal(1.5, 1.0, size=(500, len(FEATURES))))
    assert (clf.human_fpr(m) <= 0.05).mean() > 0.8


def test_fit_by_fpr_calibrates_leave_source_out_and_stays_under_the_rate():
    rng = np.random.default_rng(3)
    human, src = _genres(rng, 300)
    clf = fit_features_by_fpr(human, src, rng.normal(1.5, 1.0, size=(300, len(FEATURES))), seed=0)
    assert clf.metadata["calibration"] == "leave-source-out" and set(clf.human_calibration) == set(src)
    assert all(len(clf.human_calibration[g]) == 300 for g in set(src))
    fresh, fresh_src = _genres(np.random.default_rng(4), 2000)
    flagged = clf.human_fpr(clf.decision_function(fresh)) <= 0.05
    sigma = np.sqrt(0.05 * 0.95 * (1 / 300 + 1 / 2000))
    assert all(flagged[fresh_src == g].mean() <= 0.05 + 3.5 * sigma for g in set(fresh_src))


def test_target_fpr_is_a_validated_decide_time_field():
    assert FilterPolicy().synthetic.target_fpr == 0.02
    assert "synthetic.target_fpr" not in scoring_keys()
    for bad in (-0.01, 0.6, "lots"):
        with pytest.raises(ValidationError):
            FilterPolicy.model_validate({"synthetic": {"target_fpr": bad}})
    with pytest.raises(ValidationError):  # the separation threshold is gone: an old key is an error
        FilterPolicy.model_validate({"synthetic": {"threshold": 0.5}})


def test_decide_rejects_by_human_fpr_and_follows_the_policy():
    scores = pl.DataFrame({"submission_id": list("abcde"),
                           "synthetic.prob": [0.99, 0.9, 0.6, 0.2, None],
                           "synthetic.human_fpr": [0.0, 0.015, 0.05, 0.4, None]})
    f = SyntheticFilter(classifier=default_classifier())
    def passed(fpr):
        return f.decide(scores, FilterPolicy.model_validate({"synthetic": {"target_fpr": fpr}}))["passed"].to_list()
    assert passed(0.02) == [False, False, True, True, True]
    assert passed(0.1) == [False, False, False, True, True]
    assert passed(0.0) == [False, True, True, True, True]
    off = FilterPolicy.model_validate({"synthetic": {"enabled": False}})
    assert f.decide(scores, off)["passed"].all()


def test_human_calibration_round_trips_and_bad_files_are_input_errors(tmp_path):
    rng = np.random.default_rng(2)
    human, src = _genres(rng, 60)
    clf = fit_features_by_fpr(human, src, rng.normal(1.0, 1.0, size=(80, len(FEATURES))), seed=1)
    path = clf.save(tmp_path / "det.json")
    back = SyntheticTextClassifier.load(path)
    x = rng.normal(size=(50, len(FEATURES)))
    assert np.allclose(back.human_fpr(back.decision_function(x)), clf.human_fpr(clf.decision_function(x)))
    assert back.threshold_for(0.05) == pytest.approx(clf.threshold_for(0.05), rel=1e-5)
    data = json.loads(path.read_text())
    data["human_calibration"]["docs"] = []
    (tmp_path / "bad.json").write_text(json.dumps(data))
    with pytest.raises(InputError, match="bad.json"):
        SyntheticTextClassifier.load(tmp_path / "bad.json")
    with pytest.raises(InputError, match="refit"):
        SyntheticTextClassifier(seed=0).fit(x, np.arange(50) % 2).human_fpr(np.zeros(3))
    with pytest.raises(InputError):
        fit_features_by_fpr(human, src[:-1], x, seed=0)


def test_shipped_detector_is_calibrated_on_several_human_genres():
    clf = default_classifier()
    assert len(clf.human_calibration) >= 5 and all(len(v) >= 50 for v in clf.human_calibration.values())
    assert clf.metadata["calibration"] == "leave-source-out"
    t = clf.threshold_for(FilterPolicy().synthetic.target_fpr)
    assert np.isfinite(t)


def test_eval_set_builder_is_deterministic_by_seed(tmp_path):
    from olkit.data import synthetic_eval as se

    if not (se.PYDOC_HTML.exists() and se.FORTUNES.exists()):
        pytest.skip("needs the Debian packages python3.11-doc and fortunes (see .ci/run)")
    sources = ("faq", "docstrings", "fortunes")
    a = se.human_texts(n_per_source=8, seed=0, sources=sources)
    assert a.equals(se.human_texts(n_per_source=8, seed=0, sources=sources))
    assert not a.equals(se.human_texts(n_per_source=8, seed=1, sources=sources))
    assert sorted(a["source"].unique().to_list()) == sorted(sources) and a.height == 24
    assert (a["response"].str.split(" ").list.len() >= 15).all()
    with pytest.raises(InputError):
        se.human_texts(sources=("nope",))
    # machine text: sampled (never greedy) SmolLM2 output, the same for the same seed, cached on disk
    kw = {"n_per_set": 2, "sets": ("sampled_t1.0",), "max_new_tokens": 16, "human": a}
    m1 = se.machine_texts(seed=0, cache=False, **kw)
    m2 = se.machine_texts(seed=0, cache=tmp_path, **kw)
    assert m1.height >= 1 and m1.equals(m2) and set(m1["fold"]) <= {0, 1} and (m1["label"] == "machine").all()
    assert list(tmp_path.glob("machine-*.parquet"))
    assert se.machine_texts(seed=0, cache=tmp_path, **kw).equals(m2)


def test_token_features_tail_window_and_robust_statistics():
    """v2 features from per-token statistics: the tail and window curvature see a machine-like
    continuation that the whole-text curvature averages away; one outlier token moves the plain
    curvature far more than the clipped one; the length-free curvature is curvature / sqrt(n)."""
    import torch

    from olkit.filters.synthetic import WINDOW_TOKENS, token_features

    n = 64
    gap = np.r_[np.full(n // 2, -0.8), np.full(n // 2, 0.6)]      # human-like opening, machine-like tail
    ent = np.full(n, 2.0)
    var = np.full(n, 1.0)
    outlier = np.r_[np.full(n - 1, 0.3), [-40.0]]                  # one surprising word in even text
    lp = np.r_[gap - ent, outlier - ent]
    seg = np.r_[np.zeros(n), np.ones(n)]
    pos = np.r_[np.arange(n), np.arange(n)]
    t = {k: torch.tensor(v) for k, v in dict(lp=lp, ent=np.r_[ent, ent], var=np.r_[var, var], seg=seg, pos=pos).items()}
    x = token_features(t["lp"], torch.ones(2 * n), t["ent"], t["var"], t["seg"], t["pos"], 3)
    f = {name: x[:, i] for i, name in enumerate(FEATURES)}
    assert np.isnan(x[2]).all()                                      # an item without tokens
    assert f["curvature"][0] == pytest.approx(gap.sum() / np.sqrt(n))
    assert f["curvature_tail"][0] == pytest.approx(0.6 * np.sqrt(n // 2))
    assert f["curvature_max_window"][0] == pytest.approx(0.6 * np.sqrt(WINDOW_TOKENS))
    assert f["curvature_tail"][0] > 0 > f["curvature"][0]
    assert np.allclose(f["norm_curvature"][:2], f["curvature"][:2] / np.sqrt(n))
    assert f["curvature"][1] < 0 < f["robust_curvature"][1]          # the clip keeps the outlier at -2
    assert f["gap_pos_rate"][0] == pytest.approx(0.5) and f["gap_pos_rate"][1] == pytest.approx((n - 1) / n)
    assert f["entropy_ratio"][0] == pytest.approx(-f["mean_logprob"][0] / 2.0)
