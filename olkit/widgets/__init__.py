"""ipywidgets + plotly FigureWidget panels, one per notebook stage.

Widgets keep their state in plain attributes (``.sliders``/``.controls``, ``.figure``,
``.summary`` ...) so tests and browser tests can drive them without a front end.

* :class:`FilterTuner` — thresholds → decisions from cached scores (02_filtering);
* :class:`ReputationLab` — reputation rule and adversary mix → economy curves (03);
* :class:`TrainingMonitor` — hyperparameters, start/stop, live loss curve (04);
* :class:`AttributionExplorer` — prompt → answer, influential items, payouts (05);
* :class:`Playground` — base model and any economy round's adapter side by side, span matches (00).

Imports are lazy so ``import olkit.widgets`` does not pull in torch.

>>> from olkit.widgets import FilterTuner, ReputationLab
"""

from __future__ import annotations

import importlib
from typing import Any

_WIDGETS = {
    "FilterTuner": "olkit.widgets.filter_tuner",
    "ReputationLab": "olkit.widgets.reputation_lab",
    "TrainingMonitor": "olkit.widgets.training_monitor",
    "AttributionExplorer": "olkit.widgets.attribution_explorer",
    "Playground": "olkit.widgets.playground",
}
__all__ = sorted(_WIDGETS)


def __getattr__(name: str) -> Any:
    if name in _WIDGETS:
        return getattr(importlib.import_module(_WIDGETS[name]), name)
    raise AttributeError(f"module 'olkit.widgets' has no attribute {name!r}")
