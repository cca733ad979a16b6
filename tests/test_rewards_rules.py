"""Epoch reward rules and the shared split_budget primitive."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from olkit.errors import InputError
from olkit.policy import Policy, PolicyError
from olkit.rewards import budget_schedule, epoch_rewards, gini, split_budget

weights = arrays(np.float64, st.integers(1, 60), elements=st.floats(0, 1e6, allow_nan=False))


@settings(max_examples=200, deadline=None)
@given(budget=st.floats(0, 1e9, allow_nan=False, allow_subnormal=False), w=weights)
def test_split_budget_is_non_negative_proportional_and_sums_to_budget(budget, w):
    pay = split_budget(budget, w)
    assert pay.shape == w.shape and (pay >= 0).all()
    if w.sum() > 0:
        assert pay.sum() == pytest.approx(budget, rel=1e-12, abs=1e-9)
        # exactly, in whatever order a report lists the payouts
        assert math.fsum(pay) == budget and math.fsum(pay[::-1]) == budget
        assert (pay[w == 0] == 0).all()
        i, j = int(np.argmax(w)), int(np.argmin(w))
        assert pay[i] >= pay[j]
    else:
        assert (pay == 0).all()


@settings(max_examples=100, deadline=None)
@given(cents=st.integers(0, 10**7), w=weights)
def test_split_budget_in_whole_units_sums_exactly(cents, w):
    pay = split_budget(cents / 100, w, unit=0.01)
    units = np.round(pay / 0.01).astype(np.int64)
    np.testing.assert_allclose(pay, units * 0.01)
    if w.sum() > 0:
        assert units.sum() == cents
        exact = w / w.sum() * cents
        assert (np.abs(units - exact) < 1 + 1e-9).all()


def test_split_budget_examples_and_errors():
    np.testing.assert_allclose(split_budget(100, np.array([1.0, 3.0, 0.0])), [25, 75, 0])
    np.testing.assert_allclose(split_budget(100, np.zeros(3)), 0)
    assert split_budget(5, np.array([])).size == 0
    with pytest.raises(InputError, match="weight 1"):
        split_budget(10, np.array([1.0, -2.0]))
    with pytest.raises(InputError, match="weight 0"):
        split_budget(10, np.array([np.nan]))
    with pytest.raises(InputError, match="budget"):
        split_budget(-1, np.array([1.0]))


def test_epoch_rules():
    acc = np.array([4, 2, 0, 2])
    score = np.array([0.5, 1.0, 1.0, 0.0])
    standing = np.array([1.0, 0.5, 1.0, 1.0])
    np.testing.assert_allclose(epoch_rewards("acceptance", 80, acc), [40, 20, 0, 20])
    np.testing.assert_allclose(epoch_rewards("quality", 80, acc, score=score), [40, 40, 0, 0])
    np.testing.assert_allclose(epoch_rewards("reputation_weighted", 70, acc, standing=standing), [40, 10, 0, 20])
    with pytest.raises(InputError, match="standing"):
        epoch_rewards("reputation_weighted", 1, acc)
    with pytest.raises(InputError, match="unknown epoch reward rule"):
        epoch_rewards("lottery", 1, acc)


def test_financial_gravity_schedule():
    flat = budget_schedule(5, 100.0)
    grow = budget_schedule(5, 100.0, schedule="gravity", growth_rate=0.5, cap=300.0)
    np.testing.assert_allclose(flat, 100.0)
    np.testing.assert_allclose(grow, [100, 150, 225, 300, 300])
    assert (np.diff(grow) >= 0).all()
    with pytest.raises(InputError, match="schedule"):
        budget_schedule(3, 1.0, schedule="moon")


def test_gini():
    assert gini(np.ones(10)) == pytest.approx(0.0)
    assert gini(np.r_[np.zeros(99), 1.0]) == pytest.approx(0.99)
    assert gini(np.zeros(3)) == 0.0


def test_reward_policy_fields_are_validated():
    p = Policy().updated(**{"rewards.schedule": "gravity", "rewards.growth_rate": 0.1})
    assert p.rewards.schedule == "gravity" and p.rewards.rule == "attribution"
    with pytest.raises(PolicyError, match="epoch_rule"):
        Policy().updated(**{"rewards.epoch_rule": "lottery"})
    with pytest.raises(PolicyError, match="growth_rate"):
        Policy().updated(**{"rewards.growth_rate": -0.1})
