"""ReputationLab: pick a reputation rule and an adversary mix, move sliders, watch the economy react.

Every control change re-runs the whole simulation (1,000 agents x 100 epochs by default, a few
tenths of a second) for the chosen rule *and* for a comparison rule, and updates the curves in
place.  State lives in plain attributes so tests and a browser test can drive it without a front
end::

    lab = ReputationLab()
    lab.controls["rule"].value = "beta"
    lab.controls["sybil"].value = 0.3
    lab.summary["adversary_reward_share"], lab.figure.data[0].y, lab.last_seconds

Example
-------
>>> from olkit.widgets.reputation_lab import ReputationLab
>>> lab = ReputationLab(n_agents=300, epochs=20)
>>> lab.controls["rule"].value = "acceptance_ratio"
>>> lab.summary["rule"]
'acceptance_ratio'
"""

from __future__ import annotations

import time
from typing import Any

import ipywidgets as W
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from olkit.policy import Policy
from olkit.reputation.config import RULE_NAMES
from olkit.rewards import EPOCH_RULES
from olkit.sim.config import DEFAULT_MIX, SimConfig
from olkit.sim.engine import METRICS, SimResult, simulate
from olkit.sim.plots import PALETTE

#: The curves shown, one panel each.
PANELS = ("accepted_quality", "adversary_reward_share", "honest_retention", "experimentation",
          "false_rejection", "newcomer_survival")
ADVERSARIES = ("spammer", "farmer", "sybil", "recycler")


