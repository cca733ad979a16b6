"""The validation layer of the simulation: parametric, peer review with collusion, content-backed.

Each validator turns a batch of submissions (one row per agent: item ``kind``, true ``good`` flag,
``volume`` items) into ``accepted`` and ``abuse`` counts and a mean validator ``score`` per agent,
vectorised over agents.  The peer validator also returns the validator-level votes that EigenTrust
and Yuma-style consensus need.

An agent's items in one epoch share their kind and their quality draw; with ``volume > 1`` each
item still gets its own accept/reject draw.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from olkit.sim.config import EXPERIMENT, LOW_EFFORT, SAFE, SPAM, SYNTHETIC, SimConfig, ValidatorModel

N_CODES = 10  # code = kind * 2 + good

#: Mean validator score by (kind, good): what a reviewer's quality estimate centres on.
SCORE_MEAN = np.array([0.30, 0.80, 0.35, 0.95, 0.30, 0.30, 0.45, 0.45, 0.05, 0.05])


def acceptance_tables(v: ValidatorModel) -> tuple[np.ndarray, np.ndarray]:
    """``P(accept)`` and ``P(abuse flag | rejected)`` indexed by ``kind * 2 + good``."""
    s = v.error_scale
    p_acc = np.empty(N_CODES)
    p_acc[SAFE * 2 + 1] = 1.0 - min(1.0, s * v.false_reject_safe)
    p_acc[EXPERIMENT * 2 + 1] = 1.0 - min(1.0, s * v.false_reject_experiment)
    p_acc[SAFE * 2] = p_acc[EXPERIMENT * 2] = min(1.0, s * v.accept_failed)
    p_acc[LOW_EFFORT * 2: LOW_EFFORT * 2 + 2] = min(1.0, s * v.accept_low_effort)
    p_acc[SYNTHETIC * 2: SYNTHETIC * 2 + 2] = min(1.0, s * v.accept_synthetic)
    p_acc[SPAM * 2: SPAM * 2 + 2] = min(1.0, s * v.accept_spam)
    p_abuse = np.empty(N_CODES)
    p_abuse[: 2 * LOW_EFFORT] = min(1.0, s * v.abuse_genuine)
    p_abuse[LOW_EFFORT * 2: LOW_EFFORT * 2 + 2] = v.abuse_low_effort
    p_abuse[SYNTHETIC * 2: SYNTHETIC * 2 + 2] = v.abuse_synthetic
    p_abuse[SPAM * 2: SPAM * 2 + 2] = v.abuse_spam
    return p_acc, p_abuse


@dataclass
class Verdicts:
    """Per-agent outcome of one epoch's validation (validator-level arrays only in peer mode)."""

    accepted: np.ndarray
    abuse: np.ndarray
    score: np.ndarray
    approvals: np.ndarray | None = None
    reviews: np.ndarray | None = None
    agreement: np.ndarray | None = None


def _count(rng: np.random.Generator, volume: np.ndarray, p: np.ndarray, multi: np.ndarray | slice
           ) -> np.ndarray:
    """Per agent, how many of ``volume`` items pass with probability ``p``.

    One Bernoulli draw per agent (exact for ``volume`` 0 or 1); the agents in ``multi`` (index array
    or slice of those whose volume may exceed 1) get a sum of ``volume`` Bernoulli draws, an exact
    binomial that is ~20x faster than ``Generator.binomial`` for small counts.
    """
    out = (rng.random(len(p)) < p) * volume
    vol = volume[multi]
    if vol.size:
        width = int(vol.max())
        if width > 1:
            pm = p[multi]
            count = np.zeros(vol.size, dtype=out.dtype)
            for j in range(width):  # a loop over item slots (<= max volume), not over agents
                count += (rng.random(vol.size) < pm) & (vol > j)
            out[multi] = count
    return out


class ParametricValidator:
    """A noisy platform validator: ``P(accept)`` and abuse flags by item kind and true quality.

    Abuse flags and scores are drawn only when something reads them (``need_abuse``,
    ``need_score``; the engine sets these from the reputation and reward rules), otherwise they are
    zeros.  They come from their own random streams (spawned from the run's seed), so skipping them
    leaves every other draw of the run unchanged.
    """

    def __init__(self, cfg: SimConfig) -> None:
        self.p_acc, self.p_abuse = acceptance_tables(cfg.validator)
        self.noise = cfg.validator.score_noise
        self.need_abuse = True
        self.need_score = True
        abuse_ss, score_ss = np.random.SeedSequence([cfg.seed, 0x0A8]).spawn(2)
        self.rng_abuse, self.rng_score = np.random.default_rng(abuse_ss), np.random.default_rng(score_ss)

    def __call__(self, rng: np.random.Generator, code: np.ndarray, volume: np.ndarray,
                 multi: np.ndarray, ring: np.ndarray) -> Verdicts:
        accepted = _count(rng, volume, self.p_acc[code], multi)
        if self.need_abuse:
            abuse = _count(self.rng_abuse, volume - accepted, self.p_abuse[code], multi)
        else:
            abuse = np.zeros_like(accepted)
        if self.need_score:
            u = self.rng_score.random(len(code))
            score = np.clip(SCORE_MEAN[code] + self.noise * (2.0 * u - 1.0), 0.0, 1.0)
        else:
            score = np.zeros(len(code))
        return Verdicts(accepted, abuse, score)


