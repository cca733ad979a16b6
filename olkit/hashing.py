"""Hashing primitives shared by the store and ingestion: SQL twins of :mod:`olkit.schema`'s ids.

This module sits below both :mod:`olkit.store` and :mod:`olkit.ingest` (it imports only
:mod:`duckdb`), so the store never imports a stage.  ``content_hash`` and ``submission_id`` are
computed inside DuckDB (``sha256()`` is vectorised) from the SQL expressions below;
``tests/test_ingest_hashing.py`` checks they agree with the scalar helpers of :mod:`olkit.schema`.

Example
-------
>>> from olkit.schema import content_hash
>>> con = connect_memory()
>>> row = con.execute(f"SELECT {CONTENT_HASH_SQL} FROM (SELECT 'hi' AS instruction, 'yo' AS response, "
...                   "NULL AS text)").fetchall()[0]
>>> row[0] == content_hash("hi", "yo", None)
True
"""

from __future__ import annotations

import duckdb

_SEP = "chr(31)"


def _joined(*columns: str) -> str:
    return f" || {_SEP} || ".join(f"coalesce({c}, '')" for c in columns)


#: SQL for ``content_hash`` (first 32 hex digits of the SHA-256 of the normalised content).
CONTENT_HASH_SQL = f"substr(sha256({_joined('instruction', 'response', 'text')}), 1, 32)"


def submission_id_sql(content_hash_column: str = "content_hash") -> str:
    """SQL for ``submission_id`` given the column (or expression) holding the content hash."""
    return f"'s_' || substr(sha256({_joined('datanet', 'contributor_id', content_hash_column, 'parent_id')}), 1, 24)"


def connect_memory() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the settings olkit relies on (UTC, no progress bar)."""
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    return con


__all__ = ["CONTENT_HASH_SQL", "submission_id_sql", "connect_memory"]
