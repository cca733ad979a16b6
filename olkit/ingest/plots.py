"""Plotly figures for the ingestion stage: who contributed what, and what the ground truth says."""

from __future__ import annotations

import plotly.express as px
import plotly.graph_objects as go
import polars as pl


def contributions_figure(submissions: pl.DataFrame, labels: pl.DataFrame | None = None, *,
                         top: int = 40, color: str = "archetype") -> go.Figure:
    """Bar chart of submissions per contributor (the ``top`` most active), coloured by ``color``.

    ``labels`` (optional) is joined on ``submission_id`` to bring ground-truth columns such as
    ``archetype`` or ``label``; without it the bars are coloured by datanet.
    """
    frame = submissions.select("submission_id", "contributor_id", "datanet")
    if labels is not None and color in labels.columns:
        frame = frame.join(labels.select("submission_id", color), on="submission_id", how="left")
        frame = frame.with_columns(pl.col(color).fill_null("unknown"))
    else:
        color = "datanet"
    counts = frame.group_by("contributor_id", color).len("submissions")
    order = (counts.group_by("contributor_id").agg(pl.col("submissions").sum())
             .sort(["submissions", "contributor_id"], descending=[True, False]).head(top)["contributor_id"])
    counts = counts.filter(pl.col("contributor_id").is_in(order.implode()))
    fig = px.bar(counts.to_pandas(), x="contributor_id", y="submissions", color=color,
                 category_orders={"contributor_id": order.to_list()},
                 title=f"Submissions per contributor (top {len(order)} of {frame['contributor_id'].n_unique()})")
    fig.update_layout(xaxis_tickangle=-60, barmode="stack", legend_title_text=color)
    return fig


def archetype_label_figure(labels: pl.DataFrame) -> go.Figure:
    """Stacked bars: for each contributor archetype, how many submissions carry each ground-truth label."""
    counts = labels.group_by("archetype", "label").len("submissions").sort("archetype", "label")
    fig = px.bar(counts.to_pandas(), x="archetype", y="submissions", color="label",
                 title="What each archetype contributes (ground truth)")
    fig.update_layout(barmode="stack")
    return fig
