"""Plotly figures for simulation results: metric curves with Monte Carlo bands, replications.

Example
-------
>>> from olkit.sim import SimConfig
>>> from olkit.sim.sweep import grid, sweep
>>> df = sweep(SimConfig(n_agents=200, epochs=5), grid({"reputation.rule": ["beta"]}), seeds=2,
...            engine="serial")
>>> fig = band_figure(df, ["accepted_quality"], by="reputation.rule")
>>> len(fig.data)
2
"""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

from olkit.sim.engine import METRICS
from olkit.sim.sweep import bands

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i: i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def band_figure(df: pl.DataFrame, metrics: Sequence[str], *, by: str = "point", level: float = 0.95,
                title: str | None = None, cols: int = 2) -> go.Figure:
    """One panel per metric: the mean over seeds per group ``by`` with a ``level`` confidence band.

    The band is ``mean +- z * sd / sqrt(n_seeds)`` (the uncertainty of the mean); hover shows the
    number of seeds.  One legend entry per group.
    """
    metrics = list(metrics)
    rows = (len(metrics) + cols - 1) // cols
    fig = make_subplots(rows=rows, cols=min(cols, len(metrics)), subplot_titles=metrics,
                        horizontal_spacing=0.08, vertical_spacing=0.12)
    groups = df[by].unique(maintain_order=True).to_list() if by in df.columns else [None]
    for m_i, metric in enumerate(metrics):
        r, c = m_i // cols + 1, m_i % cols + 1
        b = bands(df, metric, [by] if by in df.columns else [], level=level)
        for g_i, g in enumerate(groups):
            sub = b.filter(pl.col(by) == g) if g is not None else b
            color = PALETTE[g_i % len(PALETTE)]
            x = sub["epoch"].to_list()
            fig.add_trace(go.Scatter(x=x + x[::-1], y=sub["hi"].to_list() + sub["lo"].to_list()[::-1],
                                     fill="toself", fillcolor=_rgba(color, 0.2), line={"width": 0},
                                     hoverinfo="skip", showlegend=False, legendgroup=str(g)),
                          row=r, col=c)
            fig.add_trace(go.Scatter(x=x, y=sub["mean"].to_list(), mode="lines", line={"color": color},
                                     name=str(g), legendgroup=str(g), showlegend=m_i == 0,
                                     customdata=sub["n"].to_list(),
                                     hovertemplate=f"{g}<br>epoch %{{x}}<br>{metric} %{{y:.3f}}"
                                                   "<br>seeds %{customdata}<extra></extra>"),
                          row=r, col=c)
    fig.update_layout(title=title or f"mean and {int(level * 100)}% band over seeds",
                      height=300 * rows + 80, legend_title_text=by)
    return fig


def run_figure(epochs: pl.DataFrame, metrics: Sequence[str] = ("accepted_quality", "adversary_reward_share",
                                                              "honest_retention", "experimentation"),
               *, title: str = "") -> go.Figure:
    """Curves of one run (no bands), one panel per metric; used by the ReputationLab widget."""
    metrics = list(metrics)
    cols = 2
    rows = (len(metrics) + 1) // 2
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[f"{m}" for m in metrics])
    for i, m in enumerate(metrics):
        fig.add_trace(go.Scatter(x=epochs["epoch"].to_list(), y=epochs[m].to_list(), mode="lines",
                                 name=m, line={"color": PALETTE[i % len(PALETTE)]},
                                 hovertemplate=f"{METRICS.get(m, m)}<br>epoch %{{x}}: %{{y:.3f}}<extra></extra>"),
                      row=i // cols + 1, col=i % cols + 1)
    fig.update_layout(title=title, showlegend=False, height=260 * rows + 60)
    return fig


def eigentrust_figure(summary: pl.DataFrame) -> go.Figure:
    """Inauthentic-download share vs share of malicious peers, trust-based vs random selection."""
    fig = go.Figure()
    for i, sel in enumerate(("random", "trust")):
        sub = summary.filter(pl.col("selection") == sel).sort("malicious")
        fig.add_trace(go.Scatter(x=sub["malicious"].to_list(), y=sub["inauthentic"].to_list(),
                                 error_y={"type": "data", "array": sub["sd"].fill_null(0).to_list()},
                                 mode="lines+markers", name=f"{sel} source selection",
                                 line={"color": PALETTE[i]}))
    fig.update_layout(title="EigenTrust replication (threat model A: independent malicious peers)",
                      xaxis_title="share of malicious peers", yaxis_title="inauthentic downloads",
                      yaxis_range=[0, 1])
    return fig


def yuma_figure(df: pl.DataFrame) -> go.Figure:
    """Ring miners' incentive vs the ring's validator stake: clipped, unclipped, honest."""
    fig = go.Figure()
    for i, (col, name) in enumerate((("incentive_unclipped", "stake-weighted average (no clip)"),
                                     ("incentive_clipped", "Yuma consensus clipping"),
                                     ("incentive_honest", "ring votes honestly"))):
        fig.add_trace(go.Scatter(x=df["colluding_stake"].to_list(), y=df[col].to_list(),
                                 mode="lines+markers", name=name, line={"color": PALETTE[i]}))
    fig.add_vline(x=0.5, line_dash="dot", annotation_text="kappa = 0.5")
    fig.update_layout(title="Yuma replication: a colluding minority cannot beat the consensus clip",
                      xaxis_title="colluding validators' share of stake",
                      yaxis_title="ring miners' incentive")
    return fig
