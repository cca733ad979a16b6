"""FilterTuner: tune filter thresholds with sliders, watching precision/recall move.

The pipeline scores every item once (:class:`olkit.filters.pipeline.PipelineResult` keeps the raw
signals); each slider change re-applies the thresholds with
:meth:`~olkit.filters.pipeline.PipelineResult.redecide` — pure polars over cached scores, no model
runs — and re-evaluates against ground-truth labels with :func:`olkit.filters.evaluate.evaluate`.
That takes a few tens of milliseconds for 10k items, so the panel follows the slider.

The controls are generated from the :class:`~olkit.filters.config.FilterPolicy` fields of the
filters in the result: a slider per numeric threshold (range from the field's ``ge``/``le``
bounds), a checkbox per switch (``enabled`` ...), a dropdown per choice.  Parameters that change
what is *scored* (MinHash permutations, shingle size ...) are left out: moving them would need a
re-run, not a re-decision.

State lives in plain attributes so tests (and a browser test) can drive it without a front end::

    tuner = FilterTuner(result)                   # labels from result.decisions["label"]
    tuner.sliders["relevance.target_fpr"].value = 0.05
    tuner.summary["accept_rate"], tuner.figure.data[0].y
    tuner.margin                                  # items nearest the threshold just moved
    tuner.export("my_policy.yaml")                # Policy.save; also the "export policy" button

Example
-------
>>> from olkit.widgets import FilterTuner            # doctest: +SKIP
>>> tuner = FilterTuner(result, labels=sample)       # doctest: +SKIP
>>> tuner                                            # doctest: +SKIP
"""

from __future__ import annotations

import html
import time
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import annotated_types
import ipywidgets as W
import plotly.graph_objects as go
import polars as pl

from olkit.config import Section
from olkit.errors import InputError
from olkit.filters.config import FilterPolicy, scoring_keys
from olkit.filters.evaluate import GOOD_LABELS, evaluate

#: Policy keys that change what is scored (not how it is decided): no control for them.  Read from
#: the policy's own scoring-time marking (``olkit.filters.config.SCORING``).
RESCORE_KEYS = scoring_keys()
#: Rows in the margin table.
MARGIN_ROWS = 10


def _bounds(info) -> tuple[float | None, float | None]:
    lo = hi = None
    for m in info.metadata:
        if isinstance(m, annotated_types.Ge):
            lo = m.ge
        elif isinstance(m, annotated_types.Gt):
            lo = m.gt
        elif isinstance(m, annotated_types.Le):
            hi = m.le
        elif isinstance(m, annotated_types.Lt):
            hi = m.lt
    return lo, hi


def make_control(key: str, info, value: Any) -> W.ValueWidget | None:
    """An ipywidget for one policy field (``None`` for fields a slider cannot express)."""
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    if key in RESCORE_KEYS or extra.get("rescore"):
        return None
    ann = info.annotation
    name = key.split(".", 1)[1]
    style = {"description_width": "190px"}
    layout = W.Layout(width="440px")
    if ann is bool:
        return W.Checkbox(value=bool(value), description=name, style=style, layout=layout, indent=False)
    if typing.get_origin(ann) is typing.Literal:
        return W.Dropdown(options=list(typing.get_args(ann)), value=value, description=name, style=style,
                          layout=layout)
    lo, hi = _bounds(info)
    if ann is int:
        lo = int(lo if lo is not None else min(0, value))
        hi = int(hi if hi is not None else max(10, 4 * value))
        hi = min(hi, max(lo + 10, 4 * max(value, 1)))  # keep huge ranges (max_words ...) usable
        return W.IntSlider(value=int(value), min=lo, max=max(hi, int(value)), description=name, style=style,
                           layout=layout, continuous_update=False)
    if ann is float:
        lo = float(lo if lo is not None else min(0.0, value))
        hi = float(hi if hi is not None else max(1.0, 4 * value))
        hi = min(hi, max(lo + 1.0, 4 * max(value, 0.25)))
        span = hi - lo
        step = 0.01 if span <= 2 else span / 200
        return W.FloatSlider(value=float(value), min=lo, max=max(hi, float(value)), step=step, description=name,
                             style=style, layout=layout, readout_format=".2f", continuous_update=False)
    return None


