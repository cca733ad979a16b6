"""Compare policies by running the same economy under each: same seeded population, same content.

Each policy runs :func:`olkit.economy.run_economy` on its own ledger (one DuckDB file per policy)
with the same seed, population and settings, so the round-0 contributions are identical and every
difference after that comes from the policy: its filters, reputation rule, training selection and
reward rule -- and from how the adaptive contributors respond to what it paid.

Example
-------
>>> from olkit.policy import Policy
>>> from olkit.policy_lab import compare_end_to_end
>>> lab = compare_end_to_end({"strict": "strict", "lenient": "lenient"}, rounds=2, base="tiny-llama",
...                          agents=16, train_steps=2)                       # doctest: +SKIP
>>> lab.table.select("policy", "adversary_payout_share", "honest_retention")  # doctest: +SKIP
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots
from tqdm.auto import tqdm

from olkit.errors import InputError
from olkit.policy import Policy

#: Columns of :attr:`PolicyLabResult.table` taken as the mean over rounds (the others: last round).
MEAN_OVER_ROUNDS = ("adversary_payout_share", "adversary_accepted_share", "gini", "false_rejection",
                    "bad_accept_share")
LAST_ROUND = ("honest_retention", "heldout_loss")


@dataclass
class PolicyLabResult:
    """One row per policy (:attr:`table`) and every round of every policy (:attr:`rounds`)."""

    table: pl.DataFrame
    rounds: pl.DataFrame
    stores: dict[str, Path] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)

    def figure(self) -> go.Figure:
        """Adversary payout share, honest retention, held-out loss per round; headline bars per policy."""
        fig = make_subplots(rows=2, cols=2, subplot_titles=(
            "adversary share of payouts, per round", "honest retention, per round",
            "held-out loss of the round's adapter", "mean over rounds: payouts / filters"),
            vertical_spacing=0.16)
        for i, (name, part) in enumerate(self.rounds.partition_by("policy", as_dict=True, maintain_order=True).items()):
            name = name[0] if isinstance(name, tuple) else name
            x = part["round"].to_list()
            for (row, col), metric in zip(((1, 1), (1, 2), (2, 1)),
                                          ("adversary_payout_share", "honest_retention", "heldout_loss"), strict=True):
                fig.add_scatter(x=x, y=part[metric].to_list(), name=name, legendgroup=name, showlegend=(row, col) == (1, 1),
                                mode="lines+markers", line={"color": _COLORS[i % len(_COLORS)]}, row=row, col=col)
        names = self.table["policy"].to_list()
        for metric, label in (("adversary_payout_share", "adversary payout share"), ("gini", "Gini"),
                              ("false_rejection", "false rejection of genuine items")):
            fig.add_bar(x=names, y=self.table[metric].to_list(), name=label, row=2, col=2,
                        text=[f"{v:.2f}" if v is not None else "" for v in self.table[metric].to_list()],
                        textposition="outside")
        fig.update_xaxes(title_text="round", dtick=1, row=1)
        fig.update_xaxes(title_text="round", dtick=1, row=2, col=1)
        fig.update_layout(height=720, barmode="group", title="Policies compared by the economy's round metrics",
                          legend={"orientation": "h", "y": -0.1})
        return fig


_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


def compare_end_to_end(
    policies: Mapping[str, Policy | str | Path],
    *,
    rounds: int = 3,
    base: str = "smollm2-135m",
    agents: int | Mapping[str, int] = 30,
    seed: int = 0,
    workdir: str | Path | None = None,
    progress: bool = True,
    **economy: Any,
) -> PolicyLabResult:
    """Run the economy under each policy on the same seeded population; compare the round metrics.

    ``policies``: name -> Policy, policy file or bundled policy name.  ``economy``: further
    settings of :func:`olkit.economy.run_economy` (``train_steps``, ``max_eval``, ``budget``,
    ``models`` ...), the same for every policy.  Ledgers (and adapters) go to ``workdir``
    (a temporary folder by default); re-running with the same ``workdir`` resumes, redoing nothing.

    :attr:`PolicyLabResult.table` columns: ``policy, version_hash, economy_id, rounds``, the mean
    over rounds of ``adversary_payout_share, adversary_accepted_share, gini, false_rejection,
    bad_accept_share`` and the last round's ``honest_retention, heldout_loss``.
    """
    from olkit.economy import resolve_policy, run_economy

    if not policies:
        raise InputError("compare_end_to_end needs at least one policy", field="policies")
    loaded = {name: resolve_policy(p) for name, p in policies.items()}
    workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="olkit-policy-lab-"))
    rows, frames, stores, results = [], [], {}, {}
    for name, policy in tqdm(loaded.items(), desc="policies", disable=not progress):
        stores[name] = workdir / f"{name}.duckdb"
        res = run_economy(stores[name], policy, rounds, base=base, agents=agents, seed=seed, progress=progress,
                          **economy)
        results[name] = res
        r = res.rounds.with_columns(pl.lit(name).alias("policy"))
        frames.append(r)
        row: dict[str, Any] = {"policy": name, "version_hash": policy.version_hash, "economy_id": res.economy_id,
                               "rounds": r.height}
        row.update({m: r[m].mean() for m in MEAN_OVER_ROUNDS})
        row.update({m: r[m][-1] for m in LAST_ROUND})
        rows.append(row)
    return PolicyLabResult(table=pl.DataFrame(rows), rounds=pl.concat(frames, how="diagonal_relaxed"),
                           stores=stores, results=results)
