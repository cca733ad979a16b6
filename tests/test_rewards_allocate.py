"""Property tests of olkit.rewards.allocate: conservation, non-negativity, sybils, duplicates."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from olkit.errors import InputError
from olkit.policy import Policy, PolicyError
from olkit.rewards import adversary_share, allocate, payout_summary

scores = st.lists(st.floats(-10, 10, allow_nan=False, allow_infinity=False), min_size=1, max_size=30)


def _frame(vals, owners, hashes=None):
    n = len(vals)
    return pl.DataFrame({
        "submission_id": [f"s{i}" for i in range(n)],
        "contributor_id": [f"c{o}" for o in owners],
        "content_hash": hashes if hashes is not None else [f"h{i}" for i in range(n)],
        "score": [float(v) for v in vals],
    })


@st.composite
def attributions(draw):
    vals = draw(scores)
    owners = draw(st.lists(st.integers(0, 5), min_size=len(vals), max_size=len(vals)))
    return _frame(vals, owners)


@settings(max_examples=60, deadline=None)
@given(att=attributions(), budget=st.floats(0.01, 1e6))
def test_budget_conserved_and_nonnegative(att, budget):
    pay = allocate(budget, att)
    assert (pay["payout"] >= 0).all()
    assert set(pay["contributor_id"]) == set(att["contributor_id"])
    if (att["score"] > 0).any():
        assert pay["payout"].sum() == pytest.approx(budget, rel=1e-9)
    else:  # nothing helped: nothing is paid
        assert pay["payout"].sum() == 0
    # negative-only contributors earn nothing
    neg = att.group_by("contributor_id").agg((pl.col("score") <= 0).all().alias("neg")).filter("neg")
    assert pay.filter(pl.col("contributor_id").is_in(neg["contributor_id"].to_list()))["payout"].sum() == 0


@settings(max_examples=60, deadline=None)
@given(att=attributions(), budget=st.floats(1, 1e6), split=st.lists(st.integers(0, 3), min_size=30, max_size=30),
       rep=st.floats(0.05, 1.0))
def test_sybil_split_does_not_raise_total(att, budget, split, rep):
    """Contributor c0 splits its items among sybil identities with (at most) its own reputation."""
    owners = att["contributor_id"].to_list()
    split_owners = [f"c0-sybil{split[i]}" if o == "c0" else o for i, o in enumerate(owners)]
    sybils = att.with_columns(pl.Series("contributor_id", split_owners))
    reputation = {c: 0.8 for c in set(owners) | set(split_owners)}
    reputation["c0"] = rep
    for c in set(split_owners) - set(owners):
        reputation[c] = rep  # sybils inherit no better standing
    before = allocate(budget, att, reputation)
    after = allocate(budget, sybils, reputation)
    total_before = before.filter(pl.col("contributor_id") == "c0")["payout"].sum()
    total_after = after.filter(pl.col("contributor_id").str.starts_with("c0-sybil"))["payout"].sum()
    assert total_after <= total_before + 1e-6 * budget
    # and unknown sybils (default reputation 0.5) cannot gain when the original had >= 0.5
    if rep >= 0.5:
        fresh = {k: v for k, v in reputation.items() if "sybil" not in k}
        after2 = allocate(budget, sybils, fresh)
        assert after2.filter(pl.col("contributor_id").str.starts_with("c0-sybil"))["payout"].sum() \
            <= total_before + 1e-6 * budget


@settings(max_examples=60, deadline=None)
@given(att=attributions(), budget=st.floats(1, 1e6), copies=st.integers(1, 4), src=st.integers(0, 29))
def test_duplicates_do_not_earn_twice(att, budget, copies, src):
    src = src % att.height
    row = att.row(src, named=True)
    dup = pl.DataFrame([{**row, "submission_id": f"dup{k}", "contributor_id": "copycat"} for k in range(copies)])
    with_dups = pl.concat([att, dup])
    before = allocate(budget, att)
    after = allocate(budget, with_dups)
    # the copycat earns nothing (the original was first) and everyone else is paid exactly as before
    assert after.filter(pl.col("contributor_id") == "copycat")["payout"].sum() == 0
    merged = before.join(after, on="contributor_id", suffix="_after")
    np.testing.assert_allclose(merged["payout"], merged["payout_after"], rtol=1e-9, atol=1e-9 * budget)
    # "split" mode: the content group still earns once in total
    split = allocate(budget, with_dups, policy=Policy().updated(**{"rewards.params": {"duplicates": "split"}}))
    assert split["payout"].sum() == pytest.approx(before["payout"].sum(), rel=1e-9, abs=1e-9)
    group_total = split.filter(pl.col("contributor_id").is_in(["copycat", row["contributor_id"]]))
    assert group_total["n_items"].sum() >= copies + 1


def test_long_frame_and_reputation_weighting():
    long = pl.DataFrame({"submission_id": ["a", "a", "b", "b"], "contributor_id": ["x", "x", "y", "y"],
                         "eval_id": ["e1", "e2", "e1", "e2"], "score": [1.0, 2.0, 3.0, 0.0]})
    pay = allocate(60.0, long)
    assert dict(zip(pay["contributor_id"], pay["payout"], strict=True)) == {"x": 30.0, "y": 30.0}
    pay = allocate(60.0, long, pl.DataFrame({"contributor_id": ["x", "y"], "standing": [1.0, 0.5]}))
    assert dict(zip(pay["contributor_id"], pay["payout"], strict=True)) == pytest.approx({"x": 40.0, "y": 20.0})
    assert payout_summary(pay, ["y"])["adversary_share"] == pytest.approx(1 / 3)
    assert adversary_share(pay, []) == 0.0
    acc = allocate(10.0, long, policy=Policy().updated(**{"rewards.rule": "acceptance"}))
    assert acc["payout"].to_list() == [5.0, 5.0]


def test_bad_inputs_name_the_field():
    att = _frame([1.0, float("nan")], [0, 1])
    with pytest.raises(InputError, match="score"):
        allocate(10.0, att)
    with pytest.raises(InputError, match="contributor_id"):
        allocate(10.0, pl.DataFrame({"score": [1.0]}))
    with pytest.raises(InputError, match="reputation"):
        allocate(10.0, _frame([1.0], [0]), pl.DataFrame({"contributor_id": ["c0"], "reputation": [-1.0]}))
    with pytest.raises(InputError, match="budget"):
        allocate(-1.0, _frame([1.0], [0]))
    with pytest.raises(PolicyError, match="rewards.rule"):  # an unknown rule fails when the policy loads
        allocate(1.0, _frame([1.0], [0]), policy=Policy().updated(**{"rewards.rule": "lottery"}))


def test_first_copy_is_the_earliest_submission():
    from olkit.attribution.base import Attribution

    att = Attribution("m", np.array([[1.0], [2.0], [1.0]]), ["s1", "s2", "s3"], ["e"], ["late", "b", "early"],
                      content_hashes=["h", "h2", "h"])
    pay = allocate(30.0, att)  # training order: "late" came first
    assert dict(pay.select("contributor_id", "payout").rows()) == {"late": 10.0, "b": 20.0, "early": 0.0}
    frame = att.items().with_columns(pl.Series("created_at", [3, 2, 1]))  # rank order; "early" dated first
    frame = frame.with_columns(pl.when(pl.col("contributor_id") == "early").then(1)
                               .when(pl.col("contributor_id") == "late").then(3).otherwise(2).alias("created_at"))
    pay = allocate(30.0, frame)
    assert dict(pay.select("contributor_id", "payout").rows()) == {"early": 10.0, "b": 20.0, "late": 0.0}


# ---------------------------------------------------------------------------------------------
# attacks at the allocation level (the end-to-end versions retrain: tests/test_attribution_attacks.py)
# ---------------------------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(att=attributions(), budget=st.floats(1, 1e6), reps=st.lists(st.floats(0.05, 1.0), min_size=6, max_size=6),
       fresh=st.integers(1, 4))
def test_fresh_identities_start_at_the_lowest_standing(att, budget, reps, fresh):
    """Whitewashing / sybils: identities missing from the reputation table get the newcomer prior,
    by default the lowest known standing, so moving items to fresh identities never pays more."""
    reputation = {f"c{i}": r for i, r in enumerate(reps)}
    before = allocate(budget, att, reputation)
    owners = [f"c0-new{i % fresh}" if o == "c0" else o for i, o in enumerate(att["contributor_id"].to_list())]
    after = allocate(budget, att.with_columns(pl.Series("contributor_id", owners)), reputation)
    new = after.filter(pl.col("contributor_id").str.starts_with("c0-new"))
    assert (new["reputation"] == min(reps)).all()
    assert new["payout"].sum() <= before.filter(pl.col("contributor_id") == "c0")["payout"].sum() + 1e-6 * budget
    assert (after["payout"] >= 0).all()
    if after["value"].sum() > 0:
        assert after["payout"].sum() == pytest.approx(budget, rel=1e-9)


@settings(max_examples=60, deadline=None)
@given(att=attributions(), budget=st.floats(1, 1e6), gate=st.floats(0.0, 0.5))
def test_noise_gate_pays_nothing_inside_the_band_and_keeps_the_budget(att, budget, gate):
    pol = Policy().updated(**{"rewards.noise_gate": gate})
    pay = allocate(budget, att, policy=pol)
    total = pay["value"].sum()
    inside = pay.filter((pl.col("value") < gate * total) & (pl.col("value") < pl.col("value").max()))
    assert inside["payout"].sum() == 0 and inside["gated"].all()
    assert (pay["payout"] >= 0).all()
    if total > 0:
        assert pay["payout"].sum() == pytest.approx(budget, rel=1e-9)


@settings(max_examples=40, deadline=None)
@given(att=attributions(), budget=st.floats(1, 1e6), src=st.integers(0, 29))
def test_near_copies_in_one_cluster_earn_once(att, budget, src):
    """A near copy (same cluster, different content hash) of someone's item earns the copier nothing."""
    src = src % att.height
    row = att.row(src, named=True)
    copy = pl.DataFrame([{**row, "submission_id": "near0", "contributor_id": "copier", "content_hash": "other"}])
    with_copy = pl.concat([att, copy])
    clusters = {sid: sid for sid in att["submission_id"]} | {"near0": row["submission_id"]}
    pay = allocate(budget, with_copy, clusters=clusters)
    assert pay.filter(pl.col("contributor_id") == "copier")["payout"].sum() == 0
    before = allocate(budget, att)
    merged = before.join(pay, on="contributor_id", suffix="_after")
    np.testing.assert_allclose(merged["payout"], merged["payout_after"], rtol=1e-9, atol=1e-9 * budget)


@pytest.mark.parametrize("duplicates", ["first", "split"])
@pytest.mark.parametrize("tiny", [5e-324, 1e-310, 1e-300])
def test_tiny_positive_values_are_paid_not_lost_to_underflow(duplicates, tiny):
    # The only positive value is subnormal and shared by two copies: split / copies must not round
    # it to zero (which would leave the whole budget unpaid).
    att = _frame([tiny, tiny, 0.0], [0, 0, 1], hashes=["h", "h", "g"])
    pay = allocate(100.0, att, policy=Policy().updated(**{"rewards.params": {"duplicates": duplicates}}))
    assert dict(pay.select("contributor_id", "payout").rows()) == {"c0": 100.0, "c1": 0.0}
    assert pay.filter(pl.col("contributor_id") == "c0")["n_credited"].item() == (2 if duplicates == "split" else 1)
