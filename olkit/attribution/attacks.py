"""End-to-end attacks on attribution payouts: change the data, retrain, attribute, allocate.

Every attack is a transformation of the training submissions (and of the reputation table) by one
*attacker* contributor.  :func:`attack_payout` runs the honest world and the attacked world through
the same pipeline -- fit the task model, fine-tune, attribute with the payout method, pay with
:func:`olkit.attribution.payouts.contributor_payouts` -- and returns what the attacker's
identities were paid in each.  Nothing is a synthetic score vector: the copies are trained on.

Attacks (:data:`ATTACKS`):

* ``sybil_split``: the attacker's items are spread over the old identity and two fresh ones;
* ``whitewash``: a low-standing attacker moves all its items to one fresh identity;
* ``copy_own_{exact,near,paraphrase}`` / ``copy_other_{exact,near,paraphrase}``: the attacker adds
  exact copies, one-word variants or re-worded answers (the other response style) of its own
  items or of another contributor's items;
* ``noise_padding``: the attacker adds items of random words drawn from the training text.

Fresh identities are not in the reputation table and get the policy's newcomer prior (by default
the lowest standing of the known contributors, see :func:`olkit.rewards.allocate`).

Example
-------
>>> from olkit.attribution.task import make_task
>>> task = make_task(n_contributors=3, items_per_contributor=4, n_eval=4, seed=0)
>>> frame, ids, rep = apply_attack(task.train, "sybil_split", attacker="c000", seed=0)
>>> sorted(ids)
['c000', 'c000-fresh1', 'c000-fresh2']
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from olkit.attribution.task import _paraphrase, near_copy
from olkit.schema import content_hash

ATTACKS = ("sybil_split", "whitewash", "copy_own_exact", "copy_own_near", "copy_own_paraphrase",
           "copy_other_exact", "copy_other_near", "copy_other_paraphrase", "noise_padding")


def honest_reputation(train: pl.DataFrame, *, attacker: str, seed: int, attacker_standing: float = 0.5) -> dict[str, float]:
    """Standings of the known contributors: uniform in [0.3, 1] (seeded), the attacker's fixed."""
    rng = np.random.default_rng(30_000 + seed)
    cids = sorted(set(train["contributor_id"].to_list()))
    rep = {c: float(rng.uniform(0.3, 1.0)) for c in cids}
    rep[attacker] = attacker_standing
    return rep


def apply_attack(train: pl.DataFrame, attack: str, *, attacker: str = "c000", victim: str = "c001",
                 seed: int = 0, reputation: dict[str, float] | None = None) -> tuple[pl.DataFrame, set[str], dict[str, float]]:
    """The attacked training frame, the attacker's identities in it, and the reputation table."""
    if attack not in ATTACKS:
        raise ValueError(f"unknown attack {attack!r}; choose from {', '.join(ATTACKS)}")
    rng = np.random.default_rng(40_000 + seed)
    rep = dict(reputation if reputation is not None else honest_reputation(train, attacker=attacker, seed=seed))
    mine = train.filter(pl.col("contributor_id") == attacker)
    ids = {attacker}
    if attack == "sybil_split":
        names = [attacker, f"{attacker}-fresh1", f"{attacker}-fresh2"]
        owner = [names[i % 3] for i in range(mine.height)]
        idx = train.with_row_index("_i").filter(pl.col("contributor_id") == attacker)["_i"].to_list()
        cids = train["contributor_id"].to_list()
        for i, o in zip(idx, owner, strict=True):
            cids[i] = o
        return train.with_columns(pl.Series("contributor_id", cids)), set(names), rep
    if attack == "whitewash":
        rep[attacker] = min(rep.values()) * 0.5  # the identity it abandons has the worst standing
        fresh = f"{attacker}-fresh1"
        frame = train.with_columns(pl.when(pl.col("contributor_id") == attacker).then(pl.lit(fresh))
                                   .otherwise(pl.col("contributor_id")).alias("contributor_id"))
        return frame, {fresh}, rep
    if attack == "noise_padding":
        words = " ".join(train["response"].to_list()).split()
        rows = []
        for k in range(mine.height):
            inst = mine["instruction"][k % mine.height]
            resp = " ".join(rng.choice(words, size=int(rng.integers(6, 12)))) + "."
            rows.append({"instruction": inst, "response": resp[0].upper() + resp[1:]})
        return _append(train, rows, attacker, "noise"), ids, rep
    src = mine if attack.startswith("copy_own") else train.filter(pl.col("contributor_id") == victim)
    kind = attack.rsplit("_", 1)[1]
    rows = []
    for r in src.iter_rows(named=True):
        if kind == "exact":
            resp = r["response"]
        elif kind == "near":
            resp = near_copy(rng, r["response"])
        else:
            resp = _paraphrase(rng, r, styles=True) if "style" in r and "topic" in r else near_copy(rng, r["response"])
        rows.append({**r, "response": resp})
    return _append(train, rows, attacker, "near_copy" if kind != "exact" else "duplicate"), ids, rep


