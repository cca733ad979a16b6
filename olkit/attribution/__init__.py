"""Attribution: which training submissions shaped a fine-tuned model, and how right is each answer?

Methods (each returns an :class:`~olkit.attribution.base.Attribution`, a training x eval score
matrix with ids; positive = the item lowers the eval loss):

=================  ===============================================================================
``gradsim``        per-example LoRA gradient dot product (``gradsim_cos``: cosine), ``torch.func``
``tracin``         TracIn over saved checkpoints (``tracin_adam``: Adam-preconditioned, as in LESS)
``datainf``        DataInf closed-form influence per LoRA layer
``trak``           TRAK-style random projection of gradients (memory independent of parameters)
``knn_shapley``    exact KNN-Shapley on MiniLM embeddings (model-free baseline)
``tfidf``/``bm25`` TF-IDF cosine / Okapi BM25 text similarity (model-free baselines)
``span``           longest exact spans of an output found in the training data (suffix array)
=================  ===============================================================================

:mod:`olkit.attribution.evaluate` measures them against retraining (LDS, leave-contributor-out
correlation, bad-data AUC, seconds); :mod:`olkit.attribution.contributors` against exact contributor
Shapley values.  :func:`contributor_payouts` (``olkit.attribution.payouts``) is the payout entry
point: adapter + training rows -> one payout per contributor (via :func:`olkit.rewards.allocate`).

Example
-------
>>> from olkit.attribution import make_method, make_task, Setup          # doctest: +SKIP
>>> task = make_task(seed=0); setup = Setup.from_task(task)             # doctest: +SKIP
>>> ctx = setup.train_full()                                            # doctest: +SKIP
>>> make_method("tracin_adam").attribute(ctx, task.train, task.eval).by_contributor()  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

#: public name -> module (imported lazily so ``olkit --help`` does not load torch)
_EXPORTS = {
    "Attribution": "base", "ModelContext": "base",
    "Setup": "evaluate", "train_config": "evaluate", "evaluate": "evaluate", "ground_truth": "evaluate",
    "lds": "evaluate",
    "TRAK": "methods", "DataInf": "methods", "GradientSimilarity": "methods", "KNNShapley": "methods",
    "TracIn": "methods", "make_method": "methods",
    "SpanIndex": "spans", "SpanMatch": "spans",
    "make_task": "task",
    "contributor_payouts": "payouts", "near_duplicate_clusters": "payouts", "DEFAULT_PAYOUT_METHOD": "payouts",
    "TextSimilarity": "methods", "TaskLM": "fastlm", "train_many": "fastlm",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"olkit.attribution.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'olkit.attribution' has no attribute {name!r}")
