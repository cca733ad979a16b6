"""Replications of two published mechanisms, built on olkit's reputation functions.

EigenTrust (Kamvar, Schlosser & Garcia-Molina, WWW 2003), :func:`eigentrust_filesharing`
    A file-sharing network of good peers (three of them pre-trusted) and malicious peers under the
    paper's four threat models: **A** independent malicious peers (always inauthentic, they value
    inauthentic downloads: ``s_ij = inauthentic - authentic``), **B** a malicious collective (each
    malicious peer puts all its local trust on the next one in a chain), **C** the collective with
    camouflage (a malicious peer serves an authentic file with probability ``f``), **D** spies
    (type-B peers serve inauthentic files; type-D peers serve authentic files, earning trust from good
    peers, and put all their local trust on the type-B peers).  Every simulation cycle good peers
    issue queries; each is answered by the good peers that are up and hold the query's content
    category (categories and peer interests are Zipf-distributed) and by the malicious peers when the
    category is among the most popular ``malicious_top`` share; the requester picks a source at
    random or by global trust (the paper's probabilistic selection: among responders in proportion
    to trust, and with probability ``zero_trust_p`` a responder with zero trust); good peers rate
    the download ``+1``/``-1`` and good peers serve an inauthentic file by mistake with probability
    ``good_mistake``.  Global trust is recomputed after each cycle with :func:`~olkit.reputation.eigentrust`.
    Nothing about the result is a parameter: the inauthentic share comes out of who responds, who
    is picked and how trust moves.

Yuma consensus (Bittensor), :func:`yuma_epochs`
    Validators with stake set weights on miners every epoch (honest validators: noisy estimates of
    the miners' drifting quality).  Per epoch, Yuma computes the stake-weighted ``kappa``-quantile
    consensus ``C_j``, clips ``W'_ij = min(W_ij, C_j)``, ranks ``R_j = sum_i S_i W'_ij``, miner
    incentive ``I_j = R_j / sum R``, validator trust ``T_i = sum_j W'_ij``, bond deltas
    ``dB_ij = S_i W'_ij / sum_k S_k W'_kj``, bonds ``B <- alpha dB + (1 - alpha) B`` (EMA, then
    column-normalised), and validator dividends ``D_i = sum_j B_ij I_j / sum``.  Emission is split
    half to miners by ``I`` and half to validators by ``D``.  A colluding ring of validators either
    puts all its weight on its own weak miners (naive) or places, on each of its miners, a weight
    just under the previous epoch's consensus (``(1 - margin) C_j``: never clipped) and the rest on
    the best honest miners.  Compared with the same epochs where the ring votes honestly.

Both are seeded and vectorised over queries / validators x miners; Python loops only run over
cycles/epochs.
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import NormalDist
from typing import Literal

import numpy as np
import polars as pl

from olkit.errors import InputError
from olkit.reputation.rules import eigentrust, stake_weighted_quantile

THREAT_MODELS = ("A", "B", "C", "D")


# -- EigenTrust --------------------------------------------------------------------------------------------
def _choose(rng: np.random.Generator, weights: np.ndarray) -> np.ndarray:
    """One column index per row, with probability proportional to the row's (non-negative) weights."""
    cum = np.cumsum(weights, axis=1)
    u = rng.random(weights.shape[0])[:, None] * cum[:, -1:]
    return np.minimum((u > cum).sum(1), weights.shape[1] - 1)


