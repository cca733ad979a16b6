"""Money is exact: split_budget in integer units for any budget, payouts refuse blank payees."""

from __future__ import annotations

from decimal import Decimal, localcontext

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from olkit.errors import InputError
from olkit.rewards import allocate, split_budget
from olkit.store import Store


def test_acceptance_2e19_in_unit_1() -> None:
    w = np.array([1.0, 2.0, 3.0, 0.0, 1e-300])
    pay = split_budget(2e19, w, unit=1)
    assert all(isinstance(p, int) and p >= 0 for p in pay)
    assert sum(pay) == 2 * 10**19 and pay[3] == 0
    assert pay[2] == 10**19 and abs(pay[0] - 2 * 10**19 // 6) <= 1


@settings(max_examples=60, deadline=None)
@given(budget=st.one_of(st.integers(0, 10**30), st.floats(0, 1e30, allow_nan=False)),
       weights=st.lists(st.floats(0, 1e300, allow_nan=False), min_size=1, max_size=20),
       unit=st.sampled_from([1, 0.01, 0.5, 10**6, Decimal("0.001")]))
def test_integer_units_sum_exactly_and_are_non_negative(budget, weights, unit) -> None:
    pay = split_budget(budget, np.array(weights), unit=unit)
    with localcontext() as ctx:
        ctx.prec = 200
        step = Decimal(str(unit))
        units = [Decimal(str(p)) / step for p in pay]
        whole = [u.to_integral_value() for u in units]
        if pay.dtype == object:  # beyond 2**53 units: exact ints / Decimals
            assert units == whole
        else:  # floats: k * unit up to float rounding
            assert all(abs(u - w) <= Decimal("1e-6") * max(1, abs(w)) for u, w in zip(units, whole, strict=True))
        assert all(w >= 0 for w in whole)
        want = int(Decimal(repr(budget) if isinstance(budget, float) else budget) // step)
    assert sum(int(w) for w in whole) == (want if sum(weights) > 0 else 0)


@pytest.mark.parametrize(("budget", "unit", "match"), [
    (float("inf"), 1, "finite"), (float("nan"), 1, "finite"), (-1, 1, "non-negative"), ("100", 1, "a number"),
    (10**50, 1, "at most 1e40 units"), (1e300, 1e-300, "at most 1e40 units"), (100, 0, "positive"),
    (100, float("nan"), "finite"), (10**400, None, "too large for float"), (True, 1, "a number")])
def test_unpayable_budgets_are_refused_clearly(budget, unit, match) -> None:
    with pytest.raises(InputError, match=match):
        split_budget(budget, np.array([1.0, 2.0]), unit=unit)


def test_blank_payees_are_refused(tmp_path) -> None:
    att = pl.DataFrame({"submission_id": ["a", "b"], "contributor_id": ["x", "  "], "score": [1.0, 2.0]})
    with pytest.raises(InputError, match="contributor_id is null or blank"):
        allocate(100.0, att)
    with pytest.raises(InputError, match="field 'score': score must be a number, got 'lots'"):
        allocate(100.0, att.with_columns(pl.Series("score", ["1", "lots"]), contributor_id=pl.lit("x")))
    with Store(tmp_path / "s.duckdb") as store:
        for frame in (pl.DataFrame({"contributor_id": ["a", None], "amount": [1.0, 2.0]}),
                      pl.DataFrame({"contributor_id": ["a", ""], "amount": [1.0, 2.0]}),
                      pl.DataFrame({"contributor_id": ["a", "a"], "amount": [1.0, 2.0]}),
                      pl.DataFrame({"contributor_id": ["a"], "amount": [float("nan")]})):
            with pytest.raises(InputError):
                store.add_payouts(frame)
        with pytest.raises(InputError, match="null or blank"):
            store.add_reputation(pl.DataFrame({"contributor_id": [None], "reputation": [0.5]},
                                              schema_overrides={"contributor_id": pl.String}))
        assert store.stats()["runs"] == 0 and store.verify().ok


def test_the_ledger_keeps_exact_amounts(tmp_path) -> None:
    pay = split_budget(2e19, np.array([1.0, 1.0, 1.0]), unit=1)
    with Store(tmp_path / "s.duckdb") as store:
        store.add_payouts(pl.DataFrame({"contributor_id": ["a", "b", "c"], "amount": pl.Series(pay)}))
        exact = store.table("payouts")["amount_exact"].to_list()
        assert sum(int(x) for x in exact) == 2 * 10**19 and exact[2] == "6666666666666666666"
        with pytest.raises(InputError, match="amount must be a number"):
            store.add_payouts(pl.DataFrame({"contributor_id": ["a"], "amount": pl.Series([object()], dtype=pl.Object)}))
        assert store.verify().ok
