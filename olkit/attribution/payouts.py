"""The payout entry point: an adapter (or model context) and its training rows -> contributor payouts.

:func:`contributor_payouts` is the one function the economy pays through
(:func:`olkit.economy.pay.pay_round` calls it).  It attributes every row the adapter trained on
(and only those: the manifest's ``submission_ids``), centres the scores on the median item, pools
near-duplicate clusters (a cluster is worth its first arrival's value, credited to the first
arrival only), gates what is inside the noise band, and splits the budget with
:func:`olkit.rewards.allocate` (contributor noise gate, newcomer prior, reputation weighting,
exact budget).  Every option is a typed ``rewards.params`` key
(:class:`olkit.rewards_config.AttributionRewardParams`, read by :func:`payout_params`).

Near-duplicates (:func:`near_duplicate_clusters`) are linked two ways: TF-IDF cosine of
instruction + response with IDF fitted on the training rows (one-word variants >= 0.92, distinct
items mostly <= 0.8), and MiniLM cosine (:func:`semantic_similarity`, the filters' embedding
cache), which also links re-worded answers and another's answer under a re-worded question
(>= 0.925 on the attack tuning seeds) but, at the default 0.92, also merges distinct genuine items
-- mostly a second answer to the same question with other facts: 9 % of them on the tuning seeds
(TF-IDF alone 6 %), 18 % on the reported seeds (TF-IDF alone 8 %; ``clusters`` in
``benchmarks/results/reward_attacks.json``).  Under first-arrival credit the later of two merged
honest items earns nothing; ``rewards.params.semantic_threshold: null`` turns the MiniLM links off.

:func:`unique_rows` picks the rows a *payout model* should be trained on (each question's first
submission); it is an opt-in proposal measured by ``benchmarks/reward_attacks_bench.py``, not used
by the economy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from olkit.errors import InputError

#: the attribution method that pays by default: the best measured (lowest TV to exact contributor
#: Shapley shares, the rule fixed before the runs) in benchmarks/attribution_bench.py under the
#: payout rule below -- a model-free text baseline (BM25), not a gradient method
DEFAULT_PAYOUT_METHOD = "bm25"
#: TF-IDF cosine at or above which two training rows are one near-duplicate cluster
NEAR_DUP_THRESHOLD = 0.85
#: MiniLM cosine (instruction + response) at or above which two rows are one cluster: on the tuning
#: seeds 100-104 the lowest threshold that links >= 95 % of one-word variants, paraphrases and
#: re-questioned copies (all of them; their minimum is 0.925); it also links 9 % of distinct
#: genuine items there (mostly another answer to the same question; TF-IDF alone 6 %), 18 % on the
#: reported seeds 0-9 (TF-IDF alone 8 %)
SEMANTIC_THRESHOLD = 0.92


def payout_params(policy: Any = None) -> dict[str, Any]:
    """The attribution payout parameters of a policy (a ``Policy``, its ``rewards`` section, a
    duck-typed object with ``params``, or ``None``), every default filled in from
    :class:`olkit.rewards_config.AttributionRewardParams`; a bad value raises
    :class:`~olkit.errors.InputError` naming the key.

    >>> p = payout_params()
    >>> p["method"], p["center"], p["cluster_value"], p["semantic_threshold"]
    ('trak', 'median', 'first', 0.92)
    """
    from olkit.rewards_config import AttributionRewardParams

    rewards = getattr(policy, "rewards", policy)
    params = dict(getattr(rewards, "params", {}) or {})
    if isinstance(params.get("center"), bool):  # older spelling: True = mean, False = none
        params["center"] = "mean" if params["center"] else "none"
    known = AttributionRewardParams.model_fields
    try:
        typed = AttributionRewardParams.model_validate({k: v for k, v in params.items() if k in known})
    except ValueError as err:
        raise InputError(f"rewards.params: {str(err).splitlines()[0]} {str(err).splitlines()[-1].strip()}",
                         field="rewards.params") from None
    out = {**params, **typed.model_dump()}
    if "default_reputation" not in params:  # unset: allocate's newcomer prior (lowest known standing) decides
        out.pop("default_reputation")
    return out


def semantic_similarity(frame: pl.DataFrame, *, embedder: Any = None) -> np.ndarray:
    """Cosine of the MiniLM embeddings of ``instruction + response`` between every pair of rows
    (the filters' shared :class:`~olkit.filters.embeddings.EmbeddingCache`, so each text is embedded
    once per process and read from the disk cache on re-runs).

    A re-worded answer, a one-word variant, or another's answer under a re-worded question keeps
    the meaning and stays >= 0.92; distinct items written from one template (other facts) mostly
    fall below it, but not all (``clusters`` in ``benchmarks/results/reward_attacks.json``).
    """
    from olkit.filters.embeddings import default_embedder

    emb = embedder if embedder is not None else default_embedder()
    text = (frame["instruction"].fill_null("") + " " + frame["response"].fill_null("")).to_list()
    vec = np.asarray(emb.embed(text), dtype=np.float64)
    norm = np.linalg.norm(vec, axis=1, keepdims=True)
    vec = vec / np.where(norm > 0, norm, 1.0)
    return vec @ vec.T


def near_duplicate_clusters(frame: pl.DataFrame, *, threshold: float | None = NEAR_DUP_THRESHOLD,
                            same_question: bool = False, semantic_threshold: float | None = None,
                            embedder: Any = None) -> pl.DataFrame:
    """``submission_id, cluster``: connected components of rows with TF-IDF cosine >= ``threshold``
    (``None``: no TF-IDF links), with MiniLM cosine of instruction + response >=
    ``semantic_threshold`` (``None``: no semantic links; :func:`semantic_similarity`) and, with
    ``same_question``, of rows answering the same question (equal instructions after lower-casing
    and dropping punctuation and extra spaces).

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
    if semantic_threshold is not None and frame.height > 1:
        from scipy.sparse import csr_matrix as _csr

        sem = semantic_similarity(frame, embedder=embedder) >= float(semantic_threshold)
        sim = sim + _csr(sem.astype(np.int32))
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


