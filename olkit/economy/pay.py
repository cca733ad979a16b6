"""Attribute one round's trained-on rows and pay the round's budget: the economy's single payout call.

:func:`pay_round` is the one place the economy turns an adapter into payouts, so a different
payout function (e.g. a redundancy-aware, noise-gated one) is a one-line change here.

Example
-------
>>> paid = pay_round("adapters/r0", trained, eval_rows, 1000.0, policy)  # doctest: +SKIP
>>> paid.contributors.select("contributor_id", "payout")                 # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from olkit.errors import InputError


@dataclass
class RoundPayout:
    """Payouts per contributor (``contributors``: ``contributor_id, payout, share, value, n_items,
    reputation``) and per trained item (``items``: ``submission_id, contributor_id, score, payout``)."""

    contributors: pl.DataFrame
    items: pl.DataFrame
    method: str


def pay_round(adapter_dir: str | Path, trained: pl.DataFrame, eval_rows: pl.DataFrame, budget: float, policy: Any,
              *, reputation: pl.DataFrame | None = None, base: Any = None,
              already_paid: pl.Series | None = None) -> RoundPayout:
    """Score every row the adapter trained on (and only those) and split ``budget`` among contributors.

    ``trained``: the rows the adapter saw (``submission_id, contributor_id, instruction, response,
    content_hash``); rows the manifest does not list are an error.  The policy's reward rule decides
    the value of an item (``attribution``: its attribution score by ``rewards.params.method`` over
    ``eval_rows``, clipped at zero; ``acceptance``: 1), then :func:`olkit.rewards.allocate` pays
    duplicates once and weights contributors by ``reputation``.  Item payouts split each
    contributor's payout in proportion to the values of their items.  ``base``: an already loaded
    base (fp32 compute, as :func:`olkit.attribution.adapters.load_context` loads it) to attach the
    adapter to instead of loading the base again; it is left as it was.  ``already_paid``: content
    hashes paid in earlier rounds; a copy of such content is worth nothing now (duplicates earn once,
    across rounds as within one).
    """
    from olkit.rewards import allocate
    from olkit.train.adapters import read_manifest

    rewards = policy.rewards
    params = rewards.resolved()
    seen = set(read_manifest(adapter_dir)["submission_ids"])
    ids = set(trained["submission_id"].to_list())
    if ids != seen:
        raise InputError(f"the payout must cover exactly the {len(seen)} rows the adapter trained on "
                         f"(got {len(ids)}, {len(ids ^ seen)} differ)", file=str(adapter_dir), field="submission_id")
    rows = trained.select("submission_id", "contributor_id", "content_hash")
    if rewards.rule == "attribution":
        from olkit.attribution.adapters import context_on_base, load_context
        from olkit.attribution.methods import make_method

        if base is None:
            ctx, train_rows = load_context(adapter_dir, train=trained)
            att = make_method(params["method"]).attribute(ctx, train_rows, eval_rows.select("instruction", "response"))
        else:
            ctx = context_on_base(adapter_dir, base)
            try:
                att = make_method(params["method"]).attribute(ctx, trained, eval_rows.select("instruction", "response"))
            finally:
                base.model = ctx.model.unload()
        scores = att.items().select("submission_id", "score")
        method = params["method"]
    else:
        scores = rows.select("submission_id", pl.lit(1.0).alias("score"))
        method = "acceptance"
    items = rows.join(scores, on="submission_id", how="left").with_columns(pl.col("score").fill_null(0.0))
    paid_before = (pl.col("content_hash").is_in(already_paid.implode()) if already_paid is not None
                   else pl.lit(False))
    per = allocate(budget, items.filter(~paid_before), reputation=reputation, policy=policy)
    weight = pl.when(paid_before).then(0.0).otherwise(
        pl.lit(1.0) if rewards.rule == "acceptance" else pl.col("score").clip(lower_bound=0.0))
    items = (items.with_columns(weight.alias("_w"))
             .join(per.select("contributor_id", "payout"), on="contributor_id", how="left")
             .with_columns((pl.col("payout") * pl.col("_w") / pl.col("_w").sum().over("contributor_id"))
                           .fill_nan(0.0).fill_null(0.0).alias("payout"))
             .drop("_w"))
    return RoundPayout(contributors=per, items=items, method=method)
