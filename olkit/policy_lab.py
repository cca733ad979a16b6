"""Compare policies end to end: filter quality, the simulated economy, the trained model, payouts.

One call runs every stage for each policy on the same data, reusing work where the design allows:
the filter scores are computed **once** and re-decided per policy (thresholds never need
re-scoring); the base model is loaded once and each policy's adapter is detached after use.

Example
-------
>>> from olkit.policy import Policy
>>> from olkit.policy_lab import compare_end_to_end
>>> lab = compare_end_to_end({"a": Policy(), "b": Policy().updated(**{"reputation.rule": "beta"})},
...                          n_contributors=15, base_model="tiny-llama", train_steps=2,
...                          sim_agents=100, sim_epochs=5, models=False)  # doctest: +SKIP
>>> lab.table.select("policy", "filter_f1", "adversary_reward_share", "eval_loss_after")  # doctest: +SKIP
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots
from tqdm.auto import tqdm

from olkit.errors import InputError
from olkit.policy import Policy
from olkit.schema import ADVERSARY_ARCHETYPES


@dataclass
class PolicyLabResult:
    """One row per policy (:attr:`table`) plus the per-policy payouts and simulation curves."""

    table: pl.DataFrame
    payouts: dict[str, pl.DataFrame] = field(default_factory=dict)
    simulations: dict[str, pl.DataFrame] = field(default_factory=dict)

    def figure(self) -> go.Figure:
        """A four-panel dashboard: filter quality, economy under attack, model, payouts."""
        t = self.table
        names = t["policy"].to_list()
        fig = make_subplots(rows=2, cols=2, subplot_titles=(
            "filters: F1 of accepting good items / false rejection",
            "economy under attack (simulated, mean over seeds)",
            "model: held-out loss after fine-tuning (lower is better)",
            "payouts: adversary share / Gini"), vertical_spacing=0.16)
        panels = [
            (1, 1, [("filter_f1", "F1"), ("false_rejection", "false rejection")]),
            (1, 2, [("adversary_reward_share", "adversary reward share"), ("honest_retention", "honest retention"),
                    ("accepted_quality", "accepted quality")]),
            (2, 1, [("eval_loss_before", "base model"), ("eval_loss_after", "after fine-tuning")]),
            (2, 2, [("payout_adversary_share", "adversary payout share"), ("payout_gini", "Gini")]),
        ]
        for row, col, metrics in panels:
            for metric, label in metrics:
                if metric in t.columns:
                    fig.add_bar(x=names, y=t[metric].to_list(), name=label, row=row, col=col,
                                text=[f"{v:.3f}" if v is not None else "" for v in t[metric].to_list()],
                                textposition="outside")
        fig.update_layout(height=720, barmode="group", title="Policies compared end to end",
                          legend={"orientation": "h", "y": -0.08})
        return fig


def compare_end_to_end(
    policies: Mapping[str, Policy | str | Path],
    *,
    n_contributors: int = 120,
    seed: int = 0,
    models: bool = True,
    sim_agents: int = 1000,
    sim_epochs: int = 80,
    sim_seeds: int = 3,
    base_model: str = "smollm2-135m",
    train_steps: int = 30,
    max_length: int = 160,
    max_eval: int = 24,
    attribution_method: str = "tracin",
    max_attribution_train: int = 64,
    budget: float = 1000.0,
    workdir: str | Path | None = None,
    progress: bool = True,
) -> PolicyLabResult:
    """Run every stage for each policy on the sample datanet; return a comparison table.

    Columns: ``policy, version_hash, accept_rate, filter_f1, false_rejection, false_acceptance``
    (decisions against ground truth), ``accepted_quality, adversary_reward_share, honest_retention,
    experimentation`` (simulation, mean of the last epochs over ``sim_seeds`` seeds), ``n_train,
    eval_loss_before, eval_loss_after`` (QLoRA adapter trained on the policy's selection, clean
    held-out set shared by all policies) and ``payout_adversary_share, payout_gini`` (attribution-
    based payouts of ``budget``).
    """
    from olkit.attribution.adapters import load_context
    from olkit.attribution.methods import make_method
    from olkit.data import sample_stream
    from olkit.filters import Pipeline
    from olkit.filters.evaluate import evaluate
    from olkit.rewards import allocate, payout_summary
    from olkit.sim import SimConfig, simulate
    from olkit.train import TrainConfig, build_examples, heldout_loss, load_base, split_and_select, train
    from olkit.train.data import with_submission_ids

    if not policies:
        raise InputError("compare_end_to_end needs at least one policy")
    loaded = {name: p if isinstance(p, Policy) else Policy.load(p) for name, p in policies.items()}
    workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="olkit-policy-lab-"))

    stream = with_submission_ids(sample_stream(n_contributors=n_contributors, seed=seed))
    archetypes = stream.select("contributor_id", "archetype").unique("contributor_id")
    adversaries = archetypes.filter(pl.col("archetype").is_in(ADVERSARY_ARCHETYPES))["contributor_id"].to_list()
    scored = Pipeline.default(models=models).run(stream, progress=progress)
    base = load_base(base_model, quantization="nf4")

    rows, payouts, sims = [], {}, {}
    for name, policy in tqdm(loaded.items(), desc="policies", disable=not progress):
        row: dict[str, object] = {"policy": name, "version_hash": policy.version_hash}
        # 1. filters: re-decide the cached scores under this policy's thresholds
        decided = scored.redecide(policy).decisions.select("submission_id", "accepted", "reasons")
        labelled = decided.join(stream.select("submission_id", "label"), on="submission_id")
        acc = evaluate(labelled).accept
        row.update(accept_rate=acc["accept_rate"], filter_f1=acc["f1"], false_rejection=acc["false_rejection"],
                   false_acceptance=acc["false_acceptance"])
        # 2. the economy under attack, several seeds
        runs = [simulate(SimConfig.from_policy(policy, n_agents=sim_agents, epochs=sim_epochs, seed=seed + k))
                for k in range(sim_seeds)]
        for metric in ("accepted_quality", "adversary_reward_share", "honest_retention", "experimentation"):
            row[metric] = float(np.mean([r.summary().get(metric, np.nan) for r in runs]))
        sims[name] = pl.concat([r.epochs.with_columns(pl.lit(k).alias("seed")) for k, r in enumerate(runs)])
        # 3. fine-tune on this policy's training selection; the held-out set is the same clean split
        split = split_and_select(stream, policy.training, decisions=decided.select("submission_id", "accepted"),
                                 seed=seed, max_eval=max_eval)
        train_ex = build_examples(split.train, base.tokenizer, max_length=max_length)
        eval_ex = build_examples(split.eval, base.tokenizer, max_length=max_length)
        run = train(base, train_ex, TrainConfig(steps=train_steps, max_length=max_length, seed=seed,
                                                checkpoint_every=max(1, train_steps // 3)),
                    out_dir=workdir / name, eval_examples=eval_ex, progress=progress, overwrite=True)
        after = heldout_loss(run.model, eval_ex)["loss"]
        with run.model.disable_adapter():
            before = heldout_loss(run.model, eval_ex)["loss"]
        row.update(n_train=len(train_ex), eval_loss_before=before, eval_loss_after=after)
        base.model = run.model.unload()  # detach the LoRA layers for the next policy
        # 4. attribution-based payouts under this policy's reward rule
        ctx, train_rows = load_context(run.adapter_dir, train=split.train)
        attribution = make_method(attribution_method).attribute(
            ctx, train_rows.head(max_attribution_train), split.eval.select("instruction", "response"))
        paid = allocate(budget, attribution, policy=policy).join(archetypes, on="contributor_id", how="left")
        summary = payout_summary(paid, adversaries=adversaries)
        row.update(payout_adversary_share=summary["adversary_share"], payout_gini=summary["gini"])
        payouts[name] = paid
        rows.append(row)
    return PolicyLabResult(table=pl.DataFrame(rows), payouts=payouts, simulations=sims)
