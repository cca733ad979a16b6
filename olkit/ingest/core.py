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

from olkit.errors import InputError
from olkit.ingest.hashing import CONTENT_HASH_SQL, connect_memory, submission_id_sql
from olkit.ingest.mapping import BAD_TIME, TIME_RANGE, ColumnMap
from olkit.ingest.normalize import normalize_id_expr, normalize_series
from olkit.ingest.readers import (
    DEFAULT_BATCH_BYTES,
    FrameReader,
    JsonlReader,
    Reader,
    RecordError,
    open_source,
)
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
    #: the first :data:`MAX_LISTED_REJECTIONS` records left out with ``on_error="skip"``
    rejected: list[dict[str, Any]] = field(default_factory=list)

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
    try:
        canon = mapping.apply(raw, file=reader.label, literals=reader.literals)
    except InputError as err:
        if err.row is None or isinstance(err, RecordError):
            raise
        raise reader.error(err.message, err.row, err.field) from None  # "row N" for Parquet and frames
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
    lo, hi = TIME_RANGE
    if BAD_TIME in canon.columns:
        out = out.with_columns(canon[BAD_TIME])
    elif isinstance(out.schema["created_at"], pl.Datetime):
        out = out.with_columns(pl.when(pl.col("created_at").is_between(lo, hi, closed="left").fill_null(True))
                               .then(None).otherwise(pl.col("created_at").cast(pl.String)).alias(BAD_TIME))
    else:
        out = out.with_columns(pl.lit(None, dtype=pl.String).alias(BAD_TIME))
    for column, message in (
        ("contributor_id", "contributor_id is missing or empty (every submission needs a contributor)"),
        ("datanet", "datanet is empty"),
        (BAD_TIME, f"created_at is outside {lo:%Y-%m-%d}..{hi:%Y-%m-%d} (numbers are epoch seconds)"),
    ):
        bad = (pl.col(column).is_not_null() if column == BAD_TIME
               else pl.col(column).is_null() | (pl.col(column) == ""))
        positions = out.filter(bad)["_pos"]
        if positions.len():
            field_name = "created_at" if column == BAD_TIME else column
            if column == BAD_TIME:
                message = f"{message}: {out.filter(bad)[BAD_TIME][0]!r}"
            if reader.on_error != "skip":
                raise reader.error(message, int(positions[0]), field_name)
            for pos in positions.to_list():
                reader.reject(pos, message, field_name)
            out = out.filter(~bad)
    return out.drop(BAD_TIME)


def finalize_sql(relation: str, created_is_text: bool) -> str:
    """SQL selecting :data:`PREPARED_COLUMNS` (+ ``_pos``) from a prepared batch registered as ``relation``."""
    created = "TRY_CAST(created_at AS TIMESTAMPTZ)" if created_is_text else "created_at"
    cols = ", ".join(c for c in PREPARED_COLUMNS if c not in ("submission_id", "content_hash", "created_at"))
    return (
        f"SELECT {submission_id_sql('content_hash')} AS submission_id, {cols}, "
        f"created_at, content_hash, _pos FROM ("
        f"SELECT * REPLACE ({created} AS created_at), {CONTENT_HASH_SQL} AS content_hash FROM {relation})"
    )


def check_created_at(con: duckdb.DuckDBPyConnection, batch: pl.DataFrame, reader: Reader) -> pl.DataFrame:
    """Records whose ``created_at`` text is not a timestamp: raise naming the first, or skip them all."""
    con.register("_olkit_created", batch.select("_pos", "created_at"))
    lo, hi = TIME_RANGE
    bad = con.execute(
        "SELECT _pos, created_at, TRY_CAST(created_at AS TIMESTAMPTZ) IS NULL FROM _olkit_created "
        "WHERE created_at IS NOT NULL AND trim(created_at) <> '' AND (TRY_CAST(created_at AS TIMESTAMPTZ) IS NULL "
        "OR TRY_CAST(created_at AS TIMESTAMPTZ) < ? OR TRY_CAST(created_at AS TIMESTAMPTZ) >= ?) ORDER BY _pos",
        [lo, hi]).fetchall()
    con.unregister("_olkit_created")
    if not bad:
        return batch

    def why(value: str, unparsed: bool) -> str:
        if unparsed:
            return f"not a timestamp: {value!r} (use ISO 8601, e.g. 2024-05-01T12:00:00Z)"
        return f"created_at is outside {lo:%Y-%m-%d}..{hi:%Y-%m-%d}: {value!r}"

    if reader.on_error != "skip":
        raise reader.error(why(bad[0][1], bad[0][2]), int(bad[0][0]), "created_at")
    for pos, value, unparsed in bad:
        reader.reject(pos, why(value, unparsed), "created_at")
    bad = [(p, v) for p, v, _ in bad]
    return batch.filter(~pl.col("_pos").is_in([p for p, _ in bad]))


