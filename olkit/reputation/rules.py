"""Reputation rules as pure, vectorised functions over event arrays.

Every rule is three pure functions over numpy arrays (no Python loop over contributors):

* ``init(n, params, n_validators)`` -> a state (dict of arrays) for ``n`` contributors;
* ``update(state, events, params)`` -> the next state after one epoch of :class:`EpochEvents`;
* ``standing(state, params)`` -> each contributor's standing in ``[0, 1]``.

Rules never mutate their inputs.  :func:`standing_from_log` folds any rule over a plain event log
(contributor index, epoch, accepted, abuse flag, score), so the same rule scores a simulated economy
and a real ledger.  The rules and their formulas:

``acceptance_ratio``
    ``s_i = (A_i + a) / (N_i + a + b)`` with ``A_i`` accepted and ``N_i`` submitted items (all time).
``beta``
    ``alpha_i <- lam * alpha_i + acc_i``, ``beta_i <- lam * beta_i + rej_i``,
    ``s_i = (alpha_i + a) / (alpha_i + beta_i + a + b)`` (Josang & Ismail's Beta reputation, forgetting
    factor ``lam``).
``eigentrust``
    Local trust ``S_vj <- lam * S_vj + (approvals_vj - rejections_vj)`` from validator ``v`` to
    contributor ``j`` and ``S_vw <- lam * S_vw + agreements_v * t_w`` between validators;
    ``c_ij = max(S_ij, 0) / sum_j max(S_ij, 0)`` (rows with no positive trust fall back to the
    pre-trusted distribution ``p``); global trust ``t = (1 - alpha) C^T t + alpha p`` by power
    iteration (Kamvar et al. 2003); ``s_j = t_j / max_k t_k``.
``credibility``
    ``c_i <- (1 - r) c_i + r * q_i ** gamma`` for contributors who submitted, where ``q_i`` is the
    mean validator score of their items; ``gamma > 1`` makes mediocre work cost credibility.
``stake``
    ``stake_i <- stake_i * (1 - min(1, sigma * f_i * (1 + kappa * rho_g(i))))`` where ``f_i`` is
    the rejected fraction of ``i``'s items and ``rho_g`` the share of the *other* members of ``i``'s
    group (by stake) that also faulted this epoch (correlated faults cost more; singletons have
    ``rho = 0``); ``s_i = min(1, stake_i / stake_0)``.
``yuma``
    Validator weights ``W_vj`` (approval rates, EMA rate ``r``); consensus ``c_j`` = the largest
    weight supported by a ``kappa`` share of stake (stake-weighted median for ``kappa = 0.5``);
    clipped ``W'_vj = min(W_vj, c_j)``; rank ``R_j = sum_v S_v W'_vj``; incentive
    ``I_j = R_j / sum_k R_k``; ``s_j = I_j / max_k I_k``.
``decoupled``
    The submission's score pays for the submission; standing only moves on *abuse*:
    ``g_i <- lam * g_i + acc_i``, ``u_i <- lam * u_i + abuse_i``,
    ``s_i = (g_i + a) / (g_i + w * u_i + a + b)``.  An honest failure (rejected, not flagged as abuse)
    leaves standing unchanged, and forgetting lets standing recover from a wrongly flagged one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from olkit.errors import InputError
from olkit.reputation.config import PARAM_MODELS, RULE_NAMES

State = dict[str, np.ndarray]


@dataclass(frozen=True)
class EpochEvents:
    """What the validation layer decided in one epoch, per contributor (arrays of length ``n``).

    ``submitted``/``accepted``/``abuse`` are item counts (``abuse`` counts rejections whose reason
    marks abuse: spam, machine text, duplicates, as opposed to an honest quality failure).
    ``score`` is the mean validator score in ``[0, 1]`` of the contributor's items (ignored where
    ``submitted == 0``).  ``reset`` marks slots that got a new identity this epoch (their state
    restarts from the newcomer prior): a boolean mask or an array of indices.  ``group`` holds an observable group id per contributor
    (-1: none) for correlation-aware slashing.  Validator-level information, for the rules that need
    it (``eigentrust``, ``yuma``): ``approvals`` and ``reviews`` (``V x n``: how many of ``j``'s items
    validator ``v`` approved / reviewed), ``agreement`` (``V``: share of ``v``'s votes that matched
    the final decision) and ``validator_stake`` (``V``).
    """

    submitted: np.ndarray
    accepted: np.ndarray
    abuse: np.ndarray | None = None
    score: np.ndarray | None = None
    reset: np.ndarray | None = None
    group: np.ndarray | None = None
    approvals: np.ndarray | None = None
    reviews: np.ndarray | None = None
    agreement: np.ndarray | None = None
    validator_stake: np.ndarray | None = None

    @property
    def rejected(self) -> np.ndarray:
        return self.submitted - self.accepted

    def validator_view(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``approvals, reviews, agreement, stake``; a single platform validator when absent."""
        if self.approvals is not None and self.reviews is not None:
            v = self.approvals.shape[0]
            agreement = self.agreement if self.agreement is not None else np.ones(v)
            stake = self.validator_stake if self.validator_stake is not None else np.ones(v)
            return self.approvals, self.reviews, agreement, stake
        return (self.accepted[None, :].astype(float), self.submitted[None, :].astype(float),
                np.ones(1), np.ones(1))


