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
    """Inauthentic downloads per threat model (one panel each): trust-based vs random source
    selection, mean over seeds with the 95% band (rows of
    :func:`olkit.sim.replications.eigentrust_experiment` or the benchmark's ``eigentrust`` block)."""
    from olkit.sim.replications import ET_AXES

    threats = [t for t in ("A", "B", "C", "D") if t in set(summary["threat"].to_list())]
    fig = make_subplots(rows=1, cols=len(threats), shared_yaxes=True,
                        subplot_titles=[f"threat model {t}" for t in threats])
    for c, th in enumerate(threats, start=1):
        for i, sel in enumerate(("random", "trust")):
            sub = summary.filter((pl.col("threat") == th) & (pl.col("selection") == sel)).sort("x")
            x = sub["x"].to_list()
            color = PALETTE[i]
            fig.add_trace(go.Scatter(x=x + x[::-1], y=sub["hi"].to_list() + sub["lo"].to_list()[::-1],
                                     fill="toself", fillcolor=_rgba(color, 0.25), line={"width": 0},
                                     hoverinfo="skip", showlegend=False, legendgroup=sel), row=1, col=c)
            fig.add_trace(go.Scatter(x=x, y=sub["mean"].to_list(), mode="lines+markers", line={"color": color},
                                     name=f"{sel} source selection", legendgroup=sel, showlegend=c == 1),
                          row=1, col=c)
        fig.update_xaxes(title_text=ET_AXES[th][0].split(",")[0], row=1, col=c)
    fig.update_yaxes(title_text="inauthentic downloads (good peers)", range=[0, 1], row=1, col=1)
    fig.update_layout(title="EigenTrust replication: threat models A-D, mean and 95% band over seeds",
                      height=380)
    return fig


def yuma_figure(df: pl.DataFrame) -> go.Figure:
    """The ring's share of emission vs its validator stake per strategy, with 95% bands over seeds
    (rows of :func:`olkit.sim.replications.yuma_experiment`)."""
    fig = go.Figure()
    names = {"honest": "ring votes honestly", "naive": "all weight on own miners",
             "under_clip": "weight just under the consensus clip"}
    for i, st in enumerate(("honest", "naive", "under_clip")):
        sub = df.filter(pl.col("strategy") == st).sort("ring_stake")
        x = sub["ring_stake"].to_list()
        color = PALETTE[i]
        fig.add_trace(go.Scatter(x=x + x[::-1], y=sub["emission_hi"].to_list() + sub["emission_lo"].to_list()[::-1],
                                 fill="toself", fillcolor=_rgba(color, 0.25), line={"width": 0},
                                 hoverinfo="skip", showlegend=False))
        fig.add_trace(go.Scatter(x=x, y=sub["emission_mean"].to_list(), mode="lines+markers", name=names[st],
                                 line={"color": color}))
    fig.add_vline(x=0.5, line_dash="dot", annotation_text="kappa = 0.5")
    fig.update_layout(title="Yuma replication: the ring's share of emission (miners + validators)",
                      xaxis_title="ring validators' share of stake", yaxis_title="ring's share of emission")
    return fig


def share_figure(shares: pl.DataFrame, *, reference: str = "acceptance_ratio") -> go.Figure:
    """Share of the sampled assumption space where each arm beats ``reference``, per outcome, with
    the seed-bootstrap interval (rows of :meth:`olkit.sim.sensitivity.SensitivityResult.shares`)."""
    fig = go.Figure()
    outcomes = shares["outcome"].unique(maintain_order=True).to_list()
    for i, arm in enumerate(shares["arm"].unique(maintain_order=True).to_list()):
        sub = shares.filter(pl.col("arm") == arm)
        y = sub["share_won"].to_numpy()
        fig.add_trace(go.Bar(x=sub["outcome"].to_list(), y=y.tolist(), name=arm,
                             marker_color=PALETTE[(i + 1) % len(PALETTE)],
                             error_y={"type": "data", "symmetric": False,
                                      "array": (sub["hi"].to_numpy() - y).tolist(),
                                      "arrayminus": (y - sub["lo"].to_numpy()).tolist()}))
    fig.add_hline(y=0.5, line_dash="dot", annotation_text="half the space")
    fig.update_layout(barmode="group", yaxis_range=[0, 1], xaxis={"categoryorder": "array", "categoryarray": outcomes},
                      title=f"share of the assumption space where each rule beats {reference} (95% seed-bootstrap)",
                      yaxis_title="share of sampled points won", legend_title_text="rule")
    return fig


def drivers_figure(drivers: pl.DataFrame) -> go.Figure:
    """First-order sensitivity index of the paired difference per parameter (one bar group per outcome)."""
    fig = go.Figure()
    for i, outcome in enumerate(drivers["outcome"].unique(maintain_order=True).to_list()):
        sub = drivers.filter(pl.col("outcome") == outcome).sort("param")
        fig.add_trace(go.Bar(x=sub["param"].to_list(), y=sub["first_order"].to_list(), name=outcome,
                             marker_color=PALETTE[i % len(PALETTE)]))
    fig.update_layout(barmode="group", title="what drives the difference: first-order Sobol index (binned)",
                      yaxis_title="share of the difference's variance", legend_title_text="outcome")
    return fig
