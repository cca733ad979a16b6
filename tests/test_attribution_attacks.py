"""End-to-end attacks on payouts (retrain -> attribute -> allocate), small versions of the benchmark."""

from __future__ import annotations

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
