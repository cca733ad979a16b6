"""Turning acceptance, quality, reputation (and, later, attribution) into payouts.

The shared primitive is :func:`split_budget`; every payout rule ends with it, so payouts are always
non-negative and sum exactly to the budget that was spent.
"""

from __future__ import annotations

import math
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import polars as pl

from olkit.errors import InputError
from olkit.kit import gini, largest_remainder  # noqa: F401  (gini: re-exported)

__all__ = [
    "ALLOCATION_RULES", "EPOCH_RULES", "adversary_share", "allocate", "check_payees", "credited_items", "payout_summary", "budget_schedule", "epoch_rewards", "gini", "split_budget",
    "split_by_acceptance", "split_by_quality", "split_by_reputation",
]


# ====================================================================================================
# Shared primitive and epoch reward rules (owned by the simulation; used by olkit.sim and widgets)
# ====================================================================================================
def split_budget(budget: float | int | Decimal, weights: np.ndarray, *,
                 unit: float | int | Decimal | None = None) -> np.ndarray:
    """Split ``budget`` in proportion to non-negative ``weights``: ``pay_i = B * w_i / sum_j w_j``.

    Payouts are non-negative and sum to ``budget``.  If every weight is zero nothing is earned and
    nothing is paid (all zeros: the budget stays in the treasury rather than rewarding no one in
    particular).  With ``unit`` (e.g. ``0.01`` for cents, ``1`` for token base units) payouts are
    whole multiples of ``unit`` summing exactly to ``floor(budget / unit)`` units (largest-remainder
    rounding, ties to the lower index), computed in exact integer arithmetic: ``budget`` and
    ``unit`` are read as the decimals they print as (``0.1`` is one tenth), and budgets of any size
    are exact — beyond ``2**53`` units the result is an object array of Python ``int`` (integral
    ``unit``) or ``Decimal`` (fractional ``unit``) instead of floats.  More than ``10**40`` units,
    negative, non-finite or non-numeric budgets/units, and negative or non-finite weights raise
    :class:`~olkit.errors.InputError`.

    Example
    -------
    >>> split_budget(100.0, np.array([1.0, 3.0, 0.0])).tolist()
    [25.0, 75.0, 0.0]
    >>> split_budget(1.0, np.array([1.0, 1.0, 1.0]), unit=0.01).tolist()
    [0.34, 0.33, 0.33]
    >>> pay = split_budget(2e19, np.array([1.0, 1.0, 1.0]), unit=1)
    >>> pay.tolist(), sum(pay) == 2 * 10**19
    ([6666666666666666667, 6666666666666666667, 6666666666666666666], True)
    """
    w = np.asarray(weights, dtype=float)
    if w.ndim != 1:
        raise InputError(f"weights must be one-dimensional, got shape {w.shape}", field="weights")
    exact_budget = _exact_number(budget, "budget")
    if exact_budget < 0:
        raise InputError(f"budget must be a finite non-negative number, got {budget!r}", field="budget")
    if w.size and (not np.isfinite(w).all() or (w < 0).any()):
        bad = int(np.flatnonzero(~np.isfinite(w) | (w < 0))[0])
        raise InputError(f"weights must be finite and non-negative; weight {bad} is {w[bad]!r}",
                         row=bad, field="weights")
    total = w.sum() if np.isfinite(w.sum()) else math.inf
    if unit is None:
        try:
            budget = float(exact_budget)
        except OverflowError:
            budget = math.inf
        if not math.isfinite(budget):
            raise InputError(f"budget {budget!r} is too large for float payouts; give unit= for exact "
                             "integer payouts", field="budget")
        if total <= 0 or budget == 0:
            return np.zeros_like(w)
        if not math.isfinite(total):  # weights near the float maximum: scale them down first
            w = w / w.max()
            total = w.sum()
        pay = budget * (w / total)  # w / total <= 1 stays finite even for subnormal weights
        # Put the exact rounding residue on the smallest payout that can absorb it: its fine ulp lets
        # the exactly rounded sum (math.fsum, independent of the order payouts are listed in) land on
        # the budget itself.
        residue = math.fsum(np.concatenate(([budget], -pay)))
        if residue != 0:
            room = np.where((pay > 0) & (pay + residue >= 0), pay, np.inf)
            pay[int(np.argmin(room)) if np.isfinite(room).any() else int(np.argmax(pay))] += residue
        return np.maximum(pay, 0.0)
    exact_unit = _exact_number(unit, "unit")
    if exact_unit <= 0:
        raise InputError(f"unit must be positive, got {unit!r}", field="unit")
    units = exact_budget / exact_unit
    if units > _MAX_UNITS:
        raise InputError(f"budget / unit is about 1e{len(str(units.numerator // units.denominator)) - 1} units; "
                         "at most 1e40 units can be paid "
                         "(use a larger unit)", field="unit")
    units_total = units.numerator // units.denominator
    if (w <= 0).all() or units_total == 0:
        return np.zeros_like(w)
    if units_total <= 2**53:  # weights scaled by their maximum first, so their sum cannot overflow
        return largest_remainder(w / w.max(), units_total) * float(exact_unit)
    # exact integer path: the float weights as exact integers (scaled by a common power of two)
    ratios = [Fraction(x) for x in w.tolist()]
    scale = max(r.denominator for r in ratios)
    ints = [r.numerator * (scale // r.denominator) for r in ratios]
    weight_sum = sum(ints)
    shares = [divmod(units_total * k, weight_sum) for k in ints]
    paid = [q for q, _ in shares]
    left = units_total - sum(paid)
    for i in sorted(range(len(ints)), key=lambda i: (-shares[i][1], i))[:left]:
        paid[i] += 1
    if exact_unit.denominator == 1:
        return np.array([q * exact_unit.numerator for q in paid], dtype=object)
    with localcontext() as ctx:  # exact: the unit is a terminating decimal, amounts have < 100 digits
        ctx.prec = 200
        dec_unit = Decimal(exact_unit.numerator) / Decimal(exact_unit.denominator)
        return np.array([Decimal(q) * dec_unit for q in paid], dtype=object)


#: the most units :func:`split_budget` pays out (``budget / unit``)
_MAX_UNITS = 10**40


def _exact_number(value: object, name: str) -> Fraction:
    """A budget/unit as an exact fraction: floats as the decimal they print as, ints/Decimals exactly."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | np.integer | np.floating):
        raise InputError(f"{name} must be a number, got {type(value).__name__} {value!r}", field=name)
    if isinstance(value, np.integer):
        value = int(value)
    if isinstance(value, float | np.floating):
        if not math.isfinite(float(value)):
            raise InputError(f"{name} must be a finite non-negative number, got {value!r}", field=name)
        value = Decimal(repr(float(value)))
    if isinstance(value, Decimal) and not value.is_finite():
        raise InputError(f"{name} must be a finite non-negative number, got {value!r}", field=name)
    return Fraction(value)


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


# ====================================================================================================
# Attribution-based allocation (``allocate``) is added below by the attribution stage.
# ====================================================================================================


# ----------------------------------------------------------------------------------------------------
# Owned by the attribution stage: allocate(), adversary_share(), payout_summary()
# ----------------------------------------------------------------------------------------------------
ALLOCATION_RULES = ("attribution", "acceptance")


def _item_scores(attribution, clusters=None) -> pl.DataFrame:
    """One row per training item (``submission_id, contributor_id, content_hash, cluster, score``)."""
    import polars as pl

    if hasattr(attribution, "item_scores") and hasattr(attribution, "train_ids"):
        # training order (not rank order): "first copy" means the earliest submission
        frame = pl.DataFrame({"submission_id": attribution.train_ids,
                              "contributor_id": attribution.contributor_ids,
                              "score": attribution.item_scores()})
        if attribution.content_hashes is not None:
            frame = frame.with_columns(pl.Series("content_hash", attribution.content_hashes))
    elif isinstance(attribution, pl.DataFrame):
        frame = attribution
    else:
        raise InputError(f"attribution must be an Attribution or a polars DataFrame, not "
                         f"{type(attribution).__name__}", field="attribution")
    for col in ("contributor_id", "score"):
        if col not in frame.columns:
            raise InputError(f"attribution has no column {col!r} (columns: {', '.join(frame.columns)})",
                             field=col)
    check_payees(frame["contributor_id"], "attribution")
    if frame.schema["score"] == pl.String or not (frame.schema["score"].is_numeric() or frame.schema["score"] == pl.Null):
        numeric = frame["score"].cast(pl.Float64, strict=False)
        bad = (numeric.is_null() & frame["score"].is_not_null()).arg_true()
        if bad.len():
            raise InputError(f"score must be a number, got {frame['score'][int(bad[0])]!r}", row=int(bad[0]) + 1,
                             field="score")
        frame = frame.with_columns(numeric.alias("score"))
    if frame.height and not frame["score"].cast(pl.Float64).is_finite().all():
        bad = int((~frame["score"].cast(pl.Float64).is_finite()).arg_true()[0])
        raise InputError(f"score is not finite ({frame['score'][bad]!r})", row=bad + 1, field="score")
    if "submission_id" not in frame.columns:
        frame = frame.with_row_index("submission_id").with_columns(pl.col("submission_id").cast(pl.String))
    if "created_at" in frame.columns:
        frame = frame.sort("created_at", maintain_order=True, nulls_last=True)
    keys = ["submission_id", "contributor_id"] + [c for c in ("content_hash", "cluster") if c in frame.columns]
    # a long (item x eval) frame: total score per item
    frame = frame.group_by(keys, maintain_order=True).agg(pl.col("score").cast(pl.Float64).sum())
    if "content_hash" not in frame.columns:
        frame = frame.with_columns(pl.col("submission_id").alias("content_hash"))
    frame = frame.with_columns(pl.col("content_hash").fill_null(pl.col("submission_id")))
    if clusters is not None:
        if isinstance(clusters, dict):
            clusters = pl.DataFrame({"submission_id": list(clusters), "cluster": [str(v) for v in clusters.values()]})
        if not isinstance(clusters, pl.DataFrame) or not {"submission_id", "cluster"} <= set(clusters.columns):
            raise InputError("clusters must be a dict or a frame with submission_id and cluster columns",
                             field="clusters")
        frame = frame.drop("cluster", strict=False).join(
            clusters.select("submission_id", pl.col("cluster").cast(pl.String)).unique("submission_id"),
            on="submission_id", how="left", maintain_order="left")
    if "cluster" not in frame.columns:
        frame = frame.with_columns(pl.col("content_hash").alias("cluster"))
    return frame.with_columns(pl.col("cluster").cast(pl.String).fill_null(pl.col("content_hash")))


def check_payees(ids: pl.Series, what: str = "payouts") -> None:
    """Refuse null or blank contributor ids: nobody can be paid under them.

    >>> import polars as pl
    >>> check_payees(pl.Series(["ann", " "]))
    Traceback (most recent call last):
    olkit.errors.InputError: line 2, field 'contributor_id': payouts: contributor_id is null or blank (row 2); nobody can be paid under it
    """
    import polars as pl

    text = ids.cast(pl.String, strict=False)
    blank = text.is_null() | (text.str.strip_chars() == "")
    if blank.any():
        row = int(blank.arg_true()[0]) + 1
        raise InputError(f"{what}: contributor_id is null or blank (row {row}); nobody can be paid under it",
                         row=row, field="contributor_id")


def allocate(budget: float, attribution, reputation=None, policy=None, *, clusters=None) -> pl.DataFrame:
    """Split ``budget`` among contributors by what their (unique) data did for the model.

    1. each training item's value is its total attribution score over the eval set, clipped at zero
       (harmful data earns nothing; it is not charged either);
    2. **copies earn once**: items of one *cluster* form one group whose value is the group's best
       item; it is credited to the first copy (``params.duplicates="first"``, the default: the
       earliest submission by ``created_at`` when given, else in the given order, which for an
       :class:`~olkit.attribution.base.Attribution` is training order) or split equally among the
       copies (``"split"``).  A cluster is ``clusters[submission_id]`` (a dict, or a frame with
       ``submission_id`` and ``cluster``; e.g. near-duplicate clusters from
       :func:`olkit.attribution.payouts.near_duplicate_clusters`), else a ``cluster`` column of the
       attribution frame, else the ``content_hash`` (exact copies);
    3. **noise gate**: a contributor whose credited value is below ``rewards.noise_gate`` of the
       total credited value is inside the attribution noise band and gets weight 0 (the largest
       contributor is never gated);
    4. a contributor's weight is their credited value times their reputation (``reputation``: frame
       with ``contributor_id`` and ``reputation``/``standing``/``score`` in ``[0, 1]``); identities
       missing from it get the **newcomer prior** ``rewards.newcomer_prior`` (``params.default_reputation``
       for older policies), by default the lowest standing of the known contributors, so a fresh
       identity never starts above anyone;
    5. payouts are :func:`split_budget` of the weights (``params.unit`` rounds to a unit).

    The weight is *linear* in a contributor's credited items, so splitting one contributor into
    sybils with no better reputation never raises their total; payouts are non-negative and sum to
    ``budget`` whenever any item has positive value (otherwise nothing is paid).
    ``policy.rewards.rule`` ``"acceptance"`` values every unique item at 1 instead of by attribution.

    Example
    -------
    >>> import polars as pl
    >>> att = pl.DataFrame({"submission_id": ["a", "b", "c"], "contributor_id": ["x", "y", "z"],
    ...                     "content_hash": ["h1", "h2", "h1"], "score": [3.0, 1.0, 3.0]})
    >>> allocate(100.0, att).select("contributor_id", "payout").rows()
    [('x', 75.0), ('y', 25.0), ('z', 0.0)]
    """
    import polars as pl

    from olkit.rewards_config import RewardPolicy

    rewards = getattr(policy, "rewards", policy) if policy is not None else RewardPolicy()
    rule = getattr(rewards, "rule", "attribution")
    params = dict(getattr(rewards, "params", {}) or {})
    if rule not in ALLOCATION_RULES:
        raise InputError(f"unknown reward rule {rule!r}; allocate() supports {', '.join(ALLOCATION_RULES)}",
                         field="rewards.rule")
    gate = float(getattr(rewards, "noise_gate", 0.0) or 0.0)
    items = credited_items(attribution, policy, clusters=clusters)
    per = (items.group_by("contributor_id", maintain_order=True)
           .agg(pl.col("score").sum(), pl.col("credited").sum().alias("value"),
                pl.col("credited_rel").sum().alias("_rel"), pl.len().alias("n_items"),
                (pl.col("credited_rel") > 0).sum().alias("n_credited")))
    total_value = float(per["_rel"].sum())
    gate_mode = params.get("gate", "hard")
    if gate_mode not in ("hard", "ramp"):
        raise InputError(f"rewards.params.gate must be 'hard' or 'ramp', not {gate_mode!r}", field="rewards.params.gate")
    gated = (pl.col("_rel") < gate * total_value) & (pl.col("_rel") < pl.col("_rel").max())
    per = per.with_columns(gated.alias("gated"))
    if gate_mode == "ramp" and gate > 0 and total_value > 0:
        # continuous: nothing below the band, the full value from twice the band, linear between
        ramp = ((pl.col("_rel") / (gate * total_value)) - 1.0).clip(0.0, 1.0)
        keep = pl.col("_rel") >= pl.col("_rel").max()
        per = per.with_columns(pl.when(keep).then(pl.col("_rel")).otherwise(pl.col("_rel") * ramp).alias("_rel"))
    if reputation is not None:
        rep = _reputation_frame(reputation)
        prior = getattr(rewards, "newcomer_prior", None)
        if prior is None:
            prior = params.get("default_reputation")
        if prior is None:
            prior = float(rep["reputation"].min()) if rep.height else 1.0
        per = per.join(rep, on="contributor_id", how="left").with_columns(
            pl.col("reputation").fill_null(float(prior)))
    else:
        per = per.with_columns(pl.lit(1.0).alias("reputation"))
    per = per.with_columns(pl.when(pl.col("gated")).then(0.0)
                           .otherwise(pl.col("_rel") * pl.col("reputation").clip(0.0, 1.0)).alias("weight")).drop("_rel")
    unit = params.get("unit")
    pay = split_budget(float(budget), per["weight"].to_numpy(), unit=float(unit) if unit else None)
    total = float(pay.sum())
    return (per.with_columns(pl.Series("payout", pay),
                             pl.Series("share", pay / total if total > 0 else np.zeros_like(pay)))
            .sort(["payout", "contributor_id"], descending=[True, False]))


def credited_items(attribution, policy=None, *, clusters=None) -> pl.DataFrame:
    """Steps 1-2 of :func:`allocate` per training item: ``value`` (clipped score), ``cluster``,
    ``copies`` and ``credited`` (what the item earns for its contributor before gate and reputation);
    ``credited_rel`` is ``credited`` times the power of two that brings the largest value near 1
    (what :func:`allocate` splits the budget by, so tiny values never underflow).
    """
    import polars as pl

    rewards = getattr(policy, "rewards", policy)
    rule = getattr(rewards, "rule", "attribution")
    params = dict(getattr(rewards, "params", {}) or {})
    duplicates = params.get("duplicates", "first")
    if duplicates not in ("first", "split"):
        raise InputError(f"rewards.params.duplicates must be 'first' or 'split', not {duplicates!r}",
                         field="rewards.params.duplicates")
    items = _item_scores(attribution, clusters).with_row_index("_order")
    value = pl.lit(1.0) if rule == "acceptance" else pl.col("score").clip(lower_bound=0.0)
    items = items.with_columns(value.alias("value"))
    grp = pl.col("cluster")
    items = items.with_columns(
        pl.col("value").max().over(grp).alias("group_value"),
        pl.len().over(grp).alias("copies"),
        (pl.col("_order") == pl.col("_order").min().over(grp)).alias("first_copy"),
    )
    # Work in units of the largest value (an exact power-of-two rescale) so that splitting a tiny,
    # even subnormal, value among copies cannot underflow to zero and lose its contributor's pay.
    vmax = float(items["value"].max() or 0.0) if items.height else 0.0
    k = -math.frexp(vmax)[1] if vmax > 0 and math.isfinite(vmax) else 0
    rel = pl.Series("group_rel", np.ldexp(items["group_value"].to_numpy(), k))
    items = items.with_columns(rel)
    credited_rel = (pl.col("group_rel") / pl.col("copies")) if duplicates == "split" else \
        pl.when(pl.col("first_copy")).then(pl.col("group_rel")).otherwise(0.0)
    items = items.with_columns(credited_rel.alias("credited_rel")).drop("group_rel")
    item_gate = float(params.get("item_gate", 0.0) or 0.0)
    if item_gate > 0:  # a cluster worth less than this share of all credited value is inside the noise band
        total_rel = float(items["credited_rel"].sum())
        items = items.with_columns(pl.when(pl.col("credited_rel") < item_gate * total_rel).then(0.0)
                                   .otherwise(pl.col("credited_rel")).alias("credited_rel"))
    return items.with_columns(pl.Series("credited", np.ldexp(items["credited_rel"].to_numpy(), -k)))


def _reputation_frame(reputation) -> pl.DataFrame:
    import polars as pl

    if isinstance(reputation, dict):
        reputation = pl.DataFrame({"contributor_id": list(reputation), "reputation": list(reputation.values())})
    if not isinstance(reputation, pl.DataFrame) or "contributor_id" not in reputation.columns:
        raise InputError("reputation must be a dict or a frame with a contributor_id column", field="reputation")
    col = next((c for c in ("reputation", "standing", "score") if c in reputation.columns), None)
    if col is None:
        raise InputError("reputation frame needs a 'reputation' (or 'standing'/'score') column",
                         field="reputation")
    rep = reputation.select("contributor_id", pl.col(col).cast(pl.Float64).alias("reputation"))
    bad = ~rep["reputation"].is_finite() | (rep["reputation"] < 0)
    if bad.any():
        row = int(bad.arg_true()[0])
        raise InputError(f"reputation must be finite and >= 0, got {rep['reputation'][row]!r}", row=row + 1,
                         field=col)
    return rep.unique("contributor_id", keep="last", maintain_order=True)


def adversary_share(payouts: pl.DataFrame, adversaries) -> float:
    """Fraction of everything paid that went to ``adversaries`` (an iterable of contributor ids)."""
    total = float(payouts["payout"].sum())
    if total <= 0:
        return 0.0
    adv = set(adversaries)
    return float(payouts.filter(payouts["contributor_id"].is_in(list(adv)))["payout"].sum()) / total


def payout_summary(payouts: pl.DataFrame, adversaries=()) -> dict[str, float]:
    """Gini of payouts, adversary share, total paid and number of paid contributors."""
    pay = payouts["payout"].to_numpy()
    return {"gini": gini(pay), "adversary_share": adversary_share(payouts, adversaries),
            "total_paid": math.fsum(pay), "n_paid": int((pay > 0).sum()), "n_contributors": int(pay.size)}