class PeerValidator:
    """``k`` of ``V`` staked validators review each agent's batch; a stake-weighted majority decides.

    Validators holding ``colluding_stake`` of the stake (taken from the end of the list, so the
    pre-trusted first validators are honest) approve every batch of the sybil ring and judge the
    rest like honest validators.  Honest votes follow the parametric error rates.
    """

    def __init__(self, cfg: SimConfig, rng: np.random.Generator) -> None:
        self.p_acc, self.p_abuse = acceptance_tables(cfg.validator)
        self.noise = cfg.validator.score_noise
        self.k = cfg.reviewers_per_item
        v = cfg.n_validators
        stake = rng.lognormal(0.0, 0.5, size=v)
        self.stake = stake / stake.sum()
        tail = np.cumsum(self.stake[::-1])[::-1]  # stake of validators v..V-1
        self.colluding = (tail <= cfg.colluding_stake + 1e-12) if cfg.colluding_stake > 0 else np.zeros(v, bool)
        self.n_validators = v

    @property
    def colluding_share(self) -> float:
        return float(self.stake[self.colluding].sum())

    def __call__(self, rng: np.random.Generator, code: np.ndarray, volume: np.ndarray,
                 multi: np.ndarray, ring: np.ndarray) -> Verdicts:
        n, k, v = len(code), self.k, self.n_validators
        reviewer = rng.integers(0, v, size=(n, k))
        votes = rng.random((n, k)) < self.p_acc[code][:, None]
        votes |= self.colluding[reviewer] & ring[:, None]
        w = self.stake[reviewer]
        decision = (w * votes).sum(1) > 0.5 * w.sum(1)
        active = volume > 0
        accepted = np.where(decision & active, volume, 0)
        rejected = np.where(~decision & active, volume, 0)
        abuse = _count(rng, rejected, self.p_abuse[code], multi)
        score = SCORE_MEAN[code] + self.noise * (2.0 * rng.random(n) - 1.0)
        score = np.where(decision & ring, np.maximum(score, 0.9), score)  # colluders vouch high
        flat = (reviewer * n + np.arange(n)[:, None]).ravel()
        vol = np.repeat(volume, k).astype(float)
        approvals = np.bincount(flat, weights=vol * votes.ravel(), minlength=v * n).reshape(v, n)
        reviews = np.bincount(flat, weights=vol, minlength=v * n).reshape(v, n)
        agree = (votes == decision[:, None]) & active[:, None]
        n_votes = np.bincount(reviewer.ravel(), weights=np.repeat(active, k).astype(float), minlength=v)
        n_agree = np.bincount(reviewer.ravel(), weights=agree.ravel().astype(float), minlength=v)
        agreement = np.divide(n_agree, n_votes, out=np.ones(v), where=n_votes > 0)
        return Verdicts(accepted, abuse, np.clip(score, 0.0, 1.0), approvals, reviews, agreement)


class ContentValidator:
    """Decisions of the real filter pipeline on real sample-datanet items, sampled per epoch.

    A pool of real items per (kind, good) code is drawn once from the sample datanet
    (:func:`olkit.data.sample.sample_stream`) by their ground-truth label and run through the actual
    filter pipeline once; every epoch each agent's items draw decisions from the pool of their code
    (vectorised index sampling).  Rejections are flagged as abuse when a rejecting filter's reason
    code names spam, machine text or duplication.  See :func:`olkit.sim.content.build_pool`.
    """

    def __init__(self, cfg: SimConfig, pool: dict[str, np.ndarray] | None = None) -> None:
        if pool is None:
            from olkit.sim.content import build_pool

            pool = build_pool(n_per_label=cfg.content_pool, seed=0)  # the data; sampling uses the run seed
        self.offset, self.size = pool["offset"], pool["size"]
        self.accept, self.abuse, self.score = pool["accepted"], pool["abuse"], pool["score"]

    def _draw(self, rng: np.random.Generator, code: np.ndarray) -> np.ndarray:
        return self.offset[code] + (rng.random(len(code)) * self.size[code]).astype(np.int64)

    def __call__(self, rng: np.random.Generator, code: np.ndarray, volume: np.ndarray,
                 multi: np.ndarray, ring: np.ndarray) -> Verdicts:
        idx = self._draw(rng, code)
        active = volume > 0
        multi = np.arange(len(code))[multi]
        multi = multi[volume[multi] > 1]
        accepted = (self.accept[idx] & active).astype(float)
        abuse = (~self.accept[idx] & self.abuse[idx] & active).astype(float)
        score = self.score[idx].astype(float)
        if multi.size:
            extra = (volume[multi] - 1).astype(np.int64)
            rows = np.repeat(np.arange(multi.size), extra)
            idx2 = self._draw(rng, np.repeat(code[multi], extra))
            add_acc = np.bincount(rows, weights=self.accept[idx2], minlength=multi.size)
            add_ab = np.bincount(rows, weights=(~self.accept[idx2] & self.abuse[idx2]), minlength=multi.size)
            add_sc = np.bincount(rows, weights=self.score[idx2], minlength=multi.size)
            accepted[multi] += add_acc
            abuse[multi] += add_ab
            score[multi] = (score[multi] + add_sc) / volume[multi]
        return Verdicts(accepted, abuse, np.clip(score, 0.0, 1.0))


def make_validator(cfg: SimConfig, rng: np.random.Generator):
    """The validator object for ``cfg.validation``."""
    if cfg.validation == "parametric":
        return ParametricValidator(cfg)
    if cfg.validation == "peer":
        return PeerValidator(cfg, rng)
    return ContentValidator(cfg)
