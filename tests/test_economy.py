"""The economy over one ledger: stages, resumption, determinism, adaptive agents, the shared reputation rule."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from olkit.cli import main
from olkit.economy import contributor_reputation, population, run_economy
from olkit.economy.agents import STRATEGIES, AgentState, adapt, strategy_probs
from olkit.policy import Policy
from olkit.reputation.rules import standing_from_log
from olkit.store import Store

SMALL = dict(base="tiny-llama", agents=16, train_steps=2, batch_size=4, max_length=64, max_eval=3, progress=False)


# -- the whole loop ------------------------------------------------------------------------------------
@pytest.mark.slow
def test_olkit_run_writes_every_stage_and_a_rerun_adds_nothing(tmp_path, capsys):
    store = tmp_path / "s.duckdb"
    argv = ["run", "--rounds", "2", "--base", "tiny-llama", "--store", str(store), "--agents", "16",
            "--steps", "2", "--max-eval", "3", "--budget", "500", "--no-progress", "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["new_rounds"] == 2 and out["rounds"] == 2
    policy_hash = Policy().version_hash
    with Store(store, read_only=True) as st:
        before = st.stats()
        assert st.verify().ok
        runs = st.table("runs")
        econ = out["economy_id"]
        assert st.table("decisions").filter(pl.col("run_id").str.starts_with(econ)).height > 0
        rep = st.events("reputation")
        assert rep.height > 0 and set(rep["run_id"]) == {f"{econ}-r0-reputation", f"{econ}-r1-reputation"}
        adapters = st.table("adapters")
        assert adapters.height == 2 and set(adapters["policy_hash"]) == {policy_hash}
        pays = st.table("payouts")
        assert sorted(pays["run_id"].unique()) == [f"{econ}-r0-reward", f"{econ}-r1-reward"]
        assert set(pays["policy_hash"]) == {policy_hash}
        for _, part in pays.group_by("run_id"):
            assert part["amount"].sum() == pytest.approx(500.0)
        # the budget came from the flag, and the run says so
        params = json.loads(runs.filter(pl.col("run_id") == f"{econ}-r1")["params"][0])
        assert params["budget"] == 500.0 and params["budget_source"] == "override"
        # every payout is for a contributor whose rows the round's adapter trained on, and only those
        for t in (0, 1):
            ids = adapters.filter(pl.col("adapter_id") == f"{econ}-r{t}")["submission_ids"][0].to_list()
            trained_by = set(st.submissions().filter(pl.col("submission_id").is_in(ids))["contributor_id"])
            assert set(pays.filter(pl.col("run_id") == f"{econ}-r{t}-reward")["contributor_id"]) == trained_by
            manifest = json.loads((tmp_path / "s.adapters" / econ / f"round-{t}" / "olkit_manifest.json").read_text())
            steps = manifest["step_submission_ids"]
            assert len(steps) == 2 and {i for s in steps for i in s} == set(ids)
            assert (manifest["init_adapter"] is None) == (t == 0)
    assert main(argv) == 0
    again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert again["new_rounds"] == 0
    with Store(store, read_only=True) as st:
        after = st.stats()
    assert {k: after[k] for k in ("submissions", "decisions", "events", "runs", "adapters", "payouts")} == \
        {k: before[k] for k in ("submissions", "decisions", "events", "runs", "adapters", "payouts")}


class Killed(Exception):
    pass


def _content(store) -> dict[str, pl.DataFrame]:
    """Ledger content without timestamps and without ingest's random run ids."""
    with Store(store, read_only=True) as st:
        return {
            "submissions": st.submissions().drop("ingested_at", "ingest_run").sort("submission_id"),
            "decisions": st.table("decisions").drop("decided_at").sort("run_id", "submission_id"),
            "payouts": st.table("payouts").drop("created_at").sort("run_id", "contributor_id"),
            "adapters": st.table("adapters").select("adapter_id", "run_id", "submission_ids", "policy_hash")
                          .sort("adapter_id"),
            "reputation": st.table("reputation").select("run_id", "contributor_id", "reputation", "extra")
                            .sort("run_id", "contributor_id"),
            "rounds": st.table("runs").filter(pl.col("kind") == "economy_round").select("run_id", "stats", "params")
                        .sort("run_id"),
        }


@pytest.mark.slow
@pytest.mark.parametrize("kill_at", ["pay"])
def test_killed_mid_round_resumes_to_the_same_ledger_as_an_uninterrupted_run(tmp_path, kill_at):
    policy = Policy.load("data/policies/lenient.yaml")
    whole = run_economy(tmp_path / "a.duckdb", policy, 2, seed=3, **SMALL)

    def kill(t, stage):
        if (t, stage) == (1, kill_at):
            raise Killed

    with pytest.raises(Killed):
        run_economy(tmp_path / "b.duckdb", policy, 2, seed=3, on_stage=kill, **SMALL)
    with Store(tmp_path / "b.duckdb", read_only=True) as st:
        assert st.table("adapters").height == 2  # round 1 trained and recorded its adapter ...
        assert st.table("runs").filter(pl.col("kind") == "economy_round").height == 1  # ... but did not commit
        assert st.verify().ok
    resumed = run_economy(tmp_path / "b.duckdb", policy, 2, seed=3, **SMALL)
    assert resumed.new_rounds == 1 and resumed.economy_id == whole.economy_id
    a, b = _content(tmp_path / "a.duckdb"), _content(tmp_path / "b.duckdb")
    for name in a:
        assert a[name].equals(b[name]), name
    assert a["payouts"]["amount"].sum() > 0
    # a different seed is a different economy with different content
    other = run_economy(tmp_path / "c.duckdb", policy, 1, seed=4, **SMALL)
    assert other.economy_id != whole.economy_id


