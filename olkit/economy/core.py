"""The economy: rounds of contribute -> validate -> reputation -> train -> attribute + pay over one ledger.

Each round of :func:`run_economy`:

1. **intake** — active agents (:mod:`olkit.economy.agents`) submit real items; ingested with
   provenance (ground truth ``archetype``/``strategy``/``round`` in each submission's ``meta``);
2. **validate** — the policy's filter pipeline over the economy's submissions (so dedup sees every
   earlier round), the round's decisions appended (run ``<economy>-r<t>-filter``);
3. **reputation** — the policy's rule folded over the economy's ledger decisions, one epoch per
   round (:func:`olkit.reputation.ledger.contributor_reputation`), written as reputation events;
4. **train** — the policy's training selection of the round's submissions (capped at what the
   steps can see, so every selected row is seen), one adapter per round warm-started from the
   last; its manifest lists exactly the rows it saw, and every step's rows;
5. **attribute + pay** — :func:`olkit.economy.pay.pay_round` over exactly the trained rows, the
   round's budget from the policy (``rewards.budget_per_epoch`` on its ``schedule``; ``budget=``
   overrides it and is recorded), written with :meth:`Store.add_payouts` and the policy hash;
6. **commit** — a ``economy_round`` run holding the round's metrics and the agents' state.

Everything is written through :class:`~olkit.store.Store` methods.  Run ids are derived from the
economy's id (a hash of policy, seed, population and settings), so a re-run finds committed rounds
and does not redo them; a round interrupted half way is redone, reusing whatever of it reached the
ledger, and ends with the same payouts.

Example
-------
>>> from olkit.policy import Policy
>>> from olkit.store import Store
>>> with Store("economy.duckdb") as store:                                       # doctest: +SKIP
...     res = run_economy(store, Policy(), rounds=2, base="tiny-llama", agents=20, seed=0)
>>> res.rounds.select("round", "adversary_payout_share", "honest_retention")  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots
from tqdm.auto import tqdm

from olkit.economy.agents import (
    ADVERSARIES,
    ARCHETYPES,
    ITEMS_PER_ROUND,
    STRATEGIES,
    AgentState,
    ContentPool,
    adapt,
    intake,
    population,
)
from olkit.economy.pay import pay_round
from olkit.errors import InputError
from olkit.policy import Policy
from olkit.reputation.ledger import abuse_flag, contributor_reputation

STAGES = ("intake", "validate", "reputation", "train", "pay")
#: Loaded base models shared by the economies of one process: (name, purpose) -> LoadedBase.
_BASES: dict[tuple[str, str], Any] = {}
ROUND_KIND = "economy_round"
DATANET = "olkit-economy"


@dataclass
class EconomyResult:
    """Round metrics (``rounds``: one row per committed round), the economy id and where adapters are."""

    economy_id: str
    rounds: pl.DataFrame
    adapters: dict[int, Path]
    policy_hash: str
    new_rounds: int = 0
    seconds: float = 0.0
    strategies: pl.DataFrame | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def figure(self) -> go.Figure:
        """Accepted share by archetype, honest retention / adversary payout share, held-out loss, Gini."""
        return rounds_figure(self.rounds)

    def summary(self) -> dict[str, Any]:
        """The last round's headline numbers."""
        if self.rounds.height == 0:
            return {"economy_id": self.economy_id, "rounds": 0}
        last = self.rounds.row(-1, named=True)
        keys = ("adversary_payout_share", "honest_retention", "heldout_loss", "gini", "paid")
        return {"economy_id": self.economy_id, "rounds": self.rounds.height, **{k: last[k] for k in keys}}


def economy_id(policy: Policy, settings: Mapping[str, Any]) -> str:
    """``econ-<12 hex>``: a hash of the policy and every setting that changes what the rounds do."""
    body = json.dumps({"policy": policy.version_hash, **settings}, sort_keys=True, default=str)
    return "econ-" + hashlib.sha256(body.encode()).hexdigest()[:12]


