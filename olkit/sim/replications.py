"""Replications of two published qualitative results, with olkit's reputation functions.

* :func:`eigentrust_filesharing` — Kamvar, Schlosser & Garcia-Molina (2003), threat model A:
  in a file-sharing network where independent malicious peers answer queries with inauthentic
  files, choosing a download source in proportion to EigenTrust global trust keeps the share of
  inauthentic downloads low even when malicious peers are a large majority, while choosing a
  responder at random does not.
* :func:`yuma_collusion` — Yuma consensus (Bittensor): validators holding a minority of stake who
  put all their weight on their own miners cannot lift those miners' incentive above what the
  stake-weighted consensus allows; only a stake majority can.

Both are vectorised over queries / validators and seeded.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from olkit.errors import InputError
from olkit.reputation.rules import eigentrust, yuma_consensus


def _choose(rng: np.random.Generator, weights: np.ndarray) -> np.ndarray:
    """One column index per row, with probability proportional to the row's weights."""
    cum = np.cumsum(weights, axis=1)
    u = rng.random(weights.shape[0])[:, None] * cum[:, -1:]
    return np.minimum((u > cum).sum(1), weights.shape[1] - 1)


def eigentrust_filesharing(
    *, n_peers: int = 100, malicious: float = 0.6, selection: str = "trust", cycles: int = 30,
    queries_per_peer: int = 5, good_respond: float = 0.1, malicious_respond: float = 0.3,
    n_pretrusted: int = 3, alpha: float = 0.15, explore: float = 0.1, seed: int = 0,
) -> pl.DataFrame:
    """Simulate download-source selection; one row per cycle with the inauthentic share.

    Every cycle each peer issues ``queries_per_peer`` queries; each good peer answers a query with
    probability ``good_respond`` and each malicious peer with ``malicious_respond`` (they answer
    eagerly to spread inauthentic files).  The requester picks a responder uniformly
    (``selection="random"``) or in proportion to global trust (``"trust"``; with probability
    ``explore`` uniformly among responders, so newcomers can be discovered, as in the paper).
    Good requesters rate the download (+1 authentic, -1 inauthentic); independent malicious peers
    rate at random (they do not collude).  Global trust is recomputed by :func:`eigentrust` after
    every cycle with ``n_pretrusted`` good pre-trusted peers.

    Example
    -------
    >>> df = eigentrust_filesharing(n_peers=60, malicious=0.6, selection="trust", cycles=10)
    >>> float(df["inauthentic"].tail(3).mean()) < 0.3
    True
    """
    if selection not in ("trust", "random"):
        raise InputError(f"selection must be 'trust' or 'random', got {selection!r}", field="selection")
    if not 0 <= malicious < 1:
        raise InputError("malicious must be in [0, 1)", field="malicious")
    rng = np.random.default_rng(seed)
    n_bad = int(round(malicious * n_peers))
    bad = np.zeros(n_peers, dtype=bool)
    bad[n_peers - n_bad:] = True  # good peers first; the first n_pretrusted are pre-trusted
    pre = np.zeros(n_peers)
    pre[:n_pretrusted] = 1.0
    local = np.zeros((n_peers, n_peers))
    trust = pre / pre.sum()
    rows = []
    q_total = n_peers * queries_per_peer
    requester = np.repeat(np.arange(n_peers), queries_per_peer)
    respond_p = np.where(bad, malicious_respond, good_respond)
    for cycle in range(cycles):
        responders = rng.random((q_total, n_peers)) < respond_p[None, :]
        responders[np.arange(q_total), requester] = False
        has = responders.any(1)
        uniform = responders.astype(float)
        if selection == "random":
            src = _choose(rng, uniform + (~has)[:, None])
        else:
            w = responders * trust[None, :]
            no_trust = w.sum(1) <= 0
            explore_q = (rng.random(q_total) < explore) | no_trust
            w = np.where(explore_q[:, None], uniform, w)
            src = _choose(rng, w + (~has)[:, None])
        req, src, ok = requester[has], src[has], ~bad[src[has]]
        good_req = ~bad[req]
        rating = np.where(good_req, np.where(ok, 1.0, -1.0), rng.choice([-1.0, 1.0], size=req.size))
        np.add.at(local, (req, src), rating)
        trust = eigentrust(local, pre, alpha=alpha)
        rows.append({"cycle": cycle, "inauthentic": float((~ok[good_req]).mean()) if good_req.any() else 0.0,
                     "downloads": int(good_req.sum()),
                     "trust_on_malicious": float(trust[bad].sum())})
    return pl.DataFrame(rows).with_columns(pl.lit(malicious).alias("malicious"),
                                          pl.lit(selection).alias("selection"), pl.lit(seed).alias("seed"))


