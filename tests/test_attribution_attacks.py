"""End-to-end attacks on payouts (retrain -> attribute -> allocate), small versions of the benchmark."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from olkit.attribution.attacks import ATTACKS, apply_attack, attack_payout
from olkit.attribution.contributors import GameConfig
from olkit.attribution.task import make_task

SMALL = GameConfig(train_seeds=(0,), steps=8)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def task():
    return make_task(n_contributors=4, items_per_contributor=4, n_eval=8, seed=5)


@pytest.mark.parametrize("attack", ATTACKS)
def test_every_attack_changes_only_the_attacker(task, attack):
    frame, ids, rep = apply_attack(task.train, attack, attacker="c000", victim="c001", seed=1)
    others = task.train.filter(~pl.col("contributor_id").is_in(["c000"]))
    kept = frame.filter(~pl.col("contributor_id").is_in(sorted(ids)))
    assert kept.equals(others)  # nobody else's rows change
    assert frame["submission_id"].is_unique().all()
    assert set(rep) >= set(task.train["contributor_id"])  # the table of known standings is kept
    if attack.startswith(("copy", "noise")):
        assert frame.height > task.train.height


@pytest.mark.parametrize("attack", ["sybil_split", "whitewash"])
def test_identity_attacks_do_not_pay_end_to_end(task, attack):
    """Sybils and whitewashing do not change the data, so the retrained model and its attribution are
    the same: fresh identities at the newcomer prior cannot earn more."""
    out = attack_payout(task, attack, method="tracin_adam", config=SMALL)
    assert out.total_paid == pytest.approx(1000.0)
    assert out.attacked <= out.honest + 1e-6


@pytest.mark.parametrize("kind", ["exact", "near"])
def test_copies_of_anothers_items_earn_nothing_end_to_end(task, kind):
    """Retrained on the attacked data, the copies are pooled with the victim's originals (which came
    first): the attacker is credited for at most its own items."""
    from olkit.attribution.attacks import world_payouts

    frame, _, rep = apply_attack(task.train, f"copy_other_{kind}", attacker="c000", victim="c001", seed=2)
    pay = world_payouts(frame, task.eval, reputation=rep, method="tracin_adam", config=SMALL, seed=task.seed)
    own = task.train.filter(pl.col("contributor_id") == "c000").height
    assert pay.filter(pl.col("contributor_id") == "c000")["n_credited"].item() <= own
    assert pay["amount"].sum() == pytest.approx(1000.0)


def test_filters_keep_the_first_submission_and_reject_later_copies(task):
    """Dedup runs over the world in arrival order: the victim's items (already on the ledger) are
    kept, the attacker's later exact copies are rejected, whatever their submission ids sort as."""
    from olkit.attribution.attacks import filter_world

    honest, _ = filter_world(task.train)
    frame, _, _ = apply_attack(task.train, "copy_other_exact", attacker="c000", victim="c001", seed=3)
    kept, dec = filter_world(frame)
    copies = frame.filter(pl.col("submission_id").str.starts_with("attack-"))
    assert kept.filter(pl.col("contributor_id") == "c001").height == honest.filter(pl.col("contributor_id") == "c001").height
    assert not kept["submission_id"].is_in(copies["submission_id"].implode()).any()
    reasons = dec.filter(pl.col("submission_id").is_in(copies["submission_id"].implode()))["reasons"].to_list()
    assert all("dedup.exact" in r for r in reasons)


def test_unique_rows_pool_answers_to_one_question_and_keep_the_first():
    from olkit.attribution.payouts import near_duplicate_clusters, unique_rows

    f = pl.DataFrame({"submission_id": ["a", "b", "c", "d"],
                      "instruction": ["How do I boil eggs?", "Tune a harp?", "how do I boil  eggs", "Boil rice?"],
                      "response": ["Ten minutes.", "To D minor.", "Word salad here entirely.", "Twelve minutes."]})
    assert near_duplicate_clusters(f, same_question=True)["cluster"].to_list() == ["0", "1", "0", "2"]
    assert near_duplicate_clusters(f)["cluster"].n_unique() == 4
    assert unique_rows(f)["submission_id"].to_list() == ["a", "b", "d"]


