"""Binary-classification metrics used by the filters (one implementation each).

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


def auroc(y_true, score) -> float:
    """Area under the ROC curve (ties count half); NaN scores are dropped; NaN if a class is absent."""
    y = np.asarray(y_true).astype(bool)
    s = np.asarray(score, dtype=np.float64)
    ok = np.isfinite(s)
    y, s = y[ok], s[ok]
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    from scipy.stats import rankdata

    r = rankdata(s)
    return float((r[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def prf(tp: int, n_pred: int, n_true: int) -> tuple[float | None, float | None, float | None]:
    """Precision, recall and F1 from counts (``None`` where a denominator is 0)."""
    prec = tp / n_pred if n_pred else None
    rec = tp / n_true if n_true else None
    if prec is None or rec is None:
        return prec, rec, None
    return prec, rec, (2 * prec * rec / (prec + rec) if prec + rec else 0.0)


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
