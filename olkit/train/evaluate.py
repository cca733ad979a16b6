"""Evaluation: held-out loss/perplexity, side-by-side generations, and ``compare_policies``.

:func:`compare_policies` is the key research measurement: one adapter per training-set policy
(``all`` submissions vs ``accepted`` by the filters vs ``reputation_weighted``), each trained with
the same base, seed, steps and hyperparameters, scored on the same clean held-out set.

Example
-------
>>> from olkit.train.evaluate import compare_policies
>>> cmp = compare_policies(frame, ["all", "accepted", "reputation_weighted"],
...                        base="smollm2-135m", config=TrainConfig(steps=40))   # doctest: +SKIP
>>> cmp.table.select("policy", "n_train", "eval_loss_before", "eval_loss_after")  # doctest: +SKIP
>>> show(cmp.figure())                                                            # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
import polars as pl

from olkit.errors import OlkitError
from olkit.train.data import (
    DataSplit,
    SelectionLike,
    as_selection,
    build_examples,
    split_and_select,
)
from olkit.train.models import LoadedBase, load_base
from olkit.train.qlora import TrainConfig, heldout_loss, train  # heldout_loss: re-exported


@dataclass
class PolicyComparison:
    """One row per policy: data size, held-out loss before/after, adapter folder."""

    table: pl.DataFrame
    histories: dict[str, pl.DataFrame] = field(default_factory=dict)
    splits: dict[str, DataSplit] = field(default_factory=dict)

    def figure(self) -> go.Figure:
        """Bar chart of held-out loss after training per policy, with the base model's loss."""
        t = self.table
        fig = go.Figure(go.Bar(x=t["policy"].to_list(), y=t["eval_loss_after"].to_list(),
                               text=[f"{v:.3f}" for v in t["eval_loss_after"]], textposition="outside",
                               customdata=np.stack([t["n_train"].to_numpy(), t["frac_genuine"].fill_null(float("nan")).to_numpy()], axis=1),
                               hovertemplate="%{x}<br>held-out loss %{y:.4f}<br>n_train %{customdata[0]}"
                                             "<br>genuine share %{customdata[1]:.2f}<extra></extra>",
                               name="after fine-tuning"))
        before = float(t["eval_loss_before"][0])
        fig.add_hline(y=before, line_dash="dash", annotation_text=f"base model {before:.3f}")
        lo = min(before, float(t["eval_loss_after"].min())) * 0.97
        hi = max(before, float(t["eval_loss_after"].max())) * 1.02
        fig.update_layout(title="Held-out loss on clean data by training-set policy (lower is better)",
                          yaxis_title="held-out loss (nats/token)", xaxis_title="training-set policy",
                          yaxis_range=[lo, hi], showlegend=False)
        return fig

    def loss_curves(self) -> go.Figure:
        """Training loss per step for every policy."""
        fig = go.Figure()
        for name, h in self.histories.items():
            fig.add_trace(go.Scatter(x=h["step"].to_list(), y=h["loss"].to_list(), mode="lines", name=name))
        fig.update_layout(title="Training loss", xaxis_title="step", yaxis_title="loss (response tokens)")
        return fig


def _label(sel: SelectionLike | tuple[str, SelectionLike]) -> tuple[str, Any]:
    if isinstance(sel, tuple):
        return sel[0], as_selection(sel[1])
    s = as_selection(sel)
    return (s.mode if s.max_examples is None else f"{s.mode}[{s.max_examples}]"), s


