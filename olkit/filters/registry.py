"""Default filter lists per datanet kind, and a name -> factory registry.

Instruction datanets (``instruction`` + ``response``) and document datanets (``text``) share the
rule-based layers; instruction data adds the instruction-response relevance model.  Model-based
filters (``synthetic``, ``quality``, ``relevance``) load embedded models, so they are included only
with ``models=True`` (and only if their module is installed in this checkout).

Example
-------
>>> from olkit.filters.registry import default_filters, available
>>> [f.name for f in default_filters("instruction")]
['format', 'pii', 'heuristics', 'spam', 'language', 'dedup']
>>> "dedup" in available()
True
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from olkit.filters.base import Filter

#: name -> "module:Class" of every filter olkit ships.
FILTERS: dict[str, str] = {
    "format": "olkit.filters.format:FormatFilter",
    "pii": "olkit.filters.pii:PiiFilter",
    "heuristics": "olkit.filters.heuristics:HeuristicsFilter",
    "spam": "olkit.filters.spam:SpamFilter",
    "language": "olkit.filters.language:LanguageFilter",
    "dedup": "olkit.filters.dedup:DedupFilter",
    "synthetic": "olkit.filters.synthetic:SyntheticFilter",
    "quality": "olkit.filters.quality:QualityFilter",
    "relevance": "olkit.filters.relevance:RelevanceFilter",
}

#: Rule-based filters, cheap, for every kind.
RULE_FILTERS = ("format", "pii", "heuristics", "spam", "language", "dedup")
#: Model filters per kind (appended with ``models=True``).
MODEL_FILTERS: dict[str, tuple[str, ...]] = {
    "instruction": ("relevance", "quality", "synthetic"),
    "document": ("quality", "synthetic"),
}
KINDS = tuple(MODEL_FILTERS)


def _factory(name: str) -> Callable[[], Filter] | None:
    spec = FILTERS.get(name)
    if spec is None:
        raise KeyError(f"unknown filter {name!r}; known: {sorted(FILTERS)}")
    module, _, cls = spec.partition(":")
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as err:
        if err.name == module:
            return None
        raise
    return getattr(mod, cls, None)


def available() -> list[str]:
    """Names of the filters importable in this installation."""
    return [n for n in FILTERS if _factory(n) is not None]


def make(name: str, **kwargs) -> Filter:
    """Instantiate filter ``name``."""
    factory = _factory(name)
    if factory is None:
        raise KeyError(f"filter {name!r} is not available in this installation")
    return factory(**kwargs)


def default_filters(kind: str = "instruction", *, models: bool = False, policy=None) -> list[Filter]:
    """The default filter instances for a datanet ``kind`` (``instruction`` or ``document``).

    ``policy`` (a Policy or FilterPolicy) supplies the scoring parameters of filters that have some
    (MinHash shingles/permutations/bands of ``dedup``, the ``heuristics`` preset).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    fp = getattr(policy, "filters", policy)
    names = list(RULE_FILTERS) + (list(MODEL_FILTERS[kind]) if models else [])
    out = []
    for n in names:
        factory = _factory(n)
        if factory is None:
            continue
        if n in ("dedup", "heuristics") and fp is not None:
            out.append(factory(params=getattr(fp, n)))
        else:
            out.append(factory())
    return out
