"""Ground truth at the level that pays: exact contributor Shapley values by retraining every coalition.

For a task with ``C`` contributors (6-8), every one of the ``2^C`` coalitions is retrained under
several training seeds (each seed draws its own LoRA initialisation *and* mini-batch order) with
the batched task model of :mod:`olkit.attribution.fastlm`.  The utility of a coalition is the drop
in mean eval loss it buys, ``v(S) = L_eval(init) - L_eval(trained on S)``, and

``phi_c = sum_{S not containing c} |S|! (C-|S|-1)! / C! * (v(S + c) - v(S))``

exactly.  The ground truth is the mean of the per-seed values; its **noise ceiling** is how well one
seed's values agree with the mean of the others (leave-one-seed-out Spearman and total variation
of the payout shares) -- no estimator computed from one training run can be expected to beat it.

Item-level LDS (Park et al. 2023) is kept with ``n_subsets`` random half-subsets retrained under
two seeds; its ceiling is the per-eval-item Spearman between the two seeds' subset losses.

:func:`score_task` runs everything for one task and returns one row per method (payout shares,
TV and Spearman to Shapley, canary checks, redundant share, seconds) plus the ground-truth facts.

Example
-------
>>> from olkit.attribution.task import make_task
>>> task = make_task(n_contributors=2, items_per_contributor=4, n_eval=6, canaries=False, seed=0)
>>> game = Game.from_task(task, GameConfig(train_seeds=(0, 1), steps=4))
>>> gt = exact_shapley(game)
>>> gt.values.shape
(2, 2)
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl
from scipy.stats import spearmanr

from olkit.attribution.base import Attribution, ModelContext
from olkit.attribution.fastlm import Features, TaskLM, batch_masks, train_many
from olkit.attribution.task import AttributionTask

#: item-level methods scored at the contributor level (baselines included)
DEFAULT_METHODS = ("tracin_adam", "tracin", "gradsim", "datainf", "trak", "knn_shapley", "tfidf", "bm25")
#: labels of training rows that add no new information (copies of someone's items)
REDUNDANT_LABELS = ("near_copy", "redundant", "duplicate")


@dataclass(frozen=True)
class GameConfig:
    """Task model and training of every retrain (the same for the fine-tune and each coalition)."""

    dim: int = 64
    rank: int = 4
    lr: float = 1e-2
    steps: int = 20
    batch_size: int = 8
    max_length: int = 40
    checkpoint_every: int = 5
    train_seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    n_subsets: int = 100
    subset_fraction: float = 0.5


@dataclass
class Game:
    """One task, its tokenizer/base model, encoded features and contributor of every row."""

    task: AttributionTask
    config: GameConfig
    lm: TaskLM
    train: Features
    eval: Features
    contributors: list[str]
    owner: np.ndarray  # (n,) contributor index of each training row

    @classmethod
    def from_task(cls, task: AttributionTask, config: GameConfig | None = None) -> Game:
        config = config or GameConfig()
        lm = TaskLM.fit(task.train, task.eval, dim=config.dim, rank=config.rank, max_length=config.max_length,
                        seed=task.seed)
        cids = task.train["contributor_id"].to_list()
        contributors = sorted(set(cids))
        index = {c: i for i, c in enumerate(contributors)}
        return cls(task=task, config=config, lm=lm, train=lm.features(task.train), eval=lm.features(task.eval),
                   contributors=contributors, owner=np.array([index[c] for c in cids]))

    def retrain(self, members: np.ndarray, seeds: Sequence[int]) -> tuple[np.ndarray, float]:
        """Eval losses ``(M, m)`` after training copy ``m`` on ``members[m]`` with ``seeds[m]``; seconds."""
        c = self.config
        t0 = time.perf_counter()
        w = batch_masks(members, steps=c.steps, batch_size=c.batch_size, seeds=seeds)
        run = train_many(self.lm, self.train, w, seeds=seeds, steps=c.steps, lr=c.lr)
        return self.lm.losses(run.params, self.eval), time.perf_counter() - t0

    def init_losses(self, seeds: Sequence[int]) -> np.ndarray:
        return self.lm.losses(self.lm.init(seeds), self.eval)

    def fine_tune(self, seed: int = 0) -> tuple[ModelContext, float]:
        """The shared fine-tune every method attributes: all rows, seed ``seed``, with checkpoints."""
        c = self.config
        t0 = time.perf_counter()
        w = batch_masks(np.ones((1, self.train.n), bool), steps=c.steps, batch_size=c.batch_size, seeds=[seed])
        run = train_many(self.lm, self.train, w, seeds=[seed], steps=c.steps, lr=c.lr,
                         checkpoint_every=c.checkpoint_every)
        module = self.lm.module(run.state(0))
        ctx = ModelContext(model=module, tokenizer=self.lm.tokenizer, checkpoints=run.checkpoints,
                           max_length=c.max_length)
        return ctx, time.perf_counter() - t0


# ---------------------------------------------------------------------------------------------
# exact Shapley
# ---------------------------------------------------------------------------------------------
def coalitions(c: int) -> np.ndarray:
    """``(2^c, c)`` bool: row ``b`` holds the members of bitmask ``b``."""
    return ((np.arange(2 ** c)[:, None] >> np.arange(c)[None, :]) & 1).astype(bool)


def shapley_values(utility: np.ndarray, c: int) -> np.ndarray:
    """Exact Shapley values ``(..., c)`` from utilities ``(..., 2^c)`` indexed by coalition bitmask.

    Example
    -------
    >>> shapley_values(np.array([0.0, 1.0, 2.0, 4.0]), 2).tolist()   # v(a)=1, v(b)=2, v(ab)=4
    [1.5, 2.5]
    """
    masks = coalitions(c)
    size = masks.sum(1)
    out = np.zeros(utility.shape[:-1] + (c,))
    for j in range(c):
        without = np.flatnonzero(~masks[:, j])
        s = size[without]
        w = np.array([math.factorial(k) * math.factorial(c - k - 1) / math.factorial(c) for k in s])
        out[..., j] = ((utility[..., without | (1 << j)] - utility[..., without]) * w).sum(-1)
    return out


@dataclass
class ShapleyTruth:
    """Per-seed exact Shapley values ``(S, C)``, coalition utilities ``(S, 2^C)`` and costs."""

    contributors: list[str]
    values: np.ndarray
    utility: np.ndarray
    seconds: float
    n_retrains: int

    @property
    def mean(self) -> np.ndarray:
        return self.values.mean(0)

    @property
    def seconds_per_retrain(self) -> float:
        return self.seconds / max(1, self.n_retrains)


def exact_shapley(game: Game) -> ShapleyTruth:
    """Retrain all ``2^C`` coalitions under every training seed (one batched run) -> Shapley values."""
    c = len(game.contributors)
    seeds = list(game.config.train_seeds)
    masks = coalitions(c)
    members = np.tile(masks[:, game.owner], (len(seeds), 1))  # (S * 2^C, n)
    per_model_seed = np.repeat(seeds, masks.shape[0])
    losses, seconds = game.retrain(members, per_model_seed)
    init = game.init_losses(seeds).mean(1)  # (S,)
    utility = init[:, None] - losses.mean(1).reshape(len(seeds), masks.shape[0])
    return ShapleyTruth(game.contributors, shapley_values(utility, c), utility, seconds, members.shape[0])


# ---------------------------------------------------------------------------------------------
# metrics
# ---------------------------------------------------------------------------------------------
def shares(values: np.ndarray) -> np.ndarray:
    """Payout shares a value vector implies: positive part, normalised (all zero -> all zero)."""
    v = np.clip(np.asarray(values, dtype=np.float64), 0.0, None)
    total = v.sum(-1, keepdims=True)
    return np.divide(v, total, out=np.zeros_like(v), where=total > 0)


def total_variation(p: np.ndarray, q: np.ndarray) -> float:
    """``0.5 * sum |p - q|`` of two share vectors."""
    return float(0.5 * np.abs(np.asarray(p) - np.asarray(q)).sum())


def rank_corr(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman correlation; 0 when either side is constant (no ranking at all)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return float(spearmanr(a, b).statistic)


def noise_ceiling(values: np.ndarray) -> dict[str, float]:
    """Leave-one-seed-out agreement of per-seed Shapley values ``(S, C)`` with the mean of the rest.

    ``spearman`` and ``tv`` (of payout shares) average over held-out seeds; ``band`` is the
    seed-to-seed standard deviation of a contributor's value as a fraction of the total absolute
    value (averaged over contributors): values closer than that to zero are noise.
    """
    s = values.shape[0]
    sp, tv = [], []
    for i in range(s):
        rest = np.delete(values, i, axis=0).mean(0)
        sp.append(rank_corr(values[i], rest))
        tv.append(total_variation(shares(values[i]), shares(rest)))
    band = float((values.std(0, ddof=1) / max(np.abs(values.mean(0)).sum(), 1e-12)).mean()) if s > 1 else 0.0
    return {"spearman": float(np.mean(sp)), "tv": float(np.mean(tv)), "band": band}


# ---------------------------------------------------------------------------------------------
# item level: LDS with its ceiling, and the equal-compute ridge datamodel
# ---------------------------------------------------------------------------------------------
@dataclass
class SubsetTruth:
    subsets: np.ndarray  # (K, n)
    losses: np.ndarray  # (K, m) seed A
    losses_b: np.ndarray  # (K, m) seed B
    ceiling: float


def subset_truth(game: Game, *, seed: int = 0) -> SubsetTruth:
    """``n_subsets`` random subsets retrained under two training seeds; LDS ceiling between them."""
    c = game.config
    rng = np.random.default_rng(10_000 + seed)
    n = game.train.n
    size = max(1, int(round(c.subset_fraction * n)))
    subsets = np.zeros((c.n_subsets, n), dtype=bool)
    for k in range(c.n_subsets):
        subsets[k, rng.choice(n, size=size, replace=False)] = True
    s_a, s_b = c.train_seeds[0], c.train_seeds[1 % len(c.train_seeds)]
    losses, _ = game.retrain(np.concatenate([subsets, subsets]), [s_a] * c.n_subsets + [s_b] * c.n_subsets)
    la, lb = losses[: c.n_subsets], losses[c.n_subsets:]
    ceiling = float(np.mean([rank_corr(la[:, j], lb[:, j]) for j in range(la.shape[1])]))
    return SubsetTruth(subsets, la, lb, ceiling)


def ridge_datamodel(game: Game, k: int, *, seed: int = 0, alpha: float = 1.0) -> tuple[np.ndarray, float]:
    """Item scores ``(n, m)`` of a ridge regression of eval loss on subset membership, from ``k``
    random half-subset retrains (Ilyas et al. 2022); and the seconds it took (retrains included)."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(20_000 + seed)
    n = game.train.n
    subsets = rng.random((k, n)) < game.config.subset_fraction
    losses, _ = game.retrain(subsets, [game.config.train_seeds[0]] * k)
    x = subsets.astype(np.float64)
    x = x - x.mean(0)
    y = losses - losses.mean(0)
    coef = np.linalg.solve(x.T @ x + alpha * np.eye(n), x.T @ y)  # (n, m)
    return -coef, time.perf_counter() - t0


