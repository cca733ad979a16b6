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

:func:`unique_rows` picks the rows a *payout model* should be trained on (each question's first
submission): with it, no attack of ``benchmarks/reward_attacks_bench.py`` that re-uses a question
(copies, paraphrases, padding under one's own questions) moves the payouts at all.
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
#: what a near-duplicate / same-question cluster is worth: ``"first"`` (its first item's value) or
#: ``"best"`` (its best item's value, :func:`olkit.rewards.allocate`'s rule).  Both options (and
#: ``pool_same_question``) are ``rewards.params`` of duck-typed policies; the defaults keep the
#: payouts that benchmarks/attribution_bench.py measured.  What stops the attacks in
#: benchmarks/reward_attacks_bench.py is the payout model on :func:`unique_rows`, not these.
CLUSTER_VALUE = "best"
#: pool answers to the same question into one cluster in :func:`contributor_payouts`
POOL_SAME_QUESTION = False


def near_duplicate_clusters(frame: pl.DataFrame, *, threshold: float | None = NEAR_DUP_THRESHOLD,
                            same_question: bool = False) -> pl.DataFrame:
    """``submission_id, cluster``: connected components of rows with TF-IDF cosine >= ``threshold``
    (``None``: no TF-IDF links) and, with ``same_question``, of rows answering the same question
    (equal instructions after lower-casing and dropping punctuation and extra spaces).

    Same-question links catch what the filters and the TF-IDF threshold cannot: a re-worded answer
    to a question already answered, or padding under one's own questions, joins the first answer's
    cluster, so the question earns once however many answers it gets.

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
    from scipy.sparse import csr_matrix, identity

    sim = identity(frame.height, dtype=np.int32, format="csr")
    text = (frame["instruction"].fill_null("") + " " + frame["response"].fill_null("")).to_list()
    if threshold is not None:
        try:
            x = TfidfVectorizer(lowercase=True, token_pattern=r"(?u)\b\w+\b", sublinear_tf=True).fit_transform(text)
        except ValueError:  # empty vocabulary: nothing to compare
            x = None
        if x is not None:
            sim = (x @ x.T).tocsr()
            sim.data = (sim.data >= threshold).astype(np.int32)
            sim.eliminate_zeros()
            sim = sim + identity(frame.height, dtype=np.int32, format="csr")
    if same_question:
        key = (frame["instruction"].fill_null("").str.to_lowercase().str.replace_all(r"[^\w\s]", "")
               .str.replace_all(r"\s+", " ").str.strip_chars())
        codes = (key.rank("dense").to_numpy() - 1).astype(np.int64)
        asked = (key.str.len_chars() > 0).to_numpy()
        rows = np.flatnonzero(asked)
        member = csr_matrix((np.ones(rows.size, np.int32), (rows, codes[rows])),
                            shape=(frame.height, int(codes.max()) + 1 if codes.size else 0))
        sim = sim + (member @ member.T)
    _, labels = connected_components(sim, directed=False)
    # number clusters by first appearance so ids are stable under relabelling
    _, first = np.unique(labels, return_index=True)
    rank = np.empty(first.size, dtype=np.int64)
    rank[np.argsort(first)] = np.arange(first.size)
    return pl.DataFrame({"submission_id": frame["submission_id"].cast(pl.String),
                         "cluster": rank[labels].astype(str)})


def first_answer_scores(attribution: Any, clusters: pl.DataFrame) -> pl.DataFrame:
    """Per-item scores (``submission_id, contributor_id, content_hash, score``) in training order
    where every cluster member after the first scores 0: a cluster is worth what its *first* item
    is worth, so a later copy, paraphrase or padding item under an answered question adds nothing
    -- not even by scoring higher than the original it re-words."""
    frame = pl.DataFrame({"submission_id": [str(s) for s in attribution.train_ids],
                          "contributor_id": attribution.contributor_ids,
                          "score": np.asarray(attribution.item_scores(), dtype=np.float64)})
    if attribution.content_hashes is not None:
        frame = frame.with_columns(pl.Series("content_hash", attribution.content_hashes))
    frame = frame.join(clusters.select("submission_id", pl.col("cluster").cast(pl.String)), on="submission_id",
                       how="left", maintain_order="left")
    frame = frame.with_columns(pl.col("cluster").fill_null(pl.col("submission_id")))
    first = pl.int_range(pl.len()).over("cluster") == 0
    return frame.with_columns(pl.when(first).then(pl.col("score")).otherwise(0.0).alias("score"))


def centered(attribution: Any) -> Any:
    """Scores relative to the average training item, per eval item (``s_ij - mean_i s_ij``).

    What every item does in common (learning the answer format, the end-of-sequence token) is
    nobody's contribution in particular: spam "helps" there as much as a good answer.  Paying only
    the part above the average item keeps that common mode out of the payouts.
    """
    from dataclasses import replace

    scores = np.asarray(attribution.scores, dtype=np.float64)
    return replace(attribution, scores=scores - scores.mean(axis=0, keepdims=True))


def unique_rows(frame: pl.DataFrame, *, threshold: float | None = None, same_question: bool = True) -> pl.DataFrame:
    """The first row (in frame order, i.e. arrival order) of every :func:`near_duplicate_clusters`
    cluster: the data a *payout model* is trained on.

    Attributing a model trained on everything lets a contributor raise the influence of their own
    items by adding copies, paraphrases or padding under their own questions (the model fits those
    questions harder); none of that can move a model trained only on each question's first answer.
    By default rows are linked by the same question only (``threshold=None``): a pairwise test, so
    which rows are first never changes when later rows arrive (a TF-IDF link would: its IDF is
    refitted on every batch); near copies are the filters' MinHash dedup's job upstream, and share
    the question anyway.  Pass everything submitted, rejected rows included, in arrival order, then
    keep the accepted rows among these: a rejected item cannot be laundered by re-wording it.

    Example
    -------
    >>> f = pl.DataFrame({"submission_id": ["a", "b", "c"], "instruction": ["Boil eggs?", "boil eggs", "Tune a harp?"],
    ...                   "response": ["Ten minutes.", "Say, ten minutes or so.", "To D minor."]})
    >>> unique_rows(f)["submission_id"].to_list()
    ['a', 'c']
    """
    clusters = near_duplicate_clusters(frame, threshold=threshold, same_question=same_question)
    first = clusters.select(pl.int_range(pl.len()).over("cluster") == 0).to_series()
    return frame.filter(first)


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
                                                                               NEAR_DUP_THRESHOLD)),
                                       same_question=bool(params.get("pool_same_question", POOL_SAME_QUESTION)))
    if params.get("cluster_value", CLUSTER_VALUE) == "first":
        attribution = first_answer_scores(attribution, clusters)
    pay = allocate(budget, attribution, reputation, policy, clusters=clusters)
    return pay.rename({"payout": "amount"}).select(
        "contributor_id", "amount", "share", "value", "reputation", "gated", "n_items", "n_credited")
