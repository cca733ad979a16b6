"""Synthetic-text detection with a threshold set by a human false-positive rate, on sources it never saw.

Sets (:mod:`olkit.data.synthetic_eval`): human text of six real genres (Python FAQ, Python docs,
stdlib docstrings, Debian package descriptions, READMEs/NEWS/changelogs, fortunes) and six SmolLM2
machine sets that are not greedy output (sampled at T=0.7 / T=1.0 top-p 0.9 / T=1.0, paraphrases,
"polishings" of human answers, human opening + machine continuation).

Protocol, fixed (written here) before looking at any result of the v2 features:

* **Metric**: recall per machine set at the policy's ``target_fpr`` (2%), the threshold set on
  human text of every genre (the largest share of any one genre's items scoring as high,
  leave-source-out calibration, :func:`olkit.filters.synthetic.fit_features_by_fpr`); AUROC per
  machine set and false rejection per human genre alongside.
* **Candidates** (every one reported): LM settings = conditioning prompt (``plain`` = the
  FEATURE_VERSION 1 bare turns, ``chat_template`` = SmolLM2's own template) x scored response
  span (32/48/64 tokens; 96 for the chat template; all spans of one prompt come from one forward
  pass, ``LMFeatureExtractor.also_spans``), each with five single zero-shot statistics
  (``curvature``, ``norm_curvature``, ``robust_curvature``, ``curvature_tail``,
  ``curvature_max_window``) thresholded by the same calibration, and at spans >= 48 three logistic
  feature sets (``v1`` = the 11 features of FEATURE_VERSION 1, ``v2_all`` = all 17,
  ``v2_no_length`` = all but ``log_n_tokens``).
* **Tuning data** (selection only): machine fold 0, cut into two halves (alternate items of each
  set); each half is scored by the recipe fitted on the other half + the sample datanet's
  answers + the human items.  **Selection rule**: the candidate with the highest *minimum over the
  six machine sets* of tuning recall at the target FPR; ties by mean tuning AUROC (human scores
  leave-source-out), then by list order (cheaper first).  The shipped defaults
  (``LMFeatureExtractor()``, ``DETECTOR_FEATURES``) must be the selected candidate (a check).
* **Held-out report** (machine fold 1, never used to choose, 20 items per set at the default
  sizes): for every candidate, recall of the recipe fitted on fold 0 + the sample datanet's
  answers (the shipped recipe) and AUROC of fold-1 machine vs leave-source-out human scores; for
  the selected candidate, today's recipe and the baselines also false rejection per human source
  leave-source-out (the recipe refitted and thresholded without that source) and bootstrap 95%
  CIs over items; for the other candidates the per-source rate of the leave-source-out
  calibration scores over the fitted threshold (``fpr_calibration``, cheaper, not refitted).  No cross-fitted numbers (fold 0 chose the
  candidate).  The human items are shared by tuning and report (their FPR is always
  leave-source-out); the machine items are not.  (A separate tuning draw was planned; generating
  it did not fit the shared 2-core machine's time.)
* False rejection per human source with **every model filter on** is
  ``benchmarks/filter_sources_bench.py`` (``filter_sources.json``).

Baselines on the same items: today's recipe (``plain``, 64 tokens, ``v1`` features: the detector
before this change), the previous detector (``benchmarks/baselines/synthetic_detector_v1.json``,
fitted on the sample datanet's SmolLM2 answers only, batch `sample`, T=0.7 top-p 0.9) at its old
policy threshold (prob >= 0.5) and with the same FPR calibration; the mean log-likelihood alone
(the cheap baseline) and the Fast-DetectGPT analytic curvature alone (both ``plain``, 64 tokens),
with the same leave-source-out FPR calibration.

Targets (issue 16): recall >= 0.8 at the policy FPR on every machine set.

Run::

    OMP_NUM_THREADS=2 nice -n 10 .venv/bin/python benchmarks/synthetic_bench.py --select-only
    # set LMFeatureExtractor's defaults and DETECTOR_FEATURES to the printed choice, then
    PYTHONPATH=. .venv/bin/python scripts/refit_synthetic_detector.py
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

#: LM settings of the candidates (name -> LMFeatureExtractor settings), cheaper first.
LM_SETTINGS: dict[str, dict] = {
    **{f"plain_{n}": {"prompt": "plain", "max_response_tokens": n} for n in (32, 48, 64)},
    **{f"chat_{n}": {"prompt": "chat_template", "max_response_tokens": n} for n in (32, 48, 64, 96)},
}
#: LM settings with logistic candidates (the others have the zero-shot statistics only: fits are the
#: bench's cost on 2 cores).
LOGISTIC_SETTINGS = ("plain_48", "plain_64", "chat_48", "chat_64", "chat_96")
ZERO_SHOT = ("curvature", "norm_curvature", "robust_curvature", "curvature_tail", "curvature_max_window")
TODAY = "plain_64/logistic_v1"


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


def feature_sets() -> dict[str, tuple[str, ...]]:
    from olkit.filters.synthetic import FEATURES, FEATURES_V1

    return {"v1": FEATURES_V1, "v2_all": FEATURES, "v2_no_length": tuple(f for f in FEATURES if f != "log_n_tokens")}


def candidates() -> dict[str, tuple[str, str, tuple[str, ...]]]:
    """name -> (LM setting, "logistic" | "zero_shot", features), in list (tie-break) order."""
    out = {}
    for lm in LM_SETTINGS:
        if lm in LOGISTIC_SETTINGS:
            out.update({f"{lm}/logistic_{k}": (lm, "logistic", v) for k, v in feature_sets().items()})
        out.update({f"{lm}/zero_shot_{f}": (lm, "zero_shot", (f,)) for f in ZERO_SHOT})
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n-human", type=int, default=50, help="human items per source")
    ap.add_argument("--n-machine", type=int, default=40, help="machine items per set (fold 0 tunes, fold 1 reports)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--boot", type=int, default=2000)
    ap.add_argument("--out", default=str(RESULTS / "synthetic.json"))
    ap.add_argument("--select-only", action="store_true",
                    help="print the candidate chosen on fold 0 and stop (nothing held out is scored)")
    args = ap.parse_args(argv)

    from olkit.data.synthetic_eval import detector_training_sets, machine_texts
    from olkit.filters.config import FilterPolicy
    from olkit.filters.metrics import auroc
    from olkit.filters.synthetic import (
        DETECTOR_FEATURES,
        FEATURES,
        LMFeatureExtractor,
        SyntheticTextClassifier,
        default_classifier,
        fit_features_by_fpr,
        resolve_dtype,
    )

    t_start = time.process_time()
    policy = FilterPolicy()
    target = policy.synthetic.target_fpr
    rng = np.random.default_rng(args.seed)
    sets = detector_training_sets(seed=args.seed, n_human_per_source=args.n_human, n_machine_per_set=args.n_machine)
    human, machine_fit, extra = sets["human"], sets["machine"], sets["extra_human"]
    machine_all = machine_texts(n_per_set=args.n_machine, seed=args.seed)
    machine_tune = machine_all.filter(pl.col("fold") == 0)   # choose on fold 0 ...
    machine_eval = machine_all.filter(pl.col("fold") == 1)   # ... report on fold 1
    n_fold0 = machine_tune.height  # machine_fit = fold 0 + the sample's answers
    sample_machine = machine_fit[n_fold0:]
    # one forward pass per prompt at the longest span fills the caches of the shorter spans
    longest = {}
    for kw in LM_SETTINGS.values():
        if kw["max_response_tokens"] > longest.get(kw["prompt"], {}).get("max_response_tokens", 0):
            longest[kw["prompt"]] = kw
    extractors = {name: LMFeatureExtractor(**kw) for name, kw in LM_SETTINGS.items()}
    for kw in longest.values():
        spans = tuple(v["max_response_tokens"] for v in LM_SETTINGS.values() if v["prompt"] == kw["prompt"])
        filler = LMFeatureExtractor(**kw, also_spans=spans)
        for frame in (human, sample_machine, extra, machine_eval, machine_tune):
            filler.transform(frame["instruction"].to_list(), frame["response"].to_list())
    n_lm_computed = sum(e.n_computed for e in extractors.values())

    def feats(frame: pl.DataFrame) -> dict[str, np.ndarray]:  # LM setting -> (n, len(FEATURES))
        return {name: ex.transform(frame["instruction"].to_list(), frame["response"].to_list()).to_numpy()
                for name, ex in extractors.items()}

    def finite(x: dict[str, np.ndarray]) -> np.ndarray:
        return np.logical_and.reduce([np.isfinite(v).all(axis=1) for v in x.values()])

    hx, mx, xx, ev, tv = (feats(f) for f in (human, sample_machine, extra, machine_eval, machine_tune))
    hok, mok, xok, eok, tok = (finite(a) for a in (hx, mx, xx, ev, tv))
    human = human.filter(pl.Series(hok))
    machine_eval, machine_tune = machine_eval.filter(pl.Series(eok)), machine_tune.filter(pl.Series(tok))
    hx, mx, xx, ev, tv = ({k: v[ok] for k, v in a.items()} for a, ok in ((hx, hok), (mx, mok), (xx, xok),
                                                                         (ev, eok), (tv, tok)))
    src = human["source"].to_numpy()
    sources = sorted(set(src.tolist()))
    msets = sorted(machine_eval["source"].unique().to_list())
    col = {f: i for i, f in enumerate(FEATURES)}

    def cols(x: np.ndarray, features: tuple[str, ...]) -> np.ndarray:
        return x[:, [col[f] for f in features]]

    def calibrate(h_score: np.ndarray, names: list[str]) -> SyntheticTextClassifier:
        return SyntheticTextClassifier().calibrate_fpr({s: h_score[src == s] for s in names})

    def fit_eval(cand: tuple, fit_m: dict[str, np.ndarray], eval_m: dict[str, np.ndarray]
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, float]]:
        """Decision values and flags of ``eval_m`` machine rows under one candidate: the recipe fitted on
        ``fit_m`` + the sample's answers + every human row, thresholded at the target FPR (leave-source-
        out calibration inside the fit); a zero-shot statistic thresholded on the human rows alone.
        Also the human scores (leave-source-out calibration values) and the share of each source's
        calibration values at or over the threshold."""
        lm, kind, features = cand
        h, m = cols(hx[lm], features), cols(eval_m[lm], features)
        if kind == "zero_shot":
            model, dec = calibrate(h[:, 0], sources), m[:, 0]
        else:
            model = fit_features_by_fpr(h, src, np.vstack([cols(fit_m[lm], features), cols(mx[lm], features)]),
                                        extra_human=cols(xx[lm], features), seed=args.seed, features=features)
            dec = model.decision_function(m)
        t = model.threshold_for(target)
        cal = model.human_calibration
        return (dec, model.human_fpr(dec) <= target, np.concatenate(list(cal.values())),
                {s: round(float(np.mean(v >= t)), 4) for s, v in cal.items()})

    def human_loso(cand: tuple, machine_fit0: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Human decision values and flags, each source scored and thresholded by the recipe fitted
        without it (machine rows: ``machine_fit0`` + the sample's answers)."""
        lm, kind, features = cand
        h = cols(hx[lm], features)
        dec, flag = np.full(len(h), np.nan), np.zeros(len(h), dtype=bool)
        for s in sources:
            inside = src == s
            if kind == "zero_shot":
                dec[inside] = h[inside, 0]
                flag[inside] = calibrate(h[:, 0], [o for o in sources if o != s]).human_fpr(h[inside, 0]) <= target
                continue
            model = fit_features_by_fpr(h[~inside], src[~inside],
                                        np.vstack([cols(machine_fit0[lm], features), cols(mx[lm], features)]),
                                        extra_human=cols(xx[lm], features), seed=args.seed, features=features)
            dec[inside] = model.decision_function(h[inside])
            flag[inside] = model.human_fpr(dec[inside]) <= target
        return dec, flag

    def summary(mset: np.ndarray, m_score, m_pred, h_score, boot: bool, h_pred=None) -> dict:
        def r(flags):
            return rate(flags, rng, args.boot) if boot else round(float(np.mean(flags)), 4)
        out = {"recall": {k: r(m_pred[mset == k]) for k in msets},
               "auroc": {k: round(auroc(np.r_[np.zeros(len(h_score)), np.ones(int((mset == k).sum()))],
                                        np.r_[h_score, m_score[mset == k]]), 4) for k in msets}}
        if h_pred is not None:
            out["fpr"] = {k: r(h_pred[src == k]) for k in sources}
        return out

    def min_recall(m: dict) -> float:
        return min(v["rate"] if isinstance(v, dict) else v for v in m["recall"].values())

    # ---- selection on fold 0 (machine items never reported): each half scored by the recipe fitted on
    # the other half
    cands = candidates()
    t_mset = machine_tune["source"].to_numpy()
    half = (machine_tune.with_row_index("_r").select(pl.col("_r").rank("ordinal").over("source") % 2)
            .to_series().to_numpy())
    tuning = {}
    for name, cand in cands.items():
        dec, flag = np.full(len(t_mset), np.nan), np.zeros(len(t_mset), dtype=bool)
        h_score = np.zeros(0)
        for h_ in (0, 1):
            # human scores for the tie-break AUROC: the leave-source-out decision values the recipe
            # stores as its calibration (raw values for a zero-shot statistic), from the first half-fit
            d_, f_, hs_, _ = fit_eval(cand, {k: v[half == h_] for k, v in tv.items()},
                                      {k: v[half != h_] for k, v in tv.items()})
            dec[half != h_], flag[half != h_] = d_, f_
            h_score = hs_ if h_ == 0 else h_score
        tuning[name] = summary(t_mset, dec, flag, h_score, boot=False)
        tuning[name]["min_recall"] = min_recall(tuning[name])
        tuning[name]["mean_auroc"] = round(float(np.mean(list(tuning[name]["auroc"].values()))), 4)
    order = list(cands)
    selected = max(order, key=lambda n: (tuning[n]["min_recall"], tuning[n]["mean_auroc"], -order.index(n)))
    print("selected on fold 0:", selected, LM_SETTINGS[cands[selected][0]], list(cands[selected][2]),
          "min recall", tuning[selected]["min_recall"], flush=True)
    if args.select_only:
        return 0

    # ---- held-out report of every candidate (the selected one is the shipped recipe)
    mset = machine_eval["source"].to_numpy()
    heldout, scored = {}, {}
    for name, cand in cands.items():
        m_dec, m_flag, h_cal, fpr_cal = fit_eval(cand, tv, ev)
        if name in (selected, TODAY):
            h_dec, h_flag = human_loso(cand, tv)
            scored[name] = (m_dec, m_flag, h_dec, h_flag)
            heldout[name] = summary(mset, m_dec, m_flag, h_dec, boot=True, h_pred=h_flag)
            heldout[name]["max_fpr"] = max(v["rate"] for v in heldout[name]["fpr"].values())
        else:
            heldout[name] = summary(mset, m_dec, m_flag, h_cal, boot=False)
            heldout[name]["fpr_calibration"] = fpr_cal
        heldout[name]["min_recall"] = min_recall(heldout[name])
    m_dec, m_flag, loso_dec, loso_flag = scored[selected]
    methods = {"fpr_calibrated_detector (shipped recipe)": heldout[selected],
               "today_recipe_plain_64_v1 (baseline)": heldout[TODAY]}

    def loso_threshold_score(h_score: np.ndarray, m_score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A raw score (higher = machine) thresholded by the same leave-source-out FPR calibration."""
        m_pred = calibrate(h_score, sources).human_fpr(m_score) <= target
        h_pred = np.zeros(len(h_score), dtype=bool)
        for s in sources:
            inside = src == s
            h_pred[inside] = calibrate(h_score, [o for o in sources if o != s]).human_fpr(h_score[inside]) <= target
        return m_pred, h_pred

    for name, j in (("mean_loglik_only (cheap baseline)", col["mean_logprob"]),
                    ("fast_detectgpt_curvature_only (zero-shot)", col["curvature"])):
        h_s, m_s = hx["plain_64"][:, j], ev["plain_64"][:, j]
        m_pred, h_pred = loso_threshold_score(h_s, m_s)
        methods[name] = summary(mset, m_s, m_pred, h_s, boot=True, h_pred=h_pred)
    old = SyntheticTextClassifier.load(BASELINE_MODEL)
    v1 = feature_sets()["v1"]
    old_h, old_m = old.predict_proba(cols(hx["plain_64"], v1)), old.predict_proba(cols(ev["plain_64"], v1))
    methods["old_detector_at_prob_0.5 (baseline)"] = summary(mset, old_m, old_m >= 0.5, old_h, boot=True,
                                                             h_pred=old_h >= 0.5)
    m_pred, h_pred = loso_threshold_score(old_h, old_m)
    methods["old_detector_fpr_calibrated"] = summary(mset, old_m, m_pred, old_h, boot=True, h_pred=h_pred)
    # the shipped recipe refitted on fold 0 (what scripts/refit_synthetic_detector.py saves)
    lm_sel, _, feat_sel = cands[selected]
    shipped = fit_features_by_fpr(cols(hx[lm_sel], feat_sel), src,
                                  np.vstack([cols(tv[lm_sel], feat_sel), cols(mx[lm_sel], feat_sel)]),
                                  extra_human=cols(xx[lm_sel], feat_sel), seed=args.seed, features=feat_sel)
    mx = np.vstack([tv[lm_sel], mx[lm_sel]])  # the shipped recipe's machine rows (sizes below)
    xx = xx[lm_sel]
    ex = extractors[lm_sel]

    shipped_clf = default_classifier()  # read at the end: scripts/refit_synthetic_detector.py may run meanwhile
    best = methods["fpr_calibrated_detector (shipped recipe)"]
    # the targets, recorded met or not (never redefined); the checks are what this run guarantees
    targets = {f"recall>=0.8.{k}": {"target": 0.8, "measured": v["rate"], "met": bool(v["rate"] >= 0.8)}
               for k, v in best["recall"].items()}
    checks = {"every_machine_set_scored": all(int((mset == k).sum()) > 0 for k in msets),
              "every_human_source_scored_leave_source_out": all(int((src == s).sum()) > 0 for s in sources),
              "shipped_detector_fpr_within_2x_target_pooled":
                  bool(np.mean([v["rate"] for v in best["fpr"].values()]) <= 2 * target),
              "tuning_and_heldout_machine_items_disjoint":
                  not set(machine_tune["response"].to_list()) & set(machine_eval["response"].to_list()),
              "shipped_defaults_are_the_selected_candidate":
                  LMFeatureExtractor().settings() == {**LMFeatureExtractor().settings(), **LM_SETTINGS[lm_sel]}
                  and tuple(DETECTOR_FEATURES) == tuple(feat_sel)
                  and tuple(shipped_clf.features) == tuple(feat_sel)
                  and shipped_clf.metadata.get("extractor") == LMFeatureExtractor().settings()}
    result = {
        "benchmark": "synthetic", "seed": args.seed, "target_fpr": target, "lm_dtype": resolve_dtype(ex.dtype),
        "sizes": {"human_per_source": {s: int((src == s).sum()) for s in sources},
                  "machine_eval_per_set": {k: int((mset == k).sum()) for k in msets},
                  "machine_fit_shipped_recipe": int(len(mx)), "extra_human_fit": int(len(xx))},
        "protocol": "candidates chosen on machine fold 0 (halves scored by the recipe fitted on the other half) by "
                    "the highest minimum over machine sets of recall at the target FPR (ties: mean AUROC, then list "
                    "order), reported once on fold 1 with the recipe fitted on fold 0. FPR per human source: "
                    "leave-source-out (refit and threshold without the source); AUROC: fold-1 machine vs "
                    "leave-source-out human scores; bootstrap 95% CI over items (selected candidate, today's recipe "
                    "and the baselines)",
        "selected_candidate": selected,
        "selected_lm_settings": LM_SETTINGS[lm_sel], "selected_features": list(feat_sel),
        "methods": methods,
        "candidates_tuning": tuning,
        "candidates_heldout": heldout,
        "shipped_detector_metadata": {k: v for k, v in shipped_clf.metadata.items() if k != "human_sources"},
        "bench_refit_matches_shipped": bool(shipped_clf.features == shipped.features
                                            and np.allclose(shipped.coef_, shipped_clf.coef_, atol=1e-3)),
        "cpu_seconds": round(time.process_time() - t_start, 1),
        "lm_items_computed": n_lm_computed,
        "targets": targets, "targets_met": all(t["met"] for t in targets.values()),
    }
    for name, m in methods.items():
        print(f"{name}: recall " + " ".join(f"{k}={v['rate']:.2f}" for k, v in m["recall"].items())
              + " | fpr " + " ".join(f"{k}={v['rate']:.3f}" for k, v in m["fpr"].items()))
    result["machine"] = machine_info("torch", "transformers", "sentence-transformers")
    return write_result(result, checks, args.out)


if __name__ == "__main__":
    raise SystemExit(main())