@dataclass(frozen=True)
class Rule:
    """A reputation rule: its name and its three pure functions."""

    name: str
    init: Callable[[int, dict[str, Any], int], State]
    update: Callable[[State, EpochEvents, dict[str, Any]], State]
    standing: Callable[[State, dict[str, Any]], np.ndarray]
    needs_validators: bool = False
    doc: str = field(default="", repr=False)


def _reset(arr: np.ndarray, reset: np.ndarray | None, value: float | np.ndarray) -> np.ndarray:
    if reset is None or (reset.dtype == bool and not reset.any()) or reset.size == 0:
        return arr
    out = arr.copy()
    if out.ndim == 1:
        out[reset] = value
    else:
        out[:, reset] = value
    return out


# -- acceptance ratio --------------------------------------------------------------------------------
def _ar_init(n: int, p: dict[str, Any], v: int = 1) -> State:
    return {"accepted": np.zeros(n), "submitted": np.zeros(n)}


def _ar_update(s: State, e: EpochEvents, p: dict[str, Any]) -> State:
    acc = _reset(s["accepted"], e.reset, 0.0)
    sub = _reset(s["submitted"], e.reset, 0.0)
    return {"accepted": acc + e.accepted, "submitted": sub + e.submitted}


def _ar_standing(s: State, p: dict[str, Any]) -> np.ndarray:
    a, b = p["prior_accepts"], p["prior_rejects"]
    den = s["submitted"] + (a + b)
    if a + b > 0:  # the denominator is positive everywhere
        return (s["accepted"] + a) / den
    return np.divide(s["accepted"] + a, den, out=np.full_like(den, 0.5), where=den > 0)


# -- Beta with forgetting ------------------------------------------------------------------------------
def _beta_init(n: int, p: dict[str, Any], v: int = 1) -> State:
    return {"alpha": np.zeros(n), "beta": np.zeros(n)}


def _beta_update(s: State, e: EpochEvents, p: dict[str, Any]) -> State:
    lam = p["forgetting"]
    alpha = _reset(s["alpha"], e.reset, 0.0) * lam + e.accepted
    beta = _reset(s["beta"], e.reset, 0.0) * lam + e.rejected
    return {"alpha": alpha, "beta": beta}


def _beta_standing(s: State, p: dict[str, Any]) -> np.ndarray:
    a, b = p["prior_accepts"], p["prior_rejects"]
    return (s["alpha"] + a) / (s["alpha"] + s["beta"] + a + b)


# -- EigenTrust ----------------------------------------------------------------------------------------
def normalize_local_trust(local: np.ndarray, pretrusted: np.ndarray) -> np.ndarray:
    """Row-normalise ``max(local, 0)``; rows without positive trust become the pre-trusted ``p``.

    Works on dense numpy arrays; ``pretrusted`` is a probability vector of the same width.
    """
    pos = np.maximum(np.asarray(local, dtype=float), 0.0)
    rows = pos.sum(axis=1, keepdims=True)
    out = np.divide(pos, rows, out=np.zeros_like(pos), where=rows > 0)
    empty = rows[:, 0] <= 0
    if empty.any():
        out[empty] = pretrusted
    return out


