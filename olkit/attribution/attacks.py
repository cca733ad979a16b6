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

Modes (:data:`MODES`): ``attribution_only`` trains on every submission; ``full_pipeline`` first
runs the policy's rule-based filter pipeline (:func:`filter_world`: dedup in arrival order, so the
original on the ledger wins over a later copy), as ``olkit run`` does; the ``*_unique`` modes train
the payout model only on each question's first submission
(:func:`olkit.attribution.payouts.unique_rows`).  :data:`PROBES` are attacks beyond issue 12's list
(and a bystander control), reported apart by ``benchmarks/reward_attacks_bench.py``.

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
from datetime import UTC, datetime

import numpy as np
import polars as pl

from olkit.attribution.task import _paraphrase, near_copy
from olkit.schema import content_hash

ATTACKS = ("sybil_split", "whitewash", "copy_own_exact", "copy_own_near", "copy_own_paraphrase",
           "copy_other_exact", "copy_other_near", "copy_other_paraphrase", "noise_padding")
#: probes beyond the issue's list (added after the defences were designed, to show their limits):
#: padding under *new* questions (random training words, so no earlier question matches) and
#: another contributor's answers under re-worded questions; and a control: the *victim* pads with
#: new questions while the attacker does nothing (the attacker's ratio is then pure retraining noise)
PROBES = ("noise_new_questions", "copy_other_requestion", "control_bystander_noise")


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
    if attack not in ATTACKS + PROBES:
        raise ValueError(f"unknown attack {attack!r}; choose from {', '.join(ATTACKS + PROBES)}")
    rng = np.random.default_rng(40_000 + seed)
    rep = dict(reputation if reputation is not None else honest_reputation(train, attacker=attacker, seed=seed))
    if attack == "control_bystander_noise":  # someone else changes the data; the attacker does nothing
        frame, _, rep = apply_attack(train, "noise_new_questions", attacker=victim, seed=seed, reputation=rep)
        return frame, {attacker}, rep
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
    if attack in ("noise_padding", "noise_new_questions"):
        words = " ".join(train["response"].to_list()).split()
        qwords = " ".join(train["instruction"].to_list()).split()
        rows = []
        for k in range(mine.height):
            inst = mine["instruction"][k % mine.height]
            if attack == "noise_new_questions":
                q = " ".join(rng.choice(qwords, size=int(rng.integers(6, 10)))).rstrip("?")
                inst = q[0].upper() + q[1:] + "?"
            resp = " ".join(rng.choice(words, size=int(rng.integers(6, 12)))) + "."
            rows.append({"instruction": inst, "response": resp[0].upper() + resp[1:]})
        return _append(train, rows, attacker, "noise"), ids, rep
    src = mine if attack.startswith("copy_own") else train.filter(pl.col("contributor_id") == victim)
    kind = attack.rsplit("_", 1)[1]
    rows = []
    for r in src.iter_rows(named=True):
        if kind == "requestion":
            r = {**r, "instruction": "Quick question: " + r["instruction"][0].lower() + r["instruction"][1:]}
        if kind in ("exact", "requestion"):
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


#: modes of the suite: ``attribution_only`` (every submission is trained on and attributed);
#: ``full_pipeline`` (the economy's flow, as ``olkit run`` does it: the policy's rule-based filter
#: pipeline -- format, pii, heuristics, spam, language, exact + MinHash dedup over the ledger in
#: arrival order -- decides first, only accepted rows are trained on, attributed and paid);
#: ``*_unique``: the same, but the payout model is trained and attributed on the first answer of
#: every near-duplicate / same-question cluster only (:func:`olkit.attribution.payouts.unique_rows`),
#: clusters formed over everything submitted in arrival order, rejected rows included: a question
#: whose first answer was rejected pays nobody, so a rejected item cannot be laundered by re-wording
MODES = ("attribution_only", "full_pipeline", "attribution_only_unique", "full_pipeline_unique")
_T0 = datetime(2026, 1, 1, tzinfo=UTC)


def with_arrival(frame: pl.DataFrame) -> pl.DataFrame:
    """``created_at`` one second apart in frame order: the honest rows (already on the ledger) come
    before anything an attack appends, so "first by time wins" in dedup credits the originals."""
    return frame.with_columns(
        (pl.lit(_T0) + pl.duration(seconds=pl.int_range(pl.len()))).dt.cast_time_unit("us").alias("created_at"))


