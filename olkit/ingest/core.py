"""Ingestion: sources → mapped, normalised, content-addressed submissions (in memory or in a store).

:func:`read` returns the submissions of some sources as one polars frame (nothing written);
:func:`ingest` appends them to a :class:`olkit.store.Store` in **one transaction** — on any error
(a broken line 900 000 lines in) nothing is written, and re-ingesting the same records adds
nothing (ids are content-addressed, see :mod:`olkit.ingest.hashing`).

Example
-------
>>> import polars as pl, tempfile, os
>>> from olkit.store import Store
>>> frame = pl.DataFrame({"contributor_id": ["ann", "bob"], "instruction": ["Say hi", "Add 2+2"],
...                       "response": ["Hi!", "4"]})
>>> read(frame)["submission_id"].str.starts_with("s_").all()
True
>>> with tempfile.TemporaryDirectory() as d, Store(os.path.join(d, "s.duckdb")) as store:
...     first = ingest(frame, store, progress=False)
...     again = ingest(frame, store, progress=False)
>>> (first.added, again.added, again.skipped_existing)
(2, 0, 2)
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import duckdb
import polars as pl
from tqdm.auto import tqdm

from olkit.ingest.hashing import CONTENT_HASH_SQL, connect_memory, submission_id_sql
from olkit.ingest.mapping import ColumnMap
from olkit.ingest.normalize import normalize_id_expr, normalize_series
from olkit.ingest.readers import DEFAULT_BATCH_BYTES, FrameReader, JsonlReader, Reader, open_source
from olkit.schema import SUBMISSION_SCHEMA

if TYPE_CHECKING:
    from olkit.store import Store

#: Datanet used when neither the source nor the caller names one.
DEFAULT_DATANET = "default"

_STRINGS = ("datanet", "contributor_id", "instruction", "response", "text", "source", "source_id",
            "license", "parent_id", "meta")
#: Columns produced by :func:`prepare_batch` before the store stamps ``ingested_at``/``ingest_run``.
PREPARED_COLUMNS = tuple(c for c in SUBMISSION_SCHEMA if c not in ("ingested_at", "ingest_run"))


@dataclass
class IngestResult:
    """What one :func:`ingest` call did."""

    added: int
    skipped_existing: int
    rejected_rows: int
    rows_read: int
    store: str
    run_id: str | None
    sources: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _sources(sources: Any) -> list[Any]:
    if isinstance(sources, str | bytes) or not isinstance(sources, Sequence):
        return [sources]
    return list(sources)


def prepare_batch(raw: pl.DataFrame, reader: Reader, mapping: ColumnMap, datanet: str | None) -> pl.DataFrame:
    """Map and normalise one raw batch: olkit string columns + ``created_at`` (as found) + ``_pos``.

    Ids are not computed here (see :func:`finalize_sql`): they are computed inside DuckDB.
    """
    canon = mapping.apply(raw, file=reader.label)
    missing = [pl.lit(None, dtype=pl.String).alias(c) for c in _STRINGS if c not in canon.columns]
    if "created_at" not in canon.columns:
        missing.append(pl.lit(None, dtype=pl.Datetime("us", "UTC")).alias("created_at"))
    canon = canon.with_columns(missing)
    datanet_expr = (pl.lit(datanet, dtype=pl.String) if datanet is not None
                    else pl.col("datanet").fill_null(DEFAULT_DATANET))
    source_id = pl.col("source_id").fill_null(pl.format(f"{reader.unit}:{{}}", pl.col("_pos")))
    out = canon.select(
        normalize_id_expr(datanet_expr).alias("datanet"),
        normalize_id_expr("contributor_id").alias("contributor_id"),
        *[pl.col(c) for c in ("instruction", "response", "text")],
        pl.lit(reader.label, dtype=pl.String).alias("source"),
        source_id.alias("source_id"),
        normalize_id_expr("license").alias("license"),
        pl.col("created_at"),
        normalize_id_expr("parent_id").alias("parent_id"),
        pl.col("meta"),
        pl.col("_pos"),
    )
    out = out.with_columns(normalize_series(out[c]) for c in ("instruction", "response", "text"))
    bad = out.filter(pl.col("contributor_id").is_null() | (pl.col("contributor_id") == ""))
    if bad.height:
        raise reader.error("contributor_id is missing or empty (every submission needs a contributor)",
                           int(bad["_pos"][0]), "contributor_id")
    bad = out.filter(pl.col("datanet") == "")
    if bad.height:
        raise reader.error("datanet is empty", int(bad["_pos"][0]), "datanet")
    return out


def finalize_sql(relation: str, created_is_text: bool) -> str:
    """SQL selecting :data:`PREPARED_COLUMNS` (+ ``_pos``) from a prepared batch registered as ``relation``."""
    created = "TRY_CAST(created_at AS TIMESTAMPTZ)" if created_is_text else "created_at"
    cols = ", ".join(c for c in PREPARED_COLUMNS if c not in ("submission_id", "content_hash", "created_at"))
    return (
        f"SELECT {submission_id_sql('content_hash')} AS submission_id, {cols}, "
        f"created_at, content_hash, _pos FROM ("
        f"SELECT * REPLACE ({created} AS created_at), {CONTENT_HASH_SQL} AS content_hash FROM {relation})"
    )


def check_created_at(con: duckdb.DuckDBPyConnection, relation: str, reader: Reader) -> None:
    """Raise naming the first record whose ``created_at`` text is not a timestamp."""
    row = con.execute(
        f"SELECT min(_pos) FROM {relation} WHERE created_at IS NOT NULL AND trim(created_at) <> '' "
        f"AND TRY_CAST(created_at AS TIMESTAMPTZ) IS NULL"
    ).fetchall()[0]
    if row and row[0] is not None:
        value = con.execute(f"SELECT created_at FROM {relation} WHERE _pos = ?", [row[0]]).fetchall()[0]
        raise reader.error(f"not a timestamp: {value[0]!r} (use ISO 8601, e.g. 2024-05-01T12:00:00Z)",
                           int(row[0]), "created_at")


def iter_prepared(sources: Any, mapping: Any = None, datanet: str | None = None, *,
                  progress: bool = True, batch_bytes: int = DEFAULT_BATCH_BYTES,
                  names: Sequence[str | None] | None = None) -> Iterator[tuple[Reader, pl.DataFrame]]:
    """Yield ``(reader, prepared batch)`` for every batch of every source (bounded memory)."""
    cmap = ColumnMap.parse(mapping)
    items = _sources(sources)
    names = list(names) if names is not None else [None] * len(items)
    readers = [open_source(s, name=n, batch_bytes=batch_bytes) for s, n in zip(items, names, strict=True)]
    for reader in readers:
        by_bytes = isinstance(reader, JsonlReader) and not reader.path.name.endswith(".gz")
        unit = "B" if by_bytes else "rows"
        total = reader.size_hint if by_bytes or isinstance(reader, FrameReader) else None
        with tqdm(total=total, desc=f"ingest {reader.label}"[:60], unit=unit, unit_scale=True,
                  disable=not progress, leave=False) as bar:
            for raw in reader.batches():
                yield reader, prepare_batch(raw, reader, cmap, datanet)
                done = reader.info.get("bytes_read") if unit == "B" else None
                bar.update((done - bar.n) if done is not None else raw.height)


def read(sources: Any, mapping: Any = None, datanet: str | None = None, *, progress: bool = False,
         names: Sequence[str | None] | None = None) -> pl.DataFrame:
    """Read sources into one submissions frame (ids, hashes, provenance), writing nothing.

    Duplicates (same contributor, same content, same datanet and parent) are kept: use
    :func:`ingest` for the store's "re-ingest adds nothing" semantics.
    """
    con = connect_memory()
    try:
        frames = []
        for reader, batch in iter_prepared(sources, mapping, datanet, progress=progress, names=names):
            con.register("_batch", batch)
            text = batch.schema["created_at"] == pl.String
            if text:
                check_created_at(con, "_batch", reader)
            frames.append(con.sql(finalize_sql("_batch", text)).pl())
            con.unregister("_batch")
    finally:
        con.close()
    out = pl.concat(frames, how="vertical_relaxed")
    return out.with_columns(pl.col("created_at").dt.convert_time_zone("UTC"))


def ingest(sources: Any, store: Store, mapping: Any = None, datanet: str | None = None, *,
           progress: bool = True, names: Sequence[str | None] | None = None,
           batch_bytes: int = DEFAULT_BATCH_BYTES) -> IngestResult:
    """Append sources to ``store`` in one transaction; return counts.

    ``sources``: a path (JSONL/JSON/CSV/TSV/Parquet/saved HF dataset), a polars/pandas frame, a
    ``datasets.Dataset``, or a list of those.  ``mapping``: a ``--map`` spec, a dict or a
    :class:`ColumnMap` (default: detect the layout).  ``datanet``: overrides the source's.
    """
    start = time.perf_counter()
    run_id = store.new_run_id("ingest")
    now = datetime.now(UTC)
    rows = added = 0
    per_source: dict[str, dict[str, Any]] = {}
    readers: dict[str, Reader] = {}
    with store.transaction() as con:
        for reader, batch in iter_prepared(sources, mapping, datanet, progress=progress, names=names,
                                           batch_bytes=batch_bytes):
            con.register("_batch", batch)
            text = batch.schema["created_at"] == pl.String
            if text:
                check_created_at(con, "_batch", reader)
            n = store.insert_prepared(finalize_sql("_batch", text), ingested_at=now, run_id=run_id)
            con.unregister("_batch")
            info = per_source.setdefault(reader.label, {"source": reader.label, "rows": 0, "added": 0})
            info["rows"] += batch.height
            info["added"] += n
            readers[reader.label] = reader
            rows += batch.height
            added += n
        for label, reader in readers.items():
            if "sha256" in reader.info:
                per_source[label]["sha256"] = reader.info["sha256"]
        if added:
            store.record_ingest(run_id, started_at=now, sources=list(per_source.values()),
                                params={"mapping": str(mapping) if mapping is not None else None,
                                        "datanet": datanet}, added=added, rows=rows)
    return IngestResult(added=added, skipped_existing=rows - added, rejected_rows=0, rows_read=rows,
                        store=str(store.path), run_id=run_id if added else None,
                        sources=list(per_source.values()), seconds=round(time.perf_counter() - start, 3))


__all__ = ["IngestResult", "ingest", "read", "prepare_batch", "finalize_sql", "iter_prepared"]
