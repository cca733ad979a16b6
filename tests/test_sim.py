"""The simulation engine: determinism, mechanisms, metrics, sweeps, CLI."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from olkit.cli import main as cli_main
from olkit.errors import InputError
from olkit.policy import Policy
from olkit.reputation.config import RULE_NAMES
from olkit.sim import METRICS, SimConfig, simulate
from olkit.sim.plots import band_figure
from olkit.sim.sweep import bands, grid, random_points, sweep

SMALL = SimConfig(n_agents=400, epochs=40, seed=0)


def test_same_seed_identical_different_seed_differs():
    a = simulate(SMALL, agents=True)
    b = simulate(SMALL, agents=True)
    c = simulate(SMALL.updated(seed=1), agents=True)
    assert a.epochs.equals(b.epochs) and a.agents.equals(b.agents)
    assert not a.epochs.equals(c.epochs)
    assert set(METRICS) <= set(a.epochs.columns) and a.epochs.height == 40


@pytest.mark.parametrize("rule", RULE_NAMES)
@pytest.mark.parametrize("validation", ["parametric", "peer"])
def test_every_rule_runs_and_metrics_are_in_range(rule, validation):
    cfg = SMALL.updated(**{"reputation.rule": rule, "validation": validation, "colluding_stake": 0.3,
                           "epochs": 15})
    df = simulate(cfg).epochs
    for m in ("honest_retention", "accepted_quality", "adversary_reward_share", "experimentation",
              "false_rejection", "gini", "standing_honest", "bad_accept_share"):
        col = df[m].drop_nulls()
        assert col.len() > 0, m
        assert col.min() >= 0, m
        assert col.max() <= (2.5 if m == "accepted_quality" else 1.0 + 1e-9), m
    np.testing.assert_allclose(df["budget"].to_numpy(), 1000.0)


def test_colluding_validators_let_the_ring_in():
    base = SMALL.updated(**{"validation": "peer", "mix.sybil": 0.3, "reputation.rule": "acceptance_ratio"})
    honest = simulate(base.updated(colluding_stake=0.0)).summary()
    colluding = simulate(base.updated(colluding_stake=0.6)).summary()
    assert colluding["bad_accept_share"] > honest["bad_accept_share"] + 0.1
    assert colluding["adversary_reward_share"] > honest["adversary_reward_share"]


def test_identity_cost_limits_sybil_profit():
    base = SMALL.updated(**{"mix.sybil": 0.2, "reputation.rule": "beta", "epochs": 60})
    cheap = simulate(base.updated(identity_cost=0.0)).epochs
    dear = simulate(base.updated(identity_cost=20.0)).epochs
    assert cheap["whitewashes"].sum() > 0
    assert dear["adversary_roi"][-1] < cheap["adversary_roi"][-1]


def test_farmers_adapt_toward_the_best_paying_strategy():
    # a strict validator makes farming unprofitable: farmers drift to genuine work (paid per
    # accepted item, so standing does not trap them in cheap strategies)
    strict = SMALL.updated(**{"mix.farmer": 0.4, "rewards.epoch_rule": "acceptance",
                              "validator.accept_low_effort": 0.0,
                              "validator.accept_synthetic": 0.0, "validator.accept_spam": 0.0,
                              "epochs": 60})
    lax = strict.updated(**{"validator.accept_low_effort": 0.9, "validator.accept_synthetic": 0.9,
                            "validator.accept_spam": 0.9})
    s_strict = simulate(strict).epochs["farmer_genuine_share"]
    s_lax = simulate(lax).epochs["farmer_genuine_share"]
    assert s_strict.tail(10).mean() > 0.6 > s_strict.head(3).mean()
    assert s_lax.tail(10).mean() < 0.2


def test_bad_validators_drive_honest_contributors_away():
    good = simulate(SMALL.updated(**{"validator.error_scale": 0.2, "epochs": 60})).summary()
    bad = simulate(SMALL.updated(**{"validator.error_scale": 3.0, "epochs": 60})).summary()
    assert bad["false_rejection"] > good["false_rejection"]
    assert bad["honest_retention"] < good["honest_retention"]


def test_gravity_budget_grows_and_is_paid_out():
    cfg = SMALL.updated(**{"rewards.schedule": "gravity", "rewards.growth_rate": 0.05, "epochs": 20})
    df = simulate(cfg).epochs
    np.testing.assert_allclose(df["budget"].to_numpy(), 1000.0 * 1.05 ** np.arange(20))


def test_punishment_vs_forgiveness_at_reduced_size():
    """The experiment runs over >= 20 seeds with bands and compares the rules on a quantity with the
    same scale under both (the share of honest agents who experiment), not on each rule's own
    standing scale: contributors who weigh standing (horizon 20) experiment more under decoupled."""
    base = SimConfig(n_agents=300, epochs=30, standing_horizon=20.0)
    df = sweep(base, grid({"reputation.rule": ["acceptance_ratio", "decoupled"]}), seeds=20, engine="serial")
    b = bands(df, "experimentation", ["reputation.rule"])
    assert b["n"].min() == 20
    last = b.filter(pl.col("epoch") == 29)
    ar = last.filter(pl.col("reputation.rule") == "acceptance_ratio")
    dec = last.filter(pl.col("reputation.rule") == "decoupled")
    assert dec["lo"].item() > ar["hi"].item()  # separated confidence bands
    fig = band_figure(df, ["experimentation", "honest_retention", "accepted_quality"], by="reputation.rule")
    assert len(fig.data) == 3 * 2 * 2


def test_sweep_local_processes_equals_serial_and_random_points_are_seeded():
    pts = random_points({"identity_cost": (0.0, 2.0), "reputation.rule": ["beta", "stake"]}, 2, seed=3)
    assert pts == random_points({"identity_cost": (0.0, 2.0), "reputation.rule": ["beta", "stake"]}, 2, seed=3)
    base = SimConfig(n_agents=200, epochs=10)
    serial = sweep(base, pts, seeds=2, engine="serial")
    local = sweep(base, pts, seeds=2, engine="local", workers=2)
    assert serial.equals(local)
    assert serial.height == 2 * 2 * 10
    with pytest.raises(InputError, match="mix"):
        sweep(base, [{"mix.ghost": 0.1}], seeds=1)


@pytest.mark.ray
@pytest.mark.xdist_group("ray")
def test_ray_sweep_equals_local_sweep():
    base = SimConfig(n_agents=200, epochs=10)
    pts = grid({"reputation.rule": ["acceptance_ratio", "eigentrust"]})
    assert sweep(base, pts, seeds=2, engine="ray").equals(sweep(base, pts, seeds=2, engine="serial"))


def test_config_validation_names_the_key():
    with pytest.raises(InputError, match="n_agents"):
        SimConfig.build({"n_agents": 1})
    with pytest.raises(InputError, match="unknown simulation parameter"):
        SMALL.updated(**{"nope.x": 1})
    cfg = SimConfig.from_policy(Policy().updated(**{"reputation.rule": "yuma"}), epochs=3)
    assert cfg.reputation.rule == "yuma" and cfg.epochs == 3


def test_cli_simulate_writes_parquet(tmp_path, capsys):
    out = tmp_path / "sim.parquet"
    policy = tmp_path / "p.yaml"
    Policy().updated(**{"reputation.rule": "beta"}).save(policy)
    code = cli_main(["simulate", "--policy", str(policy), "--epochs", "8", "--agents", "150", "--seeds", "2",
                     "--engine", "serial", "--set", "mix.sybil=0.2", "--out", str(out), "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    df = pl.read_parquet(out)
    assert result["rule"] == "beta" and df.height == 16 == result["rows"]
    assert sorted(df["seed"].unique().to_list()) == [0, 1]
    assert cli_main(["simulate", "--rule", "karma", "--out", str(tmp_path / "x.parquet")]) == 2
    assert "karma" in capsys.readouterr().err
    assert not (tmp_path / "x.parquet").exists()


@pytest.mark.parametrize("module", [
    "olkit.sim", "olkit.sim.config", "olkit.sim.engine", "olkit.sim.sweep", "olkit.sim.plots",
    "olkit.sim.experiments", "olkit.sim.replications", "olkit.sim.sensitivity", "olkit.sim.attribution",
    "olkit.reputation.rules", "olkit.reputation.config",
    "olkit.rewards",  # (the ReputationLab example is exercised by tests/test_sim_notebook.py)
])
def test_docstring_examples(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
