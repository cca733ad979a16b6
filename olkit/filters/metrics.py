"""Binary-classification metrics used by the filters (AUROC and F1 are the shared kit's).

Example
-------
>>> from olkit.filters.metrics import auroc, prf
>>> auroc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
0.75
>>> prf(tp=3, n_pred=4, n_true=6)
(0.75, 0.5, 0.6)
"""

from __future__ import annotations

import numpy as np

from olkit.kit import auroc, f1

__all__ = ["auroc", "prf", "threshold_at_fpr"]


def prf(tp: int, n_pred: int, n_true: int) -> tuple[float | None, float | None, float | None]:
    """Precision, recall and F1 from counts (``None`` where a denominator is 0)."""
    prec = tp / n_pred if n_pred else None
    rec = tp / n_true if n_true else None
    if prec is None or rec is None:
        return prec, rec, None
    return prec, rec, f1(prec, rec)


def threshold_at_fpr(negative_scores, fpr: float) -> float:
    """The smallest threshold ``t`` such that at most ``fpr`` of ``negative_scores`` are ``>= t``.

    >>> threshold_at_fpr([0.1, 0.2, 0.3, 0.4], 0.25)
    0.4
    """
    s = np.sort(np.asarray(negative_scores, dtype=np.float64)[np.isfinite(negative_scores)])
    if len(s) == 0:
        return float("inf")
    k = int(np.floor(fpr * len(s)))  # negatives allowed at or above the threshold
    if k <= 0:
        return float(np.nextafter(s[-1], np.inf))
    return float(s[len(s) - k])
