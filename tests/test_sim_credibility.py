"""Simulation results a reviewer would accept: sensitivity analysis, negative control, faithful
EigenTrust and Yuma replications, attribution pay with a measured noise model (issue 15, 13.4)."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from olkit.errors import InputError
from olkit.sim import SimConfig, simulate
from olkit.sim.attribution import attribution_experiment, attribution_verdict, noise_from_benchmark
from olkit.sim.engine import Simulation
from olkit.sim.replications import eigentrust_experiment, eigentrust_filesharing, yuma_epochs, yuma_step
from olkit.sim.sensitivity import (
    ARMS,
    OUTCOMES,
    PARAMS,
    SensitivityResult,
    _point_task,
    latin_hypercube,
    run_sensitivity,
    sample,
    to_changes,
)

TINY = SimConfig(n_agents=100, epochs=16)


# -- sensitivity -----------------------------------------------------------------------------------------
def test_latin_hypercube_has_one_point_per_stratum_and_is_seeded():
    u = latin_hypercube(20, 3, seed=4)
    assert u.shape == (20, 3) and (u >= 0).all() and (u < 1).all()
    for j in range(3):
        assert sorted((u[:, j] * 20).astype(int).tolist()) == list(range(20))
    np.testing.assert_array_equal(u, latin_hypercube(20, 3, seed=4))
    pts = sample(10, seed=1)
    for name, (lo, hi, _) in PARAMS.items():
        assert pts[name].min() >= lo and pts[name].max() <= hi


def test_changes_map_to_a_valid_config_and_reach_the_validator():
    row = {k: hi for k, (lo, hi, _) in PARAMS.items()}
    cfg = TINY.updated(**to_changes(row))
    assert cfg.validator.abuse_genuine == PARAMS["abuse_error_honest"][1]
    assert cfg.validator.abuse_spam == PARAMS["abuse_recall"][1]
    assert cfg.validator.false_reject_safe == pytest.approx(0.05 * PARAMS["validator_error"][1])
    assert cfg.experiment_pay == PARAMS["experiment_pay"][1]


def test_reduced_sensitivity_run_negative_control_is_exactly_zero():
    """The reduced version of the benchmark: every arm, every outcome, shares with intervals."""
    res = run_sensitivity(TINY, n_points=6, seeds=3, engine="serial", last=5, control_seeds=1)
    assert res.negative_control_max_abs_diff == 0.0
    assert res.values.shape == (6, len(ARMS), 3, len(OUTCOMES))
    sh = res.shares(n_boot=200)
    assert sh.height == (len(ARMS) - 1) * len(OUTCOMES)
    assert ((sh["lo"] <= sh["share_won"] + 1e-12) & (sh["share_won"] <= sh["hi"] + 1e-12)).all()
    # the arms really differ where pay depends on standing (the machinery can see a difference)
    assert np.abs(res.differences()).max() > 0
    text = res.verdict("decoupled")
    assert "decoupled" in text and "The two assumptions that most change the verdict" in text
    block = res.to_json()
    assert set(block["arms"]) == set(ARMS) - {"acceptance_ratio"}
    assert json.loads(json.dumps(block))["arms"]["decoupled"]["honest_retention"]["share_won"] >= 0


def test_negative_control_detects_a_difference_when_pay_depends_on_standing():
    """The control is not vacuous: with standing-weighted pay the same comparison finds differences."""
    changes = to_changes({k: (lo + hi) / 2 for k, (lo, hi, _) in PARAMS.items()})
    arms = {k: ARMS[k] for k in ("acceptance_ratio", "decoupled")}
    _, zero = _point_task(TINY.model_dump(), changes, arms, [0], 5, [0])
    _, nonzero = _point_task(TINY.model_dump(), changes, arms, [0], 5, [0],
                             control={"rewards.epoch_rule": "reputation_weighted", "standing_horizon": 0.0})
    assert zero == 0.0 and nonzero > 0.0


def _synthetic(effect) -> SensitivityResult:
    """A result whose arm-vs-reference difference is ``effect(points)`` plus small seed noise."""
    pts = sample(200, seed=0)
    x = pts.select(list(PARAMS)).to_numpy()
    rng = np.random.default_rng(0)
    vals = np.zeros((200, 2, 20, len(OUTCOMES)))
    vals[:, 1] = effect(x)[:, None, None] + 0.01 * rng.standard_normal((200, 20, len(OUTCOMES)))
    return SensitivityResult(pts, vals, ["acceptance_ratio", "decoupled"], list(range(20)), 0.0, 5)


def test_drivers_and_verdict_find_the_parameter_that_decides():
    keys = list(PARAMS)
    i_h, i_a = keys.index("standing_horizon"), keys.index("abuse_error_honest")
    # decoupled wins when the honest abuse-flag error is below 0.25, loses above (plus a small horizon slope)
    res = _synthetic(lambda x: np.where(x[:, i_a] < 0.25, 0.1, -0.1) + 0.002 * x[:, i_h])
    dr = res.drivers("decoupled").filter(pl.col("outcome") == "honest_retention")
    assert dr["param"][0] == "abuse_error_honest" and dr["first_order"][0] > 0.8
    assert dr.filter(pl.col("param") == "experiment_pay")["first_order"].item() < 0.05
    assert res.verdict_drivers("decoupled")[0] == "abuse_error_honest"
    reg = res.region("decoupled", "honest_retention", "abuse_error_honest", parts=2)
    assert reg["share_won"].to_list() == [1.0, 0.0]
    sh = res.shares(n_boot=200).filter(pl.col("outcome") == "honest_retention")
    assert sh["share_won"].item() == pytest.approx(0.5, abs=0.03)
    # adversary share: lower is better, so a positive raw difference is a loss
    adv = res.shares(n_boot=200).filter(pl.col("outcome") == "adversary_reward_share")
    assert adv["share_won"].item() == pytest.approx(1 - sh["share_won"].item())
    assert "flips" in res.verdict("decoupled")


def test_sensitivity_rejects_bad_arguments():
    with pytest.raises(InputError):
        run_sensitivity(TINY, n_points=2, seeds=1, arms={"acceptance_ratio": ARMS["acceptance_ratio"]})
    with pytest.raises(InputError):
        run_sensitivity(TINY, n_points=2, seeds=1, last=99)
    with pytest.raises(InputError, match="engine"):
        run_sensitivity(TINY, n_points=1, seeds=1, engine="spark")


# -- fairer mechanisms in the engine ---------------------------------------------------------------------
def test_experiment_pay_default_changes_nothing_and_a_higher_pay_raises_experimentation():
    base = SimConfig(n_agents=300, epochs=40, seed=2)
    assert simulate(base).epochs.equals(simulate(base.updated(experiment_pay=1.0)).epochs)
    lo = simulate(base.updated(experiment_pay=0.5)).summary()["experimentation"]
    hi = simulate(base.updated(experiment_pay=3.0)).summary()["experimentation"]
    assert hi > lo + 0.05


# -- attribution pay -------------------------------------------------------------------------------------
def test_noise_model_is_read_from_the_benchmark_file_with_a_fallback_warning(tmp_path):
    noise, info = noise_from_benchmark()
    data = json.loads(open(info["file"]).read())
    if "contributor" not in data:  # the committed file has item-level numbers only
        best = next(m for m in data["methods"] if m["method"] == data["best_method"])
        assert noise.rank_corr == pytest.approx(best["lds_mean"])
        assert noise.redundant_share == pytest.approx(min(0.5, 1 - best["bad_auc_mean"]))
        assert "fell back" in info["warning"]
    f = tmp_path / "attribution.json"
    f.write_text(json.dumps({"default_method": "m", "contributor": {
        "m": {"spearman_to_shapley": {"mean": 0.42}, "redundant_share": 0.1}}}))
    noise2, info2 = noise_from_benchmark(f)
    assert (noise2.rank_corr, noise2.redundant_share) == (0.42, 0.1) and "warning" not in info2
    f.write_text("{}")
    with pytest.raises(InputError, match="attribution"):
        noise_from_benchmark(f)


@pytest.mark.parametrize("target", [0.3, 0.8])
def test_attribution_pay_has_the_requested_rank_correlation(target):
    from scipy.stats import spearmanr

    cfg = SimConfig(n_agents=20000, epochs=1, pay="attribution", attribution={"rank_corr": target})
    sim = Simulation(cfg)
    rng = np.random.default_rng(0)
    code = rng.choice([1, 3], size=cfg.n_agents)  # good safe / good experiment items: values 1 and 2.5
    accepted = rng.integers(0, 3, size=cfg.n_agents).astype(float)
    pay = sim._attribution_pay(1000.0, code, accepted)
    truth = accepted * sim.credit_code[code]
    paid = accepted > 0
    assert pay.sum() == pytest.approx(1000.0) and (pay[~paid] == 0).all()
    rho = spearmanr(pay[paid], truth[paid]).statistic
    assert abs(rho - target) < 0.12, rho


def test_attribution_experiment_reduced_gives_a_computed_verdict():
    noise, info = noise_from_benchmark()
    tab = attribution_experiment(SimConfig(n_agents=150, epochs=15), rank_corrs=(0.3, 1.0), seeds=3, last=5,
                                 measured=noise)
    assert tab["arm"].to_list() == ["acceptance", "reputation_weighted", "attribution@0.3", "attribution@1",
                                    "attribution@measured"]
    assert tab.filter(pl.col("arm") == "acceptance")["accepted_quality_vs_acceptance"].item() == 0.0
    text = attribution_verdict(tab, info)
    assert "rank corr 0.3" in text and "accepted_quality" in text


# -- EigenTrust as published ------------------------------------------------------------------------------
@pytest.mark.parametrize("threat,kw", [("A", {}), ("B", {}), ("C", {"camouflage": 0.5}), ("D", {"n_spies": 20})])
def test_eigentrust_threat_models_run_and_are_seeded(threat, kw):
    a = eigentrust_filesharing(threat=threat, cycles=4, seed=3, **kw)
    b = eigentrust_filesharing(threat=threat, cycles=4, seed=3, **kw)
    assert a.equals(b) and a.height == 4
    assert ((a["inauthentic"] >= 0) & (a["inauthentic"] <= 1)).all()


def test_eigentrust_trust_beats_random_against_independent_peers_and_spies_buy_trust():
    df = eigentrust_experiment(("A", "D"), seeds=4, cycles=12, last=6,
                               axes={"A": ("", (0.4,)), "D": ("", (0.0, 0.5))})
    a = {r["selection"]: r for r in df.filter(pl.col("threat") == "A").iter_rows(named=True)}
    assert a["trust"]["hi"] < a["random"]["lo"]  # separated 95% bands
    b_only = eigentrust_filesharing(threat="D", n_spies=0, cycles=12, seed=0)
    spies = eigentrust_filesharing(threat="D", n_spies=20, cycles=12, seed=0)
    assert spies["trust_on_malicious"].tail(3).mean() > b_only["trust_on_malicious"].tail(3).mean()


def test_eigentrust_rejects_bad_arguments():
    with pytest.raises(InputError, match="threat"):
        eigentrust_filesharing(threat="E")
    with pytest.raises(InputError):
        eigentrust_filesharing(n_malicious=10, n_spies=11, threat="D")


# -- Yuma as published: each formula step on a hand-computed case ---------------------------------------
W = np.array([[0.6, 0.4], [0.2, 0.8]])
S = np.array([0.75, 0.25])


def test_yuma_consensus_clip_rank_incentive_trust_by_hand():
    out = yuma_step(W, S, None)
    np.testing.assert_allclose(out["consensus"], [0.6, 0.4])  # col 0: 0.6 holds 75% >= 50%; col 1: 0.4
    np.testing.assert_allclose(out["clipped"], [[0.6, 0.4], [0.2, 0.4]])
    np.testing.assert_allclose(out["rank"], [0.75 * 0.6 + 0.25 * 0.2, 0.75 * 0.4 + 0.25 * 0.4])
    np.testing.assert_allclose(out["incentive"], [5 / 9, 4 / 9])
    np.testing.assert_allclose(out["validator_trust"], [1.0, 0.6])
    # kappa = 0.8: col 1 needs 80% of stake -> 0.4 (both validators); col 0 -> 0.2
    np.testing.assert_allclose(yuma_step(W, S, None, kappa=0.8)["consensus"], [0.2, 0.4])


def test_yuma_bonds_ema_and_dividends_by_hand():
    first = yuma_step(W, S, None)
    # dB_ij = S_i W'_ij / sum_k S_k W'_kj: [[.45/.5, .3/.4], [.05/.5, .1/.4]]
    np.testing.assert_allclose(first["bond_delta"], [[0.9, 0.75], [0.1, 0.25]])
    np.testing.assert_allclose(first["bonds"], first["bond_delta"])
    # D_i = sum_j B_ij I_j: [.9*5/9 + .75*4/9, .1*5/9 + .25*4/9] = [5/6, 1/6]
    np.testing.assert_allclose(first["dividends"], [5 / 6, 1 / 6])
    prior = np.full((2, 2), 0.5)
    second = yuma_step(W, S, prior, bond_alpha=0.1)
    np.testing.assert_allclose(second["bonds"], 0.1 * first["bond_delta"] + 0.9 * prior)  # columns sum to 1
    np.testing.assert_allclose(second["dividends"], second["bonds"] @ second["incentive"]
                               / (second["bonds"] @ second["incentive"]).sum())


def test_yuma_ring_under_the_clip_gains_nothing_with_a_minority_a_naive_majority_takes_over():
    honest = np.array([yuma_epochs(ring_stake=0.3, strategy="honest", epochs=60, seed=s)["ring_emission"]
                       for s in range(3)])
    under = np.array([yuma_epochs(ring_stake=0.3, strategy="under_clip", epochs=60, seed=s)["ring_emission"]
                      for s in range(3)])
    naive = np.array([yuma_epochs(ring_stake=0.3, strategy="naive", epochs=60, seed=s)["ring_emission"]
                      for s in range(3)])
    assert np.abs(under - honest).max() < 0.01  # weight under the clip buys (almost) nothing
    assert (naive < honest).all()  # clipped weights earn the ring neither incentive nor bonds
    major = yuma_epochs(ring_stake=0.6, strategy="naive", epochs=60, seed=0)
    assert major["ring_miner_incentive"] > 0.9
    with pytest.raises(InputError):
        yuma_epochs(strategy="bribe")


@pytest.mark.ray
@pytest.mark.xdist_group("ray")
def test_sensitivity_on_ray_equals_serial():
    kw = {"n_points": 2, "seeds": 2, "last": 4, "control_seeds": 1}
    ray_res = run_sensitivity(SimConfig(n_agents=80, epochs=8), engine="ray", **kw)
    serial = run_sensitivity(SimConfig(n_agents=80, epochs=8), engine="serial", **kw)
    np.testing.assert_array_equal(ray_res.values, serial.values)
