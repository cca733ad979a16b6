"""Ground truth by retraining, and the scores that say how right each attribution method is.

The protocol (Ilyas et al. 2022; Park et al. 2023) on a setup small enough for CPU:

1. train a LoRA adapter on all ``n`` training items (fixed init and seed), keep checkpoints;
2. run every attribution method on that adapter (timed);
3. retrain from the same initialisation on ``n_subsets`` random subsets holding ``fraction`` of the
   items and on every leave-one-contributor-out set, recording each eval item's loss;
4. score each method:

   * **LDS** (linear datamodeling score): for each eval item, the Spearman correlation across subsets
     between the predicted loss ``-sum_{i in S} score_ij`` and the actual loss, averaged over eval items;
   * **LOCO correlation**: Spearman between a contributor's summed score and the rise in total eval
     loss when that contributor is left out;
   * **bad-data AUC**: ROC AUC for flagging injected spam / wrong answers by negative influence:
     ``bad_auc`` ranks by harm (:func:`harm_scores`, the standardised negative influence summed over
     eval items), ``bad_auc_net`` by net influence ``-sum_j score_ij``;
   * seconds, and the speed-up over retraining.

:func:`evaluate` repeats this over seeds so every number comes with its seed-to-seed spread.

Example
-------
>>> from olkit.attribution.task import make_task
>>> setup = Setup.from_task(make_task(n_contributors=4, items_per_contributor=5, n_eval=6, seed=0))
>>> ctx = setup.train_full()
>>> gt = ground_truth(setup, n_subsets=4, seed=0)
>>> gt.subset_losses.shape
(4, 6)
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import torch
from scipy.stats import rankdata, spearmanr
from tqdm.auto import tqdm

from olkit.attribution.base import Attribution, ModelContext
from olkit.attribution.methods import Method, make_method
from olkit.attribution.task import AttributionTask, make_task
from olkit.train.data import Batch, Examples, build_examples
from olkit.train.models import LoadedBase, frame_texts, word_base
from olkit.train.qlora import (
    TrainConfig,
    TrainResult,
    attach_lora,
    load_lora_state,
    lora_state,
    per_example_loss,
    train,
)

DEFAULT_METHODS = ("gradsim", "tracin", "tracin_adam", "datainf", "trak", "knn_shapley")

#: How the ground-truth runs train (``olkit.train.TrainConfig`` fields): full precision, a constant
#: learning rate, no clipping, every example's mean loss weighing the same (what per-example
#: gradients attribute), checkpoints with Adam's state kept in memory.  :class:`Setup` trains
#: full batch (every kept row at every step), so the same rows always give the same trajectory.
ATTRIBUTION_TRAIN = dict(steps=30, learning_rate=3e-3, lr_scheduler="constant", max_grad_norm=None,
                         checkpoint_every=5, lora_r=8, lora_alpha=16.0, max_length=48, quantization=None,
                         compute_dtype="float32", device="cpu", loss_weighting="examples",
                         keep_checkpoints=True, gradient_checkpointing=False)


def train_config(**overrides) -> TrainConfig:
    """The :class:`~olkit.train.TrainConfig` of the ground-truth runs (:data:`ATTRIBUTION_TRAIN`)
    with ``overrides``."""
    return TrainConfig(**{**ATTRIBUTION_TRAIN, **overrides})


@dataclass
class Setup:
    """A task, the ``tiny-word`` base with a fixed LoRA initialisation, and the encoded data."""

    task: AttributionTask
    config: TrainConfig
    base: LoadedBase
    model: object
    init_state: dict[str, torch.Tensor]
    train_examples: Examples
    eval_batch: Batch
    seed: int = 0
    last_train: TrainResult | None = None

    @classmethod
    def from_task(cls, task: AttributionTask, config: TrainConfig | None = None, *, seed: int = 0,
                  hidden: int = 64, layers: int = 2, embed_std: float = 0.5) -> Setup:
        """The base (:func:`olkit.train.models.word_base` fitted on the task's text, drawn from
        ``seed``) and the LoRA init (``seed``); ``config`` defaults to :func:`train_config`, and
        its seed is replaced by ``seed``."""
        config = (config or train_config()).model_copy(update={"seed": seed})
        base = word_base(frame_texts(task.train, task.eval), hidden=hidden, layers=layers, embed_std=embed_std,
                         seed=seed)
        model = attach_lora(base, config)
        return cls(task=task, config=config, base=base, model=model, init_state=lora_state(model),
                   train_examples=build_examples(task.train, base.tokenizer, max_length=config.max_length),
                   eval_batch=build_examples(task.eval, base.tokenizer, max_length=config.max_length).batch(),
                   seed=seed)

    @property
    def tokenizer(self):
        return self.base.tokenizer

    def retrain(self, keep: np.ndarray | None = None, *, checkpoints: bool = False,
                out_dir: str | Path | None = None) -> TrainResult:
        """Train full batch from the fixed init on the rows where ``keep`` is true."""
        ex = self.train_examples if keep is None else self.train_examples.subset(np.flatnonzero(keep))
        update = {"batch_size": len(ex), "grad_accum": 1}
        if not checkpoints:
            update.update(checkpoint_every=0, keep_checkpoints=False)
        return train(self.base, ex, self.config.model_copy(update=update), out_dir, model=self.model,
                     init_state=self.init_state, progress=False, overwrite=True)

    def eval_losses(self) -> np.ndarray:
        return per_example_loss(self.model, self.eval_batch)

    def context(self, result: TrainResult) -> ModelContext:
        return ModelContext(model=self.model, tokenizer=self.tokenizer, checkpoints=result.checkpoints,
                            max_length=self.config.max_length)

    def train_full(self) -> ModelContext:
        """Train on everything (with checkpoints) and return the context methods attribute."""
        self.last_train = self.retrain(None, checkpoints=True)
        return self.context(self.last_train)

    def save_adapter(self, out_dir: str | Path) -> Path:
        """Train on everything and write a self-contained adapter folder: the ``olkit.train`` layout
        (checkpoints with Adam's state) plus the base in ``base/`` and the training rows in
        ``olkit_train.parquet``."""
        from olkit.attribution.adapters import TRAIN_FILE
        from olkit.kit import atomic_file

        self.last_train = self.retrain(None, checkpoints=True, out_dir=out_dir)
        folder = Path(self.last_train.adapter_dir)
        with atomic_file(folder / TRAIN_FILE) as tmp:
            self.task.train.write_parquet(tmp)
        return folder


@dataclass
class GroundTruth:
    """Eval losses after retraining on subsets and without each contributor."""

    subsets: np.ndarray  # (S, n) bool
    subset_losses: np.ndarray  # (S, m)
    full_losses: np.ndarray  # (m,)
    init_losses: np.ndarray  # (m,)
    contributors: list[str] = field(default_factory=list)
    loco_losses: np.ndarray | None = None  # (C, m)
    seconds_per_retrain: float = 0.0


def ground_truth(setup: Setup, *, n_subsets: int = 40, fraction: float = 0.5, loco: bool = True,
                 seed: int = 0, progress: bool = False) -> GroundTruth:
    """Retrain on random subsets (and leave-one-contributor-out sets); record eval losses."""
    rng = np.random.default_rng(seed)
    n = len(setup.train_examples)
    size = max(1, int(round(fraction * n)))
    subsets = np.zeros((n_subsets, n), dtype=bool)
    for s in range(n_subsets):
        subsets[s, rng.choice(n, size=size, replace=False)] = True
    load_lora_state(setup.model, setup.init_state)
    init_losses = setup.eval_losses()
    t0 = time.perf_counter()
    losses = []
    for s in tqdm(range(n_subsets), desc="retrain subsets", disable=not progress):
        setup.retrain(subsets[s])
        losses.append(setup.eval_losses())
    per = (time.perf_counter() - t0) / max(1, n_subsets)
    contributors = sorted(set(setup.task.train["contributor_id"].to_list()))
    loco_losses = None
    if loco:
        cid = np.asarray(setup.task.train["contributor_id"].to_list())
        loco_losses = []
        for c in tqdm(contributors, desc="leave contributor out", disable=not progress):
            setup.retrain(cid != c)
            loco_losses.append(setup.eval_losses())
        loco_losses = np.asarray(loco_losses)
    setup.retrain(None)
    full = setup.eval_losses()
    return GroundTruth(subsets=subsets, subset_losses=np.asarray(losses), full_losses=full,
                       init_losses=init_losses, contributors=contributors, loco_losses=loco_losses,
                       seconds_per_retrain=per)


def loo_attribution(setup: Setup, *, progress: bool = False) -> Attribution:
    """Brute-force leave-one-out retraining: ``score_ij = loss_j(without i) - loss_j(all)``."""
    t0 = time.perf_counter()
    setup.retrain(None)
    full = setup.eval_losses()
    n = len(setup.train_examples)
    scores = np.zeros((n, full.shape[0]))
    for i in tqdm(range(n), desc="leave one out", disable=not progress):
        keep = np.ones(n, dtype=bool)
        keep[i] = False
        setup.retrain(keep)
        scores[i] = setup.eval_losses() - full
    setup.retrain(None, checkpoints=False)
    train = setup.task.train
    return Attribution("loo_retrain", scores, train["submission_id"].to_list(), _eval_ids(setup),
                       train["contributor_id"].to_list(), seconds=time.perf_counter() - t0)


def _eval_ids(setup: Setup) -> list[str]:
    return setup.task.eval["eval_id"].to_list()


# ---------------------------------------------------------------------------------------------
# metrics
# ---------------------------------------------------------------------------------------------
def lds(scores: np.ndarray, subsets: np.ndarray, subset_losses: np.ndarray) -> float:
    """Linear datamodeling score: mean over eval items of Spearman(predicted, actual subset loss)."""
    predicted = -(subsets.astype(np.float64) @ scores)  # (S, m)
    rp = np.apply_along_axis(rankdata, 0, predicted)
    ra = np.apply_along_axis(rankdata, 0, subset_losses)
    rp, ra = rp - rp.mean(0), ra - ra.mean(0)
    denom = np.sqrt((rp ** 2).sum(0) * (ra ** 2).sum(0))
    valid = denom > 0
    return float(np.mean((rp * ra).sum(0)[valid] / denom[valid])) if valid.any() else float("nan")


def loco_correlation(attribution: Attribution, gt: GroundTruth) -> float:
    """Spearman between contributor scores and the eval-loss rise when they are left out."""
    if gt.loco_losses is None:
        return float("nan")
    actual = (gt.loco_losses - gt.full_losses).sum(1)
    by = dict(zip(*attribution.by_contributor().select("contributor_id", "score").to_dict(as_series=False).values(), strict=True))
    predicted = np.array([by.get(c, 0.0) for c in gt.contributors])
    if np.ptp(predicted) == 0 or np.ptp(actual) == 0:
        return float("nan")
    return float(spearmanr(predicted, actual).statistic)


def auc(flag_scores: np.ndarray, positives: np.ndarray) -> float:
    """ROC AUC of ``flag_scores`` for ``positives`` (:func:`olkit.kit.auroc`, arguments flag-first)."""
    from olkit.kit import auroc

    return auroc(positives, flag_scores)


def harm_scores(scores: np.ndarray) -> np.ndarray:
    """How much each training item *hurts* the eval set: ``sum_j max(0, -z_ij)`` where ``z`` is
    the score standardised per eval item (so every eval item counts equally).

    An item can help some eval items and hurt others (a wrong answer teaches the right words for the
    wrong question); flagging by harm rather than by net influence finds such items too.
    """
    z = scores / (scores.std(axis=0, keepdims=True) + 1e-12)
    return np.maximum(-z, 0.0).sum(axis=1)


def bad_data_auc(attribution: Attribution, bad: np.ndarray, *, flag: str = "harm") -> float:
    """AUC for finding injected bad items by negative influence.

    ``flag="harm"`` ranks by :func:`harm_scores`; ``flag="net"`` by net negative influence
    ``-sum_j score_ij``.
    """
    if flag == "harm":
        return auc(harm_scores(attribution.scores), bad)
    if flag == "net":
        return auc(-attribution.item_scores(), bad)
    raise ValueError(f"flag must be 'harm' or 'net', not {flag!r}")


# ---------------------------------------------------------------------------------------------
# the whole evaluation
# ---------------------------------------------------------------------------------------------
@dataclass
class EvaluationReport:
    """Per-seed rows (``runs``), the summary table and the raw objects of the last seed."""

    runs: pl.DataFrame
    attributions: dict[str, Attribution]
    ground_truth: GroundTruth
    setup: Setup

    def table(self) -> pl.DataFrame:
        """Mean and seed-to-seed standard deviation of each metric, one row per method."""
        return summarize(self.runs)


def summarize(runs: pl.DataFrame) -> pl.DataFrame:
    metrics = [c for c in ("lds", "loco_corr", "bad_auc", "bad_auc_net", "seconds", "speedup") if c in runs.columns]
    aggs = []
    for m in metrics:
        aggs += [pl.col(m).mean().alias(f"{m}_mean"), pl.col(m).std(ddof=1).fill_null(0.0).alias(f"{m}_std")]
    return (runs.group_by("method", maintain_order=True).agg(*aggs, pl.len().alias("n_seeds"))
            .sort("lds_mean", descending=True, nulls_last=True))


def evaluate(
    methods: Sequence[str | Method] = DEFAULT_METHODS,
    *,
    seeds: Sequence[int] = (0, 1, 2),
    task_kwargs: dict | None = None,
    config: TrainConfig | None = None,
    n_subsets: int = 40,
    fraction: float = 0.5,
    loco: bool = True,
    loo: bool = False,
    progress: bool = True,
) -> EvaluationReport:
    """Run the whole protocol for every seed; returns an :class:`EvaluationReport`.

    Each seed draws a new task, a new model initialisation and new subsets.  ``loo=True`` also runs
    brute-force leave-one-out retraining as a method (slow: one retrain per training item) and
    ``speedup`` is measured against it; otherwise it is estimated as ``n_train`` retrains.
    """
    rows = []
    attributions: dict[str, Attribution] = {}
    gt = setup = None
    for seed in seeds:
        task = make_task(**{**(task_kwargs or {}), "seed": seed})
        setup = Setup.from_task(task, config, seed=seed)
        gt = ground_truth(setup, n_subsets=n_subsets, fraction=fraction, loco=loco, seed=seed,
                          progress=progress)
        ctx = setup.train_full()
        attributions = {}
        for spec in methods:
            method = make_method(spec) if isinstance(spec, str) else spec
            name = spec if isinstance(spec, str) else method.name
            attributions[name] = method.attribute(ctx, task.train, task.eval)
        retrain_seconds = gt.seconds_per_retrain * task.train.height  # estimate of leave-one-out
        if loo:
            attributions["loo_retrain"] = loo_attribution(setup, progress=progress)
            retrain_seconds = attributions["loo_retrain"].seconds
            ctx = setup.train_full()
        for name, att in attributions.items():
            rows.append({
                "seed": seed, "method": name, "lds": lds(att.scores, gt.subsets, gt.subset_losses),
                "loco_corr": loco_correlation(att, gt), "bad_auc": bad_data_auc(att, task.bad_mask),
                "bad_auc_net": bad_data_auc(att, task.bad_mask, flag="net"),
                "seconds": att.seconds, "loo_seconds": retrain_seconds,
                "speedup": retrain_seconds / max(att.seconds, 1e-9),
                "n_train": task.train.height, "n_eval": task.eval.height,
                "eval_loss_drop": float((gt.init_losses - gt.full_losses).mean()),
            })
    return EvaluationReport(runs=pl.DataFrame(rows), attributions=attributions, ground_truth=gt, setup=setup)
