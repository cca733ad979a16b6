"""MinHash LSH near-dedup: olkit (vectorised numpy over the batch) vs ``datasketch`` MinHashLSH.

Corpus: real English paragraphs (stdlib docstrings, language-reference topics, Debian descriptions)
recombined into documents; a share of documents are *planted near duplicates* of an earlier one
(a few words deleted, replaced or swapped; true word-3-shingle Jaccard recorded).

Same parameters on both sides: word 3-shingles (lower-cased ``\\w+`` tokens), 128 permutations,
32 bands x 4 rows, similarity threshold 0.6 on the MinHash estimate.

* olkit: :class:`olkit.filters.dedup.MinHashLSH` -- shingle hashing, signatures, banding and
  bucket grouping for the whole batch at once; each document keeps its most similar earlier
  candidate.
* datasketch: the documented usage -- ``MinHash.bulk`` over each document's shingles, then for each
  document in order ``lsh.query`` (earlier documents) and ``lsh.insert``; a candidate counts when its
  estimated Jaccard is >= the threshold.  Python shingling (datasketch takes shingles, not text)
  is timed separately: ``speedup`` is end to end (text in, pairs out, on both sides);
  ``speedup_minhash_lsh_only`` leaves datasketch's shingling out (the conservative ratio).

Quality: recall of the planted (duplicate -> original) pairs, where a pair counts as found when the
duplicate is flagged and lands in the same duplicate cluster as its original; plus how many
documents each tool flags.

Against HF datatrove, like for like (``datatrove_defaults`` in the JSON; ``--skip-datatrove`` leaves it
out): both sides at datatrove's defaults -- word 5-grams, 14 bands x 8 rows (112 hashes), seed 1, and
datatrove's rule that any band collision is a duplicate (no similarity check; olkit's threshold is set
to 0 for this run) -- on the same corpus.  datatrove runs its own three MinHash stages
(``MinhashDedupSignature`` in ``--workers`` processes, ``MinhashDedupBuckets`` for each of the 14
buckets, ``MinhashDedupCluster``; its xxhash64 shingle hash is given UTF-8 bytes, because datatrove
0.10 passes ``str`` and xxhash >= 4 refuses it) through its disk-based protocol in a temporary folder on the local
disk: its time *includes* writing and reading the signature, bucket and cluster files (the bytes are
reported), because that is how its stages exchange data; olkit holds everything in memory.  Times are
wall-clock and CPU seconds (datatrove's worker processes included).  Agreement: the documents each
side puts in a duplicate cluster (Jaccard of the two sets), same-cluster document pairs (Jaccard of
the two pair sets, from the cluster contingency table), documents removed (datatrove keeps one per
cluster by union-by-size; olkit keeps the earliest) and recall of the planted pairs.

Run::

    nice -n 10 .venv/bin/python benchmarks/minhash_bench.py --docs 50000

Writes ``benchmarks/results/minhash.json``.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import shutil
import struct
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from _common import RESULTS, machine_info, write_result  # noqa: E402

NUM_PERM, BANDS, ROWS, K, THRESHOLD, SEED = 128, 32, 4, 3, 0.6, 1
_TOKEN = re.compile(r"[^\W]+")


def make_corpus(n_docs: int, dup_share: float, seed: int) -> tuple[list[str], np.ndarray]:
    from heuristics_bench import paragraphs

    paras = paragraphs()
    rng = np.random.default_rng(seed)
    docs: list[str] = []
    source = np.full(n_docs, -1, dtype=np.int64)
    for i in range(n_docs):
        if i > 10 and rng.random() < dup_share:
            j = int(rng.integers(0, i))
            words = docs[j].split(" ")
            for _ in range(max(1, len(words) // 40)):
                op, pos = rng.integers(3), int(rng.integers(0, len(words)))
                if op == 0 and len(words) > 5:
                    del words[pos]
                elif op == 1:
                    words[pos] = ("also", "often", "then", "usually", "simply")[int(rng.integers(5))]
                else:
                    q = min(pos + 1, len(words) - 1)
                    words[pos], words[q] = words[q], words[pos]
            docs.append(" ".join(words))
            source[i] = j
        else:
            k = int(rng.integers(2, 6))
            docs.append("\n\n".join(paras[int(x)] for x in rng.integers(0, len(paras), k)))
    return docs, source


def shingles_py(text: str) -> list[bytes]:
    toks = _TOKEN.findall(text.lower())
    if len(toks) < K:
        return [" ".join(toks).encode()] if toks else []
    return list({" ".join(toks[i: i + K]).encode() for i in range(len(toks) - K + 1)})


def true_jaccard(a: str, b: str) -> float:
    sa, sb = set(shingles_py(a)), set(shingles_py(b))
    return len(sa & sb) / max(len(sa | sb), 1)


def clusters(n: int, pairs: np.ndarray) -> np.ndarray:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if len(pairs) == 0:
        return np.arange(n)
    g = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    return connected_components(g, directed=False)[1]


def run_olkit(docs: list[str]) -> tuple[float, np.ndarray]:
    from olkit.filters.dedup import MinHashLSH

    lsh = MinHashLSH(num_perm=NUM_PERM, bands=BANDS, rows=ROWS, shingle="word", shingle_size=K, seed=SEED)
    texts = pl.Series(docs)
    t0 = time.perf_counter()
    best_sim, best_of = lsh.near_duplicates(texts)
    elapsed = time.perf_counter() - t0
    keep = (best_of >= 0) & (best_sim >= THRESHOLD)
    pairs = np.stack([np.flatnonzero(keep), best_of[keep]], axis=1)
    return elapsed, pairs


def run_datasketch(docs: list[str]) -> tuple[float, float, np.ndarray]:
    from datasketch import MinHash, MinHashLSH

    t0 = time.perf_counter()
    sh = [shingles_py(d) for d in docs]
    shingle_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    mhs = MinHash.bulk(sh, num_perm=NUM_PERM, seed=SEED)
    lsh = MinHashLSH(num_perm=NUM_PERM, params=(BANDS, ROWS))
    found = []
    for i, m in enumerate(mhs):
        if not sh[i]:
            continue
        for j in lsh.query(m):
            if m.jaccard(mhs[j]) >= THRESHOLD:
                found.append((i, j))
        lsh.insert(i, m)
    elapsed = time.perf_counter() - t0
    return elapsed, shingle_s, np.array(found, dtype=np.int64).reshape(-1, 2)


DT_BANDS, DT_ROWS, DT_K = 14, 8, 5


def _cpu_all() -> float:
    """CPU seconds of this process and its finished children."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def run_olkit_datatrove_defaults(docs: list[str], seed: int = SEED) -> tuple[float, float, np.ndarray]:
    """olkit's MinHash LSH at datatrove's defaults; every band collision is a duplicate (threshold 0)."""
    from olkit.filters.dedup import MinHashLSH

    lsh = MinHashLSH(num_perm=DT_BANDS * DT_ROWS, bands=DT_BANDS, rows=DT_ROWS, shingle="word",
                     shingle_size=DT_K, seed=seed)
    texts = pl.Series(docs)
    c0, t0 = _cpu_all(), time.perf_counter()
    _, best_of = lsh.near_duplicates(texts)
    elapsed, cpu = time.perf_counter() - t0, _cpu_all() - c0
    keep = best_of >= 0
    return elapsed, cpu, np.stack([np.flatnonzero(keep), best_of[keep]], axis=1)


