"""Content-backed validation: real sample-datanet items judged once by the real filter pipeline."""

from __future__ import annotations

import numpy as np
import pytest

from olkit.sim import SimConfig, simulate
from olkit.sim.config import EXPERIMENT, SAFE, SPAM
from olkit.sim.content import build_pool, pipeline_decisions, pool_summary


@pytest.fixture(scope="module")
def pool():
    return build_pool(n_per_label=80, seed=0)


def test_pool_holds_real_pipeline_decisions(pool):
    summary = pool_summary(pool)
    assert (summary["items"] > 0).all()
    rate = dict(zip(zip(summary["kind"], summary["good"], strict=True), summary["accept_rate"], strict=True))
    assert rate[("safe", True)] > 0.9  # experts' genuine answers pass the real filters
    assert rate[("spam", False)] < 0.05  # real spam is caught
    # the pool is exactly what the pipeline decided for those items
    d = pipeline_decisions(n_contributors=60, seed=0)
    spam = d.filter(d["label"] == "spam")
    assert abs(rate[("spam", False)] - spam["accepted"].mean()) < 0.05
    assert pool["abuse"][pool["offset"][SPAM * 2]: pool["offset"][SPAM * 2] + pool["size"][SPAM * 2]].mean() > 0.9


def test_content_mode_runs_deterministically(pool):
    cfg = SimConfig(n_agents=300, epochs=15, validation="content", content_pool=80)
    a = simulate(cfg, content_pool=pool).epochs
    b = simulate(cfg, content_pool=pool).epochs
    c = simulate(cfg.updated(seed=1), content_pool=pool).epochs
    assert a.equals(b) and not a.equals(c)
    # the honest accept rates follow the pool's, not the parametric validator's
    lo = pool["offset"][SAFE * 2 + 1]
    safe_rate = pool["accepted"][lo: lo + pool["size"][SAFE * 2 + 1]].mean()
    assert a["false_rejection"].mean() < 1 - safe_rate + 0.1
    assert a["accepted_quality"].mean() > 0.8
    assert pool["size"][EXPERIMENT * 2 + 1] > 0
    np.testing.assert_allclose(a["budget"].to_numpy(), 1000.0)
