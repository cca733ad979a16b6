"""ipywidgets + plotly FigureWidget panels, one per notebook stage.

Widgets keep their state in plain attributes (``.sliders``, ``.figure``, ``.summary`` ...) so tests
and browser tests can drive them without a front end.

>>> from olkit.widgets import FilterTuner
"""

from olkit.widgets.filter_tuner import FilterTuner

__all__ = ["FilterTuner"]