def centered(attribution: Any, how: str = "mean") -> Any:
    """Scores relative to the typical training item, per eval item (``s_ij - mean_i s_ij``, or the
    median with ``how="median"``).

    What every item does in common (learning the answer format, the end-of-sequence token) is
    nobody's contribution in particular: spam "helps" there as much as a good answer.  Paying only
    the part above the typical item keeps that common mode out of the payouts.  The median is the
    robust choice: padding with junk rows drags a mean down and so lifts every real item's centred
    score (small contributors most, relatively); it moves a median by a few ranks at most.
    """
    from dataclasses import replace

    if how not in ("mean", "median"):
        raise InputError(f"centring must be 'mean' or 'median', not {how!r}", field="rewards.params.center")
    scores = np.asarray(attribution.scores, dtype=np.float64)
    ref = np.median(scores, axis=0, keepdims=True) if how == "median" else scores.mean(axis=0, keepdims=True)
    return replace(attribution, scores=scores - ref)


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


def prepare_payout(attribution: Any, train_frame: pl.DataFrame, policy: Any = None) -> tuple[Any, pl.DataFrame, Any]:
    """The defences of :func:`contributor_payouts` before :func:`olkit.rewards.allocate`: the
    centred (and, with ``cluster_value="first"``, first-arrival) attribution, the near-duplicate
    clusters of ``train_frame``, and the resolved reward policy to allocate with."""
    from types import SimpleNamespace

    rewards = getattr(policy, "rewards", policy)
    params = payout_params(policy)
    if params["center"] != "none":
        attribution = centered(attribution, params["center"])
    tf, sem = params["near_dup_threshold"], params["semantic_threshold"]
    clusters = near_duplicate_clusters(train_frame, threshold=None if tf is None else float(tf),
                                       same_question=bool(params["pool_same_question"]),
                                       semantic_threshold=None if sem is None else float(sem))
    if params["cluster_value"] == "first":
        attribution = first_answer_scores(attribution, clusters)
    resolved = SimpleNamespace(rule="attribution", params=params,
                               noise_gate=getattr(rewards, "noise_gate", 0.05),
                               newcomer_prior=getattr(rewards, "newcomer_prior", None))
    return attribution, clusters, resolved


def contributor_payouts(ctx_or_adapter: Any, train_frame: pl.DataFrame, eval_frame: pl.DataFrame, budget: float,
                        policy: Any = None, *, reputation: Any = None, method: str | None = None,
                        attribution: Any = None) -> pl.DataFrame:
    """Pay ``budget`` to the contributors of the rows an adapter trained on.

    ``ctx_or_adapter`` is an adapter folder (``olkit.train`` or attribution layout; rows are
    restricted to its manifest's ``submission_ids``), a
    :class:`~olkit.attribution.base.ModelContext`, or ``None`` for model-free methods.  The method
    is ``method``, else ``policy.rewards.params["method"]``, else :data:`DEFAULT_PAYOUT_METHOD`;
    pass a ready ``attribution`` to skip attributing.  ``train_frame`` is in arrival order (or has
    ``created_at``): the first row of a near-duplicate cluster is its original.

    The defences (``policy.rewards.params``, typed in
    :class:`olkit.rewards_config.AttributionRewardParams`; :func:`payout_params`): scores are
    :func:`centered` on the median item; rows form near-duplicate clusters by TF-IDF *and* MiniLM
    similarity (:func:`near_duplicate_clusters`), so a re-worded copy -- of one's own item or of
    another's, under a re-worded question too -- joins its original; a cluster is worth its first
    arrival's value and only the first arrival is credited (a later copy of someone else's item
    earns nothing; your own copies share your one value); a cluster credited less than
    ``item_gate`` of all credited value, and a contributor below ``rewards.noise_gate``, are inside
    the noise band and earn nothing; then :func:`olkit.rewards.allocate` weights by reputation
    (newcomer prior for fresh identities) and pays the budget exactly.

    Returns one row per contributor: ``contributor_id, amount, share, value, reputation, gated,
    n_items, n_credited`` (``amount`` sums exactly to ``budget`` unless nothing had positive value;
    ``value`` is the credited attribution value before reputation; ``gated``: inside the noise band).

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

    params = payout_params(policy)
    name = method or params["method"]
    ctx = ctx_or_adapter
    if isinstance(ctx_or_adapter, str | Path):
        from olkit.attribution.adapters import load_context

        ctx, train_frame = load_context(ctx_or_adapter, train=train_frame)
    if attribution is None:
        attribution = make_method(name).attribute(ctx, train_frame, eval_frame)
    attribution, clusters, resolved = prepare_payout(attribution, train_frame, policy)
    pay = allocate(budget, attribution, reputation, resolved, clusters=clusters)
    return pay.rename({"payout": "amount"}).select(
        "contributor_id", "amount", "share", "value", "reputation", "gated", "n_items", "n_credited")
