"""False rejection of real human text per source with every model filter on, and off-topic recall.

Issue 16's acceptance: "on human text from sources the detector was not calibrated on, every model
filter on: false rejection <= 3% per source".  Protocol, fixed before any number was looked at
(``/work/notes/h32_protocol.md`` of the session that wrote it; summarised here):

* **Human pairs**: :func:`olkit.data.synthetic_eval.human_texts` (six real genres: Python FAQ,
  Python docs, stdlib docstrings, Debian package descriptions, upstream READMEs/NEWS, fortunes),
  ``--n-human`` per source, each source split in a seeded TUNING and a REPORT half
  (:func:`olkit.data.offtopic_eval.source_halves`).
* **Leave-source-out**: when source S is measured, the relevance bank and its calibration are built
  from the tuning halves of the *other* sources plus the sample datanet's train-split genuine pairs
  (:func:`olkit.filters.relevance.build_bank`, each calibration source itself scored with a bank
  without it); the quality model is refitted without S; the synthetic detector's threshold comes
  from its shipped calibration without S (its weights saw every source: ``synthetic_bench.py``
  reports the full leave-source-out refit).
* **Off-topic sets** (should be rejected): the sample datanet's ``off_topic`` items (tuning: train
  split; report: held-out split), the external set's ``off_topic`` items (report only), and real
  mismatched pairs of the measured half (:func:`olkit.data.offtopic_eval.mismatched_pairs`):
  same-genre, cross-genre and canned answers, each scored with the bank without its source.
  Genuine sample/external items: false rejection alongside.
* **Variants** (relevance statistic, all with the same leave-source-out FPR calibration at the
  policy's ``target_fpr``): raw cosine, z-scores against bank instructions / bank responses / both,
  rank among bank instructions; baseline: the old absolute cosine cutoff 0.15.  **Selection rule**
  (on the TUNING half only, applied by this script): among variants whose worst per-source false
  rejection (relevance alone) is <= 3%, the highest mean recall over the tuning off-topic sets; the
  REPORT half gives the numbers quoted.  The shipped bank's statistic must be the selected one.
* **Every model filter on** (report half, the shipped statistic): relevance, quality, language,
  synthetic; which filter rejects; the rule layers alongside for information.  Bootstrap 95% CIs
  over items.

Run::

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/filter_sources_bench.py

Writes ``benchmarks/results/filter_sources.json``.
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

BASELINE_QUALITY = ROOT / "benchmarks" / "baselines" / "quality_model_v1.json"  # sample datanet only
MAX_FR = 0.03  # issue 16's per-source false-rejection target
OLD_MIN_SIMILARITY = 0.15  # the previous policy's absolute cosine cutoff (baseline)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n-human", type=int, default=300, help="human items per source (halved: tuning / report)")
    ap.add_argument("--n-contributors", type=int, default=200, help="sample datanet size")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--boot", type=int, default=2000)
    ap.add_argument("--n-genuine", type=int, default=150, help="genuine sample/external items (all off-topic ones)")
    ap.add_argument("--quality-per-label", type=int, default=250,
                    help="train-split items per label the leave-source-out quality refits see (the shipped model: all)")
    ap.add_argument("--no-synthetic", action="store_true", help="leave the SmolLM2 detector out (no LM work)")
    ap.add_argument("--out", default=str(RESULTS / "filter_sources.json"))
    args = ap.parse_args(argv)

    from olkit.data import external_eval_set, sample_stream
    from olkit.data.corpus import stdlib_qa
    from olkit.data.offtopic_eval import KINDS, mismatched_pairs, source_halves
    from olkit.data.synthetic_eval import human_texts
    from olkit.filters import Pipeline
    from olkit.filters.config import FilterPolicy
    from olkit.filters.embeddings import EmbeddingCache, cosine_rows
    from olkit.filters.fpr import rate_ci
    from olkit.filters.language import LanguageFilter
    from olkit.filters.quality import QualityFilter, fit_quality
    from olkit.filters.registry import default_filters
    from olkit.filters.relevance import STATISTICS, build_bank, contrast_scores, default_bank

    t0, c0 = time.perf_counter(), time.process_time()
    policy = FilterPolicy()
    target = policy.relevance.target_fpr
    emb = EmbeddingCache()

    def rate(flags: np.ndarray) -> dict:
        return rate_ci(flags, reps=args.boot, seed=args.seed)

    human = human_texts(n_per_source=args.n_human, seed=args.seed).select("source", "instruction", "response")
    tune_mask = source_halves(human["source"], seed=args.seed)
    halves = {"tune": human.filter(pl.Series(tune_mask)), "report": human.filter(pl.Series(~tune_mask))}
    sources = sorted(human["source"].unique().to_list())
    stream = sample_stream(n_contributors=args.n_contributors, seed=args.seed)
    train = stream.filter(pl.col("split") == "train")
    sample_qa = (train.filter(pl.col("label") == "genuine").unique("instruction", keep="first", maintain_order=True)
                 .select(pl.lit("sample_qa").alias("source"), "instruction", "response"))
    # tuning sample items never share a question with the bank's sample pairs: split train questions
    bank_q = set(sample_qa["instruction"].to_list()[::2])
    sample_qa = sample_qa.filter(pl.col("instruction").is_in(list(bank_q)))
    ext = external_eval_set(seed=args.seed)

    def labelled_subset(frame: pl.DataFrame) -> pl.DataFrame:
        """Every off-topic item and ``--n-genuine`` genuine ones (MiniLM on 2 shared cores is the cost)."""
        gen = frame.filter(pl.col("label") == "genuine")
        return pl.concat([frame.filter(pl.col("label") == "off_topic"),
                          gen.sample(min(args.n_genuine, gen.height), seed=args.seed)])

    labelled = {"tune": {"sample": labelled_subset(train.filter(~pl.col("instruction").is_in(list(bank_q))))},
                "report": {"sample": labelled_subset(stream.filter(pl.col("split") == "heldout")),
                           "external": labelled_subset(ext)}}
    pool = pl.concat([halves["tune"], sample_qa])  # bank and calibration material (tuning half only)
    banks: dict[tuple[str, str], object] = {}

    def bank_for(statistic: str, without: str | None):
        key = (statistic, without or "")
        if key not in banks:
            banks[key] = build_bank(pool.filter(pl.col("source") != (without or "")), statistic=statistic,
                                    seed=args.seed, embedder=emb)
        return banks[key]

    def flags_of(statistic: str, frame: pl.DataFrame, without: str | None, rate_at: float | None = None) -> np.ndarray:
        """Rejected by relevance with ``statistic`` (``abs_cosine_0.15``: the old absolute cutoff)."""
        if frame.height == 0:
            return np.zeros(0, dtype=bool)
        instr, resp = emb.embed_pairs(frame)
        if statistic == "abs_cosine_0.15":
            cos = cosine_rows(instr, resp)
            return (cos < OLD_MIN_SIMILARITY) & instr.any(axis=1) & resp.any(axis=1)
        bank = bank_for(statistic, without)
        c = contrast_scores(instr, resp, *bank.embeddings(emb), statistic, bank.spec_coef)
        return np.nan_to_num(bank.human_fpr(c), nan=1.0) <= (target if rate_at is None else rate_at)

    variants = ["abs_cosine_0.15", *STATISTICS]
    per_half: dict[str, dict] = {}
    for half, frame in halves.items():
        out: dict[str, dict] = {}
        mism = {k: mismatched_pairs(frame, k, seed=args.seed) for k in KINDS}
        for v in variants:
            row: dict[str, dict] = {"false_rejection": {}, **{k: {} for k in KINDS}}
            for s in sources:
                row["false_rejection"][s] = rate(flags_of(v, frame.filter(pl.col("source") == s), s))
                for k in KINDS:
                    row[k][s] = rate(flags_of(v, mism[k].filter(pl.col("source") == s), s))
            for name, lab in labelled[half].items():
                without = "sample_qa" if name == "sample" else None
                for label in ("off_topic", "genuine"):
                    part = lab.filter(pl.col("label") == label)
                    row.setdefault(f"{name}.{label}", rate(flags_of(v, part, without)))
            fr = [x["rate"] for x in row["false_rejection"].values()]
            row["max_false_rejection"] = max(fr)
            offs = [row["sample.off_topic"]["rate"]] + [float(np.mean([row[k][s]["rate"] for s in sources]))
                                                        for k in KINDS]
            row["mean_offtopic_recall"] = round(float(np.mean(offs)), 4)
            out[v] = row
            print(half, v, "max FR", row["max_false_rejection"], "mean off-topic recall", row["mean_offtopic_recall"],
                  flush=True)
        per_half[half] = out

    # the selection rule, on the tuning half only (baseline excluded: it is not FPR-calibrated)
    tune = per_half["tune"]
    eligible = [v for v in STATISTICS if tune[v]["max_false_rejection"] <= MAX_FR]
    selected = (max(eligible, key=lambda v: tune[v]["mean_offtopic_recall"]) if eligible
                else min(STATISTICS, key=lambda v: tune[v]["max_false_rejection"]))
    shipped = default_bank()

    # the price of the rate: the shipped statistic at other target rates (report half)
    rep_half = halves["report"]
    rep_mism = {k: mismatched_pairs(rep_half, k, seed=args.seed) for k in KINDS}
    tradeoff = {}
    for rate_at in (0.01, 0.02, 0.05, 0.1, 0.2):
        fr = {s: float(flags_of(shipped.statistic, rep_half.filter(pl.col("source") == s), s, rate_at).mean())
              for s in sources}
        rec = {k: float(np.mean([flags_of(shipped.statistic, rep_mism[k].filter(pl.col("source") == s), s,
                                          rate_at).mean() for s in sources])) for k in KINDS}
        for name, lab in labelled["report"].items():
            rec[f"{name}.off_topic"] = float(flags_of(shipped.statistic, lab.filter(pl.col("label") == "off_topic"),
                                                      "sample_qa" if name == "sample" else None, rate_at).mean())
        tradeoff[str(rate_at)] = {"max_false_rejection": round(max(fr.values()), 4),
                                  "false_rejection": {k: round(v, 4) for k, v in fr.items()},
                                  "recall": {k: round(v, 4) for k, v in rec.items()}}
        print("tradeoff", rate_at, tradeoff[str(rate_at)], flush=True)

    # ---- every model filter on, report half, per source
    report = halves["report"].with_row_index("i").with_columns(
        ("h-" + pl.col("i").cast(pl.String)).alias("submission_id")).drop("i")
    src = report["source"].to_numpy()

    def rejected(f, part: pl.DataFrame) -> np.ndarray:
        d = f.decide(f.score(part), policy)
        return ~part.select("submission_id").join(d, on="submission_id", how="left")["passed"].fill_null(True).to_numpy()

    per_filter: dict[str, np.ndarray] = {"relevance": np.zeros(len(src), dtype=bool),
                                         "quality": np.zeros(len(src), dtype=bool)}
    train_q = train.join(stdlib_qa().select("question_id", "module"), on="question_id", how="left")
    train_q = pl.concat([train_q.filter(pl.col("label") == lab).sample(
        min(args.quality_per_label, int((train_q["label"] == lab).sum())), seed=args.seed)
        for lab in ("genuine", "low_effort", "spam", "off_topic")])
    for s in sources:
        inside = src == s
        part = report.filter(pl.Series(inside))
        per_filter["relevance"][inside] = flags_of(shipped.statistic, part, s)
        model = fit_quality(train_q, seed=args.seed, group_col="module", embedder=emb,
                            extra_good=human.filter(pl.col("source") != s))
        per_filter["quality"][inside] = rejected(QualityFilter(model=model, embedder=emb), part)
    per_filter["language"] = rejected(LanguageFilter(), report)
    info = {"quality_shipped_model_info": rejected(QualityFilter(embedder=emb), report),  # saw every source
            "quality_previous_model_info": rejected(QualityFilter(model=BASELINE_QUALITY, embedder=emb), report),
            "relevance_old_abs_cosine_0.15_info": flags_of("abs_cosine_0.15", report, None)}
    synthetic_note = "left out (--no-synthetic)"
    if not args.no_synthetic:
        from olkit.filters.synthetic import SyntheticFilter, default_classifier

        det = default_classifier()
        feats = SyntheticFilter(det).features(report)
        dec = np.where(np.isfinite(feats.to_numpy()).all(axis=1), det.decision_function(feats), np.nan)
        flag = np.zeros(len(src), dtype=bool)
        full = dict(det.human_calibration)
        for s in sources:  # threshold from the shipped calibration without the measured source
            inside = src == s
            det.human_calibration = {k: v for k, v in full.items() if k != s}
            flag[inside] = np.nan_to_num(det.human_fpr(dec[inside]), nan=1.0) <= policy.synthetic.target_fpr
        det.human_calibration = full
        per_filter["synthetic"] = flag
        synthetic_note = ("shipped detector; threshold from its human calibration without the measured source "
                          "(weights saw every source; synthetic_bench.py has the full leave-source-out refit)")
    any_model = np.logical_or.reduce(list(per_filter.values()))
    other = Pipeline(default_filters(models=False)).run(report, policy=policy, progress=False).decisions
    other = report.select("submission_id").join(other, on="submission_id", how="left")
    other_rej = ~other["accepted"].fill_null(True).to_numpy()
    model_filters = {s: {"any_model_filter": rate(any_model[src == s]),
                         **{k: round(float(v[src == s].mean()), 4) for k, v in per_filter.items()},
                         **{k: round(float(v[src == s].mean()), 4) for k, v in info.items()},
                         "other_layers_info": round(float(other_rej[src == s].mean()), 4)} for s in sources}

    targets = {f"false_rejection<={MAX_FR}.{s}": {"target": MAX_FR, "measured": v["any_model_filter"]["rate"],
                                                  "ci95": v["any_model_filter"]["ci95"],
                                                  "met": bool(v["any_model_filter"]["rate"] <= MAX_FR)}
               for s, v in model_filters.items()}
    rep = per_half["report"]
    checks = {"every_source_measured": all(v["any_model_filter"]["n"] > 0 for v in model_filters.values()),
              "halves_disjoint": not (set(halves["tune"]["response"].to_list())
                                      & set(halves["report"]["response"].to_list())),
              "shipped_statistic_is_the_tuning_selection": shipped.statistic == selected,
              "offtopic_sets_nonempty": all(rep[selected][k][s]["n"] > 0 for k in ("cross_genre", "canned")
                                            for s in sources)}
    result = {
        "benchmark": "filter_sources", "seed": args.seed, "target_fpr": target,
        "sizes": {h: {s: int((f["source"] == s).sum()) for s in sources} for h, f in halves.items()},
        "protocol": "leave-source-out (bank, calibration and quality fit never contain the measured source); "
                    "variants selected on the tuning half, reported on the report half; bootstrap 95% CI over items",
        "selection": {"rule": f"max per-source FR (relevance alone) <= {MAX_FR}, then highest mean off-topic recall "
                              "(sample off_topic, same-genre, cross-genre, canned) on the tuning half",
                      "tuning": {v: {"max_false_rejection": tune[v]["max_false_rejection"],
                                     "mean_offtopic_recall": tune[v]["mean_offtopic_recall"]} for v in variants},
                      "selected": selected, "shipped_bank_statistic": shipped.statistic},
        "relevance_variants_report": rep,
        "relevance_tradeoff_report": tradeoff,
        "model_filters_false_rejection": model_filters,
        "synthetic_layer": synthetic_note,
        "cpu_seconds": round(time.process_time() - c0, 1), "wall_seconds": round(time.perf_counter() - t0, 1),
        "targets": targets, "targets_met": all(t["met"] for t in targets.values()),
    }
    for s, v in model_filters.items():
        print(s, v, flush=True)
    result["machine"] = machine_info("torch", "transformers", "sentence-transformers")
    return write_result(result, checks, args.out)


if __name__ == "__main__":
    raise SystemExit(main())
