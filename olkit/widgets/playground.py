"""Playground: chat with the base model and any round's adapter side by side, and see whose data it leans on.

One base model is loaded once; every round's adapter of an economy run is loaded into an
:class:`olkit.train.AdapterBank` and hot-swapped per question.  For each answer the playground
finds the spans (``min_words`` or more words) that appear verbatim in the training items
(:class:`olkit.attribution.spans.SpanIndex`) and names the contributors of those items: the
"operationally visual" view of what the payouts are about.

State lives in plain attributes, so tests drive it without a browser::

    pg = Playground.from_economy(result)    # or Playground.from_store("ledger.duckdb"), Playground(bank, rows)
    pg.prompt.value = "What does shutil.copytree do?"; pg.ask()   # greedy; temperature > 0 samples
    pg.controls["adapter"].value = "round-1"              # re-asks with that round's adapter
    pg.answers, pg.spans, pg.leans_on, pg.summary.value, pg.figure

Example
-------
>>> from olkit.widgets.playground import Playground   # doctest: +SKIP
>>> Playground.from_economy(run_economy(...))         # doctest: +SKIP
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import ipywidgets as W
import plotly.graph_objects as go
import polars as pl

from olkit.attribution.spans import SpanIndex, words

BASE = "base"


class Playground(W.VBox):
    """Prompt + adapter picker; base and adapter answers side by side; span matches by contributor."""

    def __init__(self, bank: Any, train: pl.DataFrame, *, prompts: Sequence[str] = (), max_new_tokens: int = 32,
                 temperature: float = 0.0, min_words: int = 4, seed: int = 0, auto: bool = True) -> None:
        if not bank.names:
            from olkit.errors import InputError

            raise InputError("the playground needs at least one adapter in the bank", field="adapters")
        self.bank, self.train = bank, train
        self.index = SpanIndex(train.select("submission_id", "contributor_id", "response"))
        self.min_words, self.seed = min_words, seed
        style = {"description_width": "110px"}
        self.prompt = W.Combobox(value=prompts[0] if prompts else "", options=list(prompts),
                                 placeholder="ask the model something", description="prompt", style=style,
                                 layout=W.Layout(width="680px"), ensure_option=False)
        self.controls: dict[str, W.Widget] = {
            "adapter": W.Dropdown(options=bank.names, value=bank.names[-1], description="adapter", style=style),
            "max_new_tokens": W.IntSlider(value=max_new_tokens, min=4, max=128, description="max new tokens",
                                          style=style, continuous_update=False),
            "temperature": W.FloatSlider(value=temperature, min=0.0, max=1.5, step=0.1, style=style,
                                         description="temperature", continuous_update=False),
        }
        self.button = W.Button(description="ask", button_style="primary", icon="comments")
        self.base_html = W.HTML(layout=W.Layout(width="48%"))
        self.adapter_html = W.HTML(layout=W.Layout(width="48%"))
        self.spans_html = W.HTML()
        self.summary = W.HTML()
        self.figure = go.FigureWidget(layout={"title": "Whose items the answers lean on (words copied verbatim)",
                                              "height": 340, "barmode": "group"})
        self.answers: dict[str, str] = {}
        self.spans = pl.DataFrame()
        self.leans_on = pl.DataFrame()
        self.button.on_click(lambda _b: self.ask())
        if auto:
            for c in self.controls.values():
                c.observe(lambda _ch: self.ask(), "value")
        super().__init__([self.prompt, W.HBox([self.controls["adapter"], self.controls["max_new_tokens"],
                                               self.controls["temperature"], self.button]),
                          W.HBox([self.base_html, self.adapter_html]), self.summary, self.figure, self.spans_html])
        if auto and self.prompt.value:
            self.ask()

    @classmethod
    def from_economy(cls, result: Any, *, base: Any = None, **kwargs: Any) -> Playground:
        """A playground over every round's adapter of an :class:`~olkit.economy.EconomyResult`."""
        return cls.from_store(result.meta["store"], economy_id=result.economy_id, base=base, **kwargs)

    @classmethod
    def from_store(cls, store: Any, *, economy_id: str | None = None, base: Any = None,
                   prompts: Sequence[str] | None = None, **kwargs: Any) -> Playground:
        """A playground over the economy adapters recorded in a ledger (a Store or a path).

        ``economy_id`` picks one economy (default: the one of the last adapter); ``base`` a loaded
        base to use (default: the adapters' base model, loaded here).  The trained-on items are the
        adapters' submissions in the ledger.
        """
        from olkit.store import Store
        from olkit.train import AdapterBank, load_base

        owned = store if isinstance(store, Store) else Store(store, read_only=True)
        try:
            adapters = owned.table("adapters").filter(pl.col("adapter_id").str.contains(r"^econ-[0-9a-f]+-r\d+$"))
            if adapters.height == 0:
                from olkit.errors import InputError

                raise InputError("no economy adapters in this ledger (run `olkit run` first)", file=str(owned.path))
            adapters = adapters.with_columns(
                pl.col("adapter_id").str.extract(r"^(econ-[0-9a-f]+)-r").alias("economy"),
                pl.col("adapter_id").str.extract(r"-r(\d+)$").cast(pl.Int64).alias("round"))
            economy_id = economy_id or adapters.sort("created_at")["economy"][-1]
            adapters = adapters.filter(pl.col("economy") == economy_id).sort("round")
            ids = adapters.select(pl.col("submission_ids").explode().alias("submission_id")).unique()
            train = owned.submissions(columns=["submission_id", "contributor_id", "instruction", "response"]).join(
                ids, on="submission_id")
        finally:
            if owned is not store:
                owned.close()
        bank = AdapterBank(base if base is not None else load_base(adapters["base_model"][0], quantization="nf4"))
        for t, folder in zip(adapters["round"].to_list(), adapters["path"].to_list(), strict=True):
            bank.add(f"round-{t}", Path(folder))
        if prompts is None:
            prompts = train.sort("submission_id")["instruction"].head(5).to_list()
        return cls(bank, train, prompts=prompts, **kwargs)

    # -- actions ----------------------------------------------------------------------------------
    @property
    def adapter(self) -> str:
        return self.controls["adapter"].value

    def ask(self, prompt: str | None = None) -> Mapping[str, str]:
        """Answer the prompt with the base model and the chosen adapter; match spans; redraw."""
        if prompt is not None:
            self.prompt.value = prompt
        text = (self.prompt.value or "").strip()
        if not text:
            self.summary.value = "<i>type a prompt</i>"
            return self.answers
        temp = float(self.controls["temperature"].value)
        kw: dict[str, Any] = {"max_new_tokens": int(self.controls["max_new_tokens"].value), "seed": self.seed}
        if temp > 0:  # sampled (seeded, so the same question gets the same answer)
            kw.update(do_sample=True, temperature=temp)
        return self.explain({BASE: self.bank.generate(text, adapter=None, **kw),
                             self.adapter: self.bank.generate(text, adapter=self.adapter, **kw)})

    def explain(self, answers: Mapping[str, str]) -> Mapping[str, str]:
        """Match the answers' spans against the training items and redraw (``ask`` calls it)."""
        self.answers = dict(answers)
        frames = [self.index.find(a, min_words=self.min_words).with_columns(pl.lit(who).alias("model"))
                  for who, a in self.answers.items()]
        self.spans = pl.concat(frames, how="vertical_relaxed")
        # a span with several sources is shared among them, as in span attribution
        self.leans_on = (self.spans.group_by("model", "contributor_id")
                         .agg((pl.col("n_words") / pl.col("n_sources")).sum().alias("words"),
                              pl.col("submission_id").n_unique().alias("items"))
                         .sort(["model", "words", "contributor_id"], descending=[False, True, False]))
        self._render()
        return self.answers

    def _render(self) -> None:
        tok = self.bank.base.tokenizer
        n_tokens = {who: len(tok(a, add_special_tokens=False)["input_ids"]) for who, a in self.answers.items()}
        n_words = {who: len(words(a)) for who, a in self.answers.items()}
        copied = {who: float(self.leans_on.filter(pl.col("model") == who)["words"].sum() or 0.0)
                  for who in self.answers}
        for who, pane in ((BASE, self.base_html), (self.adapter, self.adapter_html)):
            pane.value = (f"<b>{html.escape(who)}</b> ({n_tokens[who]} tokens, {n_words[who]} words)<br>"
                          f"<div style='white-space:pre-wrap'>{html.escape(self.answers[who]) or '<i>(empty)</i>'}</div>")
        top = self.leans_on.filter(pl.col("model") == self.adapter).head(3)
        names = ", ".join(f"{c} ({w:.0f} words)" for c, w in zip(top["contributor_id"], top["words"], strict=True))
        self.summary.value = (f"base: {n_tokens[BASE]} tokens, {n_words[BASE]} words, {copied[BASE]:.0f} copied from "
                              f"training items; {html.escape(self.adapter)}: {n_tokens[self.adapter]} tokens, "
                              f"{n_words[self.adapter]} words, {copied[self.adapter]:.0f} "
                              f"copied; leans on: {html.escape(names) or 'no training item (no span of '}"
                              + ("" if names else f"{self.min_words}+ words matches)"))
        with self.figure.batch_update():
            self.figure.data = []
            models = list(self.answers)
            self.figure.add_bar(x=models, y=[n_tokens[m] for m in models], name="tokens generated")
            self.figure.add_bar(x=models, y=[n_words[m] for m in models], name="words generated")
            self.figure.add_bar(x=models, y=[copied[m] for m in models], name="words found in training items")
            for c in top["contributor_id"].to_list():
                part = self.leans_on.filter(pl.col("contributor_id") == c)
                y = [float(part.filter(pl.col("model") == m)["words"].sum() or 0.0) for m in models]
                self.figure.add_bar(x=models, y=y, name=f"from {c}")
        rows = "".join(
            f"<tr><td>{html.escape(r['model'])}</td><td>{html.escape(r['contributor_id'])}</td>"
            f"<td>{r['n_words']}</td><td>{html.escape(r['text'])[:120]}</td></tr>"
            for r in self.spans.sort("model", "start").iter_rows(named=True))
        self.spans_html.value = ("<table><tr><th>model</th><th>contributor</th><th>words</th><th>span</th></tr>"
                                 f"{rows}</table>" if rows else "")
