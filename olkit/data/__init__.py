"""Shipped data: the embedded sample datanet and an external labelled eval set.

>>> from olkit.data import sample_stream
>>> frame = sample_stream(n_contributors=20, seed=0)
>>> sorted(frame["split"].unique().to_list())
['heldout', 'train']
"""

from olkit.data.external import external_eval_set
from olkit.data.sample import ARCHETYPES, DEFAULT_MIX, LABELS, sample_stream

__all__ = ["ARCHETYPES", "DEFAULT_MIX", "LABELS", "external_eval_set", "sample_stream"]