# -- agents --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad, field", [(["--rounds", "-1"], "rounds"), (["--rounds", "0"], "rounds"),
                                        (["--base", "no-such-model"], "base"),
                                        (["--base", "no-org/no-such-model"], "base"), (["--budget", "nan"], "budget")])
def test_bad_run_settings_exit_2_before_a_ledger_exists(tmp_path, capsys, bad, field):
    store = tmp_path / "s.duckdb"
    assert main(["run", "--store", str(store), "--json", *bad]) == 2
    err = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert err["field"] == field and not store.exists()
    with pytest.raises(Exception, match=field):
        run_economy(store, rounds=-1 if field == "rounds" else 1,
                    base="no-such-model" if field == "base" else "tiny-llama",
                    budget=float("nan") if field == "budget" else None)
    assert not store.exists()


def test_population_counts_rings_and_ids():
    pop = population(30)
    assert pop.height == 30 and pop["contributor_id"].n_unique() == 30
    counts = dict(pop.group_by("archetype").len().iter_rows())
    assert counts["expert"] > 0 and counts["copycat"] > 0
    sybils = pop.filter(pl.col("archetype") == "sybil")
    assert (sybils["ring"] >= 0).all() and sybils["contributor_id"].str.starts_with("ring").all()
    assert population({"expert": 2, "farmer": 3}).height == 5
    from olkit.errors import InputError

    with pytest.raises(InputError, match="unknown archetype"):
        population({"wizard": 3})


def test_adversaries_shift_to_what_paid_and_honest_agents_do_not():
    pop = population({"expert": 4, "farmer": 4})
    state = AgentState.initial(pop, seed=0, reserve=0.0)
    before = strategy_probs(pop, state, 2.0)
    syn, gen = STRATEGIES.index("synthetic"), STRATEGIES.index("genuine")
    # every agent submitted one synthetic and one genuine item; only synthetic items were paid
    outcome = pl.DataFrame({"agent": np.repeat(np.arange(8), 2), "strategy": ["synthetic", "genuine"] * 8,
                            "accepted": [True] * 16, "payout": [30.0, 0.0] * 8})
    moves = adapt(pop, state, outcome, unit=10.0, seed=0, round_=0)
    after = strategy_probs(pop, state, 2.0)
    farmers, experts = slice(4, 8), slice(0, 4)
    assert (after[farmers, syn] > before[farmers, syn] + 0.1).all()
    assert (after[farmers, gen] < before[farmers, gen]).all()
    np.testing.assert_allclose(after[experts], before[experts])
    assert (state.volume[farmers] > 1).all() and (state.volume[experts] == 1).all()
    assert set(moves) == {"entered", "left_adversary", "left_honest"}


def test_idle_adversaries_enter_when_the_market_pays_and_not_when_it_does_not():
    pop = population({"expert": 2, "copycat": 200})
    for pay, expect_many in ((50.0, True), (0.0, False)):
        state = AgentState.initial(pop, seed=1, reserve=0.5)
        idle = int((~state.active).sum())
        active = np.flatnonzero(state.active & ~pop["honest"].to_numpy())
        outcome = pl.DataFrame({"agent": active, "strategy": ["copy"] * active.size,
                                "accepted": [True] * active.size, "payout": [pay] * active.size})
        moves = adapt(pop, state, outcome, unit=10.0, seed=2, round_=0)
        assert (moves["entered"] > idle / 4) is expect_many


# -- reputation: one rule for every flow ----------------------------------------------------------------
def test_contributor_reputation_is_the_policy_rule_over_the_log():
    log = pl.DataFrame({"contributor_id": ["a", "a", "b", "b", "c"], "epoch": [0, 1, 0, 1, 1],
                        "accepted": [True, False, False, False, True],
                        "reasons": [[], ["heuristics.too_short"], ["spam.keywords"], ["dedup.exact"], []]})
    for rule in ("acceptance_ratio", "beta", "decoupled"):
        got = contributor_reputation(log, Policy().updated(**{"reputation.rule": rule}))
        want = standing_from_log(rule, np.array([0, 0, 1, 1, 2]), log["epoch"].to_numpy(), log["accepted"].to_numpy(),
                                 abuse=np.array([False, False, True, True, False]), n_contributors=3)[-1]
        np.testing.assert_allclose(got.sort("contributor_id")["reputation"].to_numpy(), want)
    # decoupled: an honest failure does not cost standing, abuse does
    dec = dict(contributor_reputation(log, "decoupled").iter_rows())
    acc = dict(contributor_reputation(log, "acceptance_ratio").iter_rows())
    assert dec["a"] > acc["a"] and dec["b"] < dec["a"]