def round_budget(policy: Policy, round_: int, budget: float | None = None) -> float:
    """The round's budget: ``budget`` if given, else the policy's ``budget_per_epoch`` on its schedule."""
    from olkit.rewards import budget_schedule

    if budget is not None:
        return float(budget)
    r = policy.rewards
    return float(budget_schedule(round_ + 1, r.budget_per_epoch, schedule=r.schedule, growth_rate=r.growth_rate,
                                 cap=r.budget_cap)[-1])


def check_settings(*, rounds: int, budget: float | None, base: str) -> None:
    """Refuse bad run settings up front (:class:`~olkit.errors.InputError` naming the field), before a
    ledger is created or a round writes anything: ``rounds >= 1``, a finite non-negative ``budget``,
    and a ``base`` model that is registered, a local model folder, or a hub id whose config loads
    (from the local cache when offline)."""
    from olkit.train.models import ModelNotFound, resolve

    if not isinstance(rounds, int | np.integer) or rounds < 1:
        raise InputError(f"rounds must be at least 1, got {rounds}", field="rounds")
    if budget is not None and not (np.isfinite(budget) and budget >= 0):
        raise InputError(f"budget must be a finite non-negative number, got {budget!r}", field="budget")
    try:
        spec = resolve(base)
        if spec.kind == "hub":
            from transformers import AutoConfig

            try:
                AutoConfig.from_pretrained(spec.source)
            except Exception as e:  # noqa: BLE001 - offline, unknown id, gated: all mean "cannot train on it"
                raise ModelNotFound(f"hub model {spec.source!r} cannot be loaded here ({type(e).__name__}); "
                                    "use a registered base or a local model folder") from None
    except ModelNotFound as e:
        raise InputError(str(e), field="base") from None


def run_economy(
    store: Any,
    policy: Policy | str | Path | None = None,
    rounds: int = 2,
    *,
    base: str = "smollm2-135m",
    agents: int | Mapping[str, int] = 40,
    seed: int = 0,
    budget: float | None = None,
    train_steps: int = 8,
    batch_size: int = 4,
    max_length: int = 128,
    max_eval: int = 8,
    models: bool = False,
    adapt_rate: float = 0.5,
    sensitivity: float = 2.0,
    pool_contributors: int | None = None,
    adapter_root: str | Path | None = None,
    on_stage: Callable[[int, str], None] | None = None,
    progress: bool = True,
) -> EconomyResult:
    """Run (or resume) ``rounds`` rounds of the economy on ``store``; returns the round metrics.

    ``store``: a :class:`~olkit.store.Store` or a path.  ``policy``: a Policy, a policy file, a
    bundled policy name, or None (the default policy).  ``agents``: a total or archetype -> count.
    ``budget`` overrides the policy's per-round budget (recorded in each round's run).
    ``on_stage(round, stage)`` is called before each stage (progress hooks; an exception there
    interrupts the run like a kill, and a re-run resumes).  Same arguments, same seed: the same
    ledger content apart from timestamps and ingest run ids.

    Example
    -------
    >>> res = run_economy("ledger.duckdb", "strict", rounds=2, base="tiny-llama")  # doctest: +SKIP
    >>> res.rounds["adversary_payout_share"].to_list()                              # doctest: +SKIP
    """
    from olkit.store import Store

    check_settings(rounds=rounds, budget=budget, base=base)  # before any ledger is opened or created
    if isinstance(store, str | Path):
        with Store(store) as st:
            return run_economy(st, policy, rounds, base=base, agents=agents, seed=seed, budget=budget,
                               train_steps=train_steps, batch_size=batch_size, max_length=max_length,
                               max_eval=max_eval, models=models, adapt_rate=adapt_rate, sensitivity=sensitivity,
                               pool_contributors=pool_contributors, adapter_root=adapter_root, on_stage=on_stage,
                               progress=progress)
    policy = resolve_policy(policy)
    t0 = time.perf_counter()
    pop = population(agents)
    settings = {"seed": seed, "agents": dict(agents) if isinstance(agents, Mapping) else int(agents),
                "base": base, "budget": budget, "train_steps": train_steps, "batch_size": batch_size,
                "max_length": max_length, "max_eval": max_eval, "models": models, "adapt_rate": adapt_rate,
                "sensitivity": sensitivity, "pool_contributors": pool_contributors}
    econ = economy_id(policy, settings)
    root = Path(adapter_root) if adapter_root else store.path.parent / f"{store.path.stem}.adapters"
    eco = _Economy(store, policy, pop, econ, settings, root / econ, progress)
    committed = eco.committed()
    state = (AgentState.from_json(committed[-1]["params"]["state"]) if committed
             else AgentState.initial(pop, seed))
    new = 0
    todo = range(len(committed), rounds)
    bar = tqdm(todo, desc=f"economy {econ}", disable=not progress or not len(todo))
    for t in bar:
        state = eco.round(t, state, on_stage=on_stage)
        new += 1
    bar.close()
    return eco.result(new, time.perf_counter() - t0)


