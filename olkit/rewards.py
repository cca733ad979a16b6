"""Turning acceptance, quality, reputation (and, later, attribution) into payouts.

The shared primitive is :func:`split_budget`; every payout rule ends with it, so payouts are always
non-negative and sum exactly to the budget that was spent.
"""

from __future__ import annotations

import numpy as np

from olkit.errors import InputError

__all__ = [
    "EPOCH_RULES", "budget_schedule", "epoch_rewards", "gini", "split_budget",
    "split_by_acceptance", "split_by_quality", "split_by_reputation",
]


# ====================================================================================================
# Shared primitive and epoch reward rules (owned by the simulation; used by olkit.sim and widgets)
# ====================================================================================================
def split_budget(budget: float, weights: np.ndarray, *, unit: float | None = None) -> np.ndarray:
    """Split ``budget`` in proportion to non-negative ``weights``: ``pay_i = B * w_i / sum_j w_j``.

    Payouts are non-negative and sum to ``budget``.  If every weight is zero nothing is earned and
    nothing is paid (all zeros: the budget stays in the treasury rather than rewarding no one in
    particular).  With ``unit`` (e.g. ``0.01`` for cents) payouts are whole multiples of ``unit``
    and still sum exactly to ``budget`` (largest-remainder rounding, ties to the lower index).
    Negative or non-finite weights, or a negative budget, raise :class:`~olkit.errors.InputError`.

    Example
    -------
    >>> split_budget(100.0, np.array([1.0, 3.0, 0.0])).tolist()
    [25.0, 75.0, 0.0]
    >>> split_budget(1.0, np.array([1.0, 1.0, 1.0]), unit=0.01).tolist()
    [0.34, 0.33, 0.33]
    """
    w = np.asarray(weights, dtype=float)
    if w.ndim != 1:
        raise InputError(f"weights must be one-dimensional, got shape {w.shape}", field="weights")
    if not np.isfinite(budget) or budget < 0:
        raise InputError(f"budget must be a finite non-negative number, got {budget!r}", field="budget")
    if w.size and (not np.isfinite(w).all() or (w < 0).any()):
        bad = int(np.flatnonzero(~np.isfinite(w) | (w < 0))[0])
        raise InputError(f"weights must be finite and non-negative; weight {bad} is {w[bad]!r}",
                         row=bad, field="weights")
    total = w.sum()
    if total <= 0 or budget == 0:
        return np.zeros_like(w)
    if unit is None:
        pay = w * (budget / total)
        # Put the rounding residue on the largest payout so the sum is the budget to the last ulp.
        pay[int(np.argmax(pay))] += budget - pay.sum()
        return np.maximum(pay, 0.0)
    if unit <= 0:
        raise InputError(f"unit must be positive, got {unit!r}", field="unit")
    units_total = int(round(budget / unit))
    exact = w / total * units_total
    base = np.floor(exact).astype(np.int64)
    left = units_total - int(base.sum())
    if left > 0:
        order = np.lexsort((np.arange(w.size), -(exact - base)))
        base[order[:left]] += 1
    return base * unit


def split_by_acceptance(budget: float, accepted: np.ndarray) -> np.ndarray:
    """Pay per accepted item: ``w_i = A_i`` (leaderboard economies)."""
    return split_budget(budget, accepted)


def split_by_quality(budget: float, accepted: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Pay per unit of validator score on accepted items: ``w_i = A_i * q_i``."""
    return split_budget(budget, np.asarray(accepted, float) * np.clip(score, 0.0, None))


def split_by_reputation(budget: float, accepted: np.ndarray, standing: np.ndarray) -> np.ndarray:
    """Reputation-weighted acceptance: ``w_i = A_i * s_i`` with standing ``s_i`` in ``[0, 1]``."""
    return split_budget(budget, np.asarray(accepted, float) * np.clip(standing, 0.0, None))


EPOCH_RULES = ("acceptance", "quality", "reputation_weighted")


def epoch_rewards(rule: str, budget: float, accepted: np.ndarray, *, score: np.ndarray | None = None,
                  standing: np.ndarray | None = None) -> np.ndarray:
    """Dispatch to one of :data:`EPOCH_RULES` (``score``/``standing`` as that rule needs)."""
    if rule == "acceptance":
        return split_by_acceptance(budget, accepted)
    if rule == "quality":
        if score is None:
            raise InputError("the quality rule needs per-contributor scores", field="score")
        return split_by_quality(budget, accepted, score)
    if rule == "reputation_weighted":
        if standing is None:
            raise InputError("the reputation_weighted rule needs standing", field="standing")
        return split_by_reputation(budget, accepted, standing)
    raise InputError(f"unknown epoch reward rule {rule!r}; choose one of {', '.join(EPOCH_RULES)}",
                     field="rewards.epoch_rule")


def budget_schedule(epochs: int, base: float, *, schedule: str = "constant", growth_rate: float = 0.0,
                    cap: float | None = None) -> np.ndarray:
    """Budget per epoch: constant ``B_t = B_0``, or "financial gravity" ``B_t = min(cap, B_0 (1+g)^t)``.

    Under gravity the pot keeps growing as the economy attracts capital, which in turn makes farming
    more attractive; the simulation lets adversaries enter when the expected return beats their cost.

    Example
    -------
    >>> budget_schedule(3, 100.0, schedule="gravity", growth_rate=0.1).round(2).tolist()
    [100.0, 110.0, 121.0]
    """
    t = np.arange(epochs, dtype=float)
    if schedule == "constant":
        out = np.full(epochs, float(base))
    elif schedule == "gravity":
        out = base * (1.0 + growth_rate) ** t
    else:
        raise InputError(f"unknown budget schedule {schedule!r}; use constant or gravity",
                         field="rewards.schedule")
    return np.minimum(out, cap) if cap is not None else out


def gini(values: np.ndarray) -> float:
    """Gini coefficient of non-negative values (0: equal, -> 1: one takes all); 0 for empty/all-zero."""
    x = np.sort(np.asarray(values, dtype=float))
    n = x.size
    total = x.sum()
    if n == 0 or total <= 0:
        return 0.0
    ranks = np.arange(1, n + 1)
    return float((2.0 * (ranks * x).sum()) / (n * total) - (n + 1.0) / n)


# ====================================================================================================
# Attribution-based allocation (``allocate``) is added below by the attribution stage.
# ====================================================================================================
