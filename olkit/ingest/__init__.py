"""Ingestion with provenance: readers, column mappings, normalisation, content-addressed ids.

>>> from olkit.ingest import normalize_text
>>> normalize_text("caf\\u0065\\u0301 ")
'café'

See :func:`olkit.ingest.core.ingest` (into a :class:`olkit.store.Store`) and
:func:`olkit.ingest.core.read` (into a polars frame).
"""

from olkit.ingest.core import DEFAULT_DATANET, IngestResult, ingest, read
from olkit.ingest.hashing import add_ids
from olkit.ingest.mapping import PRESETS, ColumnMap, detect_preset
from olkit.ingest.normalize import normalize_expr, normalize_text
from olkit.ingest.readers import RecordError, open_source
from olkit.ingest.sample_io import write_sample

__all__ = ["DEFAULT_DATANET", "IngestResult", "ingest", "read", "add_ids", "PRESETS", "ColumnMap",
           "detect_preset", "normalize_expr", "normalize_text", "RecordError", "open_source", "write_sample"]
