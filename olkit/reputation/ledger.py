"""Contributor reputation from decisions, by the policy's rule: the one implementation every flow uses.

The economy folds its ledger decisions (one epoch per round) through
:func:`olkit.reputation.rules.standing_from_log`; training-set selection
(:func:`olkit.train.data.split_and_select`, ``reputation_weighted``) calls the same function on the
latest decisions as one epoch.  A rejection counts as *abuse* when one of its reason codes comes
from the spam, synthetic-text or dedup filters (as in :mod:`olkit.sim.content`).

Example
-------
>>> import polars as pl
>>> log = pl.DataFrame({"contributor_id": ["a", "a", "b"], "accepted": [True, True, False]})
>>> contributor_reputation(log, "acceptance_ratio").sort("contributor_id")["reputation"].round(3).to_list()
[0.75, 0.333]
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from olkit.errors import InputError

ABUSE_PREFIXES = ("spam.", "synthetic.", "dedup.")


def abuse_flag(reasons: pl.Expr = pl.col("reasons")) -> pl.Expr:
    """True where a rejection's reason codes name the spam, synthetic-text or dedup filters."""
    hit = pl.lit(False)
    for prefix in ABUSE_PREFIXES:
        hit = hit | pl.element().str.starts_with(prefix)
    return reasons.list.eval(hit).list.any().fill_null(False)


def _rule(policy: Any) -> tuple[str, dict[str, Any]]:
    from olkit.reputation.config import ReputationPolicy

    rep = getattr(policy, "reputation", policy)
    if rep is None:
        rep = ReputationPolicy()
    if isinstance(rep, str):
        rep = ReputationPolicy(rule=rep)
    if not isinstance(rep, ReputationPolicy):
        raise InputError(f"not a reputation policy: {rep!r}", field="reputation")
    return rep.rule, rep.resolved()


def contributor_reputation(log: pl.DataFrame, policy: Any = None) -> pl.DataFrame:
    """``contributor_id, reputation`` after folding the policy's reputation rule over ``log``.

    ``log``: one row per decided item with ``contributor_id`` and ``accepted``; optional ``epoch``
    (int, default 0), ``abuse`` (bool; default from ``reasons`` when present, else every rejection)
    and ``score`` (in ``[0, 1]``).  ``policy``: a Policy, a :class:`~olkit.reputation.config.ReputationPolicy`, a
    rule name or None (the default rule).
    """
    for col in ("contributor_id", "accepted"):
        if col not in log.columns:
            raise InputError(f"reputation needs a {col!r} column", field=col)
    rule, params = _rule(policy)
    if log.height == 0:
        return pl.DataFrame(schema={"contributor_id": pl.String, "reputation": pl.Float64})
    ids = log["contributor_id"].cast(pl.String)
    names = ids.unique(maintain_order=True).sort()
    idx = ids.replace_strict(names.to_list(), list(range(names.len())), return_dtype=pl.Int64).to_numpy()
    epoch = log["epoch"].cast(pl.Int64).to_numpy() if "epoch" in log.columns else np.zeros(log.height, np.int64)
    if "abuse" in log.columns:
        abuse = log["abuse"].fill_null(False).to_numpy()
    elif "reasons" in log.columns:
        abuse = log.select(abuse_flag() & ~pl.col("accepted"))[:, 0].to_numpy()
    else:  # no reason codes: a rejection cannot be told from abuse, so it counts as one
        abuse = ~log["accepted"].fill_null(False).to_numpy()
    score = log["score"].cast(pl.Float64).fill_null(0.0).to_numpy() if "score" in log.columns else None
    from olkit.reputation.rules import standing_from_log

    standing = standing_from_log(rule, idx, epoch, log["accepted"].fill_null(False).to_numpy(), abuse=abuse,
                                 score=score, n_contributors=names.len(), params=params)
    return pl.DataFrame({"contributor_id": names, "reputation": standing[-1]})