class FilterTuner(W.VBox):
    """Interactive threshold tuning over a :class:`~olkit.filters.pipeline.PipelineResult`.

    Parameters
    ----------
    result:
        A pipeline result (its cached scores are re-decided, never re-scored).
    labels:
        Ground truth: a frame with ``submission_id`` and ``label`` (extra columns such as
        ``instruction``/``response`` are used for the margin table), a sequence aligned with
        ``result.decisions``, or ``None`` to use ``result.decisions["label"]`` (the pipeline carries it
        from a labelled input).  Without labels the panel shows accept rates only.
    good_labels:
        Labels that should be accepted.
    policy:
        The starting :class:`olkit.policy.Policy` (default: the result's).
    export_path:
        Default file of the "export policy" button.

    Attributes
    ----------
    sliders:
        ``{"section.field": widget}`` — one control per tunable threshold.
    figure:
        ``plotly.graph_objects.FigureWidget``: per-label rejection rate, precision, recall.
    summary:
        Dict: ``accept_rate``, ``false_rejection``, per-label metrics, ``seconds`` of the last recompute,
        ``policy_hash``.
    margin:
        polars frame of the items nearest the threshold last moved.
    result_now:
        The re-decided :class:`~olkit.filters.pipeline.PipelineResult` under the current policy.
    """

    def __init__(self, result, labels: pl.DataFrame | Sequence[str] | None = None, *,
                 good_labels: Sequence[str] = GOOD_LABELS, policy=None,
                 export_path: str | Path = "policy.yaml") -> None:
        from olkit.policy import Policy

        self.result = result
        self.good_labels = tuple(good_labels)
        base = policy or getattr(result, "full_policy", None) or Policy(filters=result.policy)
        self.policy: Policy = base.updated(**{}) if isinstance(base, Policy) else Policy(filters=base)
        self._texts: pl.DataFrame | None = None
        self._labels = self._resolve_labels(labels)
        self.last_key: str | None = None
        self.history: list[dict[str, Any]] = []

        # -- controls ----------------------------------------------------------------------
        names = [f.name for f in result.filters]
        self.sliders: dict[str, W.ValueWidget] = {}
        tabs, titles = [], []
        fp: FilterPolicy = self.policy.filters
        for section in names:
            sec = fp.section(section)
            if not isinstance(sec, Section):
                continue
            controls = []
            for fname, info in type(sec).model_fields.items():
                key = f"{section}.{fname}"
                widget = make_control(key, info, getattr(sec, fname))
                if widget is None:
                    continue
                widget.observe(self._on_change(key), names="value")
                self.sliders[key] = widget
                controls.append(widget)
            if controls:
                tabs.append(W.VBox(controls, layout=W.Layout(max_height="420px", overflow_y="auto")))
                titles.append(section)
        self.tabs = W.Tab(children=tabs, titles=titles)

        # -- outputs -----------------------------------------------------------------------
        self.figure = go.FigureWidget()
        for name, color in (("rejected", "#7f7f7f"), ("precision", "#2ca02c"), ("recall", "#ff7f0e")):
            self.figure.add_bar(name=name, x=[], y=[], marker_color=color)
        self.figure.update_layout(barmode="group", height=340, width=620, margin=dict(l=40, r=10, t=40, b=80),
                                  title="Per label: share rejected, precision / recall of rejecting it",
                                  yaxis=dict(range=[0, 1.05]), legend=dict(orientation="h", y=1.12))
        self.summary_html = W.HTML()
        self.margin_html = W.HTML()
        self.status = W.HTML()
        self.path_text = W.Text(value=str(export_path), description="file", layout=W.Layout(width="360px"))
        self.export_button = W.Button(description="export policy", icon="download", button_style="primary")
        self.export_button.on_click(lambda _b: self._export_clicked())
        self.summary: dict[str, Any] = {}
        self.margin = pl.DataFrame()
        self.result_now = result
        super().__init__([
            W.HBox([self.tabs, W.VBox([self.summary_html, self.figure])]),
            W.HTML("<b>Items at the decision margin</b> (nearest the threshold last moved)"),
            self.margin_html,
            W.HBox([self.path_text, self.export_button, self.status]),
        ])
        self.recompute()

    # -- labels --------------------------------------------------------------------------------
    def _resolve_labels(self, labels) -> pl.DataFrame | None:
        d = self.result.decisions
        if labels is None:
            if "label" in d.columns:
                return d.select("submission_id", "label")
            return None
        if isinstance(labels, pl.DataFrame):
            if "submission_id" not in labels.columns or "label" not in labels.columns:
                raise InputError("labels need 'submission_id' and 'label' columns", field="label")
            text_cols = [c for c in ("instruction", "response", "text") if c in labels.columns]
            if text_cols:
                self._texts = labels.select("submission_id", *text_cols)
            return labels.select("submission_id", pl.col("label").cast(pl.String))
        values = list(labels)
        if len(values) != d.height:
            raise InputError(f"{len(values)} labels for {d.height} decisions", field="label")
        return pl.DataFrame({"submission_id": d["submission_id"], "label": [str(v) for v in values]})

    # -- interaction ---------------------------------------------------------------------------
    def _on_change(self, key: str):
        def handler(change: dict[str, Any]) -> None:
            self.set(key, change["new"])
        return handler

    def set(self, key: str, value: Any) -> None:
        """Set one threshold (``"section.field"``) and recompute; invalid values are reported, not applied."""
        from olkit.policy import PolicyError

        try:
            new = self.policy.updated(**{f"filters.{key}": value})
        except PolicyError as err:
            self.status.value = f"<span style='color:#d62728'>not applied: {html.escape(str(err))}</span>"
            old = getattr(self.policy.filters.section(key.split('.')[0]), key.split('.', 1)[1])
            widget = self.sliders.get(key)
            if widget is not None and widget.value != old:
                widget.value = old
            return
        self.policy = new
        self.last_key = key
        w = self.sliders.get(key)
        if w is not None and w.value != value:
            w.value = value  # keeps the control in sync when driven programmatically
        self.recompute()

    def recompute(self) -> dict[str, Any]:
        """Re-decide from cached scores under the current policy; refresh summary, figure, margin."""
        t0 = time.perf_counter()
        now = self.result.redecide(self.policy)
        self.result_now = now
        d = now.decisions
        summary: dict[str, Any] = {"n": d.height, "accepted": int(d["accepted"].sum()),
                                   "accept_rate": float(d["accepted"].mean()) if d.height else 0.0,
                                   "policy_hash": self.policy.version_hash}
        labels_rows = None
        if self._labels is not None and d.height:
            ev = evaluate(d.select("submission_id", "accepted", "reasons"), self._labels,
                          good_labels=self.good_labels)
            summary.update({k: v for k, v in ev.accept.items() if k != "n"})
            summary["per_label"] = {r["label"]: {k: r[k] for k in ("n", "rejection_rate", "precision", "recall", "f1")}
                                    for r in ev.per_label.iter_rows(named=True)}
            labels_rows = ev.per_label
        self.margin = self._margin(now)
        summary["seconds"] = time.perf_counter() - t0
        self.summary = summary
        self.history.append({"key": self.last_key, "policy_hash": summary["policy_hash"],
                             "accept_rate": summary["accept_rate"], "false_rejection": summary.get("false_rejection")})
        self._render(labels_rows)
        return summary

    # -- margin --------------------------------------------------------------------------------
    def _signal_column(self, key: str) -> str | None:
        section, fname = key.split(".", 1)
        cols = self.result.scores.columns
        if fname == "target_fpr" and f"{section}.human_fpr" in cols:  # the rate an item would need
            return f"{section}.human_fpr"
        for prefix in ("min_", "max_", ""):
            if fname.startswith(prefix):
                cand = f"{section}.{fname[len(prefix):]}"
                if cand in cols and self.result.scores.schema[cand].is_numeric():
                    return cand
        return None

    def _margin(self, now) -> pl.DataFrame:
        key = self.last_key
        if key is None:
            # first view: the model filters' headline thresholds are the most common to tune
            key = next((k for k in ("relevance.target_fpr", "quality.min_score", "synthetic.target_fpr")
                        if k in self.sliders), None)
        if key is None:
            return pl.DataFrame()
        section, fname = key.split(".", 1)
        value = getattr(self.policy.filters.section(section), fname)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return pl.DataFrame()
        d = now.decisions
        signal = self._signal_column(key)
        if signal is not None:
            values = self.result.scores.select("submission_id", pl.col(signal).cast(pl.Float64).alias("value"))
        elif f"{section}.score" in d.columns:
            values = d.select("submission_id", pl.col(f"{section}.score").cast(pl.Float64).alias("value"))
        else:
            return pl.DataFrame()
        cols = ["submission_id", "accepted", "reasons"] + ([f"{section}.passed"] if f"{section}.passed" in d.columns else [])
        table = (d.select(cols).join(values, on="submission_id", how="left")
                 .filter(pl.col("value").is_not_null() & pl.col("value").is_finite())
                 .with_columns((pl.col("value") - value).alias("distance"))
                 .sort(pl.col("distance").abs()).head(MARGIN_ROWS))
        if self._labels is not None:
            table = table.join(self._labels, on="submission_id", how="left")
        if self._texts is not None:
            text_cols = [c for c in self._texts.columns if c != "submission_id"]
            table = table.join(self._texts.with_columns(
                [pl.col(c).cast(pl.String).str.slice(0, 80) for c in text_cols]), on="submission_id", how="left")
        return table.with_columns(pl.lit(key).alias("threshold"), pl.lit(float(value)).alias("threshold_value"))

    # -- rendering -----------------------------------------------------------------------------
    def _render(self, per_label: pl.DataFrame | None) -> None:
        s = self.summary
        parts = [f"<b>accepted</b> {s['accepted']:,} / {s['n']:,} ({s['accept_rate']:.1%})"]
        if "false_rejection" in s and s["false_rejection"] is not None:
            parts.append(f"<b>false rejection</b> of good items {s['false_rejection']:.1%}")
        if s.get("false_acceptance") is not None:
            parts.append(f"<b>bad items accepted</b> {s['false_acceptance']:.1%}")
        parts.append(f"<span style='color:#888'>policy {s['policy_hash']} · {1000 * s['seconds']:.0f} ms</span>")
        self.summary_html.value = " &nbsp;·&nbsp; ".join(parts)
        if per_label is not None:
            x = per_label["label"].to_list()
            with self.figure.batch_update():
                self.figure.data[0].x, self.figure.data[0].y = x, per_label["rejection_rate"].to_list()
                self.figure.data[1].x, self.figure.data[1].y = x, per_label["precision"].fill_null(0).to_list()
                self.figure.data[2].x, self.figure.data[2].y = x, per_label["recall"].fill_null(0).to_list()
        self.margin_html.value = _html_table(self.margin)

    # -- export --------------------------------------------------------------------------------
    def export(self, path: str | Path | None = None) -> Path:
        """Write the current policy as YAML (``.json`` suffix: JSON) with :meth:`Policy.save`."""
        out = self.policy.save(path or self.path_text.value)
        self.status.value = f"saved <code>{html.escape(str(out))}</code> (policy {self.policy.version_hash})"
        return out

    def _export_clicked(self) -> None:
        try:
            self.export()
        except OSError as err:
            self.status.value = f"<span style='color:#d62728'>could not save: {html.escape(str(err))}</span>"


def _html_table(frame: pl.DataFrame) -> str:
    if frame.height == 0:
        return "<i>no items near this threshold</i>"
    show = [c for c in ("label", "accepted", "value", "distance", "reasons", "instruction", "response", "text",
                        "submission_id") if c in frame.columns]
    head = "".join(f"<th style='text-align:left;padding:2px 8px'>{html.escape(c)}</th>" for c in show)
    rows = []
    for r in frame.select(show).iter_rows(named=True):
        cells = []
        for c in show:
            v = r[c]
            if isinstance(v, float):
                v = f"{v:.3f}"
            elif isinstance(v, list):
                v = ", ".join(v) or "—"
            cells.append(f"<td style='padding:2px 8px'>{html.escape(str(v) if v is not None else '')}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table style='font-size:12px;border-collapse:collapse'><tr>{head}</tr>{''.join(rows)}</table>"