def compare_policies(
    source: Any,
    selections: Sequence[SelectionLike | tuple[str, SelectionLike]] = ("all", "accepted", "reputation_weighted"),
    *,
    base: LoadedBase | str = "smollm2-135m",
    config: TrainConfig | None = None,
    out_dir: str | Path | None = None,
    decisions: pl.DataFrame | None = None,
    reputation: pl.DataFrame | None = None,
    max_eval: int | None = 64,
    seed: int = 0,
    policy_hash: str | None = None,
    progress: bool = True,
    before: dict[str, float] | None = None,
) -> PolicyComparison:
    """Train one adapter per selection on the same base/seed/steps; score all on one clean held-out set.

    ``selections`` are modes (``"all"``), :class:`TrainingSelection` objects, or ``(label, selection)``
    pairs.  With ``out_dir`` each adapter is saved in ``out_dir/<label>`` with its manifest.
    ``before``: the base model's :func:`heldout_loss` on this same held-out set when already
    measured (skips one pass; checked against the set's response-token count).
    """
    from tqdm.auto import tqdm

    config = config or TrainConfig()
    labelled = [_label(s) for s in selections]
    if len({name for name, _ in labelled}) != len(labelled):
        raise OlkitError("policy labels must be unique; pass (label, selection) pairs")
    if isinstance(base, str):
        base = load_base(base, quantization=config.quantization, device=config.device,
                         compute_dtype=config.compute_dtype)
    splits = {name: split_and_select(source, sel, decisions=decisions, reputation=reputation,
                                     seed=seed, max_eval=max_eval) for name, sel in labelled}
    first = next(iter(splits.values()))
    eval_ids = first.eval["submission_id"].sort().to_list()
    for name, sp in splits.items():
        if sp.eval["submission_id"].sort().to_list() != eval_ids:  # pragma: no cover - invariant
            raise OlkitError(f"policy {name!r} got a different held-out set")
    eval_ex = build_examples(first.eval, base.tokenizer, max_length=config.max_length, source="held-out")
    n_tokens = float(eval_ex.n_response_tokens)
    if before is not None and before.get("n_tokens") != n_tokens:
        raise OlkitError(f"before= was measured on {before.get('n_tokens')} response tokens, "
                         f"this held-out set has {n_tokens:.0f}: not the same set")
    before = before if before is not None else heldout_loss(base.model, eval_ex)
    rows, histories = [], {}
    for name, _sel in tqdm(labelled, desc="policies", disable=not progress):
        sp = splits[name]
        ex = build_examples(sp.train, base.tokenizer, max_length=config.max_length, source=name)
        result = train(base, ex, config, Path(out_dir) / name if out_dir else None, overwrite=True,
                       manifest_extra={"selection": sp.selection.model_dump(mode="json"),
                                       "policy_hash": policy_hash, "data_stats": sp.stats,
                                       "eval_submission_ids": eval_ids},
                       progress=progress)
        after = heldout_loss(result.model, eval_ex)
        labels = sp.train["label"] if "label" in sp.train.columns else None
        frac = float((labels == "genuine").mean()) if labels is not None and labels.null_count() < len(labels) else None
        rows.append({"policy": name, "mode": sp.selection.mode, "n_train": sp.train.height,
                     "n_examples": len(ex), "frac_genuine": frac, "n_eval": len(eval_ex),
                     "eval_loss_before": before["loss"], "eval_loss_after": after["loss"],
                     "ppl_before": before["perplexity"], "ppl_after": after["perplexity"],
                     "delta": after["loss"] - before["loss"], "train_loss_last": result.metrics["loss_last"],
                     "tokens_per_s": result.metrics["tokens_per_s_mean"],
                     "adapter_dir": str(result.adapter_dir) if result.adapter_dir else None})
        histories[name] = result.history.with_columns(pl.lit(name).alias("policy"))
        base.model = result.model.unload()  # remove the LoRA layers: the next policy starts clean
    table = pl.DataFrame(rows, schema_overrides={"frac_genuine": pl.Float64, "adapter_dir": pl.String})
    return PolicyComparison(table=table, histories=histories, splits=splits)


def side_by_side(base: LoadedBase | str, prompts: Sequence[str], adapters: dict[str, str | Path],
                 *, include_base: bool = True, max_new_tokens: int = 48, **kwargs: Any) -> pl.DataFrame:
    """Generations for each prompt from the base model and each adapter folder, as one frame."""
    from olkit.train.adapters import AdapterBank

    bank = AdapterBank(base)
    for name, folder in adapters.items():
        bank.add(name, folder)
    cols: list[str | None] = ([None] if include_base else []) + list(adapters)
    return bank.compare(list(prompts), adapters=cols, max_new_tokens=max_new_tokens, **kwargs)
