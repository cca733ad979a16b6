"""Refit the shipped synthetic-text detector (``data/models/synthetic_detector.json``).

The recipe (fixed in :func:`olkit.data.synthetic_eval.detector_training_sets`): human text of six
real genres (label 0, also the false-positive calibration set, calibrated leave-source-out),
SmolLM2 machine text that is not greedy output (fold 0 of the sampled / paraphrased / polished /
mixed sets) plus the sample datanet's SmolLM2 answers (T=0.7, top-p 0.9) (label 1), the sample datanet's
genuine answers (label 0, training only).  LM features: ``LMFeatureExtractor()`` as shipped (its
settings are saved in the model's ``metadata["extractor"]``), logistic over ``DETECTOR_FEATURES``;
both were chosen by ``benchmarks/synthetic_bench.py`` on its tuning draw.  ``benchmarks/synthetic_bench.py`` evaluates the same
recipe on fold 1 and on human sources left out.

Usage: ``PYTHONPATH=. .venv/bin/python scripts/refit_synthetic_detector.py [seed n_human_per_source n_machine_per_set]``
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from olkit.filters.metrics import auroc
from olkit.filters.synthetic import (
    DETECTOR_FEATURES,
    FEATURE_VERSION,
    LMFeatureExtractor,
    default_model_path,
    fit_detector_by_fpr,
    training_frame,
)


def fit_default(seed: int = 0, n_human_per_source: int = 50, n_machine_per_set: int = 40,
                out: str | Path | None = None, max_eval_per_class: int = 24) -> dict[str, Any]:
    """Refit and save the shipped detector; returns its metadata (with held-out AUROCs on the sample
    datanet's ``heldout`` split and the external set, which it was not fitted on)."""
    from olkit.data import external_eval_set, sample_stream
    from olkit.data.synthetic_eval import detector_training_sets
    from olkit.filters.config import FilterPolicy

    sets = detector_training_sets(seed=seed, n_human_per_source=n_human_per_source,
                                  n_machine_per_set=n_machine_per_set)
    extractor = LMFeatureExtractor()
    clf = fit_detector_by_fpr(sets["human"], sets["machine"], extra_human=sets["extra_human"],
                              extractor=extractor, seed=seed, features=DETECTOR_FEATURES)
    target = FilterPolicy().synthetic.target_fpr
    metrics: dict[str, Any] = {"recipe_seed": seed, "n_human_per_source": n_human_per_source,
                               "n_machine_per_set": n_machine_per_set,
                               "feature_version": FEATURE_VERSION,
                               f"threshold_at_fpr_{target}": clf.threshold_for(target)}
    stream = sample_stream(n_contributors=200, seed=seed)
    for name, frame in (("heldout", stream.filter(pl.col("split") == "heldout")),
                        ("external", external_eval_set(seed=seed))):
        data = training_frame(frame)
        data = pl.concat([data.filter(pl.col("label") == lab).sample(
            min(max_eval_per_class, data.filter(pl.col("label") == lab).height), seed=seed)
            for lab in ("synthetic", "genuine")])
        feats = extractor.transform(data["instruction"].to_list(), data["response"].to_list())
        is_syn = (data["label"] == "synthetic").to_numpy()
        fpr = clf.human_fpr(clf.decision_function(feats))
        metrics[f"{name}_auroc"] = auroc(is_syn, clf.predict_proba(feats))
        metrics[f"{name}_n"] = data.height
        metrics[f"{name}_human_rejected_at_target_fpr"] = float(np.mean(fpr[~is_syn] <= target))
        metrics[f"{name}_synthetic_caught_at_target_fpr"] = float(np.mean(fpr[is_syn] <= target))
    clf.metadata.update(metrics)
    clf.save(out or default_model_path())
    return clf.metadata


if __name__ == "__main__":
    args: list[Any] = [int(a) for a in sys.argv[1:4]]
    print(json.dumps(fit_default(*args), indent=1))