def eigentrust_experiment(malicious: Sequence[float] = (0.0, 0.2, 0.4, 0.6, 0.7), *, seeds: int = 3,
                          n_peers: int = 100, cycles: int = 30, last: int = 10) -> pl.DataFrame:
    """Inauthentic-download share (mean of the last ``last`` cycles) per malicious share x selection."""
    frames = [eigentrust_filesharing(n_peers=n_peers, malicious=m, selection=s, cycles=cycles, seed=seed)
              .tail(last) for m in malicious for s in ("trust", "random") for seed in range(seeds)]
    return (pl.concat(frames).group_by("malicious", "selection", "seed")
            .agg(pl.col("inauthentic").mean()).group_by("malicious", "selection")
            .agg(pl.col("inauthentic").mean().alias("inauthentic"),
                 pl.col("inauthentic").std().alias("sd")).sort("malicious", "selection"))


def yuma_collusion(colluding_stake: Sequence[float] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.45, 0.55, 0.6, 0.7), *,
                   n_validators: int = 20, n_miners: int = 50, ring_miners: int = 5, noise: float = 0.05,
                   kappa: float = 0.5, seed: int = 0) -> pl.DataFrame:
    """Incentive of a colluding ring's miners as the ring's validator stake grows.

    Miners have a true quality; honest validators weight miners by quality plus noise.  The ring's
    validators (holding ``colluding_stake`` of the stake) put all their weight on the ring's
    ``ring_miners`` miners, whose true quality is low.  For each stake share the function reports
    the ring miners' total incentive (their rank as a share of the honest-vote total rank) under
    Yuma consensus clipping (``incentive_clipped``), if the ring voted honestly
    (``incentive_honest``), and under a plain stake-weighted average without clipping
    (``incentive_unclipped``); the consensus weights on the ring's miners (``consensus_cap``), the
    most any *honest* validator gives them (``honest_max_cap``), and the largest clipped weight a
    ring validator gives a ring miner above consensus (``max_excess_over_consensus``, 0 by
    construction).  With a stake minority the clip is set by honest validators, so
    ``incentive_clipped <= consensus_cap <= honest_max_cap``; with a majority it is not.

    Example
    -------
    >>> df = yuma_collusion([0.3, 0.7])
    >>> row = df.filter(pl.col("colluding_stake") == 0.3)
    >>> bool(row["incentive_clipped"].item() <= row["honest_max_cap"].item())
    True
    """
    rng = np.random.default_rng(seed)
    quality = rng.uniform(0.2, 1.0, n_miners)
    quality[:ring_miners] = rng.uniform(0.05, 0.15, ring_miners)  # the ring's miners are weak
    honest_w = np.maximum(quality[None, :] + noise * rng.standard_normal((n_validators, n_miners)), 0)
    honest_w /= honest_w.sum(1, keepdims=True)
    base_stake = rng.uniform(0.5, 1.5, n_validators)
    ring_w = np.zeros(n_miners)
    ring_w[:ring_miners] = 1.0 / ring_miners
    rows = []
    for c in colluding_stake:
        if not 0 <= c < 1:
            raise InputError(f"colluding stake must be in [0, 1), got {c}", field="colluding_stake")
        n_ring_v = max(1, n_validators // 4) if c > 0 else 0
        stake = base_stake.copy()
        if n_ring_v:
            stake[:n_ring_v] = stake[:n_ring_v] / stake[:n_ring_v].sum() * c
            stake[n_ring_v:] = stake[n_ring_v:] / stake[n_ring_v:].sum() * (1 - c)
        sn = stake / stake.sum()
        w = honest_w.copy()
        w[:n_ring_v] = ring_w
        honest = yuma_consensus(honest_w, stake, kappa)
        colluded = yuma_consensus(w, stake, kappa)
        # Emission is measured against the honest-vote total so that changes in other miners' rank
        # (the ring stops voting for them) do not masquerade as a gain for the ring.
        total = honest["rank"].sum()
        cap_honest = np.max(honest_w[n_ring_v:, :ring_miners], axis=0).sum()
        excess = colluded["clipped"][:n_ring_v, :ring_miners] - colluded["consensus"][None, :ring_miners]
        rows.append({
            "colluding_stake": float(c),
            "incentive_honest": float(honest["rank"][:ring_miners].sum() / total),
            "incentive_clipped": float(colluded["rank"][:ring_miners].sum() / total),
            "incentive_unclipped": float((sn @ w)[:ring_miners].sum() / (sn @ honest_w).sum()),
            "consensus_cap": float(colluded["consensus"][:ring_miners].sum() / total),
            "honest_max_cap": float(cap_honest / total),
            "max_excess_over_consensus": float(excess.max()) if excess.size else 0.0,
            "ring_validator_trust": float(colluded["validator_trust"][:n_ring_v].mean()) if n_ring_v else 1.0,
        })
    return pl.DataFrame(rows).with_columns(
        (pl.col("incentive_clipped") - pl.col("incentive_honest")).alias("gain_clipped"),
        (pl.col("incentive_unclipped") - pl.col("incentive_honest")).alias("gain_unclipped"),
    )
