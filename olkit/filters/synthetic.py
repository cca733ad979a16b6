"""Synthetic (machine-generated) text detection with the embedded SmolLM2.

Machine-generated text is *unsurprising* to a language model: its tokens sit high in the model's
ranking, its per-token log-probabilities are high and even, and it beats the model's own expected
log-probability by more than human text does.  Three parts:

* :class:`LMFeatureExtractor` runs SmolLM2-135M-Instruct (``olkit.embedded.smollm2_path()``) over
  the response *given the instruction* (chat template, batched forward passes under
  ``torch.inference_mode``, truncated to a few hundred tokens) and turns per-token log-probability,
  rank and entropy into a handful of per-item features (:data:`FEATURES`): mean/std log-prob,
  perplexity, mean log-rank, top-1/top-10 hit rates, mean entropy, the log-likelihood/log-rank
  ratio (DetectLLM LRR) and the analytic sampling-discrepancy curvature of Fast-DetectGPT.
  Features are cached on disk by a hash of the content and the extractor settings, so each item
  is scored by the LM once, ever.
* :class:`SyntheticTextClassifier` is a standardised logistic regression on those features with
  Platt calibration fitted on out-of-fold scores, ``fit``/``predict_proba`` like an sklearn
  estimator, saved as a small JSON of coefficients (``data/models/synthetic_detector.json``).
* :class:`SyntheticFilter` plugs both into the filter contract: ``score`` gives
  ``synthetic.prob`` (calibrated probability the response is machine-generated) plus the raw
  features; ``decide`` rejects with ``synthetic.machine_generated`` when the probability exceeds
  ``policy.synthetic.threshold``.

The shipped default is refitted with :func:`fit_default` (``python -m olkit.filters.synthetic``).

Example
-------
>>> import polars as pl
>>> from olkit.filters.synthetic import SyntheticFilter
>>> from olkit.filters.config import FilterPolicy
>>> batch = pl.DataFrame({"submission_id": ["a"], "instruction": ["Name a fruit."],
...                       "response": ["An apple is a fruit."]})
>>> f = SyntheticFilter()
>>> scores = f.score(batch)            # runs SmolLM2 once (cached on disk)
>>> f.decide(scores, FilterPolicy()).columns
['submission_id', 'passed', 'score', 'reason_code']
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import polars as pl
from tqdm.auto import tqdm

from olkit.errors import InputError
from olkit.filters.base import Filter
from olkit.filters.config import FilterPolicy
from olkit.filters.pipeline import rule_decisions
from olkit.kit import atomic_file, auroc, write_text_atomic  # noqa: F401  (auroc: re-exported)

#: Per-item features computed by :class:`LMFeatureExtractor` (column order of the feature matrix).
FEATURES: tuple[str, ...] = (
    "mean_logprob",     # mean log p(token | prefix) over response tokens
    "std_logprob",      # spread of the per-token log-probs (human text is burstier)
    "log_ppl",          # log perplexity of the response given the instruction (= -mean_logprob)
    "mean_log_rank",    # mean log(rank of the observed token), rank 1 = the model's top choice
    "top1_rate",        # share of tokens that are the model's top-1 choice
    "top10_rate",       # share of tokens in the model's top 10
    "mean_entropy",     # mean entropy of the next-token distribution (nats)
    "lrr",              # DetectLLM log-likelihood / log-rank ratio
    "curvature",        # Fast-DetectGPT analytic sampling discrepancy (z-score of the log-lik)
    "logprob_gap",      # mean (log p(token) + entropy): log-lik above the model's expectation
    "log_n_tokens",     # log(1 + number of response tokens scored)
)

#: Version of the feature definitions; part of the disk-cache key.
FEATURE_VERSION = 1

DEFAULT_MODEL_FILE = "synthetic_detector.json"


# --------------------------------------------------------------------------------------------
# LM features
# --------------------------------------------------------------------------------------------

@cache
def _load_lm(path: str):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    model.eval()
    return tokenizer, model


@dataclass
class LMFeatureExtractor:
    """Per-token log-prob / rank / entropy features of responses, from a causal LM.

    Parameters
    ----------
    model_path:
        A transformers causal-LM folder (default: the embedded SmolLM2-135M-Instruct).
    max_response_tokens, max_instruction_tokens:
        Truncation: the first ``max_response_tokens`` response tokens are scored, conditioned on
        the first ``max_instruction_tokens`` instruction tokens.
    batch_size:
        Items per forward pass (items are length-sorted, so padding stays small).
    cache:
        Keep features on disk under ``<olkit cache>/lm_features/<settings hash>/`` keyed by a
        content hash (``True`` by default; ``False`` for none, or a folder).
    """

    model_path: str | Path | None = None
    max_response_tokens: int = 64
    max_instruction_tokens: int = 48
    batch_size: int = 16
    cache: bool | str | Path = True
    show_progress: bool = True
    max_cache_parts: int = 64
    n_computed: int = field(default=0, init=False)
    n_cached: int = field(default=0, init=False)

    # -- identity / cache ---------------------------------------------------------------------
    @property
    def resolved_model_path(self) -> Path:
        if self.model_path is None:
            from olkit.embedded import smollm2_path

            return smollm2_path()
        return Path(self.model_path)

    @property
    def settings_key(self) -> str:
        name = "smollm2-135m-instruct" if self.model_path is None else Path(self.model_path).name
        raw = f"{name}|{self.max_response_tokens}|{self.max_instruction_tokens}|v{FEATURE_VERSION}"
        return hashlib.sha256(raw.encode()).hexdigest()[:16]

    @property
    def cache_dir(self) -> Path | None:
        if self.cache is False:
            return None
        if self.cache is True:
            from olkit.embedded import cache_dir

            root = cache_dir() / "lm_features"
        else:
            root = Path(self.cache)
        return root / self.settings_key

    @staticmethod
    def item_keys(instructions: Sequence[str], responses: Sequence[str]) -> list[str]:
        """Content hash of each (instruction, response) pair."""
        return [hashlib.blake2b(f"{i}\x1f{r}".encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
                for i, r in zip(instructions, responses, strict=True)]

    def _read_cache(self, keys: list[str]) -> pl.DataFrame | None:
        folder = self.cache_dir
        if folder is None or not folder.is_dir() or not any(folder.glob("part-*.parquet")):
            return None
        want = pl.DataFrame({"key": list(dict.fromkeys(keys))}, schema={"key": pl.String})
        try:
            return (pl.scan_parquet(str(folder / "part-*.parquet")).join(want.lazy(), on="key", how="semi")
                    .unique("key", keep="first").collect())
        except (OSError, pl.exceptions.PolarsError):  # a part compacted away by another process
            return None

    def _write_cache(self, frame: pl.DataFrame) -> None:
        folder = self.cache_dir
        if folder is None or frame.height == 0:
            return
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_file(folder / f"part-{uuid.uuid4().hex}.parquet") as tmp:
            frame.write_parquet(tmp)
        parts = sorted(folder.glob("part-*.parquet"))
        if len(parts) > self.max_cache_parts:  # keep scans fast: merge the small parts into one
            merged = pl.concat([pl.read_parquet(p) for p in parts], how="vertical_relaxed").unique(
                "key", keep="first", maintain_order=True)
            with atomic_file(folder / f"part-{uuid.uuid4().hex}.parquet") as tmp:
                merged.write_parquet(tmp)
            for p in parts:
                p.unlink(missing_ok=True)

    # -- public -------------------------------------------------------------------------------
    def transform(self, instructions: Sequence[str | None], responses: Sequence[str | None]) -> pl.DataFrame:
        """A frame with one row per item and the :data:`FEATURES` columns (``Float64``).

        Items whose response is empty (or scores no token) get nulls.
        """
        instructions = ["" if x is None else str(x) for x in instructions]
        responses = ["" if x is None else str(x) for x in responses]
        if len(instructions) != len(responses):
            raise InputError("instructions and responses differ in length", field="response")
        keys = self.item_keys(instructions, responses)
        if not keys:
            return pl.DataFrame(schema={f: pl.Float64 for f in FEATURES})
        order = pl.DataFrame({"key": keys, "_i": np.arange(len(keys))}, schema={"key": pl.String, "_i": pl.Int64})
        cached = self._read_cache(keys)
        have = set() if cached is None else set(cached.get_column("key").to_list())
        todo: dict[str, int] = {}
        for i, (k, r) in enumerate(zip(keys, responses, strict=True)):
            if k not in have and k not in todo and r.strip():
                todo[k] = i
        self.n_cached += len(keys) - len(todo)
        parts = [] if cached is None else [cached]
        if todo:
            idx = list(todo.values())
            feats = self._compute([instructions[i] for i in idx], [responses[i] for i in idx])
            new = pl.DataFrame({"key": list(todo)}).hstack(feats)
            self._write_cache(new)
            self.n_computed += len(todo)
            parts.append(new)
        schema = {"key": pl.String, **{f: pl.Float64 for f in FEATURES}}
        table = pl.concat([p.select(list(schema)).cast(schema) for p in parts]) if parts \
            else pl.DataFrame(schema=schema)
        return order.join(table, on="key", how="left").sort("_i").select(list(FEATURES))

    # -- the forward passes -------------------------------------------------------------------
    def _tokenize(self, tokenizer, instructions: list[str], responses: list[str]) -> list[tuple[list[int], int]]:
        # Cut characters first so megabyte strings never reach the tokenizer whole.
        instr_ids = tokenizer([s[: self.max_instruction_tokens * 16] for s in instructions],
                              add_special_tokens=False)["input_ids"]
        resp_ids = tokenizer([s[: self.max_response_tokens * 16] for s in responses],
                             add_special_tokens=False)["input_ids"]
        head = tokenizer("<|im_start|>user\n", add_special_tokens=False)["input_ids"]
        mid = tokenizer("<|im_end|>\n<|im_start|>assistant\n", add_special_tokens=False)["input_ids"]
        out = []
        for ins, res in zip(instr_ids, resp_ids, strict=True):
            prefix = head + ins[: self.max_instruction_tokens] + mid
            out.append((prefix + res[: self.max_response_tokens], len(prefix)))
        return out

    def _compute(self, instructions: list[str], responses: list[str]) -> pl.DataFrame:
        import torch

        tokenizer, model = _load_lm(str(self.resolved_model_path))
        seqs = self._tokenize(tokenizer, instructions, responses)
        n = len(seqs)
        out = np.full((n, len(FEATURES)), np.nan, dtype=np.float64)
        order = np.argsort([len(s) for s, _ in seqs], kind="stable")
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        batches = [order[i: i + self.batch_size] for i in range(0, n, self.batch_size)]
        bar = tqdm(total=n, desc="SmolLM2 features", unit="item",
                   disable=not self.show_progress or n < 2 * self.batch_size)
        with torch.inference_mode():
            for rows in batches:
                items = [seqs[i] for i in rows]
                width = max(len(s) for s, _ in items)
                ids = torch.full((len(items), width), pad, dtype=torch.long)
                att = torch.zeros((len(items), width), dtype=torch.long)
                target = torch.zeros((len(items), width), dtype=torch.bool)
                for j, (s, start) in enumerate(items):
                    ids[j, : len(s)] = torch.tensor(s, dtype=torch.long)
                    att[j, : len(s)] = 1
                    target[j, start: len(s)] = True
                out[rows] = self._batch_features(model, ids, att, target)
                bar.update(len(rows))
        bar.close()
        return pl.DataFrame(out, schema=list(FEATURES), orient="row").fill_nan(None)

    @staticmethod
    def _batch_features(model, ids, att, target) -> np.ndarray:
        import torch

        hidden = model.model(input_ids=ids, attention_mask=att).last_hidden_state  # (B, L, H)
        # hidden state at position p predicts the token at p + 1
        pred_mask = target[:, 1:]
        h = hidden[:, :-1][pred_mask]                       # (T, H)
        tok = ids[:, 1:][pred_mask]                         # (T,)
        seg = torch.arange(ids.shape[0]).unsqueeze(1).expand_as(pred_mask)[pred_mask]
        lp_list, rank_list, ent_list, var_list = [], [], [], []
        for lo in range(0, h.shape[0], 1024):               # bounded memory for the vocab axis
            logits = model.lm_head(h[lo: lo + 1024]).float()
            logp = torch.log_softmax(logits, dim=-1)
            t = tok[lo: lo + 1024]
            lp_tok = logp.gather(1, t.unsqueeze(1)).squeeze(1)
            rank = (logp > lp_tok.unsqueeze(1)).sum(1) + 1
            p = logp.exp()
            mean_lp = (p * logp).sum(1)                     # = -entropy
            var_lp = (p * logp.square()).sum(1) - mean_lp.square()
            lp_list.append(lp_tok)
            rank_list.append(rank)
            ent_list.append(-mean_lp)
            var_list.append(var_lp.clamp_min(0))
        b = ids.shape[0]
        res = np.full((b, len(FEATURES)), np.nan)
        if not lp_list:
            return res
        lp = torch.cat(lp_list).double()
        lrank = torch.cat(rank_list).double().log()
        ent = torch.cat(ent_list).double()
        var = torch.cat(var_list).double()
        one = torch.ones_like(lp)

        def seg_sum(x):
            return torch.zeros(b, dtype=torch.float64).index_add_(0, seg, x)

        cnt = seg_sum(one)
        safe = cnt.clamp_min(1)
        mean_lp = seg_sum(lp) / safe
        std_lp = (seg_sum(lp.square()) / safe - mean_lp.square()).clamp_min(0).sqrt()
        mean_lrank = seg_sum(lrank) / safe
        top1 = seg_sum((lrank == 0).double()) / safe
        top10 = seg_sum((lrank <= math.log(10)).double()) / safe
        mean_ent = seg_sum(ent) / safe
        lrr = -mean_lp / mean_lrank.clamp_min(1e-3)
        gap_sum = seg_sum(lp + ent)
        curvature = gap_sum / seg_sum(var).clamp_min(1e-6).sqrt()
        cols = [mean_lp, std_lp, -mean_lp, mean_lrank, top1, top10, mean_ent, lrr, curvature,
                gap_sum / safe, (cnt + 1).log()]
        res = torch.stack(cols, dim=1).numpy()
        res[cnt.numpy() == 0] = np.nan
        return res


# --------------------------------------------------------------------------------------------
# Calibrated classifier
# --------------------------------------------------------------------------------------------

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
    >>> X = rng.normal(size=(200, len(FEATURES))); y = (X[:, 0] + 0.3 * rng.normal(size=200)) > 0
    >>> clf = SyntheticTextClassifier(seed=0).fit(X, y)
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


class SyntheticTextClassifier(CalibratedLogistic):
    """:class:`CalibratedLogistic` over the LM :data:`FEATURES` (1 = machine-generated)."""

    kind: ClassVar[str] = "olkit.synthetic_text_classifier"

    def __init__(self, features: Sequence[str] = FEATURES, *, C: float = 1.0, cv: int = 5,
                 seed: int = 0) -> None:
        super().__init__(features, C=C, cv=cv, seed=seed)

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "feature_version": FEATURE_VERSION}


def default_model_path(name: str = DEFAULT_MODEL_FILE) -> Path:
    """Where the shipped fitted models live (``data/models/``)."""
    from olkit.paths import data_dir

    return data_dir() / "models" / name


@cache
def default_classifier() -> SyntheticTextClassifier:
    """The shipped fitted detector."""
    return SyntheticTextClassifier.load(default_model_path())


# --------------------------------------------------------------------------------------------
# The filter
# --------------------------------------------------------------------------------------------

class SyntheticFilter(Filter):
    """Reject responses the LM-feature classifier calls machine-generated.

    Scores: ``synthetic.prob`` (calibrated probability), ``synthetic.log_ppl`` and
    ``synthetic.curvature`` (for inspection).  Decision: reject with
    ``synthetic.machine_generated`` when ``prob >= policy.synthetic.threshold``; items that
    could not be scored (empty response) pass (the format filters deal with those).
    """

    name: ClassVar[str] = "synthetic"
    layer: ClassVar[str] = "models"
    reason_code: ClassVar[str] = "synthetic.machine_generated"

    def __init__(self, classifier: SyntheticTextClassifier | str | Path | None = None,
                 extractor: LMFeatureExtractor | None = None) -> None:
        if isinstance(classifier, str | Path):
            classifier = SyntheticTextClassifier.load(classifier)
        self._classifier = classifier
        self.extractor = extractor or LMFeatureExtractor()

    @property
    def classifier(self) -> SyntheticTextClassifier:
        if self._classifier is None:
            self._classifier = default_classifier()
        return self._classifier

    def features(self, batch: pl.DataFrame) -> pl.DataFrame:
        """The raw LM features of a batch (``response``, or ``text`` for documents)."""
        n = batch.height
        instr = batch.get_column("instruction").to_list() if "instruction" in batch.columns else [None] * n
        resp = batch.get_column("response").to_list() if "response" in batch.columns else [None] * n
        if "text" in batch.columns:
            text = batch.get_column("text").to_list()
            resp = [r if r else t for r, t in zip(resp, text, strict=True)]
        return self.extractor.transform(instr, resp)

    def score(self, batch: pl.DataFrame) -> pl.DataFrame:
        feats = self.features(batch)
        prob = self.classifier.predict_proba(feats) if feats.height else np.zeros(0)
        return pl.DataFrame({
            "submission_id": batch.get_column("submission_id"),
            "synthetic.prob": pl.Series(prob, dtype=pl.Float64).fill_nan(None),
            "synthetic.log_ppl": feats.get_column("log_ppl"),
            "synthetic.curvature": feats.get_column("curvature"),
        })

    def decide(self, scores: pl.DataFrame, policy: FilterPolicy) -> pl.DataFrame:
        p = policy.synthetic
        prob = pl.col("synthetic.prob")
        return rule_decisions(scores, [(self.reason_code, prob >= p.threshold)], prob, enabled=p.enabled)


# --------------------------------------------------------------------------------------------
# Refit the shipped default
# --------------------------------------------------------------------------------------------

def training_frame(frame: pl.DataFrame, *, human_labels: Sequence[str] = ("genuine",),
                   synthetic_label: str = "synthetic") -> pl.DataFrame:
    """Rows usable to fit the detector: human-written (``genuine``) vs ``synthetic``, non-empty."""
    return frame.filter(pl.col("label").is_in([*human_labels, synthetic_label])
                        & (pl.col("response").fill_null("").str.strip_chars() != ""))


def fit_detector(frame: pl.DataFrame, *, extractor: LMFeatureExtractor | None = None, seed: int = 0,
                 C: float = 1.0) -> SyntheticTextClassifier:
    """Fit a :class:`SyntheticTextClassifier` on a labelled frame (``label == "synthetic"`` = 1)."""
    data = training_frame(frame)
    extractor = extractor or LMFeatureExtractor()
    feats = extractor.transform(data.get_column("instruction").to_list(), data.get_column("response").to_list())
    y = (data.get_column("label") == "synthetic").to_numpy()
    return SyntheticTextClassifier(seed=seed, C=C).fit(feats, y)


def fit_default(n_contributors: int = 200, seed: int = 0, out: str | Path | None = None,
                max_per_class: int = 120, max_eval_per_class: int = 80) -> dict[str, Any]:
    """Refit the shipped detector on the sample datanet's ``train`` split; report held-out AUROC.

    At most ``max_per_class`` synthetic and as many genuine items (drawn with ``seed``) are used
    for fitting, ``max_eval_per_class`` of each for evaluation, to keep the SmolLM2 pass
    affordable on a CPU.  AUROC is measured the same way on the
    ``heldout`` split and on :func:`olkit.data.external.external_eval_set`, which nobody fitted on.
    Returns the metrics (also stored in the model's ``metadata``).
    """
    from olkit.data import external_eval_set, sample_stream

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


if __name__ == "__main__":  # python -m olkit.filters.synthetic [n_contributors seed max_per_class max_eval]
    import sys

    args = [int(a) for a in sys.argv[1:3]]
    args += [None] + [int(a) for a in sys.argv[3:5]]  # out=None
    print(json.dumps(fit_default(*args), indent=1))
