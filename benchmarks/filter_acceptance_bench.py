"""The whole filter pipeline with every model filter on, against ground truth (issue 3's acceptance).

Two labelled sets: the sample datanet's held-out split and the external set (Python language
reference + Debian package descriptions, corruptions written separately, never tuned on).  Every
layer on (format, PII, heuristics, spam, language, exact + near dedup, MiniLM relevance and learned
quality, SmolLM2 synthetic-text detector), default policy, shipped models, the LM feature and
embedding disk caches as a user has them (``--cold`` points them at an empty folder).

The bounds (:data:`olkit.filters.evaluate.ACCEPTANCE_BOUNDS`): F1 of rejecting exact duplicates
>= 0.95, near duplicates / spam / low effort >= 0.9, false rejection of genuine items <= 10%,
synthetic AUROC >= 0.85.  ``tests/test_filters_models.py`` asserts the same bounds on small sets.

Run::

    OMP_NUM_THREADS=2 nice -n 10 .venv/bin/python benchmarks/filter_acceptance_bench.py --n-contributors 200 --external-items 1000

Writes ``benchmarks/results/filter_acceptance.json`` (sizes, metrics per set, seconds per filter).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from _common import RESULTS, machine_info, write_result  # noqa: E402  (benchmarks/ is the script's folder)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n-contributors", type=int, default=200, help="sample datanet size (held-out split used)")
    ap.add_argument("--external-items", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cold", action="store_true", help="empty disk caches (every item scored by the models)")
    ap.add_argument("--out", default=str(RESULTS / "filter_acceptance.json"))
    args = ap.parse_args(argv)

    from olkit.data import external_eval_set, sample_stream
    from olkit.filters import Pipeline
    from olkit.filters.embeddings import EmbeddingCache
    from olkit.filters.evaluate import ACCEPTANCE_BOUNDS, acceptance_metrics
    from olkit.filters.quality import QualityFilter
    from olkit.filters.registry import default_filters
    from olkit.filters.relevance import RelevanceFilter
    from olkit.filters.synthetic import LMFeatureExtractor, SyntheticFilter, resolve_dtype

    tmp = Path(tempfile.mkdtemp(prefix="olkit-acceptance-")) if args.cold else None
    emb = EmbeddingCache(disk=tmp / "emb" if tmp else None)
    ex = LMFeatureExtractor(cache=tmp / "lm" if tmp else True)
    swap = {"synthetic": SyntheticFilter(extractor=ex), "relevance": RelevanceFilter(embedder=emb),
            "quality": QualityFilter(embedder=emb)}
    filters = [swap.get(f.name, f) for f in default_filters(models=True)]
    sets = {"heldout": sample_stream(n_contributors=args.n_contributors, seed=args.seed)
            .filter(pl.col("split") == "heldout"),
            "external": external_eval_set(seed=args.seed, n_items=args.external_items)}
    result: dict = {"benchmark": "filter_acceptance", "seed": args.seed, "n_contributors": args.n_contributors,
                    "external_items": args.external_items, "cold_caches": args.cold,
                    "lm_dtype": resolve_dtype(ex.dtype), "bounds": ACCEPTANCE_BOUNDS}
    checks = {}
    for name, frame in sets.items():
        t0 = time.perf_counter()
        res = Pipeline(filters).run(frame, progress=True)
        sec = time.perf_counter() - t0
        m = acceptance_metrics(res.decisions)
        for k, ok in m.pop("checks").items():
            checks[f"{name}.{k}"] = ok
        m.update(items=frame.height, seconds=round(sec, 1),
                 seconds_per_filter={r["filter"]: round(r["score_seconds"], 2) for r in res.stats.to_dicts()})
        result[name] = m
        print(name, m, flush=True)
    result["lm_items_computed"] = ex.n_computed
    result["machine"] = machine_info("torch", "transformers", "sentence-transformers")
    return write_result(result, checks, args.out)


if __name__ == "__main__":
    raise SystemExit(main())
