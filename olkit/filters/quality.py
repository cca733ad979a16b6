"""A learned quality score: MiniLM embeddings of instruction + response and a linear model.

Rules catch what someone thought of; a learned score catches what labelled data shows.  The
features are the response embedding, the element-wise product of instruction and response
embeddings (does the answer address this question?) and their cosine, all from the shared
:class:`olkit.filters.embeddings.EmbeddingCache` (the relevance filter embeds the same texts), plus
a few topic-free measures of the response's shape (:data:`SHAPE_FEATURES`: length, finished
sentences, letters, links).  A :class:`olkit.filters.synthetic.CalibratedLogistic` (standardised
logistic regression, Platt calibration on out-of-fold scores) turns them into ``quality.score`` =
the calibrated probability that the item is a genuine, useful contribution.

Generalising to other topics is the hard part: an embedding also encodes what a text is *about*
(Python documentation in the sample), and a model can learn "about Python" instead of "useful".
Three choices guard against that, each decided on the training data alone:

* strong regularisation (``C=0.02``);
* the shape features, which mean the same on any topic;
* ``groups``: the out-of-fold scores behind the calibration come from folds that hold out whole
  *topics* (the stdlib module a question is about), so the probability says how good an item
  looks to a model that has not seen its topic, and the ``min_score`` threshold keeps its meaning
  on new data.  Leave-topic-out AUROC also picked the feature set (0.962 with shape features
  against 0.955 without).

The shipped default (``data/models/quality_model.json``) is fitted on the sample datanet's
``train`` split, genuine items against low-effort, spam and off-topic items, grouped by module,
and refitted with ``scripts/refit_quality_model.py``; its metadata records
held-out and external AUROC.

Example
-------
>>> import polars as pl
>>> from olkit.filters.quality import QualityFilter
>>> from olkit.filters.config import FilterPolicy, QualityPolicy
>>> batch = pl.DataFrame({"submission_id": ["a"], "instruction": ["What does len() return?"],
...                       "response": ["The number of items in a container."]})
>>> f = QualityFilter()
>>> f.decide(f.score(batch), FilterPolicy()).columns
['submission_id', 'passed', 'score', 'reason_code']
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import ClassVar

import numpy as np
import polars as pl

from olkit.errors import InputError
from olkit.filters.base import rule_decisions
from olkit.filters.calibrated import CalibratedLogistic
from olkit.filters.config import FilterPolicy
from olkit.filters.embeddings import EmbeddingCache, EmbeddingFilter, cosine_rows, default_embedder
from olkit.filters.heuristics import TERMINAL_END
from olkit.filters.synthetic import default_model_path

DEFAULT_MODEL_FILE = "quality_model.json"
#: Labels counted as good / bad when fitting (duplicates, synthetic and other-language items have
#: their own filters and would only blur what "quality" means).
GOOD_LABELS: tuple[str, ...] = ("genuine",)
BAD_LABELS: tuple[str, ...] = ("low_effort", "spam", "off_topic")


#: Topic-free measures of the response text (see :func:`response_shape`).
SHAPE_FEATURES: tuple[str, ...] = ("log_chars", "log_words", "log_sentences", "letter_ratio",
                                   "ends_terminal", "links")


def response_shape(batch: pl.DataFrame) -> np.ndarray:
    """:data:`SHAPE_FEATURES` of each row's response (``text`` when the response is missing/empty):
    what a one-liner, a cut-off answer or a link dump look like, whatever the topic."""
    cols = [c for c in ("response", "text") if c in batch.columns]
    if not cols:
        return np.zeros((batch.height, len(SHAPE_FEATURES)))
    t = pl.coalesce([pl.when(pl.col(c).cast(pl.String) != "").then(pl.col(c).cast(pl.String)) for c in cols]
                    + [pl.lit("")]).str.strip_chars()
    chars = t.str.len_chars()
    return batch.select(
        chars.log1p().alias("log_chars"),
        t.str.count_matches(r"\S+").log1p().alias("log_words"),
        t.str.count_matches(r"[.!?](?:\s|$)").log1p().alias("log_sentences"),
        (t.str.count_matches(r"\p{L}") / chars.clip(lower_bound=1)).alias("letter_ratio"),
        t.str.contains(TERMINAL_END).cast(pl.Float64).alias("ends_terminal"),
        t.str.count_matches(r"https?://|www\.").alias("links"),
    ).to_numpy().astype(np.float64)


class QualityModel(CalibratedLogistic):
    """:class:`CalibratedLogistic` over embedding and response-shape features (1 = good quality).

    ``fit(X, y, groups)`` / ``predict_proba(X)`` take the matrix of :meth:`featurize`.
    """

    kind: ClassVar[str] = "olkit.quality_model"

    def __init__(self, dim: int = 384, *, C: float = 0.02, cv: int = 5, seed: int = 0) -> None:
        names = ([f"resp_{i}" for i in range(dim)] + [f"prod_{i}" for i in range(dim)] + ["cosine"]
                 + [f"shape_{n}" for n in SHAPE_FEATURES])
        super().__init__(names, C=C, cv=cv, seed=seed)

    @staticmethod
    def featurize_embeddings(instr: np.ndarray, resp: np.ndarray, shape: np.ndarray) -> np.ndarray:
        return np.hstack([resp, instr * resp, cosine_rows(instr, resp)[:, None], shape]).astype(np.float64)

    @staticmethod
    def featurize(batch: pl.DataFrame, embedder: EmbeddingCache | None = None) -> np.ndarray:
        """The feature matrix of a frame with ``instruction``/``response`` (or ``text``)."""
        instr, resp = (embedder if embedder is not None else default_embedder()).embed_pairs(batch)
        return QualityModel.featurize_embeddings(instr, resp, response_shape(batch))


@cache
def default_model() -> QualityModel:
    """The shipped fitted quality model."""
    return QualityModel.load(default_model_path(DEFAULT_MODEL_FILE))


class QualityFilter(EmbeddingFilter):
    """Reject items whose learned quality score is below ``quality.min_score``.

    Scores: ``quality.score`` (calibrated probability of being a good contribution; null for items
    with no content, which pass: the format filter rejects those).  Reason: ``quality.low_score``.
    """

    name: ClassVar[str] = "quality"
    layer: ClassVar[str] = "models"
    reason_code: ClassVar[str] = "quality.low_score"
    score_column: ClassVar[str] = "quality.score"

    def __init__(self, model: QualityModel | str | Path | None = None,
                 embedder: EmbeddingCache | None = None) -> None:
        super().__init__(embedder)
        if isinstance(model, str | Path):
            model = QualityModel.load(model)
        self._model = model

    @property
    def model(self) -> QualityModel:
        if self._model is None:
            self._model = default_model()
        return self._model

    def score_embedded(self, batch: pl.DataFrame, instr: np.ndarray, resp: np.ndarray) -> np.ndarray:
        prob = self.model.predict_proba(QualityModel.featurize_embeddings(instr, resp, response_shape(batch)))
        prob[~resp.any(axis=1)] = np.nan
        return prob

    def decide(self, scores: pl.DataFrame, policy: FilterPolicy) -> pl.DataFrame:
        p = policy.quality
        s = pl.col(self.score_column)
        return rule_decisions(scores, [(self.reason_code, s < p.min_score)], s, enabled=p.enabled)


def training_frame(frame: pl.DataFrame, good: Sequence[str] = GOOD_LABELS,
                   bad: Sequence[str] = BAD_LABELS) -> tuple[pl.DataFrame, np.ndarray]:
    """Rows with a good or bad label and their 0/1 targets."""
    if "label" not in frame.columns:
        raise InputError("a labelled frame needs a 'label' column", field="label")
    data = frame.filter(pl.col("label").is_in([*good, *bad]))
    return data, data.get_column("label").is_in(list(good)).to_numpy()


def fit_quality(frame: pl.DataFrame, *, seed: int = 0, C: float = 0.02, good: Sequence[str] = GOOD_LABELS,
                bad: Sequence[str] = BAD_LABELS, embedder: EmbeddingCache | None = None,
                group_col: str | None = None, extra_good: pl.DataFrame | None = None) -> QualityModel:
    """Fit a :class:`QualityModel` on a labelled frame (``good`` labels = 1, ``bad`` labels = 0).

    ``group_col`` names a column of topics (e.g. the source module): calibration then uses
    leave-topic-out folds (see the module docstring).  ``extra_good``: more good items
    (``instruction``/``response``, optional ``source`` = their group), e.g. human text of other
    genres, so that "good" does not come to mean "about the sample's topic, in its style".
    """
    if extra_good is not None and extra_good.height:
        group = group_col or "_group"
        extra = extra_good.select(
            pl.col("instruction").cast(pl.String), pl.col("response").cast(pl.String),
            pl.lit(good[0]).alias("label"),
            (pl.lit("extra:") + (pl.col("source").cast(pl.String) if "source" in extra_good.columns
                                 else pl.lit("good"))).alias(group))
        # without a group column every base row is its own group (plain stratified folds for them)
        base = frame if group in frame.columns else frame.with_columns(
            pl.int_range(pl.len()).cast(pl.String).alias(group))
        frame = pl.concat([base.select("instruction", "response", "label", pl.col(group).cast(pl.String)), extra])
        group_col = group
    data, y = training_frame(frame, good, bad)
    groups = None
    if group_col is not None:
        if group_col not in data.columns:
            raise InputError(f"no group column {group_col!r} in the labelled frame", field=group_col)
        groups = data.get_column(group_col).cast(pl.String).fill_null("").to_numpy()
    X = QualityModel.featurize(data, embedder)
    dim = (X.shape[1] - 1 - len(SHAPE_FEATURES)) // 2
    model = QualityModel(dim, C=C, seed=seed).fit(X, y, groups=groups)
    if group_col is not None:
        model.metadata["group_col"] = group_col
    return model
