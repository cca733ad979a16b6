"""Smoke test of ``benchmarks/smollm2_loo_bench.py``'s core (:func:`run_check`) on a tiny config.

The real check (SmolLM2-135M NF4, 6 contributors, 3 training seeds) takes the better part of an
hour on the reference machine and writes ``benchmarks/results/smollm2_loo.json``; here the same code
path runs on the tiny random Llama (4-bit, seconds): leave-one-contributor-out retraining over two
seeds, the noise ceiling between them, and method correlations including the payout path.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "smollm2_loo_bench.py"


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(BENCH.parent))
    try:
        spec = importlib.util.spec_from_file_location("smollm2_loo_bench", BENCH)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop("smollm2_loo_bench", None)
        sys.path.remove(str(BENCH.parent))


def test_correlation_helpers(bench):
    a = np.array([0.3, -0.1, 0.2, 0.05])
    assert bench.spearman(a, a) == pytest.approx(1.0)
    assert bench.spearman(a, -a) == pytest.approx(-1.0)
    assert bench.spearman(a, np.ones(4)) == 0.0  # a constant vector has no ranking
    assert bench.pearson(a, 2 * a + 1) == pytest.approx(1.0)
    s = bench.spread([0.0, 1.0])
    assert s["mean"] == 0.5 and s["sd"] == pytest.approx(np.sqrt(0.5)) and s["n"] == 2


def test_run_check_tiny(bench, tmp_path):
    cfg = bench.Config(base="tiny-llama", n_regular=1, items=2, n_eval=3, seeds=(0, 1), steps=2,
                       checkpoint_every=1, methods=("equal", "random", "tfidf", "trak", "payouts"))
    stages = []
    out = bench.run_check(cfg, cache=tmp_path, progress=False, on_stage=lambda o, done: stages.append(done))
    contributors = out["contributors"]
    assert contributors == ["c000", "canary-copy", "canary-sole", "canary-spam"]
    assert out["seeds_finished"] == [0, 1]
    for s in ("0", "1"):
        loo = np.array(list(out["loo"][s].values()))
        assert loo.shape == (4,) and np.isfinite(loo).all()
        assert np.abs(loo).max() > 0  # leaving a contributor out changed the trained model
    # the two seeds are different trainings (init and batch order), not one run twice
    assert out["eval_loss"]["0"]["all"] != out["eval_loss"]["1"]["all"]
    assert out["noise_ceiling"]["pairs"] == [[0, 1]]
    assert -1.0 <= out["noise_ceiling"]["spearman_between_seeds"]["mean"] <= 1.0
    for name in cfg.methods:
        m = out["methods"][name]
        assert m["seeds"] == [0, 1]
        assert all(-1.0 <= v <= 1.0 for v in m["spearman_to_loo_same_seed"]["values"])
        assert m["cpu_s"]["n"] == 2
    assert out["methods"]["equal"]["spearman_to_mean_loo"]["values"] == [0.0, 0.0]
    for shares in out["methods"]["payouts"]["values"].values():
        assert sum(shares.values()) == pytest.approx(1.0)
    assert all(bench.checks(out, cfg).values())
    assert stages[0] is False and stages[-1] is True  # complete only once every seed and method is in
    # everything is cached: a second run trains and attributes nothing
    again = bench.run_check(cfg, cache=tmp_path, progress=False)
    assert again["loo"] == out["loo"]
    assert again["methods"]["trak"]["values"] == out["methods"]["trak"]["values"]
