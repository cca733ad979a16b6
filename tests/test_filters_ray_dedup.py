"""Dedup scaled out over Ray finds the same pairs and makes the same decisions as the local filter.

A few hundred items with planted exact and near duplicates (documents and instruction items,
duplicates across shards, created_at ties and nulls) are shuffled into 4 Parquet shards; the Ray
path reads only the shards.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from olkit.filters.base import prepare_batch
from olkit.filters.config import FilterPolicy
from olkit.filters.dedup import DedupFilter, candidate_pairs, dedup_texts, near_clusters


def planted_corpus(seed: int = 7) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    vocab = [f"w{i}" for i in range(400)]

    def words(n: int) -> list[str]:
        return [vocab[i] for i in rng.integers(0, len(vocab), n)]

    rows: list[dict] = []
    for i in range(260):
        instr = " ".join(words(8)) if i % 3 == 0 else None
        rows.append({"text": None if instr else " ".join(words(int(rng.integers(12, 40)))),
                     "instruction": instr, "response": " ".join(words(25)) if instr else None})
    base = list(rows)
    for _ in range(60):  # near duplicates: a few words replaced
        src = dict(base[int(rng.integers(len(base)))])
        key = "text" if src["text"] else "response"
        w = src[key].split()
        for j in rng.integers(0, len(w), int(rng.integers(1, 3))):
            w[j] = vocab[int(rng.integers(len(vocab)))]
        src[key] = " ".join(w)
        if src["instruction"] and rng.random() < 0.3:  # same answer, another question: not a duplicate
            src["instruction"] = " ".join(words(8))
        rows.append(src)
    for _ in range(25):  # exact duplicates after normalisation
        src = dict(base[int(rng.integers(len(base)))])
        key = "text" if src["text"] else "response"
        src[key] = "  " + src[key].upper().replace(" ", "   ")
        rows.append(src)
    rows += [{"text": "", "instruction": None, "response": None}] * 3  # empty: never an exact duplicate
    frame = pl.DataFrame(rows, schema={"text": pl.String, "instruction": pl.String, "response": pl.String})
    n = frame.height
    t = rng.integers(0, n // 2, n).astype("int64") * 1_000_000  # ties in created_at
    created = pl.Series(t).cast(pl.Datetime("us", "UTC"))
    created = pl.Series([None if i % 17 == 0 else v for i, v in enumerate(created.to_list())],
                        dtype=pl.Datetime("us", "UTC"))
    return frame.with_columns(submission_id=pl.Series([f"s{rng.permutation(n)[i]:05d}x{i}" for i in range(n)]),
                              created_at=created).sample(fraction=1.0, shuffle=True, seed=seed)


@pytest.mark.ray
@pytest.mark.xdist_group("ray")
def test_ray_dedup_same_pairs_and_decisions_as_local(tmp_path):
    import ray

    from olkit.filters.ray_dedup import dedup_ray, ensure_ray

    corpus = planted_corpus()
    cuts = [0, 40, 170, 250, corpus.height]  # 4 uneven shards
    paths = []
    for s in range(4):
        paths.append(tmp_path / f"shard-{s}.parquet")
        corpus.slice(cuts[s], cuts[s + 1] - cuts[s]).write_parquet(paths[-1])

    batch = prepare_batch(corpus)
    f = DedupFilter()
    local = f.score(batch)
    # the local candidate pairs, by submission id
    keys, active = f.content_signatures(dedup_texts(batch)[0])
    lp = candidate_pairs(keys, active)
    sids = batch["submission_id"]
    local_pairs = set(zip(sids.gather(lp[:, 0]).to_list(), sids.gather(lp[:, 1]).to_list(), strict=True))

    started = not ray.is_initialized()
    ensure_ray(num_cpus=2, object_store_memory=400 * 1024 * 1024)
    try:
        res = dedup_ray(paths)
        # another partitioning, results written by the tasks: the same links
        written = dedup_ray(paths, n_partitions=3, out=tmp_path / "out")
    finally:
        if started:
            ray.shutdown()

    assert res.n_items == corpus.height
    assert set(zip(res.pairs["later"].to_list(), res.pairs["earlier"].to_list(), strict=True)) == local_pairs
    assert written.n_linked == res.links.height and written.n_pairs == res.pairs.height
    assert written.links.equals(res.links) and written.pairs.equals(res.pairs)
    got = res.scores(sids)
    assert got.equals(local)
    policy = FilterPolicy()
    want_dec, got_dec = f.decide(local, policy), f.decide(got, policy)
    assert want_dec.equals(got_dec)
    reasons = want_dec["reason_code"].value_counts()
    assert set(reasons["reason_code"].drop_nulls()) == {"dedup.exact", "dedup.near"}
    assert want_dec["reason_code"].is_not_null().sum() >= 60
    # representatives from the links alone agree with the local clusters
    clusters = res.clusters(policy.dedup.near_threshold)
    want = near_clusters(local, policy.dedup.near_threshold).filter(pl.col("submission_id") != pl.col("cluster"))
    assert clusters.filter(pl.col("submission_id") != pl.col("cluster")).sort("submission_id").equals(
        want.sort("submission_id"))
