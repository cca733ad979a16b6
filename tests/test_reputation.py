"""Reputation rules: formulas, invariants, policy validation, and the two replications."""

from __future__ import annotations

import numpy as np
import pytest

from olkit.errors import InputError
from olkit.policy import Policy, PolicyError
from olkit.reputation import (
    RULES,
    EpochEvents,
    correlation_share,
    eigentrust,
    get_rule,
    resolve_params,
    stake_weighted_quantile,
    standing_from_log,
    yuma_consensus,
)
from olkit.sim.replications import eigentrust_experiment, yuma_experiment


def _run(rule: str, events: list[EpochEvents], n: int, params: dict | None = None, v: int = 1) -> np.ndarray:
    r, p = get_rule(rule), resolve_params(rule, params)
    state = r.init(n, p, v)
    for e in events:
        state = r.update(state, e, p)
    return r.standing(state, p)


def ev(sub, acc, abuse=None, **kw) -> EpochEvents:
    sub, acc = np.asarray(sub), np.asarray(acc)
    return EpochEvents(submitted=sub, accepted=acc, abuse=None if abuse is None else np.asarray(abuse), **kw)


def test_acceptance_ratio_formula():
    s = _run("acceptance_ratio", [ev([2, 1, 0], [2, 0, 0]), ev([1, 1, 0], [0, 1, 0])], 3)
    # (A + 1) / (N + 2)
    np.testing.assert_allclose(s, [3 / 5, 2 / 4, 1 / 2])


def test_beta_forgets_and_recovers():
    bad = [ev([1], [0])] * 10
    good = [ev([1], [1])] * 30
    s_no_forget = _run("beta", bad + good, 1, {"forgetting": 1.0})
    s_forget = _run("beta", bad + good, 1, {"forgetting": 0.8})
    assert s_forget[0] > 0.85 > 0.75 > s_no_forget[0]  # (5 + 1) / (5 + 2) vs 31 / 42
    np.testing.assert_allclose(s_no_forget, (30 + 1) / (40 + 2))


def test_decoupled_honest_failures_do_not_lower_standing_but_abuse_does():
    n_epochs = 20
    honest_fail = [ev([1], [0], [0])] * n_epochs
    abusive = [ev([1], [0], [1])] * n_epochs
    s0 = _run("decoupled", [], 1)
    assert _run("decoupled", honest_fail, 1)[0] == pytest.approx(s0[0])
    assert _run("decoupled", abusive, 1)[0] < 0.1 * s0[0]
    # ... while the acceptance ratio punishes both the same way
    assert _run("acceptance_ratio", honest_fail, 1)[0] < 0.1
    # standing recovers after a wrongly flagged rejection once good work follows
    s = _run("decoupled", [ev([1], [0], [1])] + [ev([1], [1], [0])] * 30, 1)
    assert s[0] > 0.9


def test_credibility_exponent_punishes_mediocre_scores():
    events = [ev([1, 1], [1, 1], score=np.array([0.9, 0.5]))] * 40
    lo = _run("credibility", events, 2, {"exponent": 1.0})
    hi = _run("credibility", events, 2, {"exponent": 3.0})
    np.testing.assert_allclose(lo, [0.9, 0.5], atol=1e-3)
    np.testing.assert_allclose(hi, [0.9**3, 0.5**3], atol=1e-3)
    # no submission, no change
    idle = _run("credibility", [ev([0, 0], [0, 0], score=np.array([0.0, 0.0]))] * 5, 2)
    np.testing.assert_allclose(idle, 0.5)


def test_stake_slashing_is_correlation_aware():
    # four agents each fault on every item; 0..2 are one observable group, 3 is alone
    group = np.array([0, 0, 0, -1])
    e = ev([1, 1, 1, 1], [0, 0, 0, 0], group=group)
    s = _run("stake", [e], 4, {"slash_fraction": 0.1, "correlation_factor": 3.0})
    np.testing.assert_allclose(s[3], 0.9)  # isolated: sigma
    np.testing.assert_allclose(s[:3], 1 - 0.1 * (1 + 3.0))  # fully correlated: sigma (1 + kappa)
    rho = correlation_share(np.array([1.0, 0.0, 0.0, 2.0]), np.array([1.0, 1.0, 2.0, 2.0]), group)
    np.testing.assert_allclose(rho, [0.0, 1 / 3, 1 / 2, 0.0])


def test_stake_weighted_quantile_is_the_weighted_median():
    w = np.array([[0.1], [0.5], [0.9]])
    assert stake_weighted_quantile(w, np.array([0.3, 0.3, 0.4]), 0.5)[0] == 0.5
    assert stake_weighted_quantile(w, np.array([0.2, 0.2, 0.6]), 0.5)[0] == 0.9
    assert stake_weighted_quantile(w, np.array([0.6, 0.2, 0.2]), 0.5)[0] == 0.1


