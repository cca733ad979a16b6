"""Property tests of the default payout rule (olkit.attribution.payouts.contributor_payouts):
budget exact, non-negative, and the attack invariants of the redundancy defences on small worlds.

The hypothesis tests switch the MiniLM links off (``semantic_threshold: None``, clusters from
TF-IDF) so they stay fast; one test checks the semantic links with the embedded MiniLM.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from olkit.attribution.base import Attribution
from olkit.attribution.payouts import contributor_payouts, near_duplicate_clusters, payout_params

WORDS = ("harp", "cello", "banjo", "guitar", "basil", "garlic", "Oslo", "Dakar", "Mars", "Venus", "May", "June",
         "major", "minor", "rain", "storms", "moons", "pale", "red", "soil")


def _world(n_items: int, n_contrib: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_items):
        words = rng.choice(WORDS, size=6, replace=False)
        rows.append({"submission_id": f"s{i:03d}", "contributor_id": f"c{i % n_contrib}",
                     "instruction": f"Question {i} about {words[0]} and {words[1]}?",
                     "response": " ".join(words[2:]) + f" item{i}."})
    return pl.DataFrame(rows)


def _att(frame: pl.DataFrame, scores: np.ndarray) -> Attribution:
    return Attribution(method="fixed", scores=np.asarray(scores, float).reshape(frame.height, -1),
                       train_ids=frame["submission_id"].to_list(), eval_ids=[f"e{j}" for j in range(scores.shape[1])],
                       contributor_ids=frame["contributor_id"].to_list())


def _policy(**params) -> SimpleNamespace:
    gate = params.pop("noise_gate", 0.05)
    return SimpleNamespace(params={"semantic_threshold": None, **params}, noise_gate=gate)


def _pay(frame, att, policy, reputation=None) -> dict[str, float]:
    out = contributor_payouts(None, frame, frame, 1000.0, policy, reputation=reputation, attribution=att)
    return dict(zip(out["contributor_id"].to_list(), out["amount"].to_list(), strict=True))


params_st = st.fixed_dictionaries({
    "center": st.sampled_from(["mean", "median", "none"]),
    "cluster_value": st.sampled_from(["first", "best"]),
    "item_gate": st.sampled_from([0.0, 0.02, 0.1]),
    "gate": st.sampled_from(["hard", "ramp"]),
    "noise_gate": st.sampled_from([0.0, 0.05, 0.2]),
    "duplicates": st.sampled_from(["first", "split"]),
})


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 14), params=params_st, shift=st.floats(-3, 3))
def test_budget_exact_and_non_negative_under_every_option(seed, n, params, shift):
    frame = _world(n, 3, seed)
    scores = np.random.default_rng(seed).normal(shift, 1.0, (n, 2))
    pay = _pay(frame, _att(frame, scores), _policy(**params),
               reputation={c: 0.5 for c in set(frame["contributor_id"])})
    assert all(v >= 0 for v in pay.values())
    total = sum(pay.values())
    assert total == pytest.approx(1000.0) or total == 0.0  # nothing is paid only if nothing had value


def _with_copies(frame: pl.DataFrame, src: list[int], copier: str) -> pl.DataFrame:
    """Append one-word variants of rows ``src`` (TF-IDF cosine >= 0.85 with the source) under ``copier``."""
    rows = frame[src].with_columns(
        pl.format("copy{}", pl.int_range(pl.len())).alias("submission_id"), pl.lit(copier).alias("contributor_id"),
        (pl.col("response") + pl.lit(" really")).alias("response"))
    return pl.concat([frame, rows])


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(4, 12), k=st.integers(1, 4), own=st.booleans(),
       copy_scores=st.lists(st.floats(-5, 50), min_size=4, max_size=4), item_gate=st.sampled_from([0.0, 0.02]))
def test_later_near_copies_never_earn_their_copier_anything(seed, n, k, own, copy_scores, item_gate):
    """First-arrival credit: appending near copies -- of another's items or of one's own -- with any
    scores (even far above the original's) leaves every payout as it was (scores not centred, so the
    other rows' scores are the same in both worlds, as an attack-free retrain would leave them)."""
    frame = _world(n, 3, seed)
    scores = np.random.default_rng(seed).normal(0.5, 1.0, (n, 1))
    copier = "c0"
    mine = [i for i, c in enumerate(frame["contributor_id"]) if c == copier]
    theirs = [i for i, c in enumerate(frame["contributor_id"]) if c != copier]
    src = (mine if own else theirs)[:k]
    attacked = _with_copies(frame, src, copier)
    policy = _policy(center="none", item_gate=item_gate)
    before = _pay(frame, _att(frame, scores), policy)
    after = _pay(attacked, _att(attacked, np.vstack([scores, np.array(copy_scores[:len(src)])[:, None]])), policy)
    assert after.get(copier, 0.0) == pytest.approx(before.get(copier, 0.0), rel=1e-9, abs=1e-9)
    assert sum(after.values()) == pytest.approx(sum(before.values()))


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(6, 12), pad=st.integers(1, 6))
def test_junk_padding_earns_nothing_inside_the_item_band(seed, n, pad):
    """Padding rows whose value is inside the item noise band are paid nothing: the padder's payout
    never rises above what their real items earn in the padded world (padding adds no credit)."""
    frame = _world(n, 3, seed)
    rng = np.random.default_rng(seed)
    scores = rng.uniform(1.0, 2.0, (n, 1))
    junk = pl.DataFrame({"submission_id": [f"pad{i}" for i in range(pad)], "contributor_id": ["c0"] * pad,
                         "instruction": [f"Zq{i} xv{i}?" for i in range(pad)],
                         "response": [f"Wk{i} pl{i} rr{i}." for i in range(pad)]})
    padded = pl.concat([frame, junk])
    total = float(scores.sum())
    tiny = rng.uniform(0.0, 0.5, (pad, 1)) * 0.02 * total / pad / 2  # well inside 2 % of the credited value
    policy = _policy(center="none", item_gate=0.02, noise_gate=0.0)
    from olkit.attribution.payouts import prepare_payout
    from olkit.rewards import credited_items

    att, clusters, resolved = prepare_payout(_att(padded, np.vstack([scores, tiny])), padded, policy)
    credited = credited_items(att, resolved, clusters=clusters)
    assert credited.filter(pl.col("submission_id").str.starts_with("pad"))["credited"].sum() == 0.0
    before = _pay(frame, _att(frame, scores), policy)
    after = _pay(padded, _att(padded, np.vstack([scores, tiny])), policy)
    assert after.get("c0", 0.0) <= before.get("c0", 0.0) + 1e-6


