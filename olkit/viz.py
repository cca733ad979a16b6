"""Plotly figures shared by widgets, reports and notebooks.

:func:`show` displays a figure so that it works in JupyterLab *and* survives ``nbconvert`` to HTML
(headless runs set ``OLKIT_HEADLESS=1`` and figures are embedded as HTML with plotly.js inline once).
"""

from __future__ import annotations

import os

import plotly.graph_objects as go
import plotly.io as pio

TEMPLATE = "plotly_white"
pio.templates.default = TEMPLATE


def show(fig: go.Figure) -> None:
    """Display a figure in a notebook (interactive in Lab, embedded HTML in headless reports)."""
    from IPython.display import HTML, display

    global _plotlyjs_embedded
    if os.environ.get("OLKIT_HEADLESS"):
        # plotly.js goes inline once per kernel so the HTML report opens offline.
        display(HTML(fig.to_html(full_html=False, include_plotlyjs=not _plotlyjs_embedded)))
        _plotlyjs_embedded = True
    else:
        display(fig)


_plotlyjs_embedded = False