def iter_prepared(sources: Any, mapping: Any = None, datanet: str | None = None, *,
                  progress: bool = True, batch_bytes: int = DEFAULT_BATCH_BYTES,
                  names: Sequence[str | None] | None = None, on_error: str = "raise",
                  readers_out: list[Reader] | None = None) -> Iterator[tuple[Reader, pl.DataFrame]]:
    """Yield ``(reader, prepared and validated batch)`` for every batch of every source (bounded memory).

    Every source is opened (and so checked to exist and be of a known type) before the first
    batch is read; ``readers_out``, if given, receives the readers (their ``rejected`` lists).
    """
    cmap = ColumnMap.parse(mapping)
    items = _sources(sources)
    names = list(names) if names is not None else [None] * len(items)
    readers = [open_source(s, name=n, batch_bytes=batch_bytes, on_error=on_error)
               for s, n in zip(items, names, strict=True)]
    if readers_out is not None:
        readers_out.extend(readers)
    con = connect_memory()
    try:
        for reader in readers:
            by_bytes = isinstance(reader, JsonlReader) and not reader.path.name.endswith(".gz")
            unit = "B" if by_bytes else "rows"
            total = reader.size_hint if by_bytes or isinstance(reader, FrameReader) else None
            with tqdm(total=total, desc=f"ingest {reader.label}"[:60], unit=unit, unit_scale=True,
                      disable=not progress, leave=False) as bar:
                for raw in reader.batches():
                    batch = prepare_batch(raw, reader, cmap, datanet)
                    if batch.schema["created_at"] == pl.String:
                        batch = check_created_at(con, batch, reader)
                    yield reader, batch
                    done = reader.info.get("bytes_read") if unit == "B" else None
                    bar.update((done - bar.n) if done is not None else raw.height)
    finally:
        con.close()


def read(sources: Any, mapping: Any = None, datanet: str | None = None, *, progress: bool = False,
         names: Sequence[str | None] | None = None, on_error: str = "raise",
         rejected: list[dict[str, Any]] | None = None) -> pl.DataFrame:
    """Read sources into one submissions frame (ids, hashes, provenance), writing nothing.

    Duplicates (same contributor, same content, same datanet and parent) are kept: use
    :func:`ingest` for the store's "re-ingest adds nothing" semantics.  With ``on_error="skip"``
    bad records are left out and, if ``rejected`` is a list, described in it.
    """
    con = connect_memory()
    seen: list[Reader] = []
    try:
        frames = []
        for _, batch in iter_prepared(sources, mapping, datanet, progress=progress, names=names,
                                      on_error=on_error, readers_out=seen):
            con.register("_batch", batch)
            frames.append(con.sql(finalize_sql("_batch", batch.schema["created_at"] == pl.String)).pl())
            con.unregister("_batch")
    finally:
        con.close()
    if rejected is not None:
        rejected.extend(r for reader in seen for r in reader.rejected)
    out = pl.concat(frames, how="vertical_relaxed")
    return out.with_columns(pl.col("created_at").dt.convert_time_zone("UTC"))


#: At most this many rejected records are listed in results and events (all are counted).
MAX_LISTED_REJECTIONS = 100


def ingest(sources: Any, store: Store, mapping: Any = None, datanet: str | None = None, *,
           progress: bool = True, names: Sequence[str | None] | None = None,
           batch_bytes: int = DEFAULT_BATCH_BYTES, on_error: str = "raise") -> IngestResult:
    """Append sources to ``store`` in one transaction; return counts.

    ``sources``: a path (JSONL/JSON/CSV/TSV/Parquet/saved HF dataset), a polars/pandas frame, a
    ``datasets.Dataset``, or a list of those.  ``mapping``: a ``--map`` spec, a dict or a
    :class:`ColumnMap` (default: detect the layout).  ``datanet``: overrides the source's.
    ``on_error``: ``"raise"`` (default; the first bad record aborts and nothing is written) or
    ``"skip"`` (records that cannot be read — broken JSON, invalid UTF-8 on a line, no contributor,
    unparseable ``created_at`` — are left out, counted in ``rejected_rows`` and listed in the
    result and in the run's event; problems that concern a whole file still abort).
    """
    start = time.perf_counter()
    run_id = store.new_run_id("ingest")
    now = datetime.now(UTC)
    valid = added = 0
    per_source: dict[str, dict[str, Any]] = {}
    readers: list[Reader] = []
    with store.transaction() as con:
        for reader, batch in iter_prepared(sources, mapping, datanet, progress=progress, names=names,
                                           batch_bytes=batch_bytes, on_error=on_error, readers_out=readers):
            con.register("_batch", batch)
            n = store.insert_prepared(finalize_sql("_batch", batch.schema["created_at"] == pl.String),
                                      ingested_at=now, run_id=run_id)
            con.unregister("_batch")
            info = per_source.setdefault(reader.label, {"source": reader.label, "rows": 0, "added": 0})
            info["rows"] += batch.height
            info["added"] += n
            valid += batch.height
            added += n
        rejected = [r for reader in readers for r in reader.rejected]
        for reader in readers:
            info = per_source.setdefault(reader.label, {"source": reader.label, "rows": 0, "added": 0})
            info["rejected"] = len(reader.rejected)
            if "sha256" in reader.info:
                info["sha256"] = reader.info["sha256"]
        if added or rejected:
            store.record_ingest(run_id, started_at=now, sources=list(per_source.values()),
                                params={"mapping": str(mapping) if mapping is not None else None,
                                        "datanet": datanet, "on_error": on_error},
                                added=added, rows=valid + len(rejected),
                                rejected=rejected[:MAX_LISTED_REJECTIONS], rejected_rows=len(rejected))
    return IngestResult(added=added, skipped_existing=valid - added, rejected_rows=len(rejected),
                        rows_read=valid + len(rejected), store=str(store.path),
                        run_id=run_id if (added or rejected) else None, sources=list(per_source.values()),
                        seconds=round(time.perf_counter() - start, 3), rejected=rejected[:MAX_LISTED_REJECTIONS])


__all__ = ["IngestResult", "ingest", "read", "prepare_batch", "finalize_sql", "iter_prepared"]