def test_yuma_clips_every_weight_at_consensus():
    rng = np.random.default_rng(0)
    w = rng.random((7, 11))
    stake = rng.random(7)
    out = yuma_consensus(w, stake)
    assert (out["clipped"] <= out["consensus"][None, :] + 1e-15).all()
    assert out["incentive"].sum() == pytest.approx(1.0)
    assert ((0 <= out["validator_trust"]) & (out["validator_trust"] <= 1)).all()
    with pytest.raises(InputError, match="weights"):
        yuma_consensus(w, stake[:3])


def test_eigentrust_pretrusted_and_ring():
    # 0,1 good and pre-trusted, 2 good, 3,4 a ring that rates only itself
    local = np.zeros((5, 5))
    local[0, [1, 2]] = 5
    local[1, [0, 2]] = 5
    local[2, [0, 1]] = 5
    local[3, 4] = local[4, 3] = 100
    t = eigentrust(local, np.array([1, 1, 0, 0, 0], dtype=bool))
    assert t.sum() == pytest.approx(1.0)
    assert t[3] < 1e-9 and t[4] < 1e-9  # nobody outside the ring trusts it
    assert t[2] > 0.2
    with pytest.raises(InputError):
        eigentrust(local, np.zeros(5))


def test_rules_do_not_mutate_inputs_and_reset_identities():
    n = 6
    for name, rule in RULES.items():
        p = resolve_params(name)
        state = rule.init(n, p, 2)
        e = ev(np.ones(n, int), np.array([1, 0, 1, 0, 1, 0]), np.zeros(n, int),
               score=np.full(n, 0.7), approvals=np.ones((2, n)), reviews=np.ones((2, n)) * 1.0,
               agreement=np.ones(2), validator_stake=np.array([0.5, 0.5]))
        copies = {k: v.copy() for k, v in state.items()}
        nxt = rule.update(state, e, p)
        for k in state:
            np.testing.assert_array_equal(state[k], copies[k], err_msg=name)
        s = rule.standing(nxt, p)
        assert s.shape == (n,) and ((s >= 0) & (s <= 1 + 1e-12)).all(), name


def test_standing_from_log_matches_manual_fold():
    rng = np.random.default_rng(1)
    contributor = rng.integers(0, 5, 200)
    epoch = rng.integers(0, 10, 200)
    accepted = rng.random(200) < 0.6
    s = standing_from_log("acceptance_ratio", contributor, epoch, accepted, n_contributors=5)
    acc = np.bincount(contributor, weights=accepted, minlength=5)
    sub = np.bincount(contributor, minlength=5)
    np.testing.assert_allclose(s[-1], (acc + 1) / (sub + 2))
    assert s.shape == (10, 5)
    with pytest.raises(InputError, match="same length"):
        standing_from_log("beta", contributor, epoch[:3], accepted)


def test_policy_validates_rule_names_and_params():
    assert Policy().updated(**{"reputation.rule": "beta"}).reputation.resolved()["forgetting"] == 0.95
    with pytest.raises(PolicyError, match="forgeting"):
        Policy().updated(**{"reputation.rule": "beta", "reputation.params": {"forgeting": 0.5}})
    with pytest.raises(PolicyError, match="reputation.rule"):
        Policy().updated(**{"reputation.rule": "karma"})
    with pytest.raises(PolicyError):
        Policy().updated(**{"reputation.rule": "yuma", "reputation.params": {"kappa": 1.5}})
    with pytest.raises(InputError, match="unknown reputation rule"):
        get_rule("karma")


def test_eigentrust_replication():
    """Threat model A with a malicious majority: trust-based source selection keeps inauthentic
    downloads well below random selection, over seeds (bands do not overlap)."""
    df = eigentrust_experiment(("A",), seeds=3, cycles=15, last=5, axes={"A": ("", (0.6,))})
    trust = df.filter(df["selection"] == "trust").row(0, named=True)
    rand = df.filter(df["selection"] == "random").row(0, named=True)
    assert trust["hi"] < rand["lo"], df
    assert trust["mean"] < 0.5 * rand["mean"], df


def test_yuma_replication():
    """Over epochs with bonds and dividends: a naive stake-minority ring loses emission against voting
    honestly (its weights are clipped), a naive stake majority takes nearly everything."""
    df = yuma_experiment((0.3, 0.6), seeds=3, epochs=60)
    naive = {r["ring_stake"]: r for r in df.filter(df["strategy"] == "naive").iter_rows(named=True)}
    assert naive[0.3]["gain_hi"] < 0
    assert naive[0.6]["emission_mean"] > 0.9
    assert df["seeds"].min() == 3
