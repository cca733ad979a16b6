"""Thresholds set by a false-positive rate on human text of several genres, measured leave-source-out.

A filter that rejects on a raw score (a cosine, a probability) rejects a different share of every
genre of honest text: a loose but legitimate genre (fortunes under "Tell me something about
wisdom.") sits lower than documentation answering a precise question.  :class:`HumanFprCalibration`
stores, per human *source* (genre), the sorted scores of its items; :meth:`~HumanFprCalibration.
human_fpr` says, for any score, the largest share of one source's human items that is at least as
extreme -- the false-positive rate a threshold at that score would have on the worst genre.  A
policy then states a rate (``target_fpr``) instead of a score, and decisions compare the two.

The benchmarks measure such filters on a source the calibration never saw
(:func:`leave_source_out`) and report rates with bootstrap intervals (:func:`rate_ci`).

Example
-------
>>> import numpy as np
>>> from olkit.filters.fpr import HumanFprCalibration
>>> cal = HumanFprCalibration({"docs": [0.1, 0.2, 0.3, 0.4], "faq": [0.3, 0.5, 0.6, 0.7]}, flag="low")
>>> cal.human_fpr(np.array([0.05, 0.2, 0.3])).tolist()   # share of the worst source at or below
[0.0, 0.5, 0.75]
>>> rate_ci(np.array([True, False, False, False]), reps=200)["rate"]
0.25
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import numpy as np

from olkit.errors import InputError

__all__ = ["HumanFprCalibration", "boot_ci", "leave_source_out", "rate_ci"]


class HumanFprCalibration:
    """Per-source sorted human scores and the worst-source false-positive rate of any score.

    Parameters
    ----------
    scores_by_source:
        ``{source: scores of its human items}`` (NaNs dropped; a source with no finite score is
        left out; none at all is an :class:`~olkit.errors.InputError`).
    flag:
        ``"low"``: low scores are flagged (an item is as extreme as a human one when its score is
        ``<=``); ``"high"``: high scores are flagged (``>=``).
    """

    def __init__(self, scores_by_source: Mapping[str, Sequence[float]], *, flag: Literal["low", "high"] = "high"
                 ) -> None:
        if flag not in ("low", "high"):
            raise InputError(f"flag must be 'low' or 'high', got {flag!r}", field="flag")
        self.flag = flag
        cal = {}
        for name, v in scores_by_source.items():
            v = np.asarray(v, dtype=np.float64)
            v = np.sort(v[np.isfinite(v)])
            if len(v):
                cal[str(name)] = v
        if not cal:
            raise InputError("no finite human scores to calibrate the false-positive rate on", field="human")
        self.scores = cal

    @property
    def sources(self) -> list[str]:
        return sorted(self.scores)

    def human_fpr(self, score: np.ndarray) -> np.ndarray:
        """Max over sources of the share of its human items at least as extreme as ``score`` (NaN stays NaN)."""
        s = np.asarray(score, dtype=np.float64)
        out = np.zeros(s.shape)
        for v in self.scores.values():
            n_extreme = (np.searchsorted(v, s, side="right") if self.flag == "low"
                         else len(v) - np.searchsorted(v, s, side="left"))
            out = np.maximum(out, n_extreme / len(v))
        out[~np.isfinite(s)] = np.nan
        return out

    def without(self, source: str) -> HumanFprCalibration:
        """The same calibration with one source left out (for leave-source-out measurement)."""
        return HumanFprCalibration({k: v for k, v in self.scores.items() if k != source}, flag=self.flag)

    def to_dict(self) -> dict[str, Any]:
        return {"flag": self.flag, "scores": {k: [float(f"{x:.6g}") for x in v] for k, v in self.scores.items()}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "<dict>") -> HumanFprCalibration:
        try:
            return cls(dict(data["scores"]), flag=data.get("flag", "high"))
        except (KeyError, TypeError, ValueError) as err:
            raise InputError(f"bad human calibration: {err!r}", file=source, field="human_calibration") from None


def leave_source_out(sources: Sequence[str], score: Callable[[np.ndarray, np.ndarray], np.ndarray]
                     ) -> np.ndarray:
    """Score every item by a model that never saw its source.

    ``score(fit_mask, apply_mask)`` fits (or builds a bank, calibrates ...) on the rows of
    ``fit_mask`` and returns one value per row of ``apply_mask``; it is called once per source with
    ``fit_mask = sources != s`` and ``apply_mask = sources == s``.  Returns the assembled values
    (``float64``, one per item).

    >>> import numpy as np
    >>> src = np.array(["a", "a", "b"])
    >>> leave_source_out(src, lambda fit, apply: np.full(int(apply.sum()), fit.sum())).tolist()
    [1.0, 1.0, 2.0]
    """
    src = np.asarray([str(s) for s in sources])
    out = np.full(len(src), np.nan)
    for name in sorted(set(src.tolist())):
        inside = src == name
        out[inside] = np.asarray(score(~inside, inside), dtype=np.float64)
    return out


def boot_ci(flags: np.ndarray, *, reps: int = 2000, seed: int = 0) -> list[float]:
    """Bootstrap 95% interval of the mean of 0/1 ``flags`` (``[nan, nan]`` when empty)."""
    flags = np.asarray(flags, dtype=np.float64)
    if len(flags) == 0:
        return [float("nan"), float("nan")]
    rng = np.random.default_rng(seed)
    means = flags[rng.integers(0, len(flags), size=(reps, len(flags)))].mean(axis=1)
    return [round(float(np.quantile(means, 0.025)), 4), round(float(np.quantile(means, 0.975)), 4)]


def rate_ci(flags: np.ndarray, *, reps: int = 2000, seed: int = 0) -> dict[str, Any]:
    """``{"rate", "ci95", "n"}`` of boolean ``flags`` (bootstrap over items)."""
    flags = np.asarray(flags, dtype=bool)
    return {"rate": round(float(flags.mean()), 4) if len(flags) else float("nan"),
            "ci95": boot_ci(flags, reps=reps, seed=seed), "n": int(len(flags))}