def test_a_cluster_is_worth_its_first_item_not_a_better_scoring_later_copy():
    from types import SimpleNamespace

    from olkit.attribution.base import Attribution
    from olkit.attribution.payouts import contributor_payouts

    train = pl.DataFrame({"submission_id": ["a", "b", "c"], "contributor_id": ["x", "y", "z"],
                          "instruction": ["Boil eggs?", "Tune a harp?", "boil eggs"],
                          "response": ["Ten minutes.", "To D minor.", "About ten minutes, in boiling water."]})
    att = Attribution(method="fixed", scores=np.array([[1.0], [1.0], [5.0]]), train_ids=["a", "b", "c"],
                      eval_ids=["e"], contributor_ids=["x", "y", "z"])
    pay = {r["contributor_id"]: r["amount"] for r in contributor_payouts(
        None, train, train, 100.0, SimpleNamespace(params={"center": False, "pool_same_question": True,
                                                "cluster_value": "first"}, noise_gate=0.05), attribution=att).iter_rows(named=True)}
    assert pay["z"] == 0.0  # the later re-worded answer earns nothing
    assert pay["x"] == pytest.approx(pay["y"])  # and does not lift the original above its own score
    assert sum(pay.values()) == pytest.approx(100.0)


@pytest.mark.parametrize("mode", ["full_pipeline", "full_pipeline_unique"])
def test_full_pipeline_attacks_keep_the_budget_and_copies_do_not_pay(task, mode):
    """Filter -> retrain -> attribute -> allocate in both worlds: every world pays the budget exactly;
    exact copies of another's items never reach training, so the attacked world is the honest one."""
    from olkit.attribution.attacks import attack_suite

    outs = {o.attack: o for o in attack_suite(task, ("copy_other_exact", "copy_own_paraphrase", "noise_padding"),
                                              method="tracin_adam", mode=mode, config=SMALL)}
    for o in outs.values():
        assert o.total_paid == pytest.approx(1000.0)
        assert o.attacked >= 0.0 and o.honest >= 0.0
    assert outs["copy_other_exact"].attacked == pytest.approx(outs["copy_other_exact"].honest)
    if mode == "full_pipeline_unique":  # answers under already-asked questions never reach the payout model
        assert outs["copy_own_paraphrase"].attacked == pytest.approx(outs["copy_own_paraphrase"].honest)
        assert outs["noise_padding"].attacked == pytest.approx(outs["noise_padding"].honest)


@pytest.mark.parametrize("attack", ATTACKS)
def test_which_rows_are_first_never_changes_when_later_rows_arrive(attack):
    """The payout model's rows are arrival-stable: appending an attack's rows keeps every honest row
    that was first (so the honest part of the payout model cannot be reshuffled by an attacker)."""
    from olkit.attribution.payouts import unique_rows

    for seed in range(3):
        task = make_task(n_contributors=5, items_per_contributor=6, n_eval=4, seed=seed)
        frame, _, _ = apply_attack(task.train, attack, seed=seed)
        before = set(unique_rows(task.train)["submission_id"])
        after = set(unique_rows(frame)["submission_id"])
        assert after & set(task.train["submission_id"]) == before


@pytest.mark.parametrize("options", [{}, {"pool_same_question": True, "cluster_value": "first"}])
def test_payouts_keep_budget_and_are_non_negative_on_random_scores(options):
    """Invariants of every payout option on random (also all-negative) scores of attacked worlds."""
    from types import SimpleNamespace

    from olkit.attribution.base import Attribution
    from olkit.attribution.payouts import contributor_payouts

    rng = np.random.default_rng(0)
    task = make_task(n_contributors=4, items_per_contributor=4, n_eval=3, seed=1)
    for k, attack in enumerate(ATTACKS):
        frame, _, rep = apply_attack(task.train, attack, seed=k)
        shift = -3.0 if k % 3 == 0 else 0.0  # some worlds where every item looks harmful
        att = Attribution(method="random", scores=rng.normal(shift, 1.0, (frame.height, 3)),
                          train_ids=frame["submission_id"].to_list(), eval_ids=["e0", "e1", "e2"],
                          contributor_ids=frame["contributor_id"].to_list())
        policy = SimpleNamespace(params={**options, "center": k % 2 == 0}, noise_gate=0.05)
        pay = contributor_payouts(None, frame, task.eval, 1000.0, policy, reputation=rep, attribution=att)
        assert (pay["amount"] >= 0).all()
        total = float(pay["amount"].sum())
        assert total == pytest.approx(1000.0) or total == 0.0  # nothing is paid only if nothing had value