def filter_world(frame: pl.DataFrame, policy=None, *, models: bool = False) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The rows the policy's filter pipeline accepts (as the economy does before training), and the
    decisions (``submission_id, accepted, reasons``).  Dedup runs over the whole world in arrival
    order, so a later copy of content already on the ledger is rejected."""
    from olkit.filters import Pipeline

    timed = with_arrival(frame)
    result = Pipeline.default(policy=policy, models=models).run(timed, progress=False)
    dec = result.decisions.select("submission_id", "accepted", "reasons")
    keep = dec.filter(pl.col("accepted"))["submission_id"]
    return frame.filter(pl.col("submission_id").is_in(keep.implode())), dec


def world_attribution(train: pl.DataFrame, eval: pl.DataFrame, *, method: str, config=None, seed: int = 0):
    """Fit the task model on this world's data, fine-tune (the config's first training seed), attribute."""
    from olkit.attribution.contributors import Game
    from olkit.attribution.methods import make_method
    from olkit.attribution.task import AttributionTask

    game = Game.from_task(AttributionTask(train=train, eval=eval, seed=seed), config)
    ctx, _ = game.fine_tune(game.config.train_seeds[0])
    return make_method(method).attribute(ctx, train, eval)


def world_payouts(train: pl.DataFrame, eval: pl.DataFrame, *, reputation: dict[str, float] | None, method: str,
                  budget: float = 1000.0, config=None, seed: int = 0, policy=None, attribution=None) -> pl.DataFrame:
    """Fit the task model on this world's data, fine-tune (training seed ``seed``), attribute, pay."""
    from olkit.attribution.payouts import contributor_payouts

    if attribution is None:
        attribution = world_attribution(train, eval, method=method, config=config, seed=seed)
    return contributor_payouts(None, train, eval, budget, policy, reputation=reputation, method=method,
                               attribution=attribution)


@dataclass
class _World:
    train: pl.DataFrame
    attribution: object


def _world(frame: pl.DataFrame, task, *, mode: str, method: str, config, policy) -> _World:
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose from {', '.join(MODES)}")
    firsts = None
    if mode.endswith("_unique"):  # clusters over everything submitted, rejected rows included
        from olkit.attribution.payouts import unique_rows

        firsts = unique_rows(frame)["submission_id"]
    if mode.startswith("full_pipeline"):
        frame, _ = filter_world(frame, policy)
    if firsts is not None:
        frame = frame.filter(pl.col("submission_id").is_in(firsts.implode()))
    return _World(frame, world_attribution(frame, task.eval, method=method, config=config, seed=task.seed))


def attack_suite(task, attacks=ATTACKS, *, method: str, mode: str = "attribution_only", attacker: str = "c000",
                 victim: str = "c001", budget: float = 1000.0, config=None, policy=None) -> list[AttackOutcome]:
    """:func:`attack_payout` for several attacks on one task, the honest world trained once.

    ``mode="full_pipeline"`` runs the policy's filter pipeline (rule-based layers, as ``olkit run``
    does by default) on each world's submissions before fine-tuning: honest and attacked worlds both
    go filter -> retrain -> attribute -> allocate; the ``*_unique`` modes train the payout model on
    the first answer of every cluster only (see :data:`MODES`)."""
    rep = honest_reputation(task.train, attacker=attacker, seed=task.seed)
    honest = _world(task.train, task, mode=mode, method=method, config=config, policy=policy)
    out = []
    for attack in attacks:
        frame, ids, rep_attacked = apply_attack(task.train, attack, attacker=attacker, victim=victim,
                                                seed=task.seed, reputation=rep)
        # whitewash: the honest world is the same low-standing identity staying put
        rep_h = {**rep, attacker: rep_attacked[attacker]} if attack == "whitewash" else rep
        world = (honest if frame.equals(task.train)
                 else _world(frame, task, mode=mode, method=method, config=config, policy=policy))
        h_pay = world_payouts(honest.train, task.eval, reputation=rep_h, method=method, budget=budget,
                              policy=policy, attribution=honest.attribution)
        a_pay = world_payouts(world.train, task.eval, reputation=rep_attacked, method=method, budget=budget,
                              policy=policy, attribution=world.attribution)
        h = float(h_pay.filter(pl.col("contributor_id") == attacker)["amount"].sum())
        a = float(a_pay.filter(pl.col("contributor_id").is_in(sorted(ids)))["amount"].sum())
        out.append(AttackOutcome(attack, h, a, float(a_pay["amount"].sum())))
    return out


def attack_payout(task, attack: str, *, method: str, attacker: str = "c000", victim: str = "c001",
                  budget: float = 1000.0, config=None, policy=None, mode: str = "attribution_only") -> AttackOutcome:
    """Honest vs attacked world for one task: the attacker's total payout in each."""
    return attack_suite(task, (attack,), method=method, mode=mode, attacker=attacker, victim=victim,
                        budget=budget, config=config, policy=policy)[0]