class ReputationLab:
    """An ipywidgets panel over :func:`olkit.sim.simulate`.

    Parameters
    ----------
    policy:
        Starting reputation rule and reward settings (default: :class:`~olkit.policy.Policy`).
    n_agents, epochs, seed:
        Size of every re-run.
    compare:
        The rule drawn dashed for comparison (``None`` for no comparison run).

    Attributes
    ----------
    controls: dict of ipywidgets keyed by name (``rule``, ``compare``, ``validation``,
        ``reward_rule``, ``spammer``, ``farmer``, ``sybil``, ``recycler``, ``identity_cost``,
        ``validator_error``, ``colluding_stake``, ``seed``).
    figure: ``plotly.graph_objects.FigureWidget``, one panel per metric in :data:`PANELS`;
        trace ``2 * i`` is the chosen rule, ``2 * i + 1`` the comparison.
    summary: dict of the chosen run's metrics (mean of the last 10 epochs), the comparison's
        (``compare_<metric>``), the rule names and ``seconds``.
    result, compare_result: the latest :class:`~olkit.sim.SimResult` objects.
    """

    def __init__(self, policy: Policy | None = None, *, n_agents: int = 1000, epochs: int = 100,
                 seed: int = 0, compare: str | None = "acceptance_ratio") -> None:
        self.base = SimConfig.from_policy(policy, n_agents=n_agents, epochs=epochs, seed=seed)
        slider = dict(continuous_update=False, style={"description_width": "110px"},
                      layout=W.Layout(width="330px"))
        c: dict[str, W.ValueWidget] = {
            "rule": W.Dropdown(options=list(RULE_NAMES), value=self.base.reputation.rule,
                               description="rule", **{k: v for k, v in slider.items() if k != "continuous_update"}),
            "compare": W.Dropdown(options=["(none)", *RULE_NAMES], value=compare or "(none)",
                                  description="compare with",
                                  **{k: v for k, v in slider.items() if k != "continuous_update"}),
            "validation": W.ToggleButtons(options=["parametric", "peer"], value="parametric",
                                          description="validation", style={"description_width": "110px"}),
            "reward_rule": W.Dropdown(options=list(EPOCH_RULES), value=self.base.rewards.epoch_rule,
                                      description="reward split",
                                      **{k: v for k, v in slider.items() if k != "continuous_update"}),
        }
        for name in ADVERSARIES:
            c[name] = W.FloatSlider(value=DEFAULT_MIX[name], min=0.0, max=0.6, step=0.01,
                                    description=f"{name}s", readout_format=".2f", **slider)
        c["identity_cost"] = W.FloatSlider(value=self.base.identity_cost, min=0.0, max=10.0, step=0.1,
                                           description="identity cost", **slider)
        c["validator_error"] = W.FloatSlider(value=1.0, min=0.0, max=3.0, step=0.05,
                                             description="validator error x", **slider)
        c["colluding_stake"] = W.FloatSlider(value=0.0, min=0.0, max=0.9, step=0.05,
                                             description="colluding stake", **slider)
        c["seed"] = W.BoundedIntText(value=seed, min=0, max=10**9, description="seed",
                                     style={"description_width": "110px"}, layout=W.Layout(width="220px"))
        self.controls = c
        self.figure = self._make_figure()
        self.status = W.HTML()
        self.summary: dict[str, Any] = {}
        self.result: SimResult | None = None
        self.compare_result: SimResult | None = None
        self.last_seconds = 0.0
        for w in c.values():
            w.observe(lambda _change: self.update(), names="value")
        self.update()

    # -- model ----------------------------------------------------------------------------------------
    def config(self, rule: str | None = None) -> SimConfig:
        """The :class:`SimConfig` the controls describe (``rule`` overrides the rule)."""
        c = self.controls
        honest = max(0.0, 1.0 - sum(c[a].value for a in ADVERSARIES))
        share = DEFAULT_MIX["expert"] / (DEFAULT_MIX["expert"] + DEFAULT_MIX["casual"])
        mix = {"expert": honest * share, "casual": honest * (1 - share),
               **{a: float(c[a].value) for a in ADVERSARIES}}
        if sum(mix.values()) <= 0:
            mix["expert"] = 1.0
        return self.base.updated(**{
            "reputation.rule": rule or c["rule"].value, "rewards.epoch_rule": c["reward_rule"].value,
            "validation": c["validation"].value, "mix": mix, "identity_cost": float(c["identity_cost"].value),
            "validator.error_scale": float(c["validator_error"].value),
            "colluding_stake": float(c["colluding_stake"].value), "seed": int(c["seed"].value),
        })

    def update(self) -> dict[str, Any]:
        """Re-run the chosen rule (and the comparison), redraw, refresh :attr:`summary`."""
        t0 = time.perf_counter()
        self.result = simulate(self.config())
        cmp_rule = self.controls["compare"].value
        self.compare_result = simulate(self.config(cmp_rule)) if cmp_rule != "(none)" else None
        self.last_seconds = time.perf_counter() - t0
        self._render()
        summary: dict[str, Any] = {"rule": self.controls["rule"].value, "compare": cmp_rule,
                                   "seconds": self.last_seconds}
        summary.update(self.result.summary())
        if self.compare_result is not None:
            summary.update({f"compare_{k}": v for k, v in self.compare_result.summary().items()})
        self.summary = summary
        self.status.value = (
            f"<b>{summary['rule']}</b>: adversaries take {summary.get('adversary_reward_share', 0):.1%} of "
            f"rewards, honest retention {summary.get('honest_retention', 0):.1%}, accepted quality "
            f"{summary.get('accepted_quality', 0):.2f} &middot; re-run in {self.last_seconds * 1000:.0f} ms")
        return summary

    # -- view -----------------------------------------------------------------------------------------
    def _make_figure(self) -> go.FigureWidget:
        fig = make_subplots(rows=2, cols=3, subplot_titles=list(PANELS), horizontal_spacing=0.07)
        for i, m in enumerate(PANELS):
            r, col = i // 3 + 1, i % 3 + 1
            fig.add_trace(go.Scatter(x=[], y=[], mode="lines", name="rule", legendgroup="rule",
                                     showlegend=i == 0, line={"color": PALETTE[0]},
                                     hovertemplate=f"{METRICS[m]}<br>epoch %{{x}}: %{{y:.3f}}<extra></extra>"),
                          row=r, col=col)
            fig.add_trace(go.Scatter(x=[], y=[], mode="lines", name="compare", legendgroup="compare",
                                     showlegend=i == 0, line={"color": PALETTE[1], "dash": "dash"}),
                          row=r, col=col)
        fig.update_layout(height=520, margin={"t": 60, "b": 30}, legend={"orientation": "h", "y": -0.08})
        return go.FigureWidget(fig)

    def _render(self) -> None:
        assert self.result is not None
        df = self.result.epochs
        x = df["epoch"].to_list()
        cmp_df = self.compare_result.epochs if self.compare_result is not None else None
        with self.figure.batch_update():
            for i, m in enumerate(PANELS):
                self.figure.data[2 * i].x, self.figure.data[2 * i].y = x, df[m].to_list()
                self.figure.data[2 * i].name = self.controls["rule"].value
                tr = self.figure.data[2 * i + 1]
                if cmp_df is not None:
                    tr.x, tr.y, tr.visible = x, cmp_df[m].to_list(), True
                    tr.name = self.controls["compare"].value
                else:
                    tr.visible = False

    @property
    def widget(self) -> W.Widget:
        """The whole panel: controls, status line, figure."""
        c = self.controls
        left = W.VBox([c["rule"], c["compare"], c["reward_rule"], c["validation"], c["seed"]])
        mid = W.VBox([c[a] for a in ADVERSARIES])
        right = W.VBox([c["identity_cost"], c["validator_error"], c["colluding_stake"]])
        return W.VBox([W.HBox([left, mid, right]), self.status, self.figure])

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)
