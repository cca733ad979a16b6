"""AttributionExplorer: ask the fine-tuned model something and see whose data shaped the answer.

Pick an eval prompt (or type one), and the explorer

1. generates the model's answer (greedy),
2. attributes that answer to the training submissions with every selected method (the answer is the
   "eval item": which training items make the model more likely to say exactly this?),
3. shows the most influential training items and contributors per method, and
4. allocates a budget from the chosen method's scores (:func:`olkit.rewards.allocate`).

State lives in plain attributes, so tests drive it without a browser::

    ex = AttributionExplorer(ctx, train, eval_frame, methods=("tracin_adam", "span"))
    ex.prompt.value = ex.prompt.options[1]          # or: ex.custom.value = "..."; ex.run()
    ex.answer_text, ex.top_items, ex.top_contributors, ex.payouts, ex.figure

Example
-------
>>> from olkit.widgets.attribution_explorer import AttributionExplorer   # doctest: +SKIP
>>> AttributionExplorer(ctx, task.train, task.eval)                     # doctest: +SKIP
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import ipywidgets as W
import plotly.graph_objects as go
import polars as pl

from olkit.attribution.base import Attribution, ModelContext
from olkit.attribution.methods import make_method
from olkit.rewards import allocate, payout_summary

DEFAULT_METHODS = ("tracin_adam", "datainf", "knn_shapley", "span")


class AttributionExplorer(W.VBox):
    """Prompt picker + generated answer + top items/contributors per method + payouts."""

    def __init__(self, ctx: ModelContext, train: pl.DataFrame, eval: pl.DataFrame | None = None, *,
                 methods: Sequence[str] = DEFAULT_METHODS, budget: float = 1000.0, policy: Any = None,
                 reputation: pl.DataFrame | None = None, k: int = 5, max_new_tokens: int = 32,
                 adversaries: Sequence[str] = (), auto: bool = True) -> None:
        self.ctx, self.train = ctx, train
        self.methods = list(methods)
        self.budget, self.policy, self.reputation = float(budget), policy, reputation
        self.max_new_tokens = max_new_tokens
        self.adversaries = list(adversaries)
        self._method_objs = {m: make_method(m) for m in self.methods}
        prompts = eval["instruction"].to_list() if eval is not None else []
        style = {"description_width": "90px"}
        self.prompt = W.Dropdown(options=["(type your own below)", *prompts],
                                 value=prompts[0] if prompts else "(type your own below)",
                                 description="eval prompt", style=style, layout=W.Layout(width="640px"))
        self.custom = W.Text(placeholder="type a prompt and press run", description="your prompt", style=style,
                             layout=W.Layout(width="640px"))
        self.method = W.Dropdown(options=self.methods, value=self.methods[0], description="pay by",
                                 style=style)
        self.k = W.IntSlider(value=k, min=1, max=20, description="top k", style=style)
        self.button = W.Button(description="run", button_style="primary", icon="search")
        self.answer = W.HTML()
        self.items_html = W.HTML()
        self.summary = W.HTML()
        self.figure = go.FigureWidget(layout={"title": "Top contributors per method", "height": 360,
                                              "barmode": "group"})
        self.payout_figure = go.FigureWidget(layout={"title": "Payouts", "height": 320})
        self.answer_text = ""
        self.attributions: dict[str, Attribution] = {}
        self.top_items = pl.DataFrame()
        self.top_contributors = pl.DataFrame()
        self.payouts = pl.DataFrame()
        self.button.on_click(lambda _b: self.run())
        if auto:
            self.prompt.observe(lambda ch: self.run() if ch["new"] != self.prompt.options[0] else None, "value")
            self.method.observe(lambda _ch: self._update_payouts(), "value")
            self.k.observe(lambda _ch: self._render(), "value")
        super().__init__([
            self.prompt, self.custom, W.HBox([self.method, self.k, self.button]), self.answer,
            self.figure, self.items_html, W.HBox([self.payout_figure]), self.summary,
        ])
        if prompts and auto:
            self.run()

    # -- actions ----------------------------------------------------------------------------------
    @property
    def current_prompt(self) -> str:
        if self.custom.value.strip():
            return self.custom.value.strip()
        return "" if self.prompt.value == self.prompt.options[0] else self.prompt.value

    def run(self) -> None:
        """Generate the answer for the current prompt, attribute it with every method, pay out."""
        prompt = self.current_prompt
        if not prompt:
            self.answer.value = "<i>pick or type a prompt</i>"
            return
        self.answer_text = self.ctx.generate(prompt, max_new_tokens=self.max_new_tokens)
        ev = pl.DataFrame({"eval_id": ["answer"], "instruction": [prompt], "response": [self.answer_text],
                           "output": [self.answer_text]})
        self.attributions = {m: obj.attribute(self.ctx, self.train, ev) for m, obj in self._method_objs.items()}
        self._render()
        self._update_payouts()

    def _render(self) -> None:
        k = int(self.k.value)
        items, contribs = [], []
        text = self.train.select("submission_id", "instruction", "response")
        for m, att in self.attributions.items():
            items.append(att.items().head(k).with_columns(pl.lit(m).alias("method")))
            contribs.append(att.by_contributor().head(k).with_columns(pl.lit(m).alias("method")))
        if not items:
            return
        self.top_items = (pl.concat(items, how="diagonal_relaxed").join(text, on="submission_id", how="left")
                          .select("method", "rank", "submission_id", "contributor_id", "score", "instruction",
                                  "response"))
        self.top_contributors = pl.concat(contribs, how="diagonal_relaxed").select(
            "method", "contributor_id", "score", "n_items")
        self.answer.value = (f"<b>prompt</b>: {html.escape(self.current_prompt)}<br>"
                             f"<b>model answer</b>: {html.escape(self.answer_text) or '<i>(empty)</i>'}")
        with self.figure.batch_update():
            self.figure.data = []
            for m in self.attributions:
                f = self.top_contributors.filter(pl.col("method") == m)
                scale = max(abs(f["score"]).max() or 1.0, 1e-12)
                self.figure.add_bar(x=f["contributor_id"].to_list(), y=(f["score"] / scale).to_list(), name=m)
            self.figure.layout.yaxis.title = "score / method's max"
        rows = "".join(
            f"<tr><td>{r['method']}</td><td>{r['rank']}</td><td>{html.escape(r['contributor_id'])}</td>"
            f"<td>{r['score']:.4g}</td><td>{html.escape(str(r['instruction']))[:80]}</td>"
            f"<td>{html.escape(str(r['response']))[:80]}</td></tr>"
            for r in self.top_items.iter_rows(named=True))
        self.items_html.value = ("<table><tr><th>method</th><th>rank</th><th>contributor</th><th>score</th>"
                                 f"<th>instruction</th><th>response</th></tr>{rows}</table>")

    def _update_payouts(self) -> None:
        att = self.attributions.get(self.method.value)
        if att is None:
            return
        self.payouts = allocate(self.budget, att, self.reputation, self.policy)
        s = payout_summary(self.payouts, self.adversaries)
        with self.payout_figure.batch_update():
            self.payout_figure.data = []
            f = self.payouts.filter(pl.col("payout") > 0)
            self.payout_figure.add_bar(x=f["contributor_id"].to_list(), y=f["payout"].to_list(),
                                       name=self.method.value)
            self.payout_figure.layout.title = f"Payouts of {self.budget:g} by {self.method.value}"
        self.summary.value = (f"paid {s['total_paid']:.2f} to {s['n_paid']} of {s['n_contributors']} contributors; "
                              f"Gini {s['gini']:.3f}; adversary share {s['adversary_share']:.1%}")
