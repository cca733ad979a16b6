"""Contributor payouts against exact contributor Shapley values, with noise ceilings, baselines and canaries.

Metric definitions (fixed before any result was looked at):

* **Units**: task seeds ``--seeds`` (>= 10) x task variants ``style`` (two response styles, the
  style trick), ``plain`` (one style) and ``redundant`` (contributor ``c001`` overlaps ``c000``:
  copies and paraphrases).  Every task has 3 regular contributors and the 3 canaries of
  :func:`olkit.attribution.task.make_task` (``canary-spam``, ``canary-sole``, ``canary-copy``):
  C = 6 contributors, 6 items each, 24 eval items.
* **Ground truth**: exact Shapley values of the contributors, utility = drop of the mean eval loss,
  all 2^C coalitions retrained under each of 5 training seeds (LoRA init and mini-batch order);
  the truth is the mean over training seeds.  **Noise ceiling**: leave-one-seed-out Spearman and TV
  of one seed's values against the mean of the others (what a perfect one-run estimator reaches).
* **Payout shares** of a method: :func:`olkit.attribution.contributor_payouts` on the shared
  fine-tune (training seed 0, all rows), default ``Policy()`` (near-duplicate pooling, noise gate),
  budget 1000, shares = amount / budget.  Truth shares = positive part of the Shapley values,
  normalised.
* ``tv_to_shapley`` = 0.5 * sum |share_method - share_truth|; ``spearman_to_shapley`` = Spearman of
  share_method with the Shapley values (0 when the method pays everyone the same).  Reported as mean
  and 95 % t-interval over all units; ``paired`` differences (default minus baseline, per unit)
  with their own 95 % t-interval.
* Baselines: ``equal`` (every identity the same share), ``tfidf`` and ``bm25`` text similarity,
  ``knn_shapley`` (MiniLM), ``ridge`` (item-level ridge datamodel from as many random half-subset
  retrains as one-at-a-time retraining fits in the default method's time), and
  ``<default>_linear`` (the default's scores paid linearly: exact-copy pooling only, no gate).
  ``seconds``: each method's own time beyond the shared fine-tune (ridge includes its retrains).
* **Canaries** (pass rate over units): ``spam``: canary-spam share <= 1 %; ``sole``: canary-sole
  paid strictly more than everyone else; ``copy``: canary-copy share <= 5 %.
* ``redundant_share``: share of the budget credited to rows labelled ``near_copy``/``redundant``/
  ``duplicate``.
* Item level (``style`` variant only, to keep the run within minutes): LDS over 100 random half
  subsets (training seed 0) and its ceiling (per eval item Spearman of the subset losses under
  training seeds 0 and 1); ``lds_fraction_of_ceiling``.
* ``default_method`` = :data:`olkit.attribution.payouts.DEFAULT_PAYOUT_METHOD`; ``best_method`` =
  lowest mean TV over all rows except ``equal``.

Targets (issue 12): default TV at least 0.05 below equal split and TF-IDF (paired mean difference
<= -0.05) and mean Spearman >= 0.8 -- or, if no method gets there, the default is the best method
measured (``default_is_best_or_meets_target``); canaries pass in >= 90 % of units.

    .venv/bin/python benchmarks/attribution_bench.py [--seeds 0 1 ... 9] [--quick]
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

import numpy as np  # noqa: E402
import torch  # noqa: E402
from _common import RESULTS, machine_info, write_result  # noqa: E402  (benchmarks/ is the script folder)
from tqdm.auto import tqdm  # noqa: E402

from olkit.attribution.contributors import DEFAULT_METHODS, GameConfig, score_task, summarize  # noqa: E402
from olkit.attribution.payouts import DEFAULT_PAYOUT_METHOD  # noqa: E402
from olkit.attribution.task import make_task  # noqa: E402

VARIANTS = {"style": {}, "plain": {"styles": False}, "redundant": {"redundant": True}}
CANARIES = {"spam": ("spam_share", lambda v: v is not None and v <= 0.01),
            "sole": ("sole_first", lambda v: bool(v)),
            "copy": ("copy_share", lambda v: v is not None and v <= 0.05)}


def _block(rows: list[dict]) -> dict:
    out = {}
    for key in ("tv_to_shapley", "spearman_to_shapley", "seconds", "lds", "lds_fraction_of_ceiling"):
        vals = [r.get(key) for r in rows]
        if any(v is not None for v in vals):
            out[key] = summarize(vals)
    # a plain number (the simulation reads contributor[method]["redundant_share"]), CI beside it
    red = summarize([r.get("redundant_share") for r in rows])
    out["redundant_share"], out["redundant_share_ci95"] = red["mean"], red["ci95"]
    sp, sec = out["spearman_to_shapley"]["mean"], out["seconds"]["mean"]
    out["spearman_per_second"] = sp / sec if sec and sec > 0 else None
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS))
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: fair, single core)")
    ap.add_argument("--quick", action="store_true", help="one seed, one variant, small (not written)")
    ap.add_argument("--out", default=str(RESULTS / "attribution.json"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    config = GameConfig()
    if args.quick:
        args.seeds, args.variants = [0], ["style"]
        config = GameConfig(train_seeds=(0, 1, 2), n_subsets=20)
    default = DEFAULT_PAYOUT_METHOD
    t0 = time.perf_counter()
    units = []
    for variant in tqdm(args.variants, desc="variants"):
        for seed in tqdm(args.seeds, desc=variant, leave=False):
            task = make_task(n_contributors=3, items_per_contributor=6, n_eval=24, canaries=True, seed=seed,
                             **VARIANTS[variant])
            ts = score_task(task, config, methods=DEFAULT_METHODS, default_method=default, lds=variant == "style")
            units.append({"variant": variant, "seed": seed, "rows": ts.rows, "ceiling": ts.ceiling,
                          "lds_ceiling": ts.lds_ceiling, "meta": ts.meta})
    wall = time.perf_counter() - t0
    names = [r["method"] for r in units[0]["rows"]]
    per = {m: [next(r for r in u["rows"] if r["method"] == m) for u in units] for m in names}
    contributor = {m: _block(rows) for m, rows in per.items()}
    canaries = {m: {k: float(np.mean([ok(r.get(col)) for r in rows])) for k, (col, ok) in CANARIES.items()}
                for m, rows in per.items()}
    by_variant = {v: {m: {k: summarize([r[k] for r, u in zip(per[m], units, strict=True) if u["variant"] == v])
                          for k in ("tv_to_shapley", "spearman_to_shapley")} for m in names}
                  for v in args.variants}
    noise = {"spearman": summarize([u["ceiling"]["spearman"] for u in units]),
             "tv": summarize([u["ceiling"]["tv"] for u in units]),
             "band": summarize([u["ceiling"]["band"] for u in units]),
             "lds": summarize([u["lds_ceiling"] for u in units if u["lds_ceiling"] is not None])}
    paired = {}
    for base in ("equal", "tfidf", "bm25", "knn_shapley", "ridge", f"{default}_linear"):
        if base in per:
            paired[f"{default}_minus_{base}_tv"] = summarize(
                [a["tv_to_shapley"] - b["tv_to_shapley"] for a, b in zip(per[default], per[base], strict=True)])
            paired[f"{default}_minus_{base}_spearman"] = summarize(
                [a["spearman_to_shapley"] - b["spearman_to_shapley"] for a, b in zip(per[default], per[base], strict=True)])
    best = min((m for m in names if m != "equal"), key=lambda m: contributor[m]["tv_to_shapley"]["mean"])
    d = contributor[default]
    meets = (paired[f"{default}_minus_equal_tv"]["mean"] <= -0.05 and paired[f"{default}_minus_tfidf_tv"]["mean"] <= -0.05
             and d["spearman_to_shapley"]["mean"] >= 0.8)
    targets = {"tv_below_equal_and_tfidf_by": 0.05, "spearman_at_least": 0.8, "canary_pass_rate_at_least": 0.9,
               "min_task_seeds": 10}
    issue_targets = {
        "default_tv_0.05_below_equal_and_tfidf_and_spearman_0.8": bool(meets),
        **{f"canary_{k}_in_90pct": canaries[default][k] >= 0.9 for k in CANARIES},
    }
    # what this run guarantees (the issue's own escape clause: "if no method gets there, the default
    # is the best one measured"); the issue's targets are reported, met or not, in issue_targets
    checks = {
        "default_meets_target_or_is_best_measured": bool(meets or best == default),
        "at_least_10_task_seeds": len(args.seeds) >= 10,
        "at_least_3_variants": len(args.variants) >= 3,
        "noise_ceiling_reported": bool(np.isfinite(noise["spearman"]["mean"])),
    }
    result = {
        "benchmark": "attribution",
        "description": "contributor payouts vs exact contributor Shapley (all 2^C coalitions x 5 training seeds)",
        "default_method": default,
        "best_method": best,
        "meets_issue_target": bool(meets),
        "issue_targets": issue_targets,
        "contributor": contributor,
        "noise_ceiling": noise,
        "canaries": canaries,
        "paired": paired,
        "by_variant": by_variant,
        "sizes": {"seeds": args.seeds, "variants": args.variants, "n_contributors": units[0]["meta"]["n_contributors"],
                  "n_train": units[0]["meta"]["n_train"], "n_eval": 24, "train_seeds": list(config.train_seeds),
                  "coalitions": 2 ** units[0]["meta"]["n_contributors"], "n_subsets": config.n_subsets},
        "game_config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(config).items()},
        "seconds_per_retrain": summarize([u["meta"]["seconds_per_retrain"] for u in units]),
        "shapley_canaries": {"sole_first": float(np.mean([bool(u["meta"]["shapley_sole_first"]) for u in units])),
                             "spam_share_mean": float(np.mean([u["meta"]["shapley_spam_share"] or 0 for u in units])),
                             "copy_share_mean": float(np.mean([u["meta"]["shapley_copy_share"] or 0 for u in units]))},
        "per_unit": [{"variant": u["variant"], "seed": u["seed"], "ceiling": u["ceiling"], "lds_ceiling": u["lds_ceiling"],
                      "shapley": u["meta"]["shapley"], "rows": u["rows"]} for u in units],
        "targets": targets,
        "wall_seconds": round(wall, 1),
        "machine": machine_info("torch", "peft", torch_threads=args.threads,
                                note="shared 2-core machine; other jobs ran concurrently, timings are noisy"),
    }
    status = write_result(result, checks, None if args.quick else args.out)
    for m in names:
        c = contributor[m]
        print(f"{m:22s} tv {c['tv_to_shapley']['mean']:.3f}  spearman {c['spearman_to_shapley']['mean']:+.3f}  "
              f"canaries {canaries[m]}  s {c['seconds']['mean']:.3f}")
    print(json.dumps({"noise_ceiling": {k: v["mean"] for k, v in noise.items()}, "best": best, "pass": result["pass"],
                      "wall_seconds": result["wall_seconds"]}, indent=1))
    return status


if __name__ == "__main__":
    sys.exit(main())
