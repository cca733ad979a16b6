"""Refit the shipped learned-quality model (``data/models/quality_model.json``).

Usage: ``PYTHONPATH=. .venv/bin/python scripts/refit_quality_model.py [n_contributors] [seed]``
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import polars as pl

from olkit.filters.config import QualityPolicy
from olkit.filters.metrics import auroc
from olkit.filters.quality import DEFAULT_MODEL_FILE, QualityModel, fit_quality, training_frame
from olkit.filters.synthetic import default_model_path


def fit_default(n_contributors: int = 200, seed: int = 0, out: str | Path | None = None) -> dict[str, Any]:
    """Refit the shipped model on the sample datanet's ``train`` split plus human text of six real
    genres as more good items (:func:`olkit.data.synthetic_eval.human_texts`; calibrated on
    leave-module/genre-out folds); report held-out and external AUROC and false rejection of genuine items at the default
    ``min_score``."""
    from olkit.data import external_eval_set, sample_stream
    from olkit.data.corpus import stdlib_qa
    from olkit.data.synthetic_eval import human_texts

    stream = sample_stream(n_contributors=n_contributors, seed=seed)
    modules = stdlib_qa().select("question_id", "module")
    train = stream.filter(pl.col("split") == "train").join(modules, on="question_id", how="left")
    human = human_texts(n_per_source=100, seed=seed)  # six real genres: good items of other styles
    model = fit_quality(train, seed=seed, group_col="module", extra_good=human)
    metrics: dict[str, Any] = {"sample_n_contributors": n_contributors, "sample_seed": seed,
                               "extra_good": {s: int(n) for s, n in human.group_by("source").len().iter_rows()}}
    for name, frame in (("heldout", stream.filter(pl.col("split") == "heldout")),
                        ("external", external_eval_set(seed=seed))):
        data, y = training_frame(frame)
        prob = model.predict_proba(QualityModel.featurize(data))
        metrics[f"{name}_auroc"] = auroc(y, prob)
        metrics[f"{name}_n"] = data.height
        metrics[f"{name}_genuine_rejected_at_default"] = float((prob[y == 1] < QualityPolicy().min_score).mean())
    model.metadata.update(metrics)
    model.save(out or default_model_path(DEFAULT_MODEL_FILE))
    return model.metadata


if __name__ == "__main__":
    print(json.dumps(fit_default(*[int(a) for a in sys.argv[1:3]]), indent=1))
