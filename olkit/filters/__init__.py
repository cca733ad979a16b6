"""Composable validators with reason codes: score once, decide many times.

>>> from olkit.filters import Pipeline
>>> Pipeline.default().filters[0].name
'format'
"""

from olkit.filters.base import DECISION_COLUMNS, LAYERS, Filter
from olkit.filters.config import FilterPolicy
from olkit.filters.pipeline import Pipeline, PipelineResult, evaluate_rejections, prepare_batch

__all__ = ["DECISION_COLUMNS", "LAYERS", "Filter", "FilterPolicy", "Pipeline", "PipelineResult",
           "evaluate_rejections", "prepare_batch"]
