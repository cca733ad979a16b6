"""Synthetic-text detection with a threshold set by a human false-positive rate, on sources it never saw.

Sets (:mod:`olkit.data.synthetic_eval`): human text of six real genres (Python FAQ, Python docs,
stdlib docstrings, Debian package descriptions, READMEs/NEWS/changelogs, fortunes) and six SmolLM2
machine sets that are not greedy output (sampled at T=0.7 / T=1.0 top-p 0.9 / T=1.0, paraphrases,
"polishings" of human answers, human opening + machine continuation).  Protocol, fixed before
looking at results:

* **False rejection per human source, leave-source-out**: for each source, the detector recipe
  (:func:`olkit.filters.synthetic.fit_features_by_fpr`) is refitted *without that source* and its
  threshold set at the policy's ``target_fpr`` from the other sources; the FPR is measured on the
  left-out source (bootstrap 95% CI over its items).  The same is done for the baselines.
* **Recall per machine set** at the policy FPR: the shipped recipe (all six human sources, machine
  fold 0) on machine fold 1, and the same recipe fitted on fold 1 on fold 0 (cross-fitting: every
  machine item is scored by a model that did not see it; bootstrap 95% CI).
* **AUROC per machine set**: cross-fitted machine scores vs the leave-source-out human scores.
* False rejection per human source with **every model filter on** is
  ``benchmarks/filter_sources_bench.py`` (``filter_sources.json``).

Baselines on the same items: the previous detector (``benchmarks/baselines/synthetic_detector_v1.json``,
fitted on the sample datanet's SmolLM2 answers only, batch `sample`, T=0.7 top-p 0.9) at its old policy threshold (prob >= 0.5) and with the same
FPR calibration; the mean log-likelihood alone (the cheap baseline) and the Fast-DetectGPT
analytic curvature alone, both with the same leave-source-out FPR calibration.

Targets (issue 16): recall >= 0.8 at the policy FPR on every machine set.

Run::

    OMP_NUM_THREADS=2 nice -n 10 .venv/bin/python benchmarks/synthetic_bench.py

Writes ``benchmarks/results/synthetic.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from _common import RESULTS, machine_info, write_result  # noqa: E402  (benchmarks/ is the script's folder)

BASELINE_MODEL = ROOT / "benchmarks" / "baselines" / "synthetic_detector_v1.json"


def boot_ci(flags: np.ndarray, rng: np.random.Generator, reps: int) -> list[float]:
    """Bootstrap 95% interval of the mean of 0/1 ``flags``."""
    flags = np.asarray(flags, dtype=np.float64)
    if len(flags) == 0:
        return [float("nan"), float("nan")]
    means = flags[rng.integers(0, len(flags), size=(reps, len(flags)))].mean(axis=1)
    return [round(float(np.quantile(means, 0.025)), 4), round(float(np.quantile(means, 0.975)), 4)]


def rate(flags: np.ndarray, rng: np.random.Generator, reps: int) -> dict:
    flags = np.asarray(flags, dtype=bool)
    return {"rate": round(float(flags.mean()), 4), "ci95": boot_ci(flags, rng, reps), "n": int(len(flags))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n-human", type=int, default=100, help="human items per source")
    ap.add_argument("--n-machine", type=int, default=40, help="machine items per set (half evaluated)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--boot", type=int, default=2000)
    ap.add_argument("--out", default=str(RESULTS / "synthetic.json"))
    args = ap.parse_args(argv)

    from olkit.data.synthetic_eval import detector_training_sets, machine_texts
    from olkit.filters.config import FilterPolicy
    from olkit.filters.metrics import auroc
    from olkit.filters.synthetic import (
        FEATURES,
        LMFeatureExtractor,
        SyntheticTextClassifier,
        fit_features_by_fpr,
        resolve_dtype,
    )

    t_start = time.process_time()
    policy = FilterPolicy()
    target = policy.synthetic.target_fpr
    rng = np.random.default_rng(args.seed)
    sets = detector_training_sets(seed=args.seed, n_human_per_source=args.n_human, n_machine_per_set=args.n_machine)
    human, machine_fit, extra = sets["human"], sets["machine"], sets["extra_human"]
    machine_eval = machine_texts(n_per_set=args.n_machine, seed=args.seed)  # both folds, cross-fitted below
    n_fold0 = machine_eval.filter(pl.col("fold") == 0).height  # machine_fit = fold 0 + the sample's answers
    ex = LMFeatureExtractor()

    def feats(frame: pl.DataFrame) -> np.ndarray:
        return ex.transform(frame["instruction"].to_list(), frame["response"].to_list()).to_numpy()

    hx, mx, xx, ev = feats(human), feats(machine_fit)[n_fold0:], feats(extra), feats(machine_eval)
    hok, mok, xok, eok = (np.isfinite(a).all(axis=1) for a in (hx, mx, xx, ev))
    human, hx = human.filter(pl.Series(hok)), hx[hok]
    machine_eval, ev = machine_eval.filter(pl.Series(eok)), ev[eok]
    mx, xx = mx[mok], xx[xok]
    src = human["source"].to_numpy()
    sources = sorted(set(src.tolist()))
    msets = sorted(machine_eval["source"].unique().to_list())
    mset = machine_eval["source"].to_numpy()
    fold = machine_eval["fold"].to_numpy()

    # ---- the shipped recipe (fitted on fold 0), cross-fitted: each fold scored by the model fitted on
    # the other (with the sample datanet's answers), so every machine item is held out once
    m_dec = np.full(len(ev), np.nan)
    m_flag = np.zeros(len(ev), dtype=bool)
    models = {}
    for f in (0, 1):
        model = models[f] = fit_features_by_fpr(hx, src, np.vstack([ev[fold == f], mx]), extra_human=xx, seed=args.seed)
        m_dec[fold != f] = model.decision_function(ev[fold != f])
        m_flag[fold != f] = model.human_fpr(m_dec[fold != f]) <= target
    shipped, mx = models[0], np.vstack([ev[fold == 0], mx])  # the shipped recipe (for the LOSO refits)
    loso_dec = np.full(len(hx), np.nan)
    loso_flag = np.zeros(len(hx), dtype=bool)
    for s in sources:
        inside = src == s
        model = fit_features_by_fpr(hx[~inside], src[~inside], mx, extra_human=xx, seed=args.seed)
        loso_dec[inside] = model.decision_function(hx[inside])
        loso_flag[inside] = model.human_fpr(loso_dec[inside]) <= target

    def report(m_score: np.ndarray, m_pred: np.ndarray, h_score: np.ndarray, h_pred: np.ndarray) -> dict:
        return {"recall": {k: rate(m_pred[mset == k], rng, args.boot) for k in msets},
                "fpr": {k: rate(h_pred[src == k], rng, args.boot) for k in sources},
                "auroc": {k: round(auroc(np.r_[np.zeros(len(h_score)), np.ones(int((mset == k).sum()))],
                                         np.r_[h_score, m_score[mset == k]]), 4) for k in msets}}

    def loso_threshold_score(h_score: np.ndarray, m_score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A raw score (higher = machine) thresholded by the same leave-source-out FPR calibration."""
        cal = SyntheticTextClassifier().calibrate_fpr({s: h_score[src == s] for s in sources})
        m_pred = cal.human_fpr(m_score) <= target
        h_pred = np.zeros(len(h_score), dtype=bool)
        for s in sources:
            inside = src == s
            other = SyntheticTextClassifier().calibrate_fpr({o: h_score[src == o] for o in sources if o != s})
            h_pred[inside] = other.human_fpr(h_score[inside]) <= target
        return m_pred, h_pred

    methods = {"fpr_calibrated_detector (shipped recipe)": report(m_dec, m_flag, loso_dec, loso_flag)}
    col = {f: i for i, f in enumerate(FEATURES)}
    for name, j in (("mean_loglik_only (cheap baseline)", col["mean_logprob"]),
                    ("fast_detectgpt_curvature_only (zero-shot)", col["curvature"])):
        m_pred, h_pred = loso_threshold_score(hx[:, j], ev[:, j])
        methods[name] = report(ev[:, j], m_pred, hx[:, j], h_pred)
    old = SyntheticTextClassifier.load(BASELINE_MODEL)
    old_h, old_m = old.predict_proba(hx), old.predict_proba(ev)
    methods["old_detector_at_prob_0.5 (baseline)"] = report(old_m, old_m >= 0.5, old_h, old_h >= 0.5)
    m_pred, h_pred = loso_threshold_score(old_h, old_m)
    methods["old_detector_fpr_calibrated"] = report(old_m, m_pred, old_h, h_pred)

    best = methods["fpr_calibrated_detector (shipped recipe)"]
    # the targets, recorded met or not (never redefined); the checks are what this run guarantees
    targets = {f"recall>=0.8.{k}": {"target": 0.8, "measured": v["rate"], "met": bool(v["rate"] >= 0.8)}
               for k, v in best["recall"].items()}
    checks = {"every_machine_set_scored": all(int((mset == k).sum()) > 0 for k in msets),
              "every_human_source_scored_leave_source_out": all(int((src == s).sum()) > 0 for s in sources),
              "shipped_detector_fpr_within_2x_target_pooled":
                  bool(np.mean([v["rate"] for v in best["fpr"].values()]) <= 2 * target)}
    result = {
        "benchmark": "synthetic", "seed": args.seed, "target_fpr": target, "lm_dtype": resolve_dtype(ex.dtype),
        "sizes": {"human_per_source": {s: int((src == s).sum()) for s in sources},
                  "machine_eval_per_set": {k: int((mset == k).sum()) for k in msets},
                  "machine_fit_shipped_recipe": int(len(mx)), "extra_human_fit": int(len(xx))},
        "protocol": "FPR per human source: leave-source-out (refit and threshold without the source); recall: "
                    "cross-fitted over the two machine folds (each fold scored by the recipe fitted on the other); "
                    "AUROC: cross-fitted machine vs leave-source-out human scores; "
                    "bootstrap 95% CI over items",
        "methods": methods,
        "shipped_detector_metadata": {k: v for k, v in shipped.metadata.items() if k != "human_sources"},
        "cpu_seconds": round(time.process_time() - t_start, 1),
        "lm_items_computed": ex.n_computed,
        "targets": targets, "targets_met": all(t["met"] for t in targets.values()),
    }
    for name, m in methods.items():
        print(f"{name}: recall " + " ".join(f"{k}={v['rate']:.2f}" for k, v in m["recall"].items())
              + " | fpr " + " ".join(f"{k}={v['rate']:.3f}" for k, v in m["fpr"].items()))
    result["machine"] = machine_info("torch", "transformers", "sentence-transformers")
    return write_result(result, checks, args.out)


if __name__ == "__main__":
    raise SystemExit(main())
