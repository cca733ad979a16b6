"""TrainingMonitor: fine-tune from a notebook and watch the loss fall, live.

A form holds the main hyperparameters (training-set mode, steps, learning rate, LoRA rank, batch
size, max length, 4-bit or plain LoRA, seed); the start button runs :func:`olkit.train.qlora.train`
in a background thread (the kernel stays free), the button turns into *stop* (a stop flag the
training loop checks after each step; the adapter trained so far is still saved).  Every step
appends to a plotly ``FigureWidget`` (training loss, learning rate) and updates a readout with
tokens/s, peak memory and elapsed time.

State is in plain attributes, so tests drive it without a browser::

    mon = TrainingMonitor(frame, base="tiny-llama", decisions=decisions, out_dir="adapters/live")
    mon.controls["steps"].value = 10
    mon.start(); mon.wait()
    mon.status, mon.history["loss"], mon.figure.data[0].y, mon.readout.value, mon.result.adapter_dir

Example
-------
>>> from olkit.widgets.training_monitor import TrainingMonitor   # doctest: +SKIP
>>> TrainingMonitor(sample, base="smollm2-135m", decisions=result.decisions)   # doctest: +SKIP
"""

from __future__ import annotations

import threading
import traceback
from pathlib import Path
from typing import Any

import ipywidgets as W
import plotly.graph_objects as go
import polars as pl

from olkit.train.qlora import TrainConfig, TrainResult


