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

Run::

    nice -n 10 .venv/bin/python benchmarks/minhash_bench.py --docs 50000

Writes ``benchmarks/results/minhash.json``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
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
    status = write_result(result, checks, args.out)
    print(json.dumps(result, indent=2))
    return status


if __name__ == "__main__":
    sys.exit(main())