def test_median_centring_is_not_moved_much_by_padding():
    """Junk rows scored far below everything drag a mean down (lifting every real item's centred
    score); the median moves by a few ranks only."""
    from olkit.attribution.payouts import centered

    frame = _world(12, 3, 0)
    scores = np.linspace(-1.0, 1.0, 12)[:, None]
    padded = pl.concat([frame, _world(4, 1, 1).with_columns(pl.format("pad{}", pl.int_range(pl.len()))
                                                             .alias("submission_id"))])
    pscores = np.vstack([scores, np.full((4, 1), -50.0)])
    shift_mean = centered(_att(padded, pscores), "mean").scores[:12] - centered(_att(frame, scores), "mean").scores
    shift_median = centered(_att(padded, pscores), "median").scores[:12] - centered(_att(frame, scores), "median").scores
    assert float(shift_mean.mean()) > 10.0
    assert abs(float(shift_median.mean())) < 0.5


def test_default_params_are_typed_and_policy_validation_rejects_bad_ones():
    from olkit.errors import InputError
    from olkit.rewards_config import RewardPolicy

    p = payout_params()
    assert (p["method"], p["center"], p["cluster_value"], p["semantic_threshold"]) == ("bm25", "median", "first", 0.92)
    assert RewardPolicy().resolved()["item_gate"] == 0.02
    for bad in ({"center": "mode"}, {"semantic_threshold": 1.5}, {"cluster_value": "sum"}, {"item_gate": "0.1"},
                {"gate": "soft"}, {"near_dup_thresh": 0.8}):
        with pytest.raises(ValueError):
            RewardPolicy(params=bad)
        with pytest.raises(InputError):
            payout_params(SimpleNamespace(params={k: v for k, v in bad.items() if k != "near_dup_thresh"} or
                                          {"center": "mode"}))


def test_semantic_links_catch_paraphrases_and_requestions_but_not_other_facts():
    """MiniLM links (the default): a re-worded answer and another's answer under a re-worded
    question join their original; an answer with other facts from the same template does not, and
    the later arrival in a cluster earns nothing."""
    frame = pl.DataFrame({
        "submission_id": ["a", "b", "c", "d", "e"], "contributor_id": ["x", "y", "z", "z", "w"],
        "instruction": ["Which planet has nine moons and a pale surface?", "How do I tune a harp for blues music?",
                        "Which planet has nine moons and a pale surface?",
                        "Quick question: how do i tune a harp for blues music?", "What is the weather like in Oslo in May?"],
        "response": ["That would be Neptune: nine moons circle it and it shines pale.",
                     "For blues music put the harp in C major, with steady pegs.",
                     "The planet with nine moons is Neptune, whose surface looks pale from orbit.",
                     "For blues music put the harp in C major, with steady pegs.",
                     "In May Oslo is usually mild with rain most days."]})
    cl = near_duplicate_clusters(frame, semantic_threshold=0.92)["cluster"].to_list()
    assert cl[0] == cl[2] and cl[1] == cl[3] and len({cl[0], cl[1], cl[4]}) == 3
    att = _att(frame, np.array([[1.0], [1.0], [9.0], [9.0], [1.0]]))
    pay = _pay(frame, att, SimpleNamespace(params={"center": "none", "item_gate": 0.0}, noise_gate=0.0))
    assert pay["z"] == 0.0 and pay["x"] == pytest.approx(pay["y"]) == pytest.approx(pay["w"])
