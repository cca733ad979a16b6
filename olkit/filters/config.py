"""Filter thresholds of a Policy (owned by ``olkit.filters``)."""

from __future__ import annotations

from olkit.config import Section


class FilterPolicy(Section):
    """Thresholds of the filter pipeline.  Extended by the filters package."""

    enabled: tuple[str, ...] = ()
