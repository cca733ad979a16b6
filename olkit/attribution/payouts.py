"""The payout entry point: an adapter (or model context) and its training rows -> contributor payouts.

:func:`contributor_payouts` is the one function the economy loop calls.  It attributes every row
the adapter trained on (and only those: the manifest's ``submission_ids``), pools near-duplicate
clusters (a cluster's value is shared, not multiplied), and splits the budget with
:func:`olkit.rewards.allocate` (noise gate, newcomer prior, reputation weighting, exact budget).

Near-duplicates are found model-free (:func:`near_duplicate_clusters`): TF-IDF cosine of
instruction + response with IDF fitted on the training rows themselves, so a one-word variant or a
re-worded answer to the same question (same rare words) clusters with the original, while two
answers from the same template with different facts do not (measured on the attribution task:
one-word variants >= 0.92, distinct items mostly <= 0.8).  Paraphrases that re-word the answer
share fewer words (0.45-0.65) and are *not* caught; see the attack benchmark.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from olkit.errors import InputError

#: the attribution method that pays by default (the best measured in benchmarks/attribution_bench.py)
DEFAULT_PAYOUT_METHOD = "trak"
#: TF-IDF cosine at or above which two training rows are one near-duplicate cluster
NEAR_DUP_THRESHOLD = 0.85


def near_duplicate_clusters(frame: pl.DataFrame, *, threshold: float = NEAR_DUP_THRESHOLD) -> pl.DataFrame:
    """``submission_id, cluster``: connected components of rows with TF-IDF cosine >= ``threshold``.

    Example
    -------
    >>> f = pl.DataFrame({"submission_id": ["a", "b", "c"], "instruction": ["Boil eggs?"] * 2 + ["Tune a harp?"],
    ...                   "response": ["Boil the eggs for ten minutes.", "Boil the eggs really for ten minutes.",
    ...                                "Tune the harp to D minor."]})
    >>> near_duplicate_clusters(f)["cluster"].to_list()
    ['0', '0', '1']
    """
    from scipy.sparse.csgraph import connected_components
    from sklearn.feature_extraction.text import TfidfVectorizer

    for col in ("submission_id", "instruction", "response"):
        if col not in frame.columns:
            raise InputError(f"training data has no column {col!r}", field=col)
    if frame.height == 0:
        return pl.DataFrame({"submission_id": [], "cluster": []}, schema={"submission_id": pl.String,
                                                                         "cluster": pl.String})
    text = (frame["instruction"].fill_null("") + " " + frame["response"].fill_null("")).to_list()
    try:
        x = TfidfVectorizer(lowercase=True, token_pattern=r"(?u)\b\w+\b", sublinear_tf=True).fit_transform(text)
    except ValueError:  # empty vocabulary: nothing to compare
        return frame.select("submission_id", pl.int_range(pl.len()).cast(pl.String).alias("cluster"))
    sim = (x @ x.T).tocsr()
    sim.data = (sim.data >= threshold).astype(np.int8)
    sim.eliminate_zeros()
    _, labels = connected_components(sim, directed=False)
    # number clusters by first appearance so ids are stable under relabelling
    _, first = np.unique(labels, return_index=True)
    rank = np.empty(first.size, dtype=np.int64)
    rank[np.argsort(first)] = np.arange(first.size)
    return pl.DataFrame({"submission_id": frame["submission_id"].cast(pl.String),
                         "cluster": rank[labels].astype(str)})


def centered(attribution: Any) -> Any:
    """Scores relative to the average training item, per eval item (``s_ij - mean_i s_ij``).

    What every item does in common (learning the answer format, the end-of-sequence token) is
    nobody's contribution in particular: spam "helps" there as much as a good answer.  Paying only
    the part above the average item keeps that common mode out of the payouts.
    """
    from dataclasses import replace

    scores = np.asarray(attribution.scores, dtype=np.float64)
    return replace(attribution, scores=scores - scores.mean(axis=0, keepdims=True))


def contributor_payouts(ctx_or_adapter: Any, train_frame: pl.DataFrame, eval_frame: pl.DataFrame, budget: float,
                        policy: Any = None, *, reputation: Any = None, method: str | None = None,
                        attribution: Any = None) -> pl.DataFrame:
    """Pay ``budget`` to the contributors of the rows an adapter trained on.

    ``ctx_or_adapter`` is an adapter folder (``olkit.train`` or attribution layout; rows are
    restricted to its manifest's ``submission_ids``), a
    :class:`~olkit.attribution.base.ModelContext`, or ``None`` for model-free methods.  The method
    is ``method``, else ``policy.rewards.params["method"]``, else :data:`DEFAULT_PAYOUT_METHOD`;
    pass a ready ``attribution`` to skip attributing.  Scores are :func:`centered` first
    (``policy.rewards.params["center"] = False`` pays raw scores).  Returns one row per contributor:
    ``contributor_id, amount, share, value, reputation, gated, n_items, n_credited`` (``amount``
    sums exactly to ``budget`` unless nothing had positive value; ``value`` is the credited
    attribution value before reputation; ``gated``: inside the noise band, paid nothing).

    Example
    -------
    >>> from olkit.attribution.task import make_task
    >>> task = make_task(n_contributors=3, items_per_contributor=3, n_eval=3, seed=0)
    >>> pay = contributor_payouts(None, task.train, task.eval, 100.0, method="tfidf")
    >>> round(float(pay["amount"].sum()), 6)
    100.0
    """
    from olkit.attribution.methods import make_method
    from olkit.rewards import allocate

    rewards = getattr(policy, "rewards", policy)
    params = dict(getattr(rewards, "params", {}) or {})
    name = method or params.get("method") or DEFAULT_PAYOUT_METHOD
    ctx = ctx_or_adapter
    if isinstance(ctx_or_adapter, str | Path):
        from olkit.attribution.adapters import load_context

        ctx, train_frame = load_context(ctx_or_adapter, train=train_frame)
    if attribution is None:
        attribution = make_method(name).attribute(ctx, train_frame, eval_frame)
    if params.get("center", True):
        attribution = centered(attribution)
    clusters = near_duplicate_clusters(train_frame, threshold=float(params.get("near_dup_threshold",
                                                                               NEAR_DUP_THRESHOLD)))
    pay = allocate(budget, attribution, reputation, policy, clusters=clusters)
    return pay.rename({"payout": "amount"}).select(
        "contributor_id", "amount", "share", "value", "reputation", "gated", "n_items", "n_credited")