def eigentrust_filesharing(
    *, threat: Literal["A", "B", "C", "D"] = "A", n_good: int = 60, n_malicious: int = 40,
    n_spies: int = 0, camouflage: float = 0.0, selection: Literal["trust", "random"] = "trust",
    cycles: int = 30, query_cycles: int = 10, n_pretrusted: int = 3, n_categories: int = 20,
    malicious_top: float = 0.2, good_mistake: float = 0.05, zero_trust_p: float = 0.1, alpha: float = 0.1,
    seed: int = 0,
) -> pl.DataFrame:
    """Simulate the EigenTrust file-sharing experiment; one row per cycle with the inauthentic share.

    ``n_malicious`` counts every malicious peer; under threat D, ``n_spies`` of them are type D.
    ``camouflage`` is ``f`` of threat C (ignored otherwise).  ``inauthentic`` is the share of good
    peers' downloads in the cycle that were inauthentic.

    Example
    -------
    >>> df = eigentrust_filesharing(threat="A", n_malicious=40, cycles=8, seed=1)
    >>> rnd = eigentrust_filesharing(threat="A", n_malicious=40, cycles=8, seed=1, selection="random")
    >>> bool(df["inauthentic"].tail(4).mean() < rnd["inauthentic"].tail(4).mean())
    True
    """
    if threat not in THREAT_MODELS:
        raise InputError(f"threat must be one of {THREAT_MODELS}, got {threat!r}", field="threat")
    if selection not in ("trust", "random"):
        raise InputError(f"selection must be 'trust' or 'random', got {selection!r}", field="selection")
    if n_good <= n_pretrusted or n_malicious < 0 or not 0 <= n_spies <= n_malicious:
        raise InputError("need n_good > n_pretrusted, n_malicious >= 0 and 0 <= n_spies <= n_malicious",
                         field="n_malicious")
    if not 0 <= camouflage <= 1:
        raise InputError("camouflage must be in [0, 1]", field="camouflage")
    rng = np.random.default_rng(seed)
    n = n_good + n_malicious
    bad = np.zeros(n, dtype=bool)
    bad[n_good:] = True
    spy = np.zeros(n, dtype=bool)
    if threat == "D":
        spy[n - n_spies:] = True
    serves_bad = bad & ~spy  # peers that upload inauthentic files
    # authentic-upload probability per peer
    p_auth = np.where(bad, 0.0, 1.0 - good_mistake)
    if threat == "C":
        p_auth[bad] = camouflage
    p_auth[spy] = 1.0
    pre = np.zeros(n)
    pre[:n_pretrusted] = 1.0
    pre /= pre.sum()
    # content: Zipf-popular categories; each good peer holds a Zipf-drawn set of categories, is up a
    # uniform share of the time and issues queries a uniform share of its up-time (paper, Table 1)
    pop = 1.0 / np.arange(1, n_categories + 1)
    pop /= pop.sum()
    n_held = rng.integers(1, n_categories // 2 + 1, size=n)
    keys = rng.random((n, n_categories)) ** (1.0 / pop[None, :])  # weighted sampling without replacement
    rank = np.argsort(np.argsort(-keys, axis=1), axis=1)
    holds = rank < n_held[:, None]
    top = np.arange(n_categories) < max(1, int(round(malicious_top * n_categories)))
    holds[bad] = top[None, :]  # malicious peers answer the most popular queries (spies included)
    up = rng.random(n)
    up[bad] = 1.0
    query_rate = rng.random(n)
    # fixed local trust rows of malicious collectives (B, C, D)
    fixed = np.zeros((n, n))
    mal_b = np.flatnonzero(serves_bad) if threat == "D" else np.flatnonzero(bad)
    if threat in ("B", "C", "D") and mal_b.size:
        nxt = np.roll(mal_b, -1) if mal_b.size > 1 else mal_b
        fixed[mal_b, nxt] = 1.0
        if mal_b.size == 1:
            fixed[mal_b, mal_b] = 0.0  # a lone collective member has nobody to vouch for
        if threat == "D":
            fixed[np.flatnonzero(spy)[:, None], mal_b[None, :]] = 1.0 / mal_b.size
    fixed_rows = bad if threat in ("B", "C", "D") else np.zeros(n, dtype=bool)
    if threat == "D" and mal_b.size == 0:
        fixed_rows = np.zeros(n, dtype=bool)
    local = np.zeros((n, n))
    trust = pre.copy()
    rows = []
    for cycle in range(cycles):
        # queries of this cycle: every peer, in each query cycle, when up and querying
        ask = rng.random((query_cycles, n)) < (up * query_rate)[None, :]
        requester = np.nonzero(ask)[1]
        q = requester.size
        if q == 0:
            rows.append({"cycle": cycle, "inauthentic": np.nan, "downloads": 0,
                         "trust_on_malicious": float(trust[bad].sum())})
            continue
        cat = _choose(rng, np.broadcast_to(pop, (q, n_categories)))
        responders = holds[:, cat].T & (rng.random((q, n)) < up[None, :])
        responders[np.arange(q), requester] = False
        has = responders.any(1)
        if selection == "random":
            src = _choose(rng, responders + (~has)[:, None])
        else:
            t_resp = responders * trust[None, :]
            positive = t_resp > 1e-12
            zero_resp = responders & ~positive
            go_zero = (rng.random(q) < zero_trust_p) & zero_resp.any(1)
            no_pos = ~positive.any(1)
            w = np.where((go_zero | no_pos)[:, None], np.where(zero_resp.any(1)[:, None], zero_resp, responders),
                         t_resp)
            src = _choose(rng, w + (~has)[:, None])
        req, src = requester[has], src[has]
        authentic = rng.random(req.size) < p_auth[src]
        np.add.at(local, (req, src), np.where(authentic, 1.0, -1.0))
        c = _normalise(local, pre, threat, bad, fixed, fixed_rows)
        trust = eigentrust(c, pre, alpha=alpha, normalized=True)
        good_req = ~bad[req]
        rows.append({"cycle": cycle,
                     "inauthentic": float((~authentic[good_req]).mean()) if good_req.any() else np.nan,
                     "downloads": int(good_req.sum()), "trust_on_malicious": float(trust[bad].sum())})
    return pl.DataFrame(rows).with_columns(
        pl.lit(threat).alias("threat"), pl.lit(selection).alias("selection"), pl.lit(seed).alias("seed"))


def _normalise(local: np.ndarray, pre: np.ndarray, threat: str, bad: np.ndarray, fixed: np.ndarray,
               fixed_rows: np.ndarray) -> np.ndarray:
    """The paper's ``c_ij = max(s_ij, 0) / sum_j max(s_ij, 0)`` with malicious rows per threat model.

    Threat A: malicious peers value inauthentic service, ``s_ij`` negated (they trust whoever served
    them bad files: other malicious peers, and good peers' occasional mistakes).  B/C/D: the collective's fixed rows.  Empty rows -> ``p``.
    """
    s = local.copy()
    if threat == "A":
        s[bad] = -s[bad]
    pos = np.maximum(s, 0.0)
    tot = pos.sum(1, keepdims=True)
    c = np.divide(pos, tot, out=np.zeros_like(pos), where=tot > 0)
    c[tot[:, 0] <= 0] = pre
    if fixed_rows.any():
        c[fixed_rows] = fixed[fixed_rows]
        empty = fixed_rows & (fixed.sum(1) <= 0)
        c[empty] = pre
    return c


def _band(x: np.ndarray, level: float = 0.95) -> dict[str, float]:
    z = NormalDist().inv_cdf(0.5 + level / 2)
    x = x[~np.isnan(x)]
    m = float(x.mean()) if x.size else float("nan")
    se = float(x.std(ddof=1) / np.sqrt(x.size)) if x.size > 1 else 0.0
    return {"mean": m, "lo": m - z * se, "hi": m + z * se, "sd": float(x.std(ddof=1)) if x.size > 1 else 0.0,
            "q05": float(np.quantile(x, 0.05)) if x.size else float("nan"),
            "q95": float(np.quantile(x, 0.95)) if x.size else float("nan"), "seeds": int(x.size)}


#: The x-axis of each threat model's figure: (label, values).
ET_AXES: dict[str, tuple[str, tuple[float, ...]]] = {
    "A": ("share of malicious peers", (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)),
    "B": ("share of malicious peers", (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)),
    "C": ("camouflage f (P authentic upload by a malicious peer), 40% malicious",
          (0.0, 0.1, 0.3, 0.5, 0.7, 0.9)),
    "D": ("share of the 40 malicious peers that are spies (type D)", (0.0, 0.125, 0.25, 0.5, 0.75, 0.9)),
}


def eigentrust_experiment(threats: Sequence[str] = THREAT_MODELS, *, seeds: int = 20, n_good: int = 60,
                          cycles: int = 30, query_cycles: int = 10, last: int = 15,
                          axes: dict[str, tuple[str, tuple[float, ...]]] | None = None,
                          workers: int = 1, progress: bool = False) -> pl.DataFrame:
    """Per threat model, x value and selection: the inauthentic share (mean of the last ``last``
    cycles per seed) with a 95% band over seeds (``mean, lo, hi``: mean +- 1.96 se; ``q05, q95``).

    The x axis is the share of malicious peers (A, B), the camouflage ``f`` with 40 malicious of 100
    peers (C), and the share of spies among the 40 malicious peers (D).  Both selections see the
    same seeds.  ``workers > 1`` runs the curve points in that many processes (same numbers).
    """
    axes = axes or ET_AXES
    n_mal40 = int(round(n_good * 0.4 / 0.6))
    jobs = []
    for th in threats:
        for x in axes[th][1]:
            kw: dict = {"threat": th}
            if th in ("A", "B"):
                kw["n_malicious"] = int(round(n_good * x / (1 - x)))
            elif th == "C":
                kw.update(n_malicious=n_mal40, camouflage=x)
            else:
                kw.update(n_malicious=n_mal40, n_spies=min(n_mal40, int(round(x * n_mal40))))
            jobs.append((th, x, kw))
    tasks = [(th, x, {**kw, "selection": sel, "n_good": n_good, "cycles": cycles, "query_cycles": query_cycles},
              seeds, last) for th, x, kw in jobs for sel in ("trust", "random")]
    from olkit.sim.sweep import map_tasks

    results = map_tasks(_et_point, tasks, engine="local" if workers > 1 else "serial", workers=workers,
                        progress=progress, desc="EigenTrust replication")
    return pl.DataFrame(results)


def _et_point(threat: str, x: float, kw: dict, seeds: int, last: int) -> dict:
    per_seed = np.array([float(eigentrust_filesharing(**kw, seed=s)["inauthentic"].tail(last).mean())
                         for s in range(seeds)])
    return {"threat": threat, "x": float(x), "selection": kw["selection"], **_band(per_seed)}


# -- Yuma ------------------------------------------------------------------------------------------------
def yuma_step(weights: np.ndarray, stake: np.ndarray, bonds: np.ndarray | None, *, kappa: float = 0.5,
              bond_alpha: float = 0.1) -> dict[str, np.ndarray]:
    """One Yuma epoch: consensus, clipping, ranks, incentive, trust, bonds (EMA) and dividends.

    ``weights`` ``V x M`` (rows normalised here), ``stake`` ``V``, ``bonds`` ``V x M`` from the last
    epoch (``None``: start from this epoch's bond deltas).

    Example
    -------
    >>> import numpy as np
    >>> out = yuma_step(np.array([[0.6, 0.4], [0.2, 0.8]]), np.array([0.75, 0.25]), None)
    >>> out["consensus"].tolist(), out["incentive"].round(3).tolist()
    ([0.6, 0.4], [0.556, 0.444])
    """
    w = np.asarray(weights, dtype=float)
    s = np.asarray(stake, dtype=float)
    rows = w.sum(1, keepdims=True)
    w = np.divide(w, rows, out=np.zeros_like(w), where=rows > 0)
    sn = s / s.sum()
    consensus = stake_weighted_quantile(w, sn, kappa)
    clipped = np.minimum(w, consensus[None, :])
    rank = sn @ clipped
    incentive = rank / rank.sum() if rank.sum() > 0 else np.zeros_like(rank)
    trust = clipped.sum(1)
    sw = sn[:, None] * clipped
    col = sw.sum(0, keepdims=True)
    delta = np.divide(sw, col, out=np.zeros_like(sw), where=col > 0)
    b = delta if bonds is None else bond_alpha * delta + (1.0 - bond_alpha) * bonds
    bcol = b.sum(0, keepdims=True)
    b = np.divide(b, bcol, out=np.zeros_like(b), where=bcol > 0)
    div = b @ incentive
    dividends = div / div.sum() if div.sum() > 0 else np.zeros_like(div)
    return {"consensus": consensus, "clipped": clipped, "rank": rank, "incentive": incentive,
            "validator_trust": trust, "bond_delta": delta, "bonds": b, "dividends": dividends}


def yuma_epochs(*, ring_stake: float = 0.3, strategy: Literal["honest", "naive", "under_clip"] = "under_clip",
                n_validators: int = 16, n_miners: int = 64, ring_validators: int = 4, ring_miners: int = 4,
                epochs: int = 200, noise: float = 0.1, drift: float = 0.05, margin: float = 0.02,
                kappa: float = 0.5, bond_alpha: float = 0.1, seed: int = 0) -> dict[str, float]:
    """Run Yuma for ``epochs`` with drifting miner quality; return the ring's emission shares.

    Honest validators weight miners by a noisy view of the current quality (AR(1)-drifting, so
    weights change every epoch).  The ring's ``ring_validators`` hold ``ring_stake`` of the stake and
    own ``ring_miners`` weak miners.  ``strategy``: ``honest`` (the ring votes like everyone else),
    ``naive`` (all its weight on its own miners), ``under_clip`` (on each own miner a weight of
    ``(1 - margin)`` times last epoch's consensus, the rest proportional to the honest view).
    Returns the ring miners' share of miner emission, the ring validators' share of validator
    dividends, and the ring's total share of the epoch emission (half miners, half validators),
    averaged over epochs after the first 20.
    """
    if strategy not in ("honest", "naive", "under_clip"):
        raise InputError(f"unknown ring strategy {strategy!r}", field="strategy")
    if not 0 <= ring_stake < 1:
        raise InputError("ring_stake must be in [0, 1)", field="ring_stake")
    rng = np.random.default_rng(seed)
    quality = rng.uniform(0.2, 1.0, n_miners)
    quality[:ring_miners] = rng.uniform(0.05, 0.15, ring_miners)
    stake = rng.uniform(0.5, 1.5, n_validators)
    rv = ring_validators if ring_stake > 0 else 0
    if rv:
        stake[:rv] *= ring_stake / stake[:rv].sum()
        stake[rv:] *= (1.0 - ring_stake) / stake[rv:].sum()
    bonds = None
    consensus = None
    burn = min(20, epochs // 2)
    acc = np.zeros(4)
    for t in range(epochs):
        quality = np.clip(quality + drift * rng.standard_normal(n_miners) * (np.arange(n_miners) >= ring_miners),
                          0.05, 1.0)
        w = np.maximum(quality[None, :] + noise * rng.standard_normal((n_validators, n_miners)), 0.0)
        w /= w.sum(1, keepdims=True)
        if rv and strategy == "naive":
            w[:rv] = 0.0
            w[:rv, :ring_miners] = 1.0 / ring_miners
        elif rv and strategy == "under_clip" and consensus is not None:
            own = (1.0 - margin) * consensus[:ring_miners]
            rest = w[:rv, ring_miners:]
            rest = rest / rest.sum(1, keepdims=True) * max(0.0, 1.0 - own.sum())
            w[:rv, :ring_miners] = own
            w[:rv, ring_miners:] = rest
        out = yuma_step(w, stake, bonds, kappa=kappa, bond_alpha=bond_alpha)
        bonds, consensus = out["bonds"], out["consensus"]
        if t >= burn:
            miner_share = float(out["incentive"][:ring_miners].sum())
            val_share = float(out["dividends"][:rv].sum()) if rv else 0.0
            acc += [miner_share, val_share, 0.5 * miner_share + 0.5 * val_share,
                    float(out["validator_trust"][:rv].mean()) if rv else 1.0]
    acc /= max(1, epochs - burn)
    return {"ring_miner_incentive": acc[0], "ring_validator_dividends": acc[1], "ring_emission": acc[2],
            "ring_validator_trust": acc[3]}


def yuma_experiment(ring_stakes: Sequence[float] = (0.1, 0.2, 0.3, 0.4, 0.45, 0.55, 0.6), *, seeds: int = 20,
                    epochs: int = 200, progress: bool = False, **kw) -> pl.DataFrame:
    """Per ring stake and strategy: the ring's emission share with a 95% band over seeds, and the
    gain over voting honestly (paired by seed)."""
    rows = []
    it = ring_stakes
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(ring_stakes, desc="Yuma replication", leave=False)
    for c in it:
        per = {st: [yuma_epochs(ring_stake=c, strategy=st, epochs=epochs, seed=s, **kw) for s in range(seeds)]
               for st in ("honest", "naive", "under_clip")}
        for st in ("naive", "under_clip", "honest"):
            em = np.array([r["ring_emission"] for r in per[st]])
            gain = em - np.array([r["ring_emission"] for r in per["honest"]])
            rows.append({"ring_stake": float(c), "strategy": st,
                         **{f"emission_{k}": v for k, v in _band(em).items() if k != "seeds"},
                         **{f"gain_{k}": v for k, v in _band(gain).items() if k != "seeds"},
                         "miner_incentive": float(np.mean([r["ring_miner_incentive"] for r in per[st]])),
                         "validator_dividends": float(np.mean([r["ring_validator_dividends"] for r in per[st]])),
                         "validator_trust": float(np.mean([r["ring_validator_trust"] for r in per[st]])),
                         "seeds": seeds})
    return pl.DataFrame(rows)
