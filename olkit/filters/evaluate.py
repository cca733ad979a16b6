"""Evaluate filter decisions against ground-truth labels.

:func:`evaluate` takes decisions (``submission_id, accepted, reasons``, e.g.
``PipelineResult.decisions``) and labels, and returns an :class:`Evaluation` with

* ``per_label``: for every label, how many items, how many were rejected (``rejection_rate``; for
  the good label this is the *false rejection* rate), and precision / recall / F1 of *rejecting that
  label for the right reason*;
* ``accept``: precision / recall / F1 of the accept decision (positive = a good item), accept rate,
  false-rejection and false-acceptance rates;
* ``confusion``: true label × predicted outcome (``accepted``, a label the rejecting reason points
  to, or ``rejected_other``), a polars frame;
* ``by_reason``: reason code × true label counts (what each rule actually catches);
* plotly figures (:meth:`Evaluation.rejection_figure`, :meth:`Evaluation.prf_figure`,
  :meth:`Evaluation.confusion_figure`, :meth:`Evaluation.reason_figure`).

How a rejection is attributed to a label: each reason code maps to the label it targets
(:data:`REASON_LABELS`, longest matching prefix wins: ``dedup.exact`` → ``exact_duplicate``,
``spam.`` → ``spam`` ...; a reason may target several labels, e.g. ``quality.`` → low-effort, spam
and off-topic, the labels the quality model learns as bad).  A rejected item's predicted outcome is
its own true label when *any* of its reasons targets that label (it was caught by the right rule),
otherwise the (primary) target of its first mapped reason, otherwise ``rejected_other``.  Precision of rejecting label ``L`` is then the share
of items predicted ``L`` that are ``L``; recall is the share of ``L`` items predicted ``L``.  Labels
no reason targets (a custom dataset's ``"bad"``, say) get recall = rejection rate (any reason
counts) and no precision.  Pass ``reason_labels`` to change the mapping.

Works on any labelled dataset: labels can come as a column of ``decisions``, a frame with
``submission_id`` and ``label``, or a sequence aligned with the decisions.

Example
-------
>>> import polars as pl
>>> from olkit.filters.evaluate import evaluate
>>> d = pl.DataFrame({"submission_id": ["a", "b", "c", "d"], "accepted": [True, False, False, True],
...                   "reasons": [[], ["spam.promo"], ["dedup.exact"], []],
...                   "label": ["genuine", "spam", "exact_duplicate", "spam"]})
>>> ev = evaluate(d)
>>> ev.per_label.filter(pl.col("label") == "spam")["recall"].item()
0.5
>>> ev.accept["false_rejection"]
0.0
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import plotly.graph_objects as go
import polars as pl

from olkit.errors import InputError
from olkit.filters.metrics import prf

#: Reason-code prefix -> the ground-truth label(s) that rule targets (longest prefix wins).  A
#: tuple names every label a reason is meant to catch, the first being the one a wrong rejection
#: is counted against: the learned quality score is trained on low-effort, spam and off-topic
#: items as "bad", so an off-topic item it rejects is caught for the right reason.
REASON_LABELS: dict[str, str | tuple[str, ...]] = {
    "dedup.exact": "exact_duplicate",
    "dedup.near": "near_duplicate",
    "dedup": "near_duplicate",
    "spam": "spam",
    "relevance": "off_topic",
    "language": "other_language",
    "synthetic": "synthetic",
    "format": "low_effort",
    "heuristics": "low_effort",
    "quality": ("low_effort", "spam", "off_topic"),
}

GOOD_LABELS: tuple[str, ...] = ("genuine",)
ACCEPTED = "accepted"
OTHER = "rejected_other"


def reason_targets(code: str, reason_labels: Mapping[str, str | Sequence[str]] = REASON_LABELS) -> tuple[str, ...]:
    """Every label a reason code targets (longest matching prefix; primary first), or ``()``."""
    best = None
    for prefix, label in reason_labels.items():
        if code == prefix or code.startswith(prefix + ".") or code.startswith(prefix + "_") \
                or (prefix.count(".") and code.startswith(prefix)):
            if best is None or len(prefix) > len(best[0]):
                best = (prefix, label)
    if best is None:
        return ()
    return (best[1],) if isinstance(best[1], str) else tuple(best[1])


def reason_target(code: str, reason_labels: Mapping[str, str | Sequence[str]] = REASON_LABELS) -> str | None:
    """The (primary) label a reason code targets, or ``None``."""
    targets = reason_targets(code, reason_labels)
    return targets[0] if targets else None


def _labels_frame(decisions: pl.DataFrame, labels: Any, label_col: str) -> pl.DataFrame:
    for col in ("submission_id", "accepted"):
        if col not in decisions.columns:
            raise InputError(f"decisions need a {col!r} column", field=col)
    d = decisions
    if "reasons" not in d.columns:
        d = d.with_columns(pl.lit([], dtype=pl.List(pl.String)).alias("reasons"))
    if labels is None:
        if label_col not in d.columns:
            raise InputError(f"no {label_col!r} column in the decisions and no labels given", field=label_col)
        d = d.rename({label_col: "__label"}) if label_col != "__label" else d
    elif isinstance(labels, pl.DataFrame):
        if "submission_id" not in labels.columns or label_col not in labels.columns:
            raise InputError(f"labels need 'submission_id' and {label_col!r} columns", field=label_col)
        lab = labels.select("submission_id", pl.col(label_col).cast(pl.String).alias("__label"))
        if lab["submission_id"].is_duplicated().any():
            raise InputError("labels name a submission_id more than once", field="submission_id")
        d = d.drop([c for c in ("__label",) if c in d.columns]).join(lab, on="submission_id", how="left")
    else:
        values = labels.to_list() if isinstance(labels, pl.Series) else list(labels)
        if len(values) != d.height:
            raise InputError(f"{len(values)} labels for {d.height} decisions", field=label_col)
        d = d.with_columns(pl.Series("__label", [None if v is None else str(v) for v in values], dtype=pl.String))
    missing = d["__label"].null_count()
    if missing:
        row = int(d["__label"].is_null().arg_max())
        raise InputError(f"{missing} decisions have no label (first: submission "
                         f"{d['submission_id'][row]!r})", row=row, field=label_col)
    return d.select("submission_id", pl.col("accepted").cast(pl.Boolean), pl.col("reasons").cast(pl.List(pl.String)),
                    pl.col("__label").cast(pl.String).alias("label"))


_prf = prf


@dataclass
class Evaluation:
    """Result of :func:`evaluate` (all tables are polars frames)."""

    per_label: pl.DataFrame
    accept: dict[str, float]
    confusion: pl.DataFrame
    by_reason: pl.DataFrame
    items: pl.DataFrame
    good_labels: tuple[str, ...] = GOOD_LABELS
    extra: dict[str, Any] = field(default_factory=dict)

    # -- access -------------------------------------------------------------------------------
    def f1(self, label: str) -> float | None:
        """F1 of rejecting ``label`` (``None`` when undefined)."""
        row = self.per_label.filter(pl.col("label") == label)
        return None if row.height == 0 else row["f1"].item()

    def rejection_rate(self, label: str) -> float | None:
        row = self.per_label.filter(pl.col("label") == label)
        return None if row.height == 0 else row["rejection_rate"].item()

    def summary(self) -> dict[str, Any]:
        """Flat dict: accept metrics + per-label F1 and rejection rate (for reports and the CLI)."""
        out: dict[str, Any] = dict(self.accept)
        for row in self.per_label.iter_rows(named=True):
            out[f"{row['label']}.rejection_rate"] = row["rejection_rate"]
            if row["label"] not in self.good_labels:
                out[f"{row['label']}.f1"] = row["f1"]
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"accept": self.accept, "per_label": self.per_label.to_dicts(),
                "confusion": self.confusion.to_dicts(), "by_reason": self.by_reason.to_dicts()}

    # -- figures ------------------------------------------------------------------------------
    def rejection_figure(self) -> go.Figure:
        """Rejection rate per true label (good labels = false rejection, in red)."""
        pl_ = self.per_label
        colors = ["#d62728" if lab in self.good_labels else "#1f77b4" for lab in pl_["label"]]
        fig = go.Figure(go.Bar(x=pl_["label"].to_list(), y=pl_["rejection_rate"].to_list(), marker_color=colors,
                               text=[f"{v:.0%}" for v in pl_["rejection_rate"]], textposition="outside",
                               customdata=np.stack([pl_["n"].to_numpy(), pl_["rejected"].to_numpy()], axis=1),
                               hovertemplate="%{x}: %{customdata[1]} of %{customdata[0]} rejected<extra></extra>"))
        fig.update_layout(title="Rejection rate by true label (red: false rejection of good items)",
                          yaxis=dict(title="rejected", range=[0, 1.1], tickformat=".0%"), height=380)
        return fig

    def prf_figure(self) -> go.Figure:
        """Precision / recall / F1 of rejecting each bad label."""
        bad = self.per_label.filter(~pl.col("label").is_in(list(self.good_labels)))
        fig = go.Figure()
        for metric, color in (("precision", "#2ca02c"), ("recall", "#ff7f0e"), ("f1", "#1f77b4")):
            fig.add_bar(name=metric, x=bad["label"].to_list(), y=bad[metric].fill_null(0).to_list(),
                        marker_color=color)
        fig.update_layout(barmode="group", title="Rejecting each bad label: precision / recall / F1",
                          yaxis=dict(range=[0, 1.05]), height=380)
        return fig

    def confusion_figure(self, normalize: bool = True) -> go.Figure:
        """Heatmap of true label × predicted outcome (row-normalised by default)."""
        cols = [c for c in self.confusion.columns if c != "label"]
        z = self.confusion.select(cols).to_numpy().astype(float)
        counts = z.copy()
        if normalize:
            z = z / np.maximum(z.sum(axis=1, keepdims=True), 1)
        fig = go.Figure(go.Heatmap(z=z, x=cols, y=self.confusion["label"].to_list(), colorscale="Blues",
                                   text=counts.astype(int), texttemplate="%{text}",
                                   hovertemplate="true %{y} → %{x}: %{text}<extra></extra>"))
        fig.update_layout(title="True label × outcome" + (" (row share)" if normalize else ""),
                          xaxis_title="outcome", yaxis_title="true label", height=420)
        return fig

    def reason_figure(self) -> go.Figure:
        """Rejections by reason code, stacked by true label."""
        br = self.by_reason
        fig = go.Figure()
        for lab in sorted(set(br["label"].to_list())):
            part = br.filter(pl.col("label") == lab)
            fig.add_bar(name=lab, y=part["reason"].to_list(), x=part["n"].to_list(), orientation="h")
        fig.update_layout(barmode="stack", title="Rejections by reason (colour: true label)",
                          height=max(300, 24 * br["reason"].n_unique() + 120), xaxis_title="items")
        return fig


def evaluate(decisions: pl.DataFrame, labels: pl.DataFrame | Sequence[str] | pl.Series | None = None, *,
             label_col: str = "label", good_labels: Sequence[str] = GOOD_LABELS,
             reason_labels: Mapping[str, str | Sequence[str]] = REASON_LABELS) -> Evaluation:
    """Compare accept/reject decisions with ground-truth labels; see the module docstring."""
    good = tuple(good_labels)
    d = _labels_frame(decisions, labels, label_col)
    if d.height == 0:
        raise InputError("nothing to evaluate: no decisions", field="submission_id")
    # reason -> target label, computed once per distinct code (a handful), then joined
    codes = d.select(pl.col("reasons").explode().drop_nulls().unique())["reasons"].to_list()
    mapping = pl.DataFrame({"reason": codes,
                            "target": [reason_target(c, reason_labels) for c in codes],
                            "targets": [list(reason_targets(c, reason_labels)) for c in codes]},
                           schema={"reason": pl.String, "target": pl.String, "targets": pl.List(pl.String)})
    exploded = (d.with_row_index("__i").select("__i", "label", pl.col("reasons").alias("reason"))
                .explode("reason").drop_nulls("reason").with_row_index("__order")
                .join(mapping, on="reason", how="left"))
    targeted = {t for v in reason_labels.values() for t in ((v,) if isinstance(v, str) else v)}
    hit = (exploded.filter(pl.col("targets").list.contains(pl.col("label"))).group_by("__i").len()
           .select("__i", pl.lit(True).alias("__hit")))
    first = (exploded.drop_nulls("target").sort("__order").group_by("__i", maintain_order=True)
             .agg(pl.col("target").first().alias("__first")))
    items = (d.with_row_index("__i").join(hit, on="__i", how="left").join(first, on="__i", how="left")
             .with_columns(
                 pl.when(pl.col("accepted")).then(pl.lit(ACCEPTED))
                 .when(pl.col("__hit").fill_null(False)).then(pl.col("label"))
                 .when(~pl.col("label").is_in(list(targeted)) & ~pl.col("label").is_in(list(good)))
                 .then(pl.col("label"))  # a label no rule targets: any rejection counts
                 .when(pl.col("__first").is_not_null()).then(pl.col("__first"))
                 .otherwise(pl.lit(OTHER)).alias("predicted"))
             .sort("__i").drop("__i", "__hit", "__first"))

    labels_seen = items["label"].unique().sort().to_list()
    order = [lab for lab in good if lab in labels_seen] + [lab for lab in labels_seen if lab not in good]
    counts = items.group_by("label").agg(
        pl.len().alias("n"), (~pl.col("accepted")).sum().alias("rejected"),
        (pl.col("predicted") == pl.col("label")).sum().alias("tp"))
    pred_counts = items.group_by("predicted").len().rename({"predicted": "label", "len": "n_pred"})
    top_reason = (exploded.group_by("label", "reason").len().sort(["len", "reason"], descending=[True, False])
                  .group_by("label", maintain_order=True).agg(pl.col("reason").first().alias("top_reason")))
    table = (pl.DataFrame({"label": order}).join(counts, on="label", how="left")
             .join(pred_counts, on="label", how="left").join(top_reason, on="label", how="left")
             .with_columns(pl.col("n_pred").fill_null(0)))
    rows = []
    for r in table.iter_rows(named=True):
        is_good = r["label"] in good
        untargeted = not is_good and r["label"] not in targeted
        if is_good:
            prec = rec = f1 = None
        elif untargeted:
            prec, rec, f1 = None, r["rejected"] / r["n"], None
        else:
            prec, rec, f1 = _prf(r["tp"], r["n_pred"], r["n"])
        rows.append({"label": r["label"], "good": is_good, "n": r["n"], "rejected": r["rejected"],
                     "rejection_rate": r["rejected"] / r["n"], "precision": prec, "recall": rec, "f1": f1,
                     "top_reason": r["top_reason"]})
    per_label = pl.DataFrame(rows, schema={
        "label": pl.String, "good": pl.Boolean, "n": pl.Int64, "rejected": pl.Int64, "rejection_rate": pl.Float64,
        "precision": pl.Float64, "recall": pl.Float64, "f1": pl.Float64, "top_reason": pl.String})

    # accept decision: positive = good item
    is_good = pl.col("label").is_in(list(good))
    a = items.select(
        (pl.col("accepted") & is_good).sum().alias("tp"), pl.col("accepted").sum().alias("n_acc"),
        is_good.sum().alias("n_good"), (~is_good).sum().alias("n_bad"),
        (pl.col("accepted") & ~is_good).sum().alias("fa"), pl.len().alias("n")).row(0, named=True)
    prec, rec, f1 = _prf(a["tp"], a["n_acc"], a["n_good"])
    accept = {
        "n": a["n"], "accept_rate": a["n_acc"] / a["n"],
        "precision": prec, "recall": rec, "f1": f1,
        "false_rejection": (1 - rec) if rec is not None else None,
        "false_acceptance": a["fa"] / a["n_bad"] if a["n_bad"] else None,
    }

    outcomes = [ACCEPTED] + [lab for lab in order if lab not in good]
    extra_out = sorted(set(items["predicted"].unique().to_list()) - set(outcomes) - {OTHER})
    outcomes += extra_out + [OTHER]
    confusion = (items.group_by("label", "predicted").len()
                 .pivot(on="predicted", index="label", values="len", aggregate_function="sum"))
    for col in outcomes:
        if col not in confusion.columns:
            confusion = confusion.with_columns(pl.lit(0, dtype=pl.UInt32).alias(col))
    confusion = (pl.DataFrame({"label": order}).join(confusion, on="label", how="left")
                 .select("label", *[pl.col(c).fill_null(0).cast(pl.Int64) for c in outcomes]))
    by_reason = (exploded.group_by("reason", "label").len().rename({"len": "n"})
                 .sort(["reason", "n"], descending=[False, True]))
    return Evaluation(per_label=per_label, accept=accept, confusion=confusion, by_reason=by_reason,
                      items=items, good_labels=good)


#: Bounds the full pipeline (every model filter on) must meet on a labelled set (issue 3's acceptance;
#: checked small in ``tests/test_filters_models.py`` and at full size by
#: ``benchmarks/filter_acceptance_bench.py``).
ACCEPTANCE_BOUNDS: dict[str, float] = {"exact_duplicate.f1": 0.95, "near_duplicate.f1": 0.9, "spam.f1": 0.9,
                                       "low_effort.f1": 0.9, "genuine.max_false_rejection": 0.10,
                                       "synthetic.auroc": 0.85}


def acceptance_metrics(decisions: pl.DataFrame) -> dict[str, Any]:
    """The numbers :data:`ACCEPTANCE_BOUNDS` bounds, from labelled pipeline decisions, plus ``checks``
    (one bool per bound).

    ``synthetic.auroc`` ranks ``synthetic`` against ``genuine`` items by ``synthetic.score`` (needs
    the synthetic filter in the pipeline; unscored items count as 0).
    """
    from olkit.filters.metrics import auroc

    per = evaluate(decisions).per_label
    f1 = dict(zip(per["label"].to_list(), per["f1"].to_list(), strict=True))
    genuine = decisions.filter(pl.col("label") == "genuine")
    pair = decisions.filter(pl.col("label").is_in(["synthetic", "genuine"]))
    out: dict[str, Any] = {f"{lab}.f1": f1.get(lab) for lab in ("exact_duplicate", "near_duplicate", "spam",
                                                                 "low_effort")}
    out["genuine.n"] = genuine.height
    out["genuine.false_rejection"] = float(1 - genuine["accepted"].mean()) if genuine.height else None
    out["synthetic.auroc"] = (auroc(pair["label"] == "synthetic", pair["synthetic.score"].fill_null(0.0))
                              if "synthetic.score" in pair.columns else None)
    b = ACCEPTANCE_BOUNDS
    out["checks"] = {
        **{k: (out[k] or 0.0) >= b[k] for k in ("exact_duplicate.f1", "near_duplicate.f1", "spam.f1",
                                                 "low_effort.f1", "synthetic.auroc")},
        "genuine.max_false_rejection": (out["genuine.false_rejection"] is not None
                                        and out["genuine.false_rejection"] <= b["genuine.max_false_rejection"]),
    }
    return out