def eigentrust(local_trust: np.ndarray, pretrusted: np.ndarray, *, alpha: float = 0.15,
               max_iter: int = 100, tol: float = 1e-9, normalized: bool = False) -> np.ndarray:
    """Global trust vector by EigenTrust's power iteration (Kamvar, Schlosser, Garcia-Molina 2003).

    ``t <- (1 - alpha) * C^T t + alpha * p`` from ``t = p``, where ``C`` is the row-normalised
    non-negative local trust matrix (rows with no positive trust fall back to ``p``) and ``p`` the
    pre-trusted distribution.  ``pretrusted`` may be a boolean mask or a weight vector.  The result
    is a probability vector.

    Example
    -------
    >>> import numpy as np
    >>> local = np.array([[0, 1, 0], [1, 0, 0], [1, 1, 0]], dtype=float)
    >>> t = eigentrust(local, np.array([True, False, False]))
    >>> bool(t[2] < t[0]) and round(float(t.sum()), 6) == 1.0
    True
    """
    n = local_trust.shape[0]
    if local_trust.shape != (n, n):
        raise InputError(f"local trust must be square, got shape {local_trust.shape}", field="local_trust")
    p = np.asarray(pretrusted, dtype=float)
    if p.shape != (n,) or p.sum() <= 0 or (p < 0).any():
        raise InputError("pretrusted must be a non-empty non-negative vector of length n", field="pretrusted")
    p = p / p.sum()
    c = local_trust if normalized else normalize_local_trust(local_trust, p)
    ct = c.T
    t = p.copy()
    for _ in range(max_iter):
        t_next = (1.0 - alpha) * (ct @ t) + alpha * p
        if np.abs(t_next - t).sum() < tol:
            t = t_next
            break
        t = t_next
    return t / t.sum()


def _et_init(n: int, p: dict[str, Any], v: int = 1) -> State:
    # Before any review all trust sits with the pre-trusted validators: contributors start at 0.
    trust = np.zeros(n + v)
    trust[: min(p["n_pretrusted"], v)] = 1.0
    return {"vc": np.zeros((v, n)), "vv": np.zeros((v, v)), "trust": trust / trust.sum()}


def _et_update(s: State, e: EpochEvents, p: dict[str, Any]) -> State:
    approvals, reviews, agreement, _ = e.validator_view()
    lam = p["forgetting"]
    v, n = approvals.shape
    vc = _reset(s["vc"], e.reset, 0.0) * lam + (2.0 * approvals - reviews)
    # Validators trust each other by how often the other agrees with the final decision.
    vv = s["vv"] * lam + np.broadcast_to(agreement[None, :], (v, v)) * (1.0 - np.eye(v))
    pre = np.zeros(v + n)
    pre[: min(p["n_pretrusted"], v)] = 1.0
    pre /= pre.sum()
    # Block power iteration on the (V + n)^2 matrix [[C_vv, C_vc], [0, 0]] without materialising it:
    # contributors do not review, so their rows are dangling and fall back to the pre-trusted p.
    pos_vv, pos_vc = np.maximum(vv, 0.0), np.maximum(vc, 0.0)
    rows = pos_vv.sum(1) + pos_vc.sum(1)
    inv = np.divide(1.0, rows, out=np.zeros(v), where=rows > 0)
    c_vv, c_vc = pos_vv * inv[:, None], pos_vc * inv[:, None]
    dangling_v = rows <= 0
    t = s["trust"]
    for _ in range(p["max_iter"]):
        tv, tc = t[:v], t[v:]
        mass = tc.sum() + tv[dangling_v].sum()
        nxt = (1.0 - p["alpha"]) * (np.concatenate([c_vv.T @ tv, c_vc.T @ tv]) + mass * pre) + p["alpha"] * pre
        done = np.abs(nxt - t).sum() < p["tol"]
        t = nxt
        if done:
            break
    return {"vc": vc, "vv": vv, "trust": t / t.sum()}


def _et_standing(s: State, p: dict[str, Any]) -> np.ndarray:
    v = s["vv"].shape[0]
    tc = s["trust"][v:]
    top = tc.max() if tc.size else 0.0
    return tc / top if top > 0 else np.zeros_like(tc)