# ---------------------------------------------------------------------------------------------
# one task, every method
# ---------------------------------------------------------------------------------------------
@dataclass
class TaskScores:
    """Per-method rows for one task, plus its ground truth."""

    rows: list[dict]
    truth: ShapleyTruth
    ceiling: dict[str, float]
    lds_ceiling: float | None
    meta: dict = field(default_factory=dict)


def _payout_row(name: str, game: Game, att: Attribution | None, pay_shares: np.ndarray, truth: ShapleyTruth,
                credited: pl.DataFrame | None, seconds: float, budget: float) -> dict:
    contributors = game.contributors
    target = truth.mean
    idx = {c: i for i, c in enumerate(contributors)}
    row = {"method": name, "tv_to_shapley": total_variation(pay_shares, shares(target)),
           "spearman_to_shapley": rank_corr(pay_shares, target), "seconds": seconds}
    for canary, key in (("canary-spam", "spam_share"), ("canary-copy", "copy_share"), ("canary-sole", "sole_share")):
        row[key] = float(pay_shares[idx[canary]]) if canary in idx else None
    if "canary-sole" in idx:
        others = np.delete(pay_shares, idx["canary-sole"])
        row["sole_first"] = bool(pay_shares[idx["canary-sole"]] > others.max())
    redundant = None
    if credited is not None:
        labels = dict(zip(game.task.train["submission_id"].to_list(), game.task.train["label"].to_list(), strict=True))
        value = credited.group_by("contributor_id").agg(pl.col("credited").sum().alias("v"))
        vmap = dict(zip(value["contributor_id"].to_list(), value["v"].to_list(), strict=True))
        share = {c: float(pay_shares[i]) for c, i in idx.items()}
        per_item = [share.get(c, 0.0) * (cr / vmap[c]) if vmap.get(c, 0) > 0 else 0.0
                    for c, cr in zip(credited["contributor_id"].to_list(), credited["credited"].to_list(), strict=True)]
        redundant = float(sum(p for p, sid in zip(per_item, credited["submission_id"].to_list(), strict=True)
                              if labels.get(sid) in REDUNDANT_LABELS))
    elif name == "equal":
        # equal split pays per identity: a redundant row gets its owner's share over the owner's rows
        lab = game.task.train.group_by("contributor_id").agg(pl.col("label").is_in(REDUNDANT_LABELS).mean())
        redundant = float(sum(pay_shares[idx[c]] * f for c, f in lab.iter_rows()))
    row["redundant_share"] = redundant
    return row