class TrainingMonitor(W.VBox):
    """Form + start/stop + live loss curve + tokens/s and memory readout for one fine-tuning run."""

    def __init__(self, source: Any, base: Any = "smollm2-135m", *, decisions: pl.DataFrame | None = None,
                 out_dir: str | Path | None = None, config: TrainConfig | None = None,
                 mode: str = "accepted", max_eval: int = 32) -> None:
        self.source = source
        self.base_name = base if isinstance(base, str) else base.name
        self._base = None if isinstance(base, str) else base
        self.decisions = decisions
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.max_eval = max_eval
        cfg = config or TrainConfig(steps=30)
        style = {"description_width": "120px"}
        lay = W.Layout(width="300px")
        self.controls: dict[str, W.ValueWidget] = {
            "mode": W.Dropdown(options=["accepted", "all", "reputation_weighted"], value=mode,
                               description="training set", style=style, layout=lay),
            "steps": W.BoundedIntText(value=cfg.steps, min=1, max=100_000, description="steps", style=style,
                                      layout=lay),
            "learning_rate": W.FloatLogSlider(value=cfg.learning_rate, base=10, min=-5, max=-1, step=0.1,
                                              description="learning rate", readout_format=".1e", style=style,
                                              layout=lay),
            "lora_r": W.Dropdown(options=[2, 4, 8, 16, 32, 64], value=cfg.lora_r, description="LoRA rank",
                                 style=style, layout=lay),
            "batch_size": W.BoundedIntText(value=cfg.batch_size, min=1, max=256, description="batch size",
                                           style=style, layout=lay),
            "max_length": W.BoundedIntText(value=cfg.max_length, min=16, max=8192, description="max tokens",
                                           style=style, layout=lay),
            "quantization": W.Dropdown(options=[("QLoRA (NF4 4-bit)", "nf4"), ("QLoRA (FP4 4-bit)", "fp4"),
                                                ("LoRA (full precision)", None)],
                                       value=cfg.quantization, description="base weights", style=style,
                                       layout=lay),
            "seed": W.IntText(value=cfg.seed, description="seed", style=style, layout=lay),
        }
        self._config = cfg
        self.button = W.Button(description="start training", button_style="success", icon="play",
                               layout=W.Layout(width="300px"))
        self.button.on_click(lambda _b: self.stop() if self.running else self.start())
        self.progress = W.IntProgress(value=0, min=0, max=cfg.steps, description="step 0",
                                      layout=W.Layout(width="300px"))
        self.readout = W.HTML(value=self._readout_html({}))
        self.figure = go.FigureWidget(
            data=[go.Scatter(x=[], y=[], mode="lines+markers", name="training loss"),
                  go.Scatter(x=[], y=[], mode="lines", name="learning rate", yaxis="y2",
                             line={"dash": "dot", "width": 1})],
            layout=go.Layout(title="Training loss (response tokens)", xaxis={"title": "step"},
                             yaxis={"title": "loss"}, yaxis2={"title": "lr", "overlaying": "y", "side": "right",
                                                                "showgrid": False, "tickformat": ".0e"},
                             height=340, margin={"t": 50, "b": 40, "l": 60, "r": 60},
                             legend={"orientation": "h", "y": -0.25}))
        self.status = "idle"
        self.error: str | None = None
        self.result: TrainResult | None = None
        self.rows: list[dict[str, Any]] = []
        self.data_stats: dict[str, Any] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        form = W.VBox([*self.controls.values(), self.button, self.progress, self.readout])
        super().__init__([W.HBox([form, self.figure])])

    # -- state ------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def history(self) -> pl.DataFrame:
        """One row per step so far (``step, loss, learning_rate, tokens_per_s, peak_rss_mb`` ...)."""
        return pl.DataFrame(self.rows)

    def config(self) -> TrainConfig:
        """The :class:`TrainConfig` the form describes."""
        c = self.controls
        return self._config.model_copy(update={
            "steps": int(c["steps"].value), "learning_rate": float(c["learning_rate"].value),
            "lora_r": int(c["lora_r"].value), "lora_alpha": 2.0 * int(c["lora_r"].value),
            "batch_size": int(c["batch_size"].value), "max_length": int(c["max_length"].value),
            "quantization": c["quantization"].value, "seed": int(c["seed"].value)})

    # -- actions ----------------------------------------------------------------------------
    def start(self) -> None:
        """Start training in a background thread (no-op while a run is going)."""
        if self.running:
            return
        cfg = self.config()
        self.rows = []
        self.result, self.error = None, None
        self._stop.clear()
        with self.figure.batch_update():
            for trace in self.figure.data:
                trace.x, trace.y = [], []
        self.progress.max, self.progress.value, self.progress.description = cfg.steps, 0, "step 0"
        self._set_status("loading")
        self.button.description, self.button.button_style, self.button.icon = "stop", "danger", "stop"
        for w in self.controls.values():
            w.disabled = True
        self._thread = threading.Thread(target=self._run, args=(cfg, self.controls["mode"].value),
                                        name="olkit-training", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Ask the running training to stop after its current step."""
        if self.running:
            self._stop.set()
            self._set_status("stopping")

    def wait(self, timeout: float | None = None, *, progress: bool = False) -> bool:
        """Block until the run ends (tests, scripts); True if it ended.

        ``progress``: also show a ``tqdm.auto`` bar over the steps (a text bar in headless runs and
        logs, where the panel's own progress bar is not drawn).
        """
        if self._thread is None:
            return not self.running
        if not progress:
            self._thread.join(timeout)
            return not self.running
        import time

        from tqdm.auto import tqdm

        end = None if timeout is None else time.monotonic() + timeout
        with tqdm(total=int(self.progress.max or 0), desc="training", unit="step") as bar:
            while self._thread.is_alive() and (end is None or time.monotonic() < end):
                self._thread.join(0.5)
                bar.update(len(self.rows) - bar.n)
            bar.update(len(self.rows) - bar.n)
        return not self.running

    # -- worker -----------------------------------------------------------------------------
    def _run(self, cfg: TrainConfig, mode: str) -> None:
        from olkit.train.data import build_examples, split_and_select
        from olkit.train.models import load_base
        from olkit.train.qlora import train

        try:
            base = self._base
            if base is None or base.quantization != cfg.quantization:
                base = load_base(self.base_name, quantization=cfg.quantization, device=cfg.device,
                                 compute_dtype=cfg.compute_dtype)
            elif _is_peft(base.model):  # LoRA layers of an earlier run: start clean
                base.model = base.model.unload()
            self._base = base
            split = split_and_select(self.source, mode, decisions=self.decisions, seed=cfg.seed,
                                     max_eval=self.max_eval)
            self.data_stats = split.stats
            ex = build_examples(split.train, base.tokenizer, max_length=cfg.max_length)
            self._set_status("training")
            self.result = train(base, ex, cfg, self.out_dir, callbacks=[self._on_step], stop_event=self._stop,
                                overwrite=True, progress=False,
                                manifest_extra={"selection": split.selection.model_dump(mode="json"),
                                                "data_stats": split.stats})
            self._set_status("stopped" if self.result.stopped else "done")
        except Exception as err:  # shown in the panel; the kernel keeps running
            self.error = f"{type(err).__name__}: {err}"
            self._traceback = traceback.format_exc()
            self._set_status("error")
        finally:
            self.button.description, self.button.button_style, self.button.icon = "start training", "success", "play"
            for w in self.controls.values():
                w.disabled = False

    def _on_step(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        with self.figure.batch_update():
            self.figure.data[0].x = [*self.figure.data[0].x, row["step"]]
            self.figure.data[0].y = [*self.figure.data[0].y, row["loss"]]
            self.figure.data[1].x = [*self.figure.data[1].x, row["step"]]
            self.figure.data[1].y = [*self.figure.data[1].y, row["learning_rate"]]
        self.progress.value = row["step"]
        self.progress.description = f"step {row['step']}"
        self.readout.value = self._readout_html(row)

    def _set_status(self, status: str) -> None:
        self.status = status
        self.readout.value = self._readout_html(self.rows[-1] if self.rows else {})

    def _readout_html(self, row: dict[str, Any]) -> str:
        parts = [f"<b>{self.status if hasattr(self, 'status') else 'idle'}</b>"]
        if row:
            parts += [f"loss {row['loss']:.3f}", f"{row['tokens_per_s']:.0f} tokens/s",
                      f"peak RSS {row['peak_rss_mb']:.0f} MiB", f"{row['elapsed_s']:.0f} s"]
        stats = getattr(self, "data_stats", None)
        if stats:
            parts.append(f"{stats.get('n_train', '?')} training items")
        if getattr(self, "error", None):
            parts.append(f"<span style='color:#b00'>{self.error}</span>")
        if getattr(self, "result", None) is not None and self.result.adapter_dir:
            parts.append(f"saved to <code>{self.result.adapter_dir}</code>")
        return " · ".join(parts)


def _is_peft(model: Any) -> bool:
    from peft import PeftModel

    return isinstance(model, PeftModel)