def resolve_policy(policy: Policy | str | Path | None) -> Policy:
    """A Policy from a Policy, a file, a bundled policy name (``strict`` ...) or None (the default)."""
    from olkit.policy import bundled_policies

    if policy is None:
        return Policy()
    if isinstance(policy, Policy):
        return policy
    bundled = bundled_policies()
    if isinstance(policy, str) and policy in bundled:
        return Policy.load(bundled[policy])
    if isinstance(policy, str) and policy == "default":
        return Policy()
    return Policy.load(policy)


class _Economy:
    """One economy over one store: the stages of a round, each reusing what the ledger already holds."""

    def __init__(self, store: Any, policy: Policy, pop: pl.DataFrame, econ: str, settings: dict[str, Any],
                 adapter_dir: Path, progress: bool) -> None:
        self.store, self.policy, self.pop, self.econ = store, policy, pop, econ
        self.settings, self.adapter_dir, self.progress = settings, adapter_dir, progress
        self.seed = int(settings["seed"])
        self._pool: ContentPool | None = None
        self._eval_ex: Any = None
        self.archetype = dict(zip(pop["contributor_id"].to_list(), pop["archetype"].to_list(), strict=True))
        expected = float(sum(ITEMS_PER_ROUND[a] for a in pop["archetype"].to_list()))
        self.expected_items = max(expected, 1.0)

    # -- ledger lookups -------------------------------------------------------------------------------
    def run_id(self, t: int, stage: str | None = None) -> str:
        return f"{self.econ}-r{t}" + (f"-{stage}" if stage else "")

    def committed(self) -> list[dict[str, Any]]:
        runs = self.store.table("runs").filter((pl.col("kind") == ROUND_KIND)
                                               & pl.col("run_id").str.starts_with(self.econ + "-r"))
        out = []
        for t in range(runs.height):
            row = runs.filter(pl.col("run_id") == self.run_id(t))
            if row.height == 0:
                break
            out.append({"params": json.loads(row["params"][0]), "stats": json.loads(row["stats"][0])})
        return out

    def _has_run(self, run_id: str) -> bool:
        return self.store.table("runs").filter(pl.col("run_id") == run_id).height > 0

    @property
    def pool(self) -> ContentPool:
        if self._pool is None:
            n = self.settings["pool_contributors"] or max(60, 3 * self.pop.height)
            self._pool = ContentPool.build(n, self.seed, self.settings["max_eval"])
        return self._pool

    def unit(self, budget: float) -> float:
        """A fair share: the round's budget over the items a full population submits."""
        return budget / self.expected_items if budget > 0 else 1.0 / self.expected_items

    def _paid_content(self, t: int) -> pl.Series:
        """Content hashes of the items paid in rounds before ``t``."""
        paid = self.paid_items(t)
        if paid is None:
            return pl.Series("content_hash", [], dtype=pl.String)
        return self.store.submissions(columns=["submission_id", "content_hash"]).join(
            paid.select("submission_id"), on="submission_id")["content_hash"].unique()

    def paid_items(self, t: int) -> pl.DataFrame | None:
        """Texts of the items paid in rounds before ``t`` (what copycats copy)."""
        if t == 0:
            return None
        paid = pl.concat([self._item_payouts(self.run_id(k, "reward")) for k in range(t)])
        paid = paid.filter(pl.col("payout") > 0).select("submission_id").unique()
        if paid.height == 0:
            return None
        subs = self.store.submissions(columns=["submission_id", "contributor_id", "instruction", "response",
                                               "license"])
        return subs.join(paid, on="submission_id").sort("submission_id")

    # -- one round --------------------------------------------------------------------------------------
    def round(self, t: int, state: AgentState, *, on_stage: Callable[[int, str], None] | None) -> AgentState:
        from olkit.ingest import ingest
        from olkit.ingest.hashing import add_ids

        policy, store = self.policy, self.store
        budget = round_budget(policy, t, self.settings["budget"])
        bar = tqdm(STAGES, desc=f"round {t}", leave=False, disable=not self.progress)

        def stage(name: str) -> None:
            bar.set_postfix_str(name)
            if on_stage is not None:
                on_stage(t, name)

        # 1. intake ---------------------------------------------------------------------------------------
        stage("intake")
        items = intake(self.pop, state, self.pool, t, seed=self.seed, econ=self.econ, datanet=DATANET,
                       paid_items=self.paid_items(t), sensitivity=self.settings["sensitivity"])
        bar.update()
        if items.height:
            ingest(items, store, progress=False)
            ids = add_ids(items.with_columns(pl.lit(None, dtype=pl.String).alias("text")))
            items = items.with_columns(ids["submission_id"])
        else:
            items = items.with_columns(pl.lit(None, dtype=pl.String).alias("submission_id"))
        items = items.with_columns(
            pl.col("contributor_id").replace_strict(self.pop["contributor_id"], self.pop["agent"],
                                                    return_dtype=pl.Int64).alias("agent"))
        round_ids = items.unique("submission_id", keep="first", maintain_order=True)
        # 2. validate -------------------------------------------------------------------------------------
        stage("validate")
        decisions = self._decide(t, round_ids)
        bar.update()
        # 3. reputation -----------------------------------------------------------------------------------
        stage("reputation")
        reputation = self._reputation(t)
        bar.update()
        # 4. train ----------------------------------------------------------------------------------------
        stage("train")
        trained, adapter, loss = self._train(t, round_ids, decisions, reputation)
        bar.update()
        # 5. attribute + pay ------------------------------------------------------------------------------
        stage("pay")
        item_pay = self._pay(t, trained, adapter, budget, reputation)
        bar.update()
        bar.close()
        # adapt + commit -----------------------------------------------------------------------------------
        outcome = items.select("submission_id", "agent", "archetype", "strategy").join(
            decisions.select("submission_id", "accepted"), on="submission_id", how="left").join(
            item_pay, on="submission_id", how="left").with_columns(
            pl.col("accepted").fill_null(False), pl.col("payout").fill_null(0.0))
        # a resubmitted item is one submission: pay it once
        outcome = outcome.with_columns(pl.when(pl.col("submission_id").is_first_distinct())
                                       .then(pl.col("payout")).otherwise(0.0).alias("payout"))
        active_before = state.active.copy()
        moves = adapt(self.pop, state, outcome, self.unit(budget), seed=self.seed, round_=t,
                      rate=self.settings["adapt_rate"])
        metrics = self._metrics(t, budget, outcome, trained, loss, active_before, state, moves)
        store.add_run(ROUND_KIND, run_id=self.run_id(t), policy=policy,
                      params={"economy": self.econ, "round": t, "settings": self.settings, "budget": budget,
                              "budget_source": "override" if self.settings["budget"] is not None else "policy",
                              "adapter": self.run_id(t), "state": state.to_json()},
                      stats=metrics)
        return state

    def _decide(self, t: int, round_ids: pl.DataFrame) -> pl.DataFrame:
        from olkit.filters import Pipeline

        run_id = self.run_id(t, "filter")
        if self._has_run(run_id):
            return self.store.table("decisions").filter(pl.col("run_id") == run_id).select(
                "submission_id", "accepted", "reasons", "scores")
        if round_ids.height == 0:
            return pl.DataFrame(schema={"submission_id": pl.String, "accepted": pl.Boolean,
                                        "reasons": pl.List(pl.String), "scores": pl.String})
        subs = self.store.submissions(datanet=DATANET)
        mine = subs.filter(pl.col("source_id").str.starts_with(self.econ + "-")
                           | pl.col("submission_id").is_in(round_ids["submission_id"].implode()))
        result = Pipeline.default(policy=self.policy, models=self.settings["models"]).run(
            mine, progress=False)
        d = result.decisions
        passed = [c for c in d.columns if c.endswith(".passed")]
        frame = (d.filter(pl.col("submission_id").is_in(round_ids["submission_id"].implode()))
                 .select("submission_id", "accepted", "reasons",
                         (pl.sum_horizontal([pl.col(c).cast(pl.Float64) for c in passed]) / max(len(passed), 1))
                         .alias("score"))
                 .unique("submission_id", keep="first", maintain_order=True))
        self.store.add_decisions(frame, run_id=run_id, policy=self.policy)
        return self.store.table("decisions").filter(pl.col("run_id") == run_id).select(
            "submission_id", "accepted", "reasons", "scores")

    def _reputation(self, t: int) -> pl.DataFrame:
        run_id = self.run_id(t, "reputation")
        if self._has_run(run_id):
            return (self.store.table("reputation").filter(pl.col("run_id") == run_id)
                    .select("contributor_id", pl.col("reputation").cast(pl.Float64)))
        dec = self.store.table("decisions").filter(pl.col("run_id").str.starts_with(self.econ + "-r")
                                                   & pl.col("run_id").str.ends_with("-filter"))
        subs = self.store.submissions(columns=["submission_id", "contributor_id"])
        log = (dec.join(subs, on="submission_id")
               .with_columns(pl.col("run_id").str.extract(r"-r(\d+)-filter$").cast(pl.Int64).alias("epoch"),
                             pl.col("scores").str.json_path_match("$.score").cast(pl.Float64).alias("score"),
                             (abuse_flag() & ~pl.col("accepted")).alias("abuse"))
               .filter(pl.col("epoch") <= t))
        rep = contributor_reputation(log, self.policy)
        self.store.add_reputation(rep, run_id=run_id, policy=self.policy)
        return rep

    def _load_base(self, purpose: str = "train") -> Any:
        """The base model for training (compute dtype ``auto``) or attribution (fp32), loaded once per
        process and shared by every economy of that base (training detaches its LoRA layers after
        each round, attribution after each payout)."""
        from olkit.train import load_base

        key = (self.settings["base"], purpose)
        if key not in _BASES:
            _BASES[key] = load_base(self.settings["base"], quantization="nf4", device="cpu" if purpose == "attribute"
                                    else "auto", compute_dtype="float32" if purpose == "attribute" else "auto")
        return _BASES[key]

    def _train(self, t: int, round_ids: pl.DataFrame, decisions: pl.DataFrame,
               reputation: pl.DataFrame) -> tuple[pl.DataFrame, Path | None, float | None]:
        from olkit.rewards_config import TrainingSelection
        from olkit.train import TrainConfig, build_examples, heldout_loss, split_and_select, train
        from olkit.train.data import EmptyTrainingSet

        s = self.settings
        adapter_id = self.run_id(t)
        out = self.adapter_dir / f"round-{t}"
        known = self.store.table("adapters").filter(pl.col("adapter_id") == adapter_id)
        subs = self.store.submissions(columns=["submission_id", "contributor_id", "instruction", "response",
                                               "text", "content_hash", "meta"])
        if known.height and (out / "adapter_config.json").exists():
            ids = known["submission_ids"][0].to_list()
            trained = subs.filter(pl.col("submission_id").is_in(ids))
            return trained, out, json.loads(known["manifest"][0] or "{}").get("heldout_loss")
        frame = subs.join(round_ids.select("submission_id"), on="submission_id")
        cap = train_steps_rows = s["train_steps"] * s["batch_size"]
        sel = self.policy.training
        selection = TrainingSelection(mode=sel.mode, max_examples=min(sel.max_examples or cap, cap))
        try:
            split = split_and_select(frame, selection, decisions=decisions.select("submission_id", "accepted"),
                                     reputation=reputation, seed=self.seed + t)
        except EmptyTrainingSet:
            return subs.clear(), None, None
        base = self._load_base()
        eval_ex = self._eval()[1]
        # an item whose prompt alone exceeds max_length cannot train: it is left out, not seen, not paid
        fitting = _prompt_fits(split.train, base.tokenizer, s["max_length"])
        if fitting.height == 0:
            return subs.clear(), None, None
        examples = build_examples(fitting, base.tokenizer, max_length=s["max_length"])
        config = TrainConfig(steps=s["train_steps"], batch_size=s["batch_size"], max_length=s["max_length"],
                             seed=self.seed + t, checkpoint_every=max(1, -(-s["train_steps"] // 2)))
        prev = self._previous_adapter(t)
        run = train(base, examples, config, out_dir=out, progress=False, overwrite=True, init_adapter=prev,
                    manifest_extra={"economy": self.econ, "round": t, "policy_hash": self.policy.version_hash,
                                    "train_rows_cap": train_steps_rows})
        loss = heldout_loss(run.model, eval_ex)["loss"]
        base.model = run.model.unload()
        ids = run.manifest["submission_ids"]
        if not known.height:
            self.store.add_adapter(out, run_id=self.run_id(t, "train"), base_model=s["base"], submission_ids=ids,
                                   policy=self.policy, adapter_id=adapter_id,
                                   manifest={k: run.manifest[k] for k in ("n_examples", "seed", "metrics", "config")}
                                   | {"heldout_loss": loss, "init_adapter": str(prev) if prev else None})
        return subs.filter(pl.col("submission_id").is_in(ids)), out, loss

    def _eval(self) -> tuple[pl.DataFrame, Any]:
        """The held-out rows that fit in ``max_length`` and their examples (built once)."""
        if self._eval_ex is None:
            from olkit.train import build_examples

            tok = self._load_base().tokenizer
            rows = _prompt_fits(self.pool.eval, tok, self.settings["max_length"])
            if rows.height == 0:
                raise InputError(f"no held-out prompt fits in max_length {self.settings['max_length']}; raise it",
                                 field="max_length")
            self._eval_ex = (rows, build_examples(rows, tok, max_length=self.settings["max_length"]))
        return self._eval_ex

    def _previous_adapter(self, t: int) -> Path | None:
        for k in range(t - 1, -1, -1):
            folder = self.adapter_dir / f"round-{k}"
            if (folder / "adapter_config.json").exists():
                return folder
        return None

    def _pay(self, t: int, trained: pl.DataFrame, adapter: Path | None, budget: float,
             reputation: pl.DataFrame) -> pl.DataFrame:
        run_id = self.run_id(t, "reward")
        empty = pl.DataFrame(schema={"submission_id": pl.String, "payout": pl.Float64})
        if self._has_run(run_id):
            return self._item_payouts(run_id)
        if adapter is None or trained.height == 0:
            return empty
        attribute = self.policy.rewards.rule == "attribution"
        paid = pay_round(adapter, trained, self._eval()[0], budget, self.policy, reputation=reputation,
                         base=self._load_base("attribute") if attribute else None,
                         already_paid=self._paid_content(t))
        per_items = paid.items.group_by("contributor_id").agg(
            pl.struct("submission_id", "payout").sort_by("submission_id").alias("items"))
        per = paid.contributors.join(per_items, on="contributor_id", how="left")
        self.store.add_payouts(per.select("contributor_id", pl.col("payout").alias("amount"), "share",
                                          pl.struct("value", "n_items", "reputation", pl.lit(paid.method).alias("method"),
                                                    "items").alias("components")),
                               run_id=run_id, policy=self.policy)
        return paid.items.select("submission_id", "payout")

    def _item_payouts(self, run_id: str) -> pl.DataFrame:
        """Item payouts of a recorded round (a run resumed after its payouts were written): each
        payout row's ``components.items`` holds the split of its amount over the contributor's items."""
        pays = self.store.table("payouts").filter(pl.col("run_id") == run_id)
        if pays.height == 0:
            return pl.DataFrame(schema={"submission_id": pl.String, "payout": pl.Float64})
        dtype = pl.Struct({"items": pl.List(pl.Struct({"submission_id": pl.String, "payout": pl.Float64}))})
        return (pays.select(pl.col("components").str.json_decode(dtype).struct.field("items"))
                .explode("items").drop_nulls().unnest("items"))

    # -- metrics ----------------------------------------------------------------------------------------
    def _metrics(self, t: int, budget: float, outcome: pl.DataFrame, trained: pl.DataFrame, loss: float | None,
                 active_before: np.ndarray, state: AgentState, moves: dict[str, int]) -> dict[str, Any]:
        pop = self.pop
        honest = pop["honest"].to_numpy()
        pays = self.store.table("payouts").filter(pl.col("run_id") == self.run_id(t, "reward"))
        pays = pays.with_columns(pl.col("contributor_id").replace_strict(self.archetype, default=None)
                                 .alias("archetype"))
        paid = float(pays["amount"].sum()) if pays.height else 0.0
        adv_paid = float(pays.filter(pl.col("archetype").is_in(ADVERSARIES))["amount"].sum()) if pays.height else 0.0
        from olkit.rewards import gini

        submitters = outcome.select("agent").unique()
        per_agent = np.zeros(pop.height)
        if pays.height:
            amount = dict(zip(pays["contributor_id"].to_list(), pays["amount"].to_list(), strict=True))
            per_agent = pop["contributor_id"].replace_strict(amount, default=0.0, return_dtype=pl.Float64).to_numpy()
        sub_mask = np.zeros(pop.height, dtype=bool)
        sub_mask[submitters["agent"].to_numpy()] = True
        by_arch = outcome.group_by("archetype").agg(pl.col("accepted").mean().alias("share"))
        shares = dict(zip(by_arch["archetype"].to_list(), by_arch["share"].to_list(), strict=True))
        n_acc = int(outcome["accepted"].sum())
        adv_acc = int(outcome.filter(pl.col("archetype").is_in(ADVERSARIES))["accepted"].sum())
        genuine = outcome.filter(pl.col("strategy") == "genuine")
        bad_acc = int(outcome.filter(pl.col("strategy") != "genuine")["accepted"].sum())
        row: dict[str, Any] = {
            "round": t, "budget": budget, "submitted": outcome.height, "accepted": n_acc,
            "false_rejection": 1.0 - float(genuine["accepted"].mean()) if genuine.height else None,
            "bad_accept_share": bad_acc / n_acc if n_acc else None,
            "trained": trained.height, "paid": paid,
            "adversary_payout_share": adv_paid / paid if paid > 0 else None,
            "adversary_accepted_share": adv_acc / n_acc if n_acc else None,
            "honest_retention": float(state.active[honest].mean()) if honest.any() else None,
            "active_honest": int(active_before[honest].sum()), "active_adversary": int(active_before[~honest].sum()),
            "heldout_loss": loss, "gini": gini(per_agent[sub_mask]) if sub_mask.any() else 0.0,
            **moves,
        }
        row.update({f"accepted_share_{a}": shares.get(a) for a in ARCHETYPES})
        return row

    # -- results ----------------------------------------------------------------------------------------
    def result(self, new: int, seconds: float) -> EconomyResult:
        committed = self.committed()
        rows = pl.DataFrame([c["stats"] for c in committed], infer_schema_length=None) if committed else pl.DataFrame()
        adapters = {t: self.adapter_dir / f"round-{t}" for t in range(len(committed))
                    if (self.adapter_dir / f"round-{t}").exists()}
        return EconomyResult(economy_id=self.econ, rounds=rows, adapters=adapters,
                             policy_hash=self.policy.version_hash, new_rounds=new, seconds=seconds,
                             strategies=self.strategies(),
                             meta={"settings": self.settings, "store": str(self.store.path)})

    def strategies(self) -> pl.DataFrame:
        """Items submitted per round, archetype and strategy (from the submissions' ``meta``)."""
        subs = self.store.submissions(datanet=DATANET, columns=["source_id", "meta"])
        subs = subs.filter(pl.col("source_id").str.starts_with(self.econ + "-"))
        if subs.height == 0:
            return pl.DataFrame(schema={"round": pl.Int64, "archetype": pl.String, "strategy": pl.String,
                                        "items": pl.UInt32})
        return (subs.select(pl.col("meta").str.json_path_match("$.round").cast(pl.Int64).alias("round"),
                            pl.col("meta").str.json_path_match("$.archetype").alias("archetype"),
                            pl.col("meta").str.json_path_match("$.strategy").alias("strategy"))
                .group_by("round", "archetype", "strategy").agg(pl.len().alias("items"))
                .sort("round", "archetype", "strategy"))


def _prompt_fits(frame: pl.DataFrame, tokenizer: Any, max_length: int) -> pl.DataFrame:
    """Rows whose rendered prompt leaves room for a response in ``max_length`` tokens (longer
    responses are truncated by :func:`olkit.train.build_examples`; a prompt cannot be)."""
    from olkit.train.data import render_prompt

    if frame.height == 0:
        return frame
    prompts = [render_prompt(tokenizer, q) for q in frame["instruction"].to_list()]
    n = np.fromiter((len(x) for x in tokenizer(prompts, add_special_tokens=False)["input_ids"]), dtype=np.int64)
    return frame.filter(pl.Series(n < max_length - 1))


def rounds_figure(rounds: pl.DataFrame) -> go.Figure:
    """A four-panel figure of the round metrics."""
    fig = make_subplots(rows=2, cols=2, subplot_titles=(
        "accepted share by archetype", "adversary payout share / honest retention",
        "held-out loss of the round's adapter", "Gini of payouts"), vertical_spacing=0.16)
    if rounds.height == 0:
        return fig
    x = rounds["round"].to_list()
    for a in ARCHETYPES:
        col = f"accepted_share_{a}"
        if col in rounds.columns and rounds[col].null_count() < rounds.height:
            fig.add_scatter(x=x, y=rounds[col].to_list(), name=a, mode="lines+markers", row=1, col=1)
    for col, name in (("adversary_payout_share", "adversary payout share"), ("honest_retention", "honest retention")):
        fig.add_scatter(x=x, y=rounds[col].to_list(), name=name, mode="lines+markers", row=1, col=2)
    fig.add_scatter(x=x, y=rounds["heldout_loss"].to_list(), name="held-out loss", mode="lines+markers", row=2, col=1)
    fig.add_scatter(x=x, y=rounds["gini"].to_list(), name="Gini", mode="lines+markers", row=2, col=2)
    fig.update_xaxes(title_text="round", dtick=1)
    fig.update_layout(height=640, title="The economy, round by round", legend={"orientation": "h", "y": -0.1})
    return fig


def strategy_figure(strategies: pl.DataFrame, archetypes: Sequence[str] = ADVERSARIES) -> go.Figure:
    """Share of adversaries' items per strategy, round by round (how they respond to pay)."""
    s = strategies.filter(pl.col("archetype").is_in(list(archetypes)))
    s = s.group_by("round", "strategy").agg(pl.col("items").sum()).with_columns(
        (pl.col("items") / pl.col("items").sum().over("round")).alias("share")).sort("round", "strategy")
    fig = go.Figure()
    for name in STRATEGIES:
        part = s.filter(pl.col("strategy") == name)
        if part.height:
            fig.add_bar(x=part["round"].to_list(), y=part["share"].to_list(), name=name)
    fig.update_layout(barmode="stack", title="What adversaries submit, round by round", xaxis_title="round",
                      yaxis_title="share of adversaries' items", height=380)
    return fig