# -- credibility EMA -----------------------------------------------------------------------------------
def _cred_init(n: int, p: dict[str, Any], v: int = 1) -> State:
    return {"cred": np.full(n, p["initial"])}


def _cred_update(s: State, e: EpochEvents, p: dict[str, Any]) -> State:
    cred = _reset(s["cred"], e.reset, p["initial"])
    if e.score is None:
        q = np.divide(e.accepted, e.submitted, out=np.zeros(len(cred)), where=e.submitted > 0)
    else:
        q = np.clip(e.score, 0.0, 1.0)
    r = np.where(e.submitted > 0, p["rate"], 0.0)
    return {"cred": (1.0 - r) * cred + r * q ** p["exponent"]}


def _cred_standing(s: State, p: dict[str, Any]) -> np.ndarray:
    return s["cred"]


# -- stake and slash -----------------------------------------------------------------------------------
def correlation_share(fault_stake: np.ndarray, stake: np.ndarray, group: np.ndarray | None) -> np.ndarray:
    """For each contributor, the share of the *other* members of its group (by stake) that faulted.

    ``group`` holds non-negative group ids, or -1 for contributors in no observable group
    (their share is 0).  Vectorised with ``bincount``.
    """
    n = len(stake)
    if group is None:
        return np.zeros(n)
    g = np.asarray(group)
    member = g >= 0
    if not member.any():
        return np.zeros(n)
    gi = np.where(member, g, 0)
    size = int(gi.max()) + 1
    tot = np.bincount(gi, weights=np.where(member, stake, 0.0), minlength=size)
    bad = np.bincount(gi, weights=np.where(member, fault_stake, 0.0), minlength=size)
    other_tot = tot[gi] - stake
    other_bad = bad[gi] - fault_stake
    rho = np.divide(other_bad, other_tot, out=np.zeros(n), where=other_tot > 1e-12)
    return np.where(member, np.clip(rho, 0.0, 1.0), 0.0)


def _stake_init(n: int, p: dict[str, Any], v: int = 1) -> State:
    return {"stake": np.full(n, p["initial_stake"])}


def _stake_update(s: State, e: EpochEvents, p: dict[str, Any]) -> State:
    stake = _reset(s["stake"], e.reset, p["initial_stake"])
    f = np.divide(e.rejected, e.submitted, out=np.zeros(len(stake)), where=e.submitted > 0)
    rho = correlation_share(stake * (f > 0), stake, e.group)
    frac = np.minimum(1.0, p["slash_fraction"] * f * (1.0 + p["correlation_factor"] * rho))
    return {"stake": stake * (1.0 - frac)}


def _stake_standing(s: State, p: dict[str, Any]) -> np.ndarray:
    return np.minimum(1.0, s["stake"] / p["initial_stake"])


# -- Yuma consensus clipping ---------------------------------------------------------------------------
def stake_weighted_quantile(weights: np.ndarray, stake: np.ndarray, kappa: float = 0.5) -> np.ndarray:
    """Per column ``j``: the largest ``w`` such that validators with ``W_vj >= w`` hold ``>= kappa`` of stake.

    For ``kappa = 0.5`` this is the stake-weighted median, Yuma's consensus weight.  Vectorised: one
    sort per column along the (small) validator axis.
    """
    w = np.asarray(weights, dtype=float)
    s = np.asarray(stake, dtype=float)
    order = np.argsort(-w, axis=0, kind="stable")
    w_sorted = np.take_along_axis(w, order, axis=0)
    cum = np.cumsum(s[order], axis=0) / s.sum()
    first = np.argmax(cum >= kappa - 1e-12, axis=0)
    return w_sorted[first, np.arange(w.shape[1])]


