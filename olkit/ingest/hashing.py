"""Vectorised twins of :func:`olkit.schema.content_hash` and :func:`olkit.schema.submission_id`.

The ids are computed inside DuckDB (``sha256()`` is vectorised and multi-threaded), both when
ingesting into the store and when preparing a frame in memory, from the SQL expressions below.
``tests/test_ingest_hashing.py`` checks that they agree with the scalar helpers of
:mod:`olkit.schema` on random Unicode, empty strings and nulls.

Example
-------
>>> import polars as pl
>>> from olkit import schema
>>> f = pl.DataFrame({"datanet": ["d"], "contributor_id": ["c"], "instruction": ["hi"],
...                   "response": ["yo"], "text": [None], "parent_id": [None]},
...                  schema_overrides={"text": pl.String, "parent_id": pl.String})
>>> out = add_ids(f)
>>> out["content_hash"][0] == schema.content_hash("hi", "yo", None)
True
>>> out["submission_id"][0] == schema.submission_id("d", "c", out["content_hash"][0], None)
True
"""

from __future__ import annotations

import duckdb
import polars as pl

from olkit.hashing import CONTENT_HASH_SQL, connect_memory, submission_id_sql


def add_ids(frame: pl.DataFrame, con: duckdb.DuckDBPyConnection | None = None, *,
            normalize: bool = True) -> pl.DataFrame:
    """Return ``frame`` with ``content_hash`` and ``submission_id`` (re)computed, vectorised.

    ``frame`` needs ``datanet, contributor_id, instruction, response, text, parent_id`` (strings).
    With ``normalize=True`` (default) the content and id columns are first normalised exactly as
    ingestion does (and returned normalised), so a raw frame — e.g. ``sample_stream()`` — gets the
    very ids the store gives the same records; ``normalize=False`` hashes exactly what is given.
    """
    if normalize:
        from olkit.ingest.normalize import normalize_id_expr, normalize_series

        frame = frame.with_columns(
            *[normalize_series(frame[c]) for c in ("instruction", "response", "text")
              if c in frame.columns and frame.schema[c] == pl.String],
            *[normalize_id_expr(c).alias(c) for c in ("datanet", "contributor_id", "parent_id")
              if c in frame.columns and frame.schema[c] == pl.String],
        )
    own = con is None
    con = con or connect_memory()
    try:
        con.register("_olkit_ids_input", frame.drop("content_hash", "submission_id", strict=False))
        rel = con.sql(
            f"SELECT *, {submission_id_sql(CONTENT_HASH_SQL)} AS submission_id, "
            f"{CONTENT_HASH_SQL} AS content_hash FROM _olkit_ids_input"
        )
        out = rel.pl()
        con.unregister("_olkit_ids_input")
    finally:
        if own:
            con.close()
    return out


__all__ = ["CONTENT_HASH_SQL", "submission_id_sql", "connect_memory", "add_ids"]
