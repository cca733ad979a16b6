"""A standardised logistic regression with Platt calibration over named features.

The model behind the synthetic-text detector and the learned quality score: fitted with sklearn,
stored as a small JSON of arrays, evaluated with numpy.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import polars as pl

from olkit.errors import InputError
from olkit.filters.metrics import auroc
from olkit.kit import write_text_atomic


class CalibratedLogistic:
    """Standardised logistic regression + Platt calibration over named features.

    ``fit`` learns the logistic regression on all rows and the calibration (a 1-D logistic fit)
    on out-of-fold decision values from ``cv`` folds, the same scheme as sklearn's
    ``CalibratedClassifierCV(method="sigmoid", ensemble=False)``.  The fitted model is plain
    arrays, saved as JSON and evaluated with numpy (no sklearn needed to score).

    Example
    -------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 3)); y = (X[:, 0] + 0.3 * rng.normal(size=200)) > 0
    >>> clf = CalibratedLogistic(["a", "b", "c"], seed=0).fit(X, y)
    >>> float(clf.predict_proba(X[:1])[0]) >= 0.0
    True
    """

    kind: ClassVar[str] = "olkit.calibrated_logistic"

    def __init__(self, features: Sequence[str], *, C: float = 1.0, cv: int = 5,
                 seed: int = 0) -> None:
        self.features = tuple(features)
        self.C = float(C)
        self.cv = int(cv)
        self.seed = int(seed)
        self.mean_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None
        self.coef_: np.ndarray | None = None
        self.intercept_: float = 0.0
        self.calibration_: tuple[float, float] = (1.0, 0.0)
        self.fill_: np.ndarray | None = None
        self.metadata: dict[str, Any] = {}

    # -- helpers ----------------------------------------------------------------------------
    def _matrix(self, X) -> np.ndarray:
        if isinstance(X, pl.DataFrame):
            missing = [f for f in self.features if f not in X.columns]
            if missing:
                raise InputError(f"feature columns missing: {missing}", field=missing[0])
            X = X.select(self.features).to_numpy()
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != len(self.features):
            raise InputError(f"expected {len(self.features)} feature columns, got shape {X.shape}")
        return X

    @property
    def is_fitted(self) -> bool:
        return self.coef_ is not None

    def fit(self, X, y, groups=None) -> CalibratedLogistic:
        """Fit on a feature matrix/frame and binary labels (1 = the positive class).

        ``groups`` (one id per row, e.g. the topic an item is about) makes the out-of-fold scores
        behind the Platt calibration and ``cv_auroc`` come from *unseen groups*: probabilities are
        then calibrated for data from a new topic rather than for more of the same.
        """
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

        X = self._matrix(X)
        y = np.asarray(y).astype(int)
        ok = np.isfinite(X).all(axis=1)
        X, y = X[ok], y[ok]
        if groups is not None:
            groups = np.asarray(groups)
            if len(groups) != len(ok):
                raise InputError(f"groups has {len(groups)} entries for {len(ok)} rows", field="groups")
            groups = groups[ok]
        if len(np.unique(y)) < 2:
            raise InputError("need examples of both classes to fit", field="label")
        self.fill_ = np.nanmedian(X, axis=0)
        self.mean_ = X.mean(axis=0)
        self.scale_ = X.std(axis=0)
        self.scale_[self.scale_ < 1e-12] = 1.0
        Z = (X - self.mean_) / self.scale_

        def lr():
            return LogisticRegression(C=self.C, max_iter=2000)

        folds = max(2, min(self.cv, int(np.bincount(y).min())))
        if groups is not None:
            folds = max(2, min(folds, len(np.unique(groups))))
            splits = StratifiedGroupKFold(folds, shuffle=True, random_state=self.seed).split(Z, y, groups)
        else:
            splits = StratifiedKFold(folds, shuffle=True, random_state=self.seed).split(Z, y)
        oof = np.zeros(len(y))
        for tr, te in splits:
            oof[te] = lr().fit(Z[tr], y[tr]).decision_function(Z[te])
        platt = LogisticRegression(C=1e6, max_iter=2000).fit(oof.reshape(-1, 1), y)
        self.calibration_ = (float(platt.coef_[0, 0]), float(platt.intercept_[0]))
        model = lr().fit(Z, y)
        self.coef_ = model.coef_[0].astype(np.float64)
        self.intercept_ = float(model.intercept_[0])
        self.metadata = {"n_train": int(len(y)), "n_positive": int(y.sum()),
                         "cv_auroc": float(auroc(y, oof)), "C": self.C, "seed": self.seed,
                         "cv": "grouped" if groups is not None else "stratified"}
        return self

    def decision_function(self, X) -> np.ndarray:
        if not self.is_fitted:
            raise RuntimeError(f"{type(self).__name__} is not fitted")
        X = self._matrix(X)
        X = np.where(np.isfinite(X), X, self.fill_)
        return ((X - self.mean_) / self.scale_) @ self.coef_ + self.intercept_

    def predict_proba(self, X) -> np.ndarray:
        """Calibrated probability of the positive class for each row (all-NaN rows → NaN)."""
        X = self._matrix(X)
        bad = ~np.isfinite(X).any(axis=1)
        a, b = self.calibration_
        p = 1.0 / (1.0 + np.exp(-(a * self.decision_function(X) + b)))
        p[bad] = np.nan
        return p

    # -- persistence --------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        if not self.is_fitted:
            raise RuntimeError(f"{type(self).__name__} is not fitted")
        def r(a: np.ndarray) -> list[float]:
            return [float(f"{v:.7g}") for v in a]

        return {"kind": self.kind, "version": 1, "features": list(self.features),
                "mean": r(self.mean_), "scale": r(self.scale_), "fill": r(self.fill_),
                "coef": r(self.coef_), "intercept": self.intercept_,
                "calibration": list(self.calibration_), "C": self.C, "cv": self.cv, "seed": self.seed,
                "metadata": self.metadata}

    def save(self, path: str | Path) -> Path:
        """Write the JSON atomically."""
        return write_text_atomic(path, json.dumps(self.to_dict(), indent=1))

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "<dict>") -> CalibratedLogistic:
        if not isinstance(data, dict) or data.get("kind") != cls.kind:
            got = data.get("kind") if isinstance(data, dict) else type(data).__name__
            raise InputError(f"expected a {cls.kind!r} model, got {got!r}", file=source, field="kind")
        try:
            clf = cls.__new__(cls)
            CalibratedLogistic.__init__(clf, data["features"], C=data.get("C", 1.0), cv=data.get("cv", 5), seed=data.get("seed", 0))
            clf.mean_ = np.asarray(data["mean"], dtype=np.float64)
            clf.scale_ = np.asarray(data["scale"], dtype=np.float64)
            clf.fill_ = np.asarray(data["fill"], dtype=np.float64)
            clf.coef_ = np.asarray(data["coef"], dtype=np.float64)
            clf.intercept_ = float(data["intercept"])
            clf.calibration_ = (float(data["calibration"][0]), float(data["calibration"][1]))
            clf.metadata = dict(data.get("metadata", {}))
        except (KeyError, TypeError, ValueError, IndexError) as err:
            raise InputError(f"not a synthetic-text classifier: {err!r}", file=source) from None
        if not (len(clf.mean_) == len(clf.scale_) == len(clf.coef_) == len(clf.features)):
            raise InputError("feature/coefficient lengths differ", file=source, field="coef")
        return clf

    @classmethod
    def load(cls, path: str | Path) -> CalibratedLogistic:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError("no such model file", file=str(path)) from None
        except json.JSONDecodeError as err:
            raise InputError(f"not valid JSON: {err.msg}", file=str(path), row=err.lineno) from None
        return cls.from_dict(data, source=str(path))