def _append(train: pl.DataFrame, rows: list[dict], attacker: str, label: str) -> pl.DataFrame:
    base = train.height
    new = []
    for k, r in enumerate(rows):
        row = {c: r.get(c) for c in train.columns}
        row.update(contributor_id=attacker, instruction=r["instruction"], response=r["response"],
                   submission_id=f"attack-{base + k:05d}")
        if "label" in train.columns:
            row["label"] = label
        if "content_hash" in train.columns:
            row["content_hash"] = content_hash(r["instruction"], r["response"], None)
        new.append(row)
    return pl.concat([train, pl.DataFrame(new, schema=train.schema)]) if new else train


@dataclass
class AttackOutcome:
    attack: str
    honest: float  # attacker's payout in the honest world
    attacked: float  # total payout of the attacker's identities in the attacked world
    total_paid: float = 0.0  # everything paid in the attacked world (the budget, exactly)

    @property
    def ratio(self) -> float:
        """``(attacked + 1) / (honest + 1)``: the +1 (0.1 % of a 1000 budget) keeps zero pay finite."""
        return (self.attacked + 1.0) / (self.honest + 1.0)


def world_payouts(train: pl.DataFrame, eval: pl.DataFrame, *, reputation: dict[str, float] | None, method: str,
                  budget: float = 1000.0, config=None, seed: int = 0, policy=None) -> pl.DataFrame:
    """Fit the task model on this world's data, fine-tune (training seed ``seed``), attribute, pay."""
    from olkit.attribution.contributors import Game
    from olkit.attribution.payouts import contributor_payouts
    from olkit.attribution.task import AttributionTask

    game = Game.from_task(AttributionTask(train=train, eval=eval, seed=seed), config)
    ctx, _ = game.fine_tune(game.config.train_seeds[0])
    return contributor_payouts(ctx, train, eval, budget, policy, reputation=reputation, method=method)


def attack_payout(task, attack: str, *, method: str, attacker: str = "c000", victim: str = "c001",
                  budget: float = 1000.0, config=None, policy=None) -> AttackOutcome:
    """Honest vs attacked world for one task: the attacker's total payout in each."""
    rep = honest_reputation(task.train, attacker=attacker, seed=task.seed)
    attacked, ids, rep_attacked = apply_attack(task.train, attack, attacker=attacker, victim=victim,
                                               seed=task.seed, reputation=rep)
    if attack == "whitewash":  # the honest world is the same low-standing identity staying put
        rep = {**rep, attacker: rep_attacked[attacker]}
    honest = world_payouts(task.train, task.eval, reputation=rep, method=method, budget=budget, config=config,
                           seed=task.seed, policy=policy)
    after = world_payouts(attacked, task.eval, reputation=rep_attacked, method=method, budget=budget,
                          config=config, seed=task.seed, policy=policy)
    h = float(honest.filter(pl.col("contributor_id") == attacker)["amount"].sum())
    a = float(after.filter(pl.col("contributor_id").is_in(sorted(ids)))["amount"].sum())
    return AttackOutcome(attack, h, a, float(after["amount"].sum()))
