"""Attribution methods vs brute-force leave-one-out retraining, on the same data, in one run.

For each seed: a task with injected spam / wrong answers (``olkit.attribution.task``), a tiny Llama
with LoRA trained on it (``olkit.attribution.lm``), ground truth by retraining on random 50 % subsets
and without each contributor, every attribution method timed on the trained adapter, and
leave-one-out retraining (one retrain per training item) as the brute-force reference.  Writes
``benchmarks/results/attribution.json`` with sizes, per-method LDS / LOCO / AUC / seconds (mean and
seed-to-seed std), the speed-up of each method over leave-one-out, targets and pass/fail.

    .venv/bin/python benchmarks/attribution_bench.py [--seeds 0 1 2] [--contributors 16] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402
from _common import RESULTS, machine_info, write_result  # noqa: E402  (benchmarks/ is the script folder)

from olkit.attribution.evaluate import DEFAULT_METHODS, TrainConfig, evaluate  # noqa: E402

GRADIENT = ("gradsim", "tracin", "tracin_adam", "datainf", "trak")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--contributors", type=int, default=6)
    ap.add_argument("--items", type=int, default=8, help="items per contributor")
    ap.add_argument("--eval", type=int, default=16, help="eval items")
    ap.add_argument("--subsets", type=int, default=24)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: fair, single core)")
    ap.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke run (not written)")
    ap.add_argument("--out", default=str(RESULTS / "attribution.json"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.quick:
        args.seeds, args.contributors, args.items, args.eval, args.subsets = [0], 4, 5, 6, 6
    task_kwargs = {"n_contributors": args.contributors, "items_per_contributor": args.items, "n_eval": args.eval}
    config = TrainConfig()
    t0 = time.perf_counter()
    report = evaluate(DEFAULT_METHODS, seeds=args.seeds, task_kwargs=task_kwargs, config=config,
                      n_subsets=args.subsets, loo=True, progress=True)
    table = report.table()
    wall = time.perf_counter() - t0
    rows = table.to_dicts()
    by = {r["method"]: r for r in rows}
    candidates = [r for r in rows if r["method"] not in ("loo_retrain",)]
    best = max(candidates, key=lambda r: r["lds_mean"])
    best_gradient = max((r for r in rows if r["method"] in GRADIENT), key=lambda r: r["lds_mean"])
    baseline = by.get("knn_shapley", {})
    best_auc = max(candidates, key=lambda r: r["bad_auc_mean"])
    targets = {
        "best_lds_at_least": 0.3,
        "best_beats_embedding_baseline": True,
        "bad_data_auc_at_least": 0.8,
        "best_speedup_vs_loo_at_least": 100.0,
    }
    checks = {
        "best_lds": best["lds_mean"] >= targets["best_lds_at_least"],
        "best_beats_embedding_baseline": best_gradient["lds_mean"] > baseline.get("lds_mean", float("inf")),
        "bad_data_auc": best_auc["bad_auc_mean"] >= targets["bad_data_auc_at_least"],
        "best_speedup": best["speedup_mean"] >= targets["best_speedup_vs_loo_at_least"],
    }
    result = {
        "benchmark": "attribution",
        "description": "attribution methods vs brute-force leave-one-out retraining (tiny Llama + LoRA)",
        "sizes": {"seeds": args.seeds, "n_train": int(report.runs["n_train"][0]), "n_eval": args.eval,
                  "n_contributors": args.contributors, "n_subsets": args.subsets, "subset_fraction": 0.5},
        "train_config": vars(config),
        "methods": rows,
        "per_seed": report.runs.to_dicts(),
        "best_method": best["method"],
        "best_gradient_method": best_gradient["method"],
        "best_auc_method": best_auc["method"],
        "embedding_baseline": "knn_shapley",
        "targets": targets,
        "wall_seconds": round(wall, 1),
        "machine": machine_info("torch", "peft", torch_threads=args.threads,
                                note="shared 2-core machine; other jobs ran concurrently"),
    }
    status = write_result(result, checks, None if args.quick else args.out)
    print(table)
    print(json.dumps({k: result[k] for k in ("best_method", "best_gradient_method", "pass", "wall_seconds")}, indent=1))
    return status


if __name__ == "__main__":
    sys.exit(main())