def score_task(task: AttributionTask, config: GameConfig | None = None, *,
               methods: Sequence[str] = DEFAULT_METHODS, default_method: str | None = None,
               budget: float = 1000.0, lds: bool = True, policy=None) -> TaskScores:
    """Exact Shapley ground truth, then every method's payouts scored against it (see module doc).

    Rows: every method in ``methods`` paid through :func:`~olkit.attribution.payouts.contributor_payouts`
    (near-duplicate pooling + noise gate), ``<default_method>_linear`` (the same scores paid
    linearly: no pooling beyond exact copies, no gate), ``equal`` (every identity the same) and
    ``ridge`` (an item-level ridge datamodel with as many retrains as fit in the default method's
    time, one retrain at a time).  Each row's ``seconds`` is what the method needs beyond the shared
    fine-tune (the ridge row includes its retrains).
    """
    from olkit.attribution.methods import make_method
    from olkit.attribution.payouts import DEFAULT_PAYOUT_METHOD, contributor_payouts, near_duplicate_clusters
    from olkit.rewards import allocate, credited_items

    default_method = default_method or DEFAULT_PAYOUT_METHOD
    game = Game.from_task(task, config)
    truth = exact_shapley(game)
    ceiling = noise_ceiling(truth.values)
    ctx, fine_tune_seconds = game.fine_tune(game.config.train_seeds[0])
    clusters = near_duplicate_clusters(task.train)
    sub = subset_truth(game) if lds else None
    order = {c: i for i, c in enumerate(game.contributors)}
    rows: list[dict] = []
    atts: dict[str, Attribution] = {}

    def pay_vector(frame: pl.DataFrame, col: str) -> np.ndarray:
        v = np.zeros(len(order))
        for c, a in zip(frame["contributor_id"].to_list(), frame[col].to_list(), strict=True):
            v[order[c]] = a
        return v

    def add(name: str, att: Attribution, seconds: float, *, linear: bool = False) -> None:
        if linear:
            from olkit.rewards_config import RewardPolicy

            lin = RewardPolicy(noise_gate=0.0)
            pay = allocate(budget, att, None, lin)
            credited = credited_items(att, lin)
            vec = pay_vector(pay, "payout")
        else:
            pay = contributor_payouts(ctx, task.train, task.eval, budget, policy, attribution=att)
            credited = credited_items(att, policy, clusters=clusters)
            vec = pay_vector(pay, "amount")
        total = vec.sum()
        row = _payout_row(name, game, att, vec / total if total > 0 else vec, truth, credited, seconds, budget)
        if sub is not None:
            from olkit.attribution.evaluate import lds as lds_score

            row["lds"] = lds_score(att.scores, sub.subsets, sub.losses)
            row["lds_fraction_of_ceiling"] = row["lds"] / sub.ceiling if sub.ceiling > 0 else None
        rows.append(row)

    for name in methods:
        method = make_method(name)
        att = method.attribute(ctx if method.needs_model else None, task.train, task.eval)
        atts[name] = att
        add(name, att, att.seconds)
    if default_method in atts:
        add(f"{default_method}_linear", atts[default_method], atts[default_method].seconds, linear=True)
    c = len(game.contributors)
    eq = np.full(c, 1.0 / c)
    rows.append(_payout_row("equal", game, None, eq, truth, None, 0.0, budget))
    # equal compute: as many retrains as the default method's time buys, one retrain at a time
    t_default = atts[default_method].seconds if default_method in atts else fine_tune_seconds
    k = max(2 * c, int(round(t_default / max(fine_tune_seconds, 1e-6))))
    scores, ridge_seconds = ridge_datamodel(game, k, seed=task.seed)
    ridge = Attribution("ridge", scores, task.train["submission_id"].to_list(), atts[methods[0]].eval_ids,
                        task.train["contributor_id"].to_list(), seconds=ridge_seconds)
    add("ridge", ridge, ridge_seconds)
    rows[-1]["n_retrains"] = k
    truth_row = _payout_row("shapley", game, None, shares(truth.mean), truth, None, truth.seconds, budget)
    return TaskScores(rows=rows, truth=truth, ceiling=ceiling, lds_ceiling=sub.ceiling if sub else None,
                      meta={"fine_tune_seconds": fine_tune_seconds, "n_train": task.train.height,
                            "n_contributors": c, "seconds_per_retrain": truth.seconds_per_retrain,
                            "shapley_sole_first": truth_row.get("sole_first"),
                            "shapley_spam_share": truth_row.get("spam_share"),
                            "shapley_copy_share": truth_row.get("copy_share"),
                            "shapley": dict(zip(game.contributors, truth.mean.tolist(), strict=True))})


def summarize(values: Sequence[float]) -> dict[str, float | list[float]]:
    """Mean and 95 % t-interval over task seeds (``ci95`` = [low, high])."""
    from scipy.stats import t

    x = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    if x.size == 0:
        return {"mean": float("nan"), "ci95": [float("nan"), float("nan")], "n": 0}
    m = float(x.mean())
    if x.size < 2:
        return {"mean": m, "ci95": [m, m], "n": 1}
    half = float(t.ppf(0.975, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return {"mean": m, "ci95": [m - half, m + half], "n": int(x.size)}