def test_training_selection_uses_the_policy_reputation_rule():
    from olkit.train.data import split_and_select

    n = 200
    frame = pl.DataFrame({"submission_id": [f"s{i}" for i in range(n)],
                          "contributor_id": ["good" if i % 2 else "bad" for i in range(n)],
                          "instruction": [f"q{i}" for i in range(n)], "response": [f"a{i}" for i in range(n)]})
    decisions = frame.select("submission_id", (pl.col("contributor_id") == "good").alias("accepted"),
                             pl.when(pl.col("contributor_id") == "good").then(pl.lit([], dtype=pl.List(pl.String)))
                             .otherwise(pl.lit(["heuristics.too_short"])).alias("reasons"))
    picked = {}
    for rule in ("acceptance_ratio", "decoupled"):
        policy = Policy().updated(**{"reputation.rule": rule, "training.mode": "reputation_weighted"})
        split = split_and_select(frame, policy, decisions=decisions, seed=0, eval_fraction=0.0)
        picked[rule] = split.train.filter(pl.col("contributor_id") == "bad").height
    # honest failures sink a leaderboard reputation but not a decoupled one
    assert picked["acceptance_ratio"] < 5 < picked["decoupled"]


# -- the typed reward section -----------------------------------------------------------------------------
@pytest.mark.parametrize("body, key", [
    ("rule: bogus", "rewards.rule"),
    ("budget_per_epoch: .inf", "rewards.budget_per_epoch"),
    ("budget_per_epoch: '100'", "rewards.budget_per_epoch"),
    ("growth_rate: abc", "rewards.growth_rate"),
    ("params: {unit: .nan}", "params.unit"),
    ("params: {method: nope}", "params.method"),
    ("params: {duplicates: 3}", "params.duplicates"),
    ("params: {bogus: 1}", "params.bogus"),
    ("params: {semantic_threshold: 2}", "params.semantic_threshold"),
    ("params: {center: mode}", "params.center"),
    ("params: {item_gate: '0.1'}", "params.item_gate"),
    ("params: {cluster_value: sum}", "params.cluster_value"),
])
def test_policy_validate_rejects_bad_reward_sections_naming_the_key(tmp_path, capsys, body, key):
    path = tmp_path / "p.yaml"
    path.write_text(f"rewards:\n  {body}\n")
    assert main(["policy", "validate", str(path)]) == 2
    assert key in capsys.readouterr().err


def test_reward_rule_params_resolve_per_rule():
    from olkit.attribution.payouts import DEFAULT_PAYOUT_METHOD
    from olkit.rewards_config import RewardPolicy

    assert RewardPolicy().resolved()["method"] == DEFAULT_PAYOUT_METHOD == "bm25"  # as contributor_payouts pays
    assert "method" not in RewardPolicy(rule="acceptance").resolved()
    assert RewardPolicy(budget_per_epoch=10).budget_per_epoch == 10.0
    p = Policy().updated(**{"rewards.budget_per_epoch": 250.0, "rewards.schedule": "gravity",
                            "rewards.growth_rate": 0.1})
    from olkit.economy import round_budget

    assert round_budget(p, 0) == 250.0 and round_budget(p, 2) == pytest.approx(302.5)
    assert round_budget(p, 2, budget=7.0) == 7.0


def test_a_copy_of_content_paid_in_an_earlier_round_earns_nothing(tmp_path):
    from olkit.economy import pay_round
    from olkit.train.adapters import write_manifest

    write_manifest(tmp_path, {"submission_ids": ["s1", "s2", "s3"]})
    trained = pl.DataFrame({"submission_id": ["s1", "s2", "s3"], "contributor_id": ["copycat", "ann", "bob"],
                            "content_hash": ["h-old", "h2", "h3"], "instruction": ["q"] * 3, "response": ["a"] * 3})
    policy = Policy().updated(**{"rewards.rule": "acceptance"})
    fresh = pay_round(tmp_path, trained, pl.DataFrame(), 90.0, policy)
    assert dict(fresh.contributors.select("contributor_id", "payout").iter_rows())["copycat"] == pytest.approx(30.0)
    again = pay_round(tmp_path, trained, pl.DataFrame(), 90.0, policy, already_paid=pl.Series(["h-old"]))
    pays = dict(again.contributors.select("contributor_id", "payout").iter_rows())
    assert pays.get("copycat", 0.0) == 0.0 and pays["ann"] == pytest.approx(45.0) and pays["bob"] == pytest.approx(45.0)
    assert again.items.filter(pl.col("submission_id") == "s1")["payout"][0] == 0.0
    with pytest.raises(Exception, match="exactly"):
        pay_round(tmp_path, trained.head(2), pl.DataFrame(), 90.0, policy)
