"""Ingestion with provenance: sources → mapped, normalised, content-addressed submissions.

The pieces, in the order a record meets them:

* :mod:`~olkit.ingest.readers` — JSONL/NDJSON (+gz), JSON arrays, CSV/TSV (+gz), Parquet, saved HF
  datasets, polars/pandas frames and in-memory ``datasets``; bounded-memory batches, every record
  tagged with its line/row; errors name file, line and field;
* :mod:`~olkit.ingest.mapping` — presets (``olkit``, ``alpaca``, ``dolly``, ``sharegpt``, ``openai``)
  and ``--map`` specs; unused fields are kept in ``meta``;
* :mod:`~olkit.ingest.normalize` — idempotent Unicode normalisation (NFC, controls, line endings,
  exotic spaces) as one polars expression;
* :mod:`~olkit.ingest.hashing` — ``content_hash`` / ``submission_id`` computed in DuckDB, identical to
  :mod:`olkit.schema`'s scalar helpers;
* :mod:`~olkit.ingest.core` — :func:`read` (to a frame) and :func:`ingest` (into a
  :class:`olkit.store.Store`, one transaction, re-ingest adds nothing, ``on_error="skip"`` to
  leave bad records out and list them).

>>> from olkit.ingest import normalize_text
>>> normalize_text("caf\u0065\u0301 ")
'café'

CLI: ``olkit sample --out DIR`` then ``olkit ingest DIR/submissions.jsonl --store ledger.duckdb``.
"""

from olkit.ingest.core import DEFAULT_DATANET, IngestResult, ingest, read
from olkit.ingest.hashing import add_ids
from olkit.ingest.mapping import PRESETS, ColumnMap, detect_preset
from olkit.ingest.normalize import normalize_expr, normalize_text
from olkit.ingest.readers import RecordError, open_source
from olkit.ingest.sample_io import write_sample

__all__ = ["DEFAULT_DATANET", "IngestResult", "ingest", "read", "add_ids", "PRESETS", "ColumnMap",
           "detect_preset", "normalize_expr", "normalize_text", "RecordError", "open_source", "write_sample"]