def _dt_signature(args: tuple[str, list[str], int, int]) -> None:
    from datatrove.data import Document
    from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupSignature

    folder, docs, rank, world = args
    stage = MinhashDedupSignature(output_folder=folder, config=MinhashConfig())
    if stage.config.hash_config.hash_fc == "xxhash":
        import xxhash

        # datatrove 0.10 passes str to xxhash, which xxhash >= 4 refuses; the same hash of the UTF-8 bytes
        stage._hash_func = lambda text: xxhash.xxh64_intdigest(text.encode("utf-8"))
    stage.run((Document(text=t, id=str(i)) for i, t in enumerate(docs)), rank=rank, world_size=world)


def _dt_buckets(args: tuple[str, str, int]) -> None:
    from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupBuckets

    sigs, out, rank = args
    MinhashDedupBuckets(input_folder=sigs, output_folder=out, config=MinhashConfig()).run(rank=rank, world_size=DT_BANDS)


def run_datatrove_minhash(docs: list[str], workers: int) -> dict:
    """datatrove's own stages (signature, buckets, cluster) on ``docs``; worker r gets ``docs[r::workers]``."""
    from multiprocessing import get_context

    from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupCluster

    cfg = MinhashConfig()
    assert (cfg.n_grams, cfg.num_buckets, cfg.hashes_per_bucket, cfg.seed) == (DT_K, DT_BANDS, DT_ROWS, SEED)
    _dt_signature((tempfile.mkdtemp(prefix="olkit-dt-warm-"), docs[:5], 0, 1))  # load spaCy outside the timing
    work = Path(tempfile.mkdtemp(prefix="olkit-dt-minhash-"))
    stages: dict[str, dict] = {}
    try:
        ctx = get_context("fork")
        c0, t0 = _cpu_all(), time.perf_counter()
        with ctx.Pool(workers) as pool:  # a pool per stage: its workers' CPU is counted when they exit
            pool.map(_dt_signature, [(str(work / "sigs"), docs[r::workers], r, workers) for r in range(workers)])
            pool.close()
            pool.join()
        stages["signature"] = {"seconds": time.perf_counter() - t0, "cpu_seconds": _cpu_all() - c0}
        c1, t1 = _cpu_all(), time.perf_counter()
        with ctx.Pool(workers) as pool:
            pool.map(_dt_buckets, [(str(work / "sigs"), str(work / "buckets"), r) for r in range(DT_BANDS)])
            pool.close()
            pool.join()
        stages["buckets"] = {"seconds": time.perf_counter() - t1, "cpu_seconds": _cpu_all() - c1}
        c2, t2 = _cpu_all(), time.perf_counter()
        MinhashDedupCluster(input_folder=str(work / "buckets"), output_folder=str(work / "remove"), config=cfg,
                            save_cluster_id=True).run(world_size=1)
        stages["cluster"] = {"seconds": time.perf_counter() - t2, "cpu_seconds": _cpu_all() - c2}
        total_s, total_cpu = time.perf_counter() - t0, _cpu_all() - c0
        disk = {sub: sum(f.stat().st_size for f in (work / sub).rglob("*") if f.is_file())
                for sub in ("sigs", "buckets", "remove")}
        # back to corpus indices: file r, doc d -> docs[r + workers * d]
        removed, cluster_of = [], {}
        for r in range(workers):
            rm = work / "remove" / f"{r:06d}.remove"
            if rm.exists():
                removed += [r + workers * d for (d,) in struct.iter_unpack("<I", rm.read_bytes())]
            cl = work / "remove" / f"{r:06d}.clusters"
            if cl.exists():
                for d, c in struct.iter_unpack("<2I", cl.read_bytes()):
                    cluster_of[r + workers * d] = c
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"seconds": total_s, "cpu_seconds": total_cpu, "stages": stages, "disk_bytes_written": disk,
            "removed": np.array(sorted(removed), dtype=np.int64), "cluster_of": cluster_of}


