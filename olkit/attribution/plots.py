"""Plotly figures for attribution: method comparison, LDS scatter, contributors and payouts."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots


def method_comparison(table: pl.DataFrame) -> go.Figure:
    """Bars of LDS, LOCO correlation and bad-data AUC per method with seed-to-seed std error bars,
    plus seconds (log scale).  ``table`` is :meth:`EvaluationReport.table` output."""
    metrics = [("lds", "LDS (Spearman)"), ("loco_corr", "leave-contributor-out corr."),
               ("bad_auc", "bad-data AUC"), ("seconds", "seconds (log)")]
    metrics = [(m, t) for m, t in metrics if f"{m}_mean" in table.columns]
    fig = make_subplots(rows=1, cols=len(metrics), subplot_titles=[t for _, t in metrics])
    methods = table["method"].to_list()
    for c, (m, _) in enumerate(metrics, start=1):
        fig.add_trace(go.Bar(x=methods, y=table[f"{m}_mean"].to_list(),
                             error_y={"type": "data", "array": table[f"{m}_std"].to_list()},
                             name=m, showlegend=False, marker_color="#4C78A8" if m != "seconds" else "#F58518"),
                      row=1, col=c)
        if m == "seconds":
            fig.update_yaxes(type="log", row=1, col=c)
    fig.update_layout(height=380, title="Attribution methods against retraining ground truth (mean ± std over seeds)")
    return fig


def lds_scatter(scores: np.ndarray, subsets: np.ndarray, subset_losses: np.ndarray, eval_index: int = 0,
                method: str = "") -> go.Figure:
    """Predicted (``-sum_{i in S} score``) vs actual eval loss over retrained subsets, one eval item."""
    pred = -(subsets.astype(float) @ scores[:, eval_index])
    fig = go.Figure(go.Scatter(x=pred, y=subset_losses[:, eval_index], mode="markers",
                               marker={"size": 8, "opacity": 0.8}))
    fig.update_layout(title=f"{method}: predicted vs retrained loss (eval item {eval_index})",
                      xaxis_title="predicted (-sum of scores in subset)", yaxis_title="eval loss after retraining",
                      height=360)
    return fig


def speed_vs_quality(table: pl.DataFrame, retrain_seconds: float | None = None) -> go.Figure:
    """LDS against seconds per method (log x); a vertical line at brute-force retraining time."""
    fig = go.Figure(go.Scatter(x=table["seconds_mean"].to_list(), y=table["lds_mean"].to_list(),
                               error_y={"type": "data", "array": table["lds_std"].to_list()},
                               text=table["method"].to_list(), mode="markers+text", textposition="top center",
                               marker={"size": 11}))
    if retrain_seconds:
        fig.add_vline(x=retrain_seconds, line_dash="dash", annotation_text="leave-one-out retraining")
    fig.update_xaxes(type="log", title="seconds")
    fig.update_yaxes(title="LDS")
    fig.update_layout(title="Cost vs accuracy of attribution", height=380)
    return fig


def contributor_bars(by_contributor: pl.DataFrame, *, top: int = 15, title: str = "") -> go.Figure:
    """Horizontal bars of contributor scores (negative in red)."""
    f = by_contributor.head(top)
    colors = ["#54A24B" if s >= 0 else "#E45756" for s in f["score"]]
    fig = go.Figure(go.Bar(x=f["score"].to_list(), y=f["contributor_id"].to_list(), orientation="h",
                           marker_color=colors))
    fig.update_layout(title=title or "Contributor attribution", yaxis={"autorange": "reversed"}, height=360)
    return fig


def payout_bars(payouts: pl.DataFrame, adversaries=(), *, top: int = 20) -> go.Figure:
    """Payouts per contributor, adversaries highlighted."""
    f = payouts.head(top)
    adv = set(adversaries)
    colors = ["#E45756" if c in adv else "#4C78A8" for c in f["contributor_id"]]
    fig = go.Figure(go.Bar(x=f["contributor_id"].to_list(), y=f["payout"].to_list(), marker_color=colors))
    fig.update_layout(title="Payouts", yaxis_title="payout", height=340)
    return fig
