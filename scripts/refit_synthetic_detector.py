"""Refit the shipped synthetic-text detector (``data/models/synthetic_detector.json``).

Usage: ``PYTHONPATH=. .venv/bin/python scripts/refit_synthetic_detector.py [n_contributors seed max_per_class max_eval]``
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from olkit.filters.metrics import auroc
from olkit.filters.synthetic import LMFeatureExtractor, default_model_path, fit_detector, training_frame


def fit_default(n_contributors: int = 200, seed: int = 0, out: str | Path | None = None,
                max_per_class: int = 120, max_eval_per_class: int = 80) -> dict[str, Any]:
    """Refit the shipped detector on the sample datanet's ``train`` split; report held-out AUROC.

    At most ``max_per_class`` synthetic and as many genuine items (drawn with ``seed``) are used
    for fitting, ``max_eval_per_class`` of each for evaluation, to keep the SmolLM2 pass
    affordable on a CPU.  AUROC is measured the same way on the
    ``heldout`` split and on :func:`olkit.data.sample.external_eval_set`, which nobody fitted on.
    Returns the metrics (also stored in the model's ``metadata``).
    """
    from olkit.data.sample import external_eval_set, sample_stream

    def balanced(frame: pl.DataFrame, k: int) -> pl.DataFrame:
        data = training_frame(frame)
        syn = data.filter(pl.col("label") == "synthetic")
        hum = data.filter(pl.col("label") != "synthetic")
        return pl.concat([syn.sample(min(k, syn.height), seed=seed), hum.sample(min(k, hum.height), seed=seed)])

    stream = sample_stream(n_contributors=n_contributors, seed=seed)
    extractor = LMFeatureExtractor()
    train = balanced(stream.filter(pl.col("split") == "train"), max_per_class)
    clf = fit_detector(train, extractor=extractor, seed=seed)
    metrics: dict[str, Any] = {"sample_n_contributors": n_contributors, "sample_seed": seed,
                               "max_response_tokens": extractor.max_response_tokens,
                               "max_instruction_tokens": extractor.max_instruction_tokens}
    for name, frame in (("heldout", stream.filter(pl.col("split") == "heldout")),
                        ("external", external_eval_set(seed=seed))):
        data = balanced(frame, max_eval_per_class)
        feats = extractor.transform(data["instruction"].to_list(), data["response"].to_list())
        prob = clf.predict_proba(feats)
        is_syn = (data["label"] == "synthetic").to_numpy()
        metrics[f"{name}_auroc"] = auroc(is_syn, prob)
        metrics[f"{name}_n"] = data.height
        metrics[f"{name}_n_synthetic"] = int(is_syn.sum())
        metrics[f"{name}_human_rejected_at_0.5"] = float(np.mean(prob[~is_syn] >= 0.5))
        metrics[f"{name}_synthetic_caught_at_0.5"] = float(np.mean(prob[is_syn] >= 0.5))
    clf.metadata.update(metrics)
    clf.save(out or default_model_path())
    return clf.metadata


if __name__ == "__main__":
    args: list[Any] = [int(a) for a in sys.argv[1:3]]
    args += [None] + [int(a) for a in sys.argv[3:5]]  # out=None
    print(json.dumps(fit_default(*args), indent=1))