def _labels_from_pairs(n: int, pairs: np.ndarray) -> np.ndarray:
    return clusters(n, pairs)


def partition_agreement(a: np.ndarray, b: np.ndarray) -> dict:
    """Agreement of two clusterings given as per-document labels (singletons: unique labels)."""
    def in_cluster(lab: np.ndarray) -> np.ndarray:
        _, inv, cnt = np.unique(lab, return_inverse=True, return_counts=True)
        return cnt[inv] > 1

    ia, ib = in_cluster(a), in_cluster(b)
    both = ia | ib
    docs_jacc = float((ia & ib).sum() / max(both.sum(), 1))
    pairs = lambda x: float((x * (x - 1) // 2).sum())  # noqa: E731
    joint = pl.DataFrame({"a": a[both], "b": b[both]})
    n_ab = joint.group_by("a", "b").len()["len"].to_numpy().astype(np.int64)
    n_a = joint.group_by("a").len()["len"].to_numpy().astype(np.int64)
    n_b = joint.group_by("b").len()["len"].to_numpy().astype(np.int64)
    p_ab, p_a, p_b = pairs(n_ab), pairs(n_a), pairs(n_b)
    return {"clustered_docs_a": int(ia.sum()), "clustered_docs_b": int(ib.sum()),
            "clustered_docs_jaccard": round(docs_jacc, 4),
            "same_cluster_pairs_a": int(p_a), "same_cluster_pairs_b": int(p_b),
            "same_cluster_pairs_jaccard": round(p_ab / max(p_a + p_b - p_ab, 1), 4)}


def planted_in_cluster(labels: np.ndarray, source: np.ndarray) -> float:
    """Share of planted (duplicate, original) pairs whose two documents share a cluster (which one is
    kept does not matter: datatrove keeps the member of the larger union, olkit the earliest)."""
    planted = np.flatnonzero(source >= 0)
    return round(float(np.mean(labels[planted] == labels[source[planted]])), 4) if len(planted) else 0.0


def compare_with_datatrove(docs: list[str], source: np.ndarray, workers: int) -> dict:
    n = len(docs)
    o_s, o_cpu, o_pairs = run_olkit_datatrove_defaults(docs)
    print(f"olkit at datatrove defaults: {o_s:.2f} s wall, {o_cpu:.2f} s CPU", flush=True)
    dt = run_datatrove_minhash(docs, workers)
    print(f"datatrove MinHash stages: {dt['seconds']:.2f} s wall, {dt['cpu_seconds']:.2f} s CPU", flush=True)
    dt_lab = np.arange(n, dtype=np.int64) + n  # singletons
    for d, c in dt["cluster_of"].items():
        dt_lab[d] = c
    o_lab = _labels_from_pairs(n, o_pairs)
    # datatrove's removed documents as (removed -> a kept member of its cluster) pairs, for planted recall
    keep_of = {}
    for d, c in sorted(dt["cluster_of"].items()):
        keep_of.setdefault(c, d)
    removed_set = set(dt["removed"].tolist())
    for d, c in dt["cluster_of"].items():
        if d not in removed_set:
            keep_of[c] = d
    dt_pairs = np.array([(d, keep_of[dt["cluster_of"][d]]) for d in dt["removed"].tolist()], dtype=np.int64).reshape(-1, 2)
    q_o, q_dt = quality(n, source, o_pairs), quality(n, source, dt_pairs)
    agree = partition_agreement(o_lab, dt_lab)
    # the noise floor of agreement: olkit against itself with other hash functions (seeds 2..4); LSH
    # decides borderline pairs by chance, so two correct implementations with different hash families
    # agree only this well
    floor = [partition_agreement(o_lab, _labels_from_pairs(n, run_olkit_datatrove_defaults(docs, seed)[2]))
             for seed in (2, 3, 4)]
    return {
        "parameters": {"shingles": f"word {DT_K}-grams (datatrove: simplify_text + spaCy tokens; olkit: "
                                   "lower-cased word tokens)", "bands": DT_BANDS, "rows": DT_ROWS,
                       "num_perm": DT_BANDS * DT_ROWS, "seed": SEED,
                       "rule": "any band collision is a duplicate (datatrove's; olkit threshold 0)"},
        "olkit": {"seconds": round(o_s, 3), "cpu_seconds": round(o_cpu, 3), "docs_per_s": round(n / o_s, 1),
                  "removed_docs": q_o["flagged_docs"], "planted_pairs_clustered": planted_in_cluster(o_lab, source),
                  "removed_not_planted": q_o["flagged_not_planted"]},
        "datatrove": {"seconds": round(dt["seconds"], 3), "cpu_seconds": round(dt["cpu_seconds"], 3),
                      "docs_per_s": round(n / dt["seconds"], 1), "workers": workers,
                      "stages": {k: {kk: round(vv, 3) for kk, vv in v.items()} for k, v in dt["stages"].items()},
                      "disk_bytes_written": dt["disk_bytes_written"],
                      "disk_io": "counted: signatures, bucket matches and cluster files written to and read "
                                 "from a temporary folder on the local disk, inside the timed span",
                      "removed_docs": int(len(dt["removed"])),
                      "planted_pairs_clustered": planted_in_cluster(dt_lab, source),
                      "removed_not_planted": q_dt["flagged_not_planted"]},
        "agreement": agree,
        "agreement_noise_floor_olkit_seeds_2_4": {
            k: [f[k] for f in floor] for k in ("clustered_docs_jaccard", "same_cluster_pairs_jaccard")},
        "speedup_wall": round(dt["seconds"] / o_s, 2),
        "speedup_cpu": round(dt["cpu_seconds"] / o_cpu, 2),
    }


def quality(n: int, source: np.ndarray, pairs: np.ndarray) -> dict:
    planted = np.flatnonzero(source >= 0)
    comp = clusters(n, pairs)
    flagged = np.zeros(n, dtype=bool)
    flagged[pairs[:, 0]] = True
    hit = flagged[planted] & (comp[planted] == comp[source[planted]])
    return {"pairs": int(len(pairs)), "flagged_docs": int(flagged.sum()),
            "planted_recall": round(float(hit.mean()) if len(planted) else 0.0, 4),
            "flagged_not_planted": int((flagged & (source < 0)).sum())}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=50_000)
    ap.add_argument("--dup-share", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2, help="datatrove worker processes")
    ap.add_argument("--skip-datatrove", action="store_true", help="leave out the datatrove comparison")
    ap.add_argument("--out", default=str(RESULTS / "minhash.json"))
    args = ap.parse_args(argv)

    docs, source = make_corpus(args.docs, args.dup_share, args.seed)
    planted = np.flatnonzero(source >= 0)
    rng = np.random.default_rng(1)
    check = rng.choice(planted, size=min(300, len(planted)), replace=False)
    jac = np.array([true_jaccard(docs[i], docs[source[i]]) for i in check])
    print(f"{len(docs)} documents, {len(planted)} planted near duplicates "
          f"(true Jaccard median {np.median(jac):.2f}, 5th pct {np.percentile(jac, 5):.2f})", flush=True)
    ours_s, ours_pairs = run_olkit(docs)
    print(f"olkit: {ours_s:.2f} s", flush=True)
    ds_s, ds_shingle_s, ds_pairs = run_datasketch(docs)
    print(f"datasketch: {ds_s:.2f} s (+ {ds_shingle_s:.2f} s Python shingling)", flush=True)
    q_ours, q_ds = quality(len(docs), source, ours_pairs), quality(len(docs), source, ds_pairs)
    ours_flag = set(ours_pairs[:, 0].tolist())
    ds_flag = set(ds_pairs[:, 0].tolist())
    result = {
        "benchmark": "MinHash LSH near-duplicate detection",
        "documents": len(docs), "planted_near_duplicates": int(len(planted)),
        "planted_true_jaccard": {"median": round(float(np.median(jac)), 3),
                                 "p05": round(float(np.percentile(jac, 5)), 3)},
        "parameters": {"shingles": f"word {K}-grams", "num_perm": NUM_PERM, "bands": BANDS, "rows": ROWS,
                       "threshold": THRESHOLD, "seed": SEED},
        "olkit": {"seconds": round(ours_s, 3), "docs_per_s": round(len(docs) / ours_s, 1), **q_ours},
        "datasketch": {"seconds": round(ds_s, 3), "python_shingling_seconds_not_counted": round(ds_shingle_s, 3),
                       "docs_per_s": round(len(docs) / ds_s, 1), **q_ds},
        "speedup": round((ds_s + ds_shingle_s) / ours_s, 2),
        "speedup_minhash_lsh_only": round(ds_s / ours_s, 2),
        "target_speedup": 5.0,
        "recall_difference_points": round(100 * (q_ours["planted_recall"] - q_ds["planted_recall"]), 2),
        "flagged_docs_jaccard_between_tools": round(len(ours_flag & ds_flag) / max(len(ours_flag | ds_flag), 1), 4),
        "machine": machine_info("numpy", "polars", "datasketch"),
    }
    checks = {"speedup": result["speedup"] >= 5.0,
              "recall_within_2_points": abs(result["recall_difference_points"]) <= 2.0}
    if not args.skip_datatrove:
        dtc = compare_with_datatrove(docs, source, args.workers)
        result["datatrove_defaults"] = dtc
        result["machine"]["versions"]["datatrove"] = machine_info("datatrove")["versions"]["datatrove"]
        # like for like: the same planted pairs found (within 3 points) and agreement with datatrove no
        # worse than olkit's agreement with itself under other hash functions (minus 0.05); the speed
        # ratio is reported, not gated
        checks["datatrove_planted_within_3_points"] = abs(
            dtc["olkit"]["planted_pairs_clustered"] - dtc["datatrove"]["planted_pairs_clustered"]) <= 0.03
        checks["datatrove_agreement_at_noise_floor"] = dtc["agreement"]["clustered_docs_jaccard"] >= min(
            dtc["agreement_noise_floor_olkit_seeds_2_4"]["clustered_docs_jaccard"]) - 0.05
    status = write_result(result, checks, args.out)
    print(json.dumps(result, indent=2))
    return status


if __name__ == "__main__":
    sys.exit(main())