def yuma_consensus(weights: np.ndarray, stake: np.ndarray, kappa: float = 0.5) -> dict[str, np.ndarray]:
    """Yuma-style consensus: clip each validator's weights at the stake-weighted consensus.

    ``weights`` is ``V x M`` (validator ``v``'s weight on miner/contributor ``j``; rows are
    normalised to sum to 1), ``stake`` has length ``V``.  Returns ``consensus`` (``c_j``),
    ``clipped`` (``min(W_vj, c_j)``), ``rank`` (``R_j = sum_v S_v W'_vj``, ``S`` normalised),
    ``incentive`` (``R / sum R``) and ``validator_trust`` (``sum_j W'_vj / sum_j W_vj``: how much of
    each validator's weight survived the clip).

    Example
    -------
    >>> import numpy as np
    >>> W = np.array([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])  # v2 (20%) backs miner 2
    >>> out = yuma_consensus(W, np.array([0.4, 0.4, 0.2]))
    >>> float(out["incentive"][2])
    0.0
    """
    w = np.asarray(weights, dtype=float)
    s = np.asarray(stake, dtype=float)
    if w.ndim != 2 or w.shape[0] != s.shape[0]:
        raise InputError(f"weights must be V x M with V = len(stake); got {w.shape} and {s.shape}",
                         field="weights")
    if (w < 0).any() or (s < 0).any() or s.sum() <= 0:
        raise InputError("weights and stake must be non-negative with positive total stake", field="stake")
    rows = w.sum(axis=1, keepdims=True)
    w = np.divide(w, rows, out=np.zeros_like(w), where=rows > 0)
    sn = s / s.sum()
    consensus = stake_weighted_quantile(w, sn, kappa)
    clipped = np.minimum(w, consensus[None, :])
    rank = sn @ clipped
    total = rank.sum()
    incentive = rank / total if total > 0 else np.zeros_like(rank)
    trust = np.divide(clipped.sum(1), w.sum(1), out=np.zeros(len(s)), where=w.sum(1) > 0)
    return {"consensus": consensus, "clipped": clipped, "rank": rank, "incentive": incentive,
            "validator_trust": trust}


def _yuma_init(n: int, p: dict[str, Any], v: int = 1) -> State:
    return {"weights": np.zeros((v, n)), "incentive": np.zeros(n)}


def _yuma_update(s: State, e: EpochEvents, p: dict[str, Any]) -> State:
    approvals, reviews, _, stake = e.validator_view()
    rate = np.divide(approvals, reviews, out=np.zeros_like(approvals, dtype=float), where=reviews > 0)
    seen = reviews > 0
    w = _reset(s["weights"], e.reset, 0.0)
    w = np.where(seen, (1.0 - p["rate"]) * w + p["rate"] * rate, w)
    out = yuma_consensus(w, stake, p["kappa"])
    return {"weights": w, "incentive": out["incentive"]}


def _yuma_standing(s: State, p: dict[str, Any]) -> np.ndarray:
    top = s["incentive"].max() if s["incentive"].size else 0.0
    return s["incentive"] / top if top > 0 else np.zeros_like(s["incentive"])


# -- decoupled -----------------------------------------------------------------------------------------
def _dec_init(n: int, p: dict[str, Any], v: int = 1) -> State:
    return {"good": np.zeros(n), "abuse": np.zeros(n)}


def _dec_update(s: State, e: EpochEvents, p: dict[str, Any]) -> State:
    lam = p["forgetting"]
    abuse = e.abuse if e.abuse is not None else np.zeros_like(e.accepted)
    return {"good": _reset(s["good"], e.reset, 0.0) * lam + e.accepted,
            "abuse": _reset(s["abuse"], e.reset, 0.0) * lam + abuse}


def _dec_standing(s: State, p: dict[str, Any]) -> np.ndarray:
    a, b, w = p["prior_good"], p["prior_abuse"], p["abuse_weight"]
    return (s["good"] + a) / (s["good"] + w * s["abuse"] + a + b)


