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
    content_hash``, in arrival order or with ``created_at``); rows the manifest does not list are an
    error.  Rule ``attribution``: the rows are attributed by ``rewards.params.method`` over
    ``eval_rows`` and paid by :func:`olkit.attribution.payouts.contributor_payouts` (median centring,
    near-duplicate clusters credited by arrival, noise gates, reputation); rule ``acceptance``:
    every unique item is worth 1 (:func:`olkit.rewards.allocate`).  Item payouts split each
    contributor's payout in proportion to the credited values of their items.  ``base``: an already loaded
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
    paid_before = (pl.col("content_hash").is_in(already_paid.implode()) if already_paid is not None
                   else pl.lit(False))
    if rewards.rule == "attribution":
        from olkit.attribution.adapters import context_on_base, load_context
        from olkit.attribution.methods import MODEL_FREE_METHODS, make_method
        from olkit.attribution.payouts import contributor_payouts

        eval_rows = eval_rows.select("instruction", "response")
        if params["method"] in MODEL_FREE_METHODS:  # text baselines read no model: load none
            att = make_method(params["method"]).attribute(None, trained, eval_rows)
        elif base is None:
            ctx, train_rows = load_context(adapter_dir, train=trained)
            att = make_method(params["method"]).attribute(ctx, train_rows, eval_rows)
        else:
            ctx = context_on_base(adapter_dir, base)
            try:
                att = make_method(params["method"]).attribute(ctx, trained, eval_rows)
            finally:
                base.model = ctx.model.unload()
        # the redundancy- and noise-aware payout (median centring, TF-IDF + MiniLM near-duplicate
        # clusters credited by arrival, item and contributor noise gates): the rows trained on
        # before, minus content already paid in an earlier round (a copy of it earns nothing now)
        keep = ~rows.select(paid_before.alias("p"))["p"].to_numpy()
        order = {s: i for i, s in enumerate(att.train_ids)}
        frame = trained.filter(pl.Series(keep))
        if "created_at" in frame.columns:
            frame = frame.sort("created_at", maintain_order=True, nulls_last=True)
        sub = _subset(att, [order[s] for s in frame["submission_id"].to_list()])
        per = contributor_payouts(None, frame, eval_rows, budget, policy, reputation=reputation, attribution=sub)
        per = per.rename({"amount": "payout"})
        scores = att.items().select("submission_id", "score")
        credited = _credited(sub, frame, policy)
        method = params["method"]
    else:
        scores = rows.select("submission_id", pl.lit(1.0).alias("score"))
        per = allocate(budget, rows.filter(~paid_before).with_columns(pl.lit(1.0).alias("score")),
                       reputation=reputation, policy=policy)
        credited = None
        method = "acceptance"
    items = rows.join(scores, on="submission_id", how="left").with_columns(pl.col("score").fill_null(0.0))
    if credited is not None:  # an item's share of its contributor's payout: its credited value
        items = items.join(credited, on="submission_id", how="left").with_columns(
            pl.when(paid_before).then(0.0).otherwise(pl.col("_w").fill_null(0.0)).alias("_w"))
    else:
        items = items.with_columns(pl.when(paid_before).then(0.0).otherwise(1.0).alias("_w"))
    items = (items.join(per.select("contributor_id", "payout"), on="contributor_id", how="left")
             .with_columns((pl.col("payout") * pl.col("_w") / pl.col("_w").sum().over("contributor_id"))
                           .fill_nan(0.0).fill_null(0.0).alias("payout"))
             .drop("_w"))
    return RoundPayout(contributors=per, items=items, method=method)


def _subset(att: Any, idx: list[int]) -> Any:
    """The attribution restricted to training rows ``idx`` (in that order)."""
    from dataclasses import replace

    import numpy as np

    pick = np.asarray(idx, dtype=np.int64)
    hashes = att.content_hashes
    return replace(att, scores=np.asarray(att.scores)[pick] if pick.size else np.zeros((0, len(att.eval_ids))),
                   train_ids=[att.train_ids[i] for i in idx], contributor_ids=[att.contributor_ids[i] for i in idx],
                   content_hashes=None if hashes is None else [hashes[i] for i in idx])


def _credited(att: Any, frame: pl.DataFrame, policy: Any) -> pl.DataFrame:
    """``submission_id, _w``: what each item is credited for its contributor under the payout's rules."""
    from olkit.attribution.payouts import prepare_payout
    from olkit.rewards import credited_items

    att, clusters, resolved = prepare_payout(att, frame, policy)
    items = credited_items(att, resolved, clusters=clusters)
    return items.select("submission_id", pl.col("credited").alias("_w"))
