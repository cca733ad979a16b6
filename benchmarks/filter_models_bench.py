"""Model filters: batched, bf16, cached scoring vs the one-item-at-a-time path, on the same items.

Items: responses of the sample datanet's held-out split and of the external set (other real text,
independently written corruptions), ``--per-class`` synthetic and as many genuine items of each,
seeded.  Every run here has the disk caches off, so each number is model work.

* **synthetic** (SmolLM2 features): ``one_at_a_time`` = float32, one item per forward pass (the
  path the issue measured); ``fp32_batched`` = the previous default (float32, 16 length-sorted items
  per pass); ``default`` = :class:`olkit.filters.synthetic.LMFeatureExtractor` as shipped (length
  buckets under a token budget, bfloat16 where the CPU computes it natively, ``OLKIT_BF16=0``
  forces float32).  Speed is timed on ``--speed-n`` items of the evaluation sets, interleaved (each
  chunk of at least 16 of them through every config in turn, so load changes hit all configs alike); AUROC
  of the shipped detector on the whole sets for ``fp32_batched`` and ``default`` (batch
  composition does not change an item's float32 features, which ``tests/test_filters_models.py``
  checks, so ``fp32_batched`` has the one-at-a-time path's AUROC).
* **relevance + quality** (MiniLM): one text per ``encode`` call vs :class:`EmbeddingCache`
  batches, on the same items.
* ``--models N``: the whole default pipeline with every model filter on ``N`` items of the sample
  datanet, time per layer (a second run with the caches warm shows what a policy change costs).

Metric definitions fixed before measuring: items/s = items / wall seconds of the scoring call;
AUROC = shipped detector probability vs ``label == "synthetic"``.  The reference machine is a
shared 2-core box: absolute rates move with the load (recorded), ratios compare runs of the same
process back to back.

Run::

    OMP_NUM_THREADS=2 nice -n 10 .venv/bin/python benchmarks/filter_models_bench.py --per-class 12 --speed-n 32 --models 40
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from _common import RESULTS, machine_info, write_result  # noqa: E402  (benchmarks/ is the script's folder)


def eval_sets(per_class: int, seed: int = 0) -> dict[str, pl.DataFrame]:
    from olkit.data.sample import external_eval_set, sample_stream

    def balanced(frame: pl.DataFrame, s: int) -> pl.DataFrame:
        frame = frame.filter(pl.col("response").fill_null("").str.strip_chars() != "")
        parts = [frame.filter(pl.col("label") == lab) for lab in ("synthetic", "genuine")]
        return pl.concat([p.sample(min(per_class, p.height), seed=s) for p in parts])

    stream = sample_stream(n_contributors=200, seed=seed)
    return {"heldout": balanced(stream.filter(pl.col("split") == "heldout"), seed + 1),
            "external": balanced(external_eval_set(seed=seed), seed + 2)}


def timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def bench_synthetic(sets: dict[str, pl.DataFrame], speed_n: int) -> dict:
    from olkit.embedded import smollm2_path
    from olkit.filters.metrics import auroc
    from olkit.filters.synthetic import LMFeatureExtractor, _load_lm, default_classifier, resolve_dtype

    clf = default_classifier()
    configs = {
        "one_at_a_time": LMFeatureExtractor(cache=False, show_progress=False, batch_size=1, dtype="float32"),
        "fp32_batched": LMFeatureExtractor(cache=False, show_progress=False, batch_size=16,
                                           max_batch_tokens=10**9, dtype="float32"),
        "default": LMFeatureExtractor(cache=False, show_progress=False),
    }
    both = pl.concat(list(sets.values()))
    speed = both.sample(min(speed_n, both.height), seed=7)
    out: dict = {"dtype_default": resolve_dtype("auto"), "speed_items": speed.height}
    for ex in configs.values():
        _load_lm(str(smollm2_path()), resolve_dtype(ex.dtype))
        ex.transform(["warm up"], ["A short warm-up answer."])
    # interleaved: every chunk of the speed items goes through every config back to back, so a load
    # change on the shared machine hits all configs alike instead of whichever ran at that time
    seconds = dict.fromkeys(configs, 0.0)
    for chunk in np.array_split(np.arange(speed.height), max(1, min(4, speed.height // 16))):
        part = speed[chunk.tolist()]
        for name, ex in configs.items():
            _, sec = timed(ex.transform, part["instruction"].to_list(), part["response"].to_list())
            seconds[name] += sec
    for name, ex in configs.items():
        out[f"{name}_items_per_s"] = speed.height / seconds[name]
        print(f"synthetic {name}: {speed.height / seconds[name]:.2f} items/s", flush=True)
        if name == "one_at_a_time":
            continue
        for set_name, frame in sets.items():
            feats = ex.transform(frame["instruction"].to_list(), frame["response"].to_list())
            p = clf.predict_proba(feats)
            y = (frame["label"] == "synthetic").to_numpy()
            out[f"{name}_{set_name}_auroc"] = auroc(y, p)
            out[f"{name}_{set_name}_recall_at_0.5"] = float(np.mean(p[y] >= 0.5))
            out[f"{name}_{set_name}_human_fpr_at_0.5"] = float(np.mean(p[~y] >= 0.5))
            print(f"  {set_name} AUROC {out[f'{name}_{set_name}_auroc']:.3f}", flush=True)
    out["speedup_vs_one_at_a_time"] = out["default_items_per_s"] / out["one_at_a_time_items_per_s"]
    out["speedup_vs_fp32_batched"] = out["default_items_per_s"] / out["fp32_batched_items_per_s"]
    return out


def bench_minilm(sets: dict[str, pl.DataFrame], speed_n: int) -> dict:
    from olkit.embedded import minilm_encoder
    from olkit.filters.embeddings import EmbeddingCache
    from olkit.filters.quality import QualityFilter
    from olkit.filters.relevance import RelevanceFilter

    both = pl.concat(list(sets.values())).with_columns(pl.col("source_id").alias("submission_id"))
    items = both.sample(min(4 * speed_n, both.height), seed=8)
    enc = minilm_encoder()

    class OneAtATime(EmbeddingCache):
        def _encode(self, texts):
            return np.concatenate([super(OneAtATime, self)._encode([t]) for t in texts])

    out: dict = {"minilm_items": items.height}
    for name, cache in (("one_at_a_time", OneAtATime(enc, show_progress=False, disk=False)),
                        ("default", EmbeddingCache(enc, show_progress=False, disk=False))):
        cache.embed(["warm up"])
        t0 = time.perf_counter()
        r = RelevanceFilter(embedder=cache).score(items)
        q = QualityFilter(embedder=cache).score(items)
        sec = time.perf_counter() - t0
        out[f"minilm_{name}_items_per_s"] = items.height / sec
        out[f"minilm_{name}_checksum"] = float(r["relevance.cosine"].fill_null(0).sum() + q["quality.score"].sum())
        print(f"relevance+quality {name}: {items.height / sec:.1f} items/s", flush=True)
    out["minilm_speedup"] = out["minilm_default_items_per_s"] / out["minilm_one_at_a_time_items_per_s"]
    return out


def bench_models_run(n: int) -> dict:
    import tempfile

    from olkit.data.sample import sample_stream
    from olkit.filters import Pipeline
    from olkit.filters.embeddings import EmbeddingCache
    from olkit.filters.quality import QualityFilter
    from olkit.filters.registry import default_filters
    from olkit.filters.relevance import RelevanceFilter
    from olkit.filters.synthetic import SyntheticFilter
    from olkit.policy import Policy

    frame = sample_stream(n_contributors=max(20, n // 5), seed=3).head(n)
    with tempfile.TemporaryDirectory(prefix="olkit-bench-") as tmp:
        from olkit.filters.synthetic import LMFeatureExtractor

        def pipeline():  # fresh instances on the same disk caches: what another process would do
            emb = EmbeddingCache(show_progress=False, disk=Path(tmp) / "emb")
            swap = {"synthetic": SyntheticFilter(extractor=LMFeatureExtractor(cache=Path(tmp) / "lm")),
                    "relevance": RelevanceFilter(embedder=emb), "quality": QualityFilter(embedder=emb)}
            return Pipeline([swap.get(f.name, f) for f in default_filters(models=True)])

        first, sec_first = timed(lambda: pipeline().run(frame, progress=True))
        strict = Policy().updated(**{"filters.quality.min_score": 0.4})
        second, sec_second = timed(lambda: pipeline().run(frame, policy=strict, progress=False))
    layers = first.stats.select("filter", "layer", "score_seconds").to_dicts()
    print(first.stats.select("filter", "score_seconds"), flush=True)
    return {"models_items": frame.height, "models_first_run_s": sec_first, "models_items_per_s": frame.height / sec_first,
            "models_seconds_per_filter": {d["filter"]: round(d["score_seconds"], 3) for d in layers},
            "models_rerun_other_policy_s": sec_second,
            "models_accept_rate": first.summary()["accept_rate"],
            "models_rerun_accept_rate": second.summary()["accept_rate"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--per-class", type=int, default=40)
    ap.add_argument("--speed-n", type=int, default=24)
    ap.add_argument("--models", type=int, default=0, help="items of the full --models pipeline run (0 = skip)")
    ap.add_argument("--out", default=str(RESULTS / "filter_models.json"))
    args = ap.parse_args(argv)
    sets = eval_sets(args.per_class)
    result: dict = {"benchmark": "filter_models", "per_class": args.per_class,
                    "sets": {k: v.height for k, v in sets.items()}, "seed": 0,
                    "omp_num_threads": os.environ.get("OMP_NUM_THREADS")}
    result.update(bench_synthetic(sets, args.speed_n))
    result.update(bench_minilm(sets, args.speed_n))
    if args.models:
        result.update(bench_models_run(args.models))
    result["machine"] = machine_info("torch", "transformers", "sentence-transformers")
    # issue 16 asks >= 5x over the one-at-a-time path; reported, not claimed: on the reference
    # machine batching + bf16 give 3-4x (the model body dominates), see README
    result["targets"] = {"synthetic_speedup_vs_one_at_a_time": {"target": 5.0,
                                                                 "measured": result["speedup_vs_one_at_a_time"],
                                                                 "met": result["speedup_vs_one_at_a_time"] >= 5.0}}
    checks = {
        "synthetic_default_faster_than_both_old_paths": (result["speedup_vs_one_at_a_time"] > 1.0
                                                         and result["speedup_vs_fp32_batched"] > 1.0),
        **{f"synthetic_auroc_equal_{s}": abs(result[f"default_{s}_auroc"] - result[f"fp32_batched_{s}_auroc"]) <= 0.01
           for s in sets},
        "minilm_batched_faster": result["minilm_speedup"] >= 1.0,
    }
    if args.models:
        checks["rerun_other_policy_no_model_work"] = (result["models_rerun_other_policy_s"]
                                                      < 0.2 * result["models_first_run_s"])
    return write_result(result, checks, args.out)


if __name__ == "__main__":
    raise SystemExit(main())