RULES: dict[str, Rule] = {
    "acceptance_ratio": Rule("acceptance_ratio", _ar_init, _ar_update, _ar_standing,
                             doc="s_i = (A_i + a) / (N_i + a + b); A accepted, N submitted, all time"),
    "beta": Rule("beta", _beta_init, _beta_update, _beta_standing,
                 doc="alpha <- lam*alpha + acc, beta <- lam*beta + rej; s = (alpha + a) / (alpha + beta + a + b)"),
    "eigentrust": Rule("eigentrust", _et_init, _et_update, _et_standing, needs_validators=True,
                       doc="t = (1 - alpha) C^T t + alpha p over validators + contributors; s_j = t_j / max t"),
    "credibility": Rule("credibility", _cred_init, _cred_update, _cred_standing,
                        doc="c <- (1 - r) c + r q^gamma for contributors who submitted; s = c"),
    "stake": Rule("stake", _stake_init, _stake_update, _stake_standing,
                  doc="stake <- stake (1 - min(1, sigma f (1 + kappa rho_group))); s = min(1, stake / stake_0)"),
    "yuma": Rule("yuma", _yuma_init, _yuma_update, _yuma_standing, needs_validators=True,
                 doc="c_j = kappa-stake quantile of W_.j; W' = min(W, c); I = S W' / sum; s = I / max I"),
    "decoupled": Rule("decoupled", _dec_init, _dec_update, _dec_standing,
                      doc="g <- lam g + acc, u <- lam u + abuse; s = (g + a) / (g + w u + a + b); "
                          "honest failures do not move s"),
}
assert tuple(RULES) == RULE_NAMES


def get_rule(name: str) -> Rule:
    """The rule called ``name`` (an :class:`~olkit.errors.InputError` lists the valid names)."""
    try:
        return RULES[name]
    except KeyError:
        raise InputError(f"unknown reputation rule {name!r}; choose one of {', '.join(RULES)}",
                         field="reputation.rule") from None


def resolve_params(name: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Validated parameters of rule ``name`` with defaults filled in."""
    get_rule(name)
    return PARAM_MODELS[name].model_validate(params or {}).model_dump()


def standing_from_log(rule: str, contributor: np.ndarray, epoch: np.ndarray, accepted: np.ndarray, *,
                      abuse: np.ndarray | None = None, score: np.ndarray | None = None,
                      n_contributors: int | None = None, params: dict[str, Any] | None = None
                      ) -> np.ndarray:
    """Fold a rule over an item-level event log; return standing per epoch (``epochs x n``).

    One row per item: ``contributor`` (int index), ``epoch`` (int), ``accepted`` (bool), optional
    ``abuse`` (bool: rejected as abuse) and ``score`` (validator score in ``[0, 1]``).  Items are
    aggregated per (epoch, contributor) with ``bincount`` and the rule is applied epoch by epoch.
    Rules that need validator-level votes treat the platform as a single validator.

    Example
    -------
    >>> import numpy as np
    >>> s = standing_from_log("acceptance_ratio", np.array([0, 0, 1]), np.array([0, 1, 0]),
    ...                       np.array([True, True, False]))
    >>> s[-1].round(3).tolist()
    [0.75, 0.333]
    """
    p = resolve_params(rule, params)
    r = get_rule(rule)
    contributor = np.asarray(contributor, dtype=np.int64)
    epoch = np.asarray(epoch, dtype=np.int64)
    accepted = np.asarray(accepted, dtype=bool)
    if not (len(contributor) == len(epoch) == len(accepted)):
        raise InputError("contributor, epoch and accepted must have the same length", field="accepted")
    if len(contributor) and (contributor.min() < 0 or epoch.min() < 0):
        raise InputError("contributor and epoch indices must be non-negative", field="contributor")
    n = int(n_contributors if n_contributors is not None else (contributor.max() + 1 if len(contributor) else 0))
    n_epochs = int(epoch.max()) + 1 if len(epoch) else 0
    key = epoch * n + contributor
    size = n_epochs * n

    def agg(w: np.ndarray | None) -> np.ndarray:
        return np.bincount(key, weights=w, minlength=size).reshape(n_epochs, n)

    sub = agg(None)
    acc = agg(accepted.astype(float))
    ab = agg(np.asarray(abuse, dtype=float)) if abuse is not None else np.zeros_like(sub)
    sc = agg(np.asarray(score, dtype=float)) if score is not None else None
    state = r.init(n, p, 1)
    out = np.empty((n_epochs, n))
    for t in range(n_epochs):
        mean_score = None
        if sc is not None:
            mean_score = np.divide(sc[t], sub[t], out=np.zeros(n), where=sub[t] > 0)
        ev = EpochEvents(submitted=sub[t], accepted=acc[t], abuse=ab[t], score=mean_score)
        state = r.update(state, ev, p)
        out[t] = r.standing(state, p)
    return out
