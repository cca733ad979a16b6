"""The ledger: one DuckDB file holding everything that happened, append-only and tamper-evident.

Tables
------
``submissions``   one row per contributed item (never deleted; rejected items stay with reasons)
``contributors``  one row per contributor (first seen, number of submissions): derived from submissions
``decisions``     one row per submission per filter run (accepted, reason codes, scores, policy hash)
``events``        the audit log: every write is an event whose ``hash`` covers its content and the
                  previous event's hash (a hash chain)
``runs``          one row per run of any stage (kind, policy, params, stats, chain head after it)
``adapters``      trained adapters with the exact submission ids they saw
``payouts``       rewards per contributor per reward run
``reputation``    reputation per contributor per reputation run (+ extra numeric columns as JSON)

**Every row is committed to the chain.**  Each row of ``submissions``, ``decisions``, ``runs``,
``adapters``, ``payouts`` and ``reputation`` carries a ``row_hash`` of all its values (hidden from
:meth:`Store.table` and the other readers), and the event of the run that wrote the rows records,
per table, how many rows it wrote and a digest of their row hashes (``covers``).  :meth:`Store.verify`
recomputes every row hash (an edited row is named), every group digest (a deleted, inserted or
re-hashed row is caught, with its run), finds rows that no event covers (a forged run), recomputes
``contributors`` from ``submissions``, checks the hash chain and, given a head recorded elsewhere
(:meth:`Store.head`, ``olkit store head``), that the chain still contains it (tail truncation).
"Latest" always means latest in chain order, never by a timestamp column.

Every write is one transaction (:meth:`Store.transaction`): on any error nothing is written.  A
path that exists must be an olkit store: another file or a foreign DuckDB database is refused
before anything is written.

Example
-------
>>> import os, tempfile, polars as pl
>>> from olkit.ingest import ingest
>>> d = tempfile.mkdtemp()
>>> with Store(os.path.join(d, "ledger.duckdb")) as store:
...     _ = ingest(pl.DataFrame({"contributor_id": ["ann"], "instruction": ["Hi?"], "response": ["Hello."]}),
...                store, progress=False)
...     store.stats()["submissions"], store.verify().ok
(1, True)
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from olkit.errors import InputError, OlkitError
from olkit.hashing import CONTENT_HASH_SQL, submission_id_sql
from olkit.kit import atomic_file
from olkit.schema import sha256_hex

GENESIS_HASH = "0" * 64
#: Version of the on-disk layout, recorded in the ``olkit_store`` marker table.
STORE_FORMAT = 2
_MARKER = "olkit_store"

_DDL: dict[str, str] = {
    "submissions": """
        submission_id VARCHAR NOT NULL, datanet VARCHAR NOT NULL, contributor_id VARCHAR NOT NULL,
        instruction VARCHAR, response VARCHAR, text VARCHAR, source VARCHAR, source_id VARCHAR,
        license VARCHAR, created_at TIMESTAMPTZ, parent_id VARCHAR, content_hash VARCHAR NOT NULL,
        meta VARCHAR, ingested_at TIMESTAMPTZ NOT NULL, ingest_run VARCHAR NOT NULL, row_hash VARCHAR NOT NULL""",
    "contributors": """
        contributor_id VARCHAR PRIMARY KEY, first_seen TIMESTAMPTZ, n_submissions BIGINT, meta VARCHAR""",
    "decisions": """
        run_id VARCHAR NOT NULL, submission_id VARCHAR NOT NULL, accepted BOOLEAN NOT NULL,
        reasons VARCHAR[], scores VARCHAR, policy_hash VARCHAR, decided_at TIMESTAMPTZ NOT NULL,
        row_hash VARCHAR NOT NULL""",
    "events": """
        seq BIGINT PRIMARY KEY, recorded_at TIMESTAMPTZ NOT NULL, kind VARCHAR NOT NULL, subject VARCHAR,
        run_id VARCHAR, payload VARCHAR, prev_hash VARCHAR NOT NULL, hash VARCHAR NOT NULL""",
    "runs": """
        run_id VARCHAR PRIMARY KEY, kind VARCHAR NOT NULL, started_at TIMESTAMPTZ, finished_at TIMESTAMPTZ,
        policy_hash VARCHAR, policy VARCHAR, params VARCHAR, stats VARCHAR, head_seq BIGINT,
        head_hash VARCHAR, row_hash VARCHAR NOT NULL""",
    "adapters": """
        adapter_id VARCHAR PRIMARY KEY, run_id VARCHAR, path VARCHAR, base_model VARCHAR,
        policy_hash VARCHAR, submission_ids VARCHAR[], n_examples BIGINT, manifest VARCHAR,
        created_at TIMESTAMPTZ, row_hash VARCHAR NOT NULL""",
    "payouts": """
        run_id VARCHAR NOT NULL, contributor_id VARCHAR NOT NULL, amount DOUBLE NOT NULL, share DOUBLE,
        components VARCHAR, policy_hash VARCHAR, created_at TIMESTAMPTZ NOT NULL, amount_exact VARCHAR,
        row_hash VARCHAR NOT NULL""",
    "reputation": """
        run_id VARCHAR NOT NULL, contributor_id VARCHAR NOT NULL, reputation DOUBLE NOT NULL, extra VARCHAR,
        policy_hash VARCHAR, created_at TIMESTAMPTZ NOT NULL, row_hash VARCHAR NOT NULL""",
}
#: The tables of a store, in the order they are described above.
TABLES = tuple(_DDL)


def _columns(table: str) -> list[tuple[str, str]]:
    """``(name, type)`` of a table's columns, from its DDL."""
    out = []
    for part in _DDL[table].split(","):
        words = part.split()
        out.append((words[0], words[1]))
    return out


#: Tables whose rows carry a ``row_hash`` -> (column grouping the rows by the event that wrote them,
#: columns naming one row).
_HASHED: dict[str, tuple[str, tuple[str, ...]]] = {
    "submissions": ("ingest_run", ("submission_id",)),
    "decisions": ("run_id", ("run_id", "submission_id")),
    "runs": ("run_id", ("run_id",)),
    "adapters": ("adapter_id", ("adapter_id",)),
    "payouts": ("run_id", ("run_id", "contributor_id")),
    "reputation": ("run_id", ("run_id", "contributor_id")),
}
#: Columns left out of a row's hash: ``runs.head_*`` are checked against the chain instead.
_UNHASHED = {"row_hash", "head_seq", "head_hash"}


def row_hash_sql(table: str) -> str:
    """SQL for a row's ``row_hash``: SHA-256 of the table name and every value (JSON-encoded, exact)."""
    parts = []
    for name, typ in _columns(table):
        if name in _UNHASHED:
            continue
        parts.append(f"epoch_us({name})" if typ.startswith("TIMESTAMP") else name)
    return f"sha256('{table}' || chr(30) || json_array({', '.join(parts)})::VARCHAR)"


def _hashed_columns(table: str) -> str:
    return ", ".join(n for n, _ in _columns(table) if n != "row_hash")


class StoreError(OlkitError):
    """The store file is missing, locked, or not an olkit store."""


@dataclass
class Problem:
    """One integrity problem found by :meth:`Store.verify`."""

    table: str
    row: str
    message: str

    def __str__(self) -> str:
        return f"{self.table} row {self.row}: {self.message}"


@dataclass
class VerifyReport:
    """Result of :meth:`Store.verify`: ``ok`` and the problems, first one first."""

    ok: bool
    problems: list[Problem] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "problems": [str(p) for p in self.problems], "checked": self.checked}

    def __str__(self) -> str:
        if self.ok:
            return "ok: " + ", ".join(f"{n} {t}" for t, n in self.checked.items())
        return "\n".join(str(p) for p in self.problems)


def _policy_parts(policy: Any) -> tuple[str | None, str | None]:
    """(hash, JSON) of a Policy, a policy hash string, or None."""
    if policy is None:
        return None, None
    if isinstance(policy, str):
        return policy, None
    return policy.version_hash, policy.model_dump_json()


def _event_hash(prev: str, seq: int, at_us: int, kind: str, subject: str | None, run_id: str | None,
                payload: str | None) -> str:
    return sha256_hex(prev, str(seq), str(at_us), kind, subject, run_id, payload)


def _now() -> datetime:
    return datetime.now(UTC)


def _is_duckdb_file(path: Path) -> bool:
    """Whether ``path`` starts with a DuckDB file header (``DUCK`` at byte 8)."""
    with open(path, "rb") as fh:
        head = fh.read(16)
    return len(head) >= 12 and head[8:12] == b"DUCK"


def _connect(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.Error as err:
        raise StoreError(f"{path}: cannot open the store: {str(err).splitlines()[0]}") from None
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    return con


def _create_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("BEGIN TRANSACTION")
    for name, cols in _DDL.items():
        con.execute(f"CREATE TABLE {name} ({cols})")
    con.execute(f"CREATE TABLE {_MARKER} (format INTEGER NOT NULL, created_at TIMESTAMPTZ NOT NULL)")
    con.execute(f"INSERT INTO {_MARKER} VALUES (?, ?)", [STORE_FORMAT, _now()])
    con.execute("COMMIT")


class Store:
    """The DuckDB ledger.  Use as a context manager; ``read_only=True`` for inspection.

    Parameters
    ----------
    path:
        The DuckDB file.  A new path is created (atomically: a complete empty store appears at
        ``path`` or nothing does) unless ``read_only`` or ``create=False``; an existing path must
        be an olkit store — any other file, or a DuckDB database without the olkit tables, is
        refused with :class:`StoreError` before anything is written.
    """

    def __init__(self, path: str | Path, *, read_only: bool = False, create: bool = True) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self._depth = 0
        #: True when this object created the file (see :meth:`discard_if_new`).
        self.created = False
        self._created_ino: int | None = None
        if not self.path.exists():
            if read_only or not create:
                raise StoreError(f"{self.path}: no such store (create one with `olkit ingest ... --store {self.path}`)")
            self._create_file()
        elif self.path.is_dir():
            raise StoreError(f"{self.path}: is a folder, not a store file")
        elif not _is_duckdb_file(self.path):
            raise StoreError(f"{self.path}: exists and is not a DuckDB store (refusing to touch it; "
                             "give a new path or an olkit .duckdb store)")
        elif not read_only:  # look before writing: a foreign database stays byte-identical
            probe = _connect(self.path, True)
            try:
                self.con = probe
                self._check_layout(may_create=False)
            finally:
                probe.close()
        self.con = _connect(self.path, read_only)
        try:
            self._check_layout()
        except BaseException:
            self.con.close()
            raise

    def _create_file(self) -> None:
        """Build a complete empty store in a temp file and hard-link it into place (never overwrites)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", dir=self.path.parent)) / "new.duckdb"
        try:
            con = _connect(tmp, False)
            try:
                _create_schema(con)
                con.execute("CHECKPOINT")
            finally:
                con.close()
            ino = tmp.stat().st_ino
            try:
                os.link(tmp, self.path)
            except FileExistsError:
                return  # another process created it first: open theirs
            except OSError as err:
                raise StoreError(f"{self.path}: cannot create the store: {err.strerror}") from None
            self.created, self._created_ino = True, ino
        finally:
            for leftover in tmp.parent.iterdir():
                leftover.unlink(missing_ok=True)
            tmp.parent.rmdir()

    def _check_layout(self, may_create: bool = True) -> None:
        tables = self._tables()
        if _MARKER in tables:
            fmt = _first(self.con.execute(f"SELECT max(format) FROM {_MARKER}").fetchall())
            if not fmt or fmt[0] != STORE_FORMAT:
                raise StoreError(f"{self.path}: an olkit store of format {fmt[0] if fmt else '?'}; this "
                                 f"olkit reads format {STORE_FORMAT} (re-ingest the sources into a new store)")
            missing = [t for t in TABLES if t not in tables]
            if missing:
                raise StoreError(f"{self.path}: not an olkit store (missing tables {missing})")
            return
        if not tables and not may_create:
            return  # an empty DuckDB file: becomes a store once opened for writing
        if tables or self.read_only:
            what = f"tables {sorted(tables)[:5]}" if tables else "no tables"
            raise StoreError(f"{self.path}: a DuckDB database that is not an olkit store ({what}); "
                             "refusing to write into it (give a new path)")
        _create_schema(self.con)  # an empty DuckDB file: make it a store

    # -- lifecycle -----------------------------------------------------------------------
    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    def discard_if_new(self) -> bool:
        """Delete the store file if this object created it and nothing was ever written to it.

        Used by the CLI when a first ingest fails.  Runs while this connection still holds the
        DuckDB file lock, and checks the path still names the very file created here, so it can
        never remove a store another process made or wrote.  Closes the store.  Returns whether
        the file was removed.
        """
        removed = False
        try:
            if (self.created and not self.read_only and self._depth == 0
                    and self.con.execute("SELECT count(*) FROM events").fetchall()[0][0] == 0
                    and self.path.exists() and self.path.stat().st_ino == self._created_ino):
                wal = self.path.with_name(self.path.name + ".wal")
                wal.unlink(missing_ok=True)
                self.path.unlink()
                removed = True
        finally:
            self.close()
        return removed

    def _tables(self) -> set[str]:
        return {r[0] for r in self.con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'").fetchall()}

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One DuckDB transaction (nested calls join the outer one); rolled back on any error."""
        if self._depth:
            self._depth += 1
            try:
                yield self.con
            finally:
                self._depth -= 1
            return
        self.con.execute("BEGIN TRANSACTION")
        self._depth = 1
        try:
            yield self.con
        except BaseException:
            self._depth = 0
            self.con.execute("ROLLBACK")
            raise
        self._depth = 0
        self.con.execute("COMMIT")

    @staticmethod
    def new_run_id(kind: str) -> str:
        """A fresh run id: ``<kind>-<UTC timestamp>-<6 hex>``."""
        return f"{kind}-{_now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"

    # -- reading -------------------------------------------------------------------------
    def table(self, name: str) -> pl.DataFrame:
        """A whole table as polars (timestamps in UTC), without the internal ``row_hash``."""
        self._check_table(name)
        order = {"events": "seq", "submissions": "ingested_at, submission_id",
                 "decisions": "decided_at, run_id, submission_id", "runs": "started_at, run_id"}.get(name)
        return self.con.sql(f"SELECT {_visible(name)} FROM {name}" + (f" ORDER BY {order}" if order else "")).pl()

    def to_pandas(self, name: str):
        """A whole table as pandas."""
        return self.table(name).to_pandas()

    def submissions(self, *, datanet: str | None = None, columns: Sequence[str] | None = None) -> pl.DataFrame:
        """Submissions (optionally of one datanet), in ingestion order."""
        cols = ", ".join(columns) if columns else _visible("submissions")
        where, params = ("WHERE datanet = ?", [datanet]) if datanet is not None else ("", [])
        return self.con.sql(f"SELECT {cols} FROM submissions {where} ORDER BY ingested_at, submission_id",
                            params=params).pl()

    def contributors(self) -> pl.DataFrame:
        return self.table("contributors")

    def events(self, kind: str | None = None) -> pl.DataFrame:
        """The audit log, in order (optionally one kind)."""
        if kind is None:
            return self.table("events")
        return self.con.sql("SELECT * FROM events WHERE kind = ? ORDER BY seq", params=[kind]).pl()

    def _latest(self, table: str, key: str, order: str) -> pl.DataFrame:
        """Per ``key``, the row of ``table`` from the run that comes last in the chain."""
        return self.con.sql(
            f"SELECT {_visible(table, 't.')} FROM {table} t JOIN (SELECT run_id, max(seq) AS _seq FROM events "
            "WHERE run_id IS NOT NULL GROUP BY run_id) e ON e.run_id = t.run_id "
            f"QUALIFY row_number() OVER (PARTITION BY t.{key} ORDER BY e._seq DESC) = 1 ORDER BY {order}").pl()

    def latest_decisions(self) -> pl.DataFrame:
        """For each decided submission, its decision from the run that is latest in chain order."""
        return self._latest("decisions", "submission_id", "submission_id")

    def latest_reputation(self) -> pl.DataFrame:
        """For each contributor, its reputation from the reputation run that is latest in chain order."""
        return self._latest("reputation", "contributor_id", "contributor_id")

    def lineage(self) -> pl.DataFrame:
        """Every submission that names a parent, with the parent resolved inside the store.

        ``parent_id`` may hold a parent's ``submission_id`` or, as files often do, the parent's
        ``source_id`` in the same datanet; ``parent_submission_id`` is null when the parent is not
        (yet) in the store.
        """
        return self.con.sql(
            "SELECT c.submission_id, c.contributor_id, c.parent_id, p.submission_id AS parent_submission_id, "
            "p.contributor_id AS parent_contributor_id, c.source, c.source_id FROM submissions c "
            "LEFT JOIN submissions p ON p.datanet = c.datanet AND "
            "(p.submission_id = c.parent_id OR (p.source_id = c.parent_id AND p.source = c.source)) "
            "WHERE c.parent_id IS NOT NULL ORDER BY c.ingested_at, c.submission_id").pl()

    def head(self) -> tuple[int, str]:
        """``(seq, hash)`` of the last event: publish it elsewhere to anchor the whole chain.

        ``olkit store verify --head HASH`` (or ``verify(head=HASH)``) later fails if the chain no
        longer contains it (the tail was cut off, or the history rewritten).
        """
        row = _first(self.con.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetchall())
        return (int(row[0]), row[1]) if row else (0, GENESIS_HASH)

    def stats(self) -> dict[str, Any]:
        """Row counts of every table plus a few headline numbers."""
        out: dict[str, Any] = {"store": str(self.path)}
        for name in TABLES:
            out[name] = int(self.con.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0])
        row = self.con.execute(
            "SELECT count(DISTINCT datanet), count(DISTINCT content_hash), max(ingested_at) FROM submissions"
        ).fetchall()[0]
        out["datanets"], out["distinct_contents"] = int(row[0]), int(row[1])
        out["last_ingest"] = row[2].isoformat() if row[2] is not None else None
        out["head_seq"], out["head_hash"] = self.head()
        out["bytes"] = self.path.stat().st_size if self.path.exists() else 0
        return out

    def export(self, name: str, path: str | Path) -> Path:
        """Write a table to ``.parquet`` / ``.csv`` / ``.jsonl`` atomically (temp file + rename).

        Refuses to write over the store itself (or its WAL).
        """
        self._check_table(name)
        path = Path(path)
        fmt = {".parquet": "(FORMAT parquet)", ".csv": "(FORMAT csv, HEADER)", ".jsonl": "(FORMAT json)",
               ".ndjson": "(FORMAT json)"}.get(path.suffix.lower())
        if fmt is None:
            raise InputError("export writes .parquet, .csv or .jsonl", file=str(path))
        try:
            ledger = {self.path.resolve(), self.path.with_name(self.path.name + ".wal").resolve()}
            if path.resolve() in ledger or (path.exists() and _same_file(path, self.path)):
                raise InputError("refusing to overwrite the store with an export; give another --out",
                                 file=str(path))
            with atomic_file(path) as tmp:
                self.con.execute(f"COPY (SELECT {_visible(name)} FROM {name}) TO '{_sql_str(str(tmp))}' {fmt}")
        except InputError:
            raise
        except (OSError, ValueError, duckdb.Error) as err:
            msg = getattr(err, "strerror", None) or str(err).splitlines()[0]
            raise InputError(f"cannot write the export: {msg}", file=_printable(path)) from None
        return path

    def _check_table(self, name: str) -> None:
        if name not in TABLES:
            raise InputError(f"unknown table {name!r}; tables: {', '.join(TABLES)}", field="table")

    # -- writing: submissions (used by olkit.ingest) --------------------------------------
    def insert_prepared(self, select_sql: str, *, ingested_at: datetime, run_id: str) -> int:
        """Append the rows of a prepared SELECT (see :func:`olkit.ingest.core.finalize_sql`) that are new.

        A row is new when its ``submission_id`` is not in the store yet (nor earlier in the same
        SELECT).  Returns the number added.  Call inside :meth:`transaction`.
        """
        cols = ("submission_id, datanet, contributor_id, instruction, response, text, source, source_id, "
                "license, created_at, parent_id, content_hash, meta")
        row = self.con.execute(
            f"INSERT INTO submissions SELECT *, {row_hash_sql('submissions')} FROM ("
            f"SELECT {cols}, ?::TIMESTAMPTZ AS ingested_at, ?::VARCHAR AS ingest_run FROM ({select_sql}) f "
            "WHERE NOT EXISTS (SELECT 1 FROM submissions s WHERE s.submission_id = f.submission_id) "
            "QUALIFY row_number() OVER (PARTITION BY f.submission_id ORDER BY f._pos) = 1)",
            [ingested_at, run_id],
        ).fetchall()[0]
        return int(row[0]) if row else 0

    def record_ingest(self, run_id: str, *, started_at: datetime, sources: list[dict[str, Any]],
                      params: dict[str, Any], added: int, rows: int, rejected_rows: int = 0,
                      rejected: list[dict[str, Any]] | None = None) -> None:
        """Update contributors, add the run and its hash-chained event (inside the ingest transaction)."""
        with self.transaction() as con:
            con.execute(
                f"INSERT INTO contributors {_CONTRIBUTORS_SQL} WHERE contributor_id IN "
                "(SELECT DISTINCT contributor_id FROM submissions WHERE ingest_run = ?) GROUP BY contributor_id "
                "ON CONFLICT (contributor_id) DO UPDATE SET first_seen = excluded.first_seen, "
                "n_submissions = excluded.n_submissions", [run_id])
            cover = self._digest("submissions", run_id)
            payload = {"added": added, "rows_read": rows, "sources": sources, "rejected_rows": rejected_rows,
                       "rejected": rejected or [], **cover}
            self._finish_run(run_id, "ingest", started_at=started_at, params=params,
                             stats={"added": added, "rows_read": rows, "rejected_rows": rejected_rows,
                                    "skipped_existing": rows - added - rejected_rows},
                             event_payload=payload, covers=[cover])

    def _digest(self, table: str, key: str) -> dict[str, Any]:
        """How many rows of ``table`` belong to group ``key`` and the digest of their row hashes."""
        group = _HASHED[table][0]
        n, digest = self.con.execute(
            f"SELECT count(*), {_DIGEST_SQL} FROM {table} WHERE {group} = ?", [key]).fetchall()[0]
        return {"table": table, "key": key, "rows": int(n), "digest": digest}

    def _insert(self, table: str, rows: pl.DataFrame) -> None:
        """Insert a frame holding every column of ``table`` but ``row_hash`` (which is computed here)."""
        name = f"_olkit_{table}"
        self.con.register(name, rows)
        try:
            self.con.execute(f"INSERT INTO {table} SELECT *, {row_hash_sql(table)} FROM "
                             f"(SELECT {_hashed_columns(table)} FROM {name})")
        finally:
            self.con.unregister(name)

    # -- writing: events and runs -------------------------------------------------------
    def append_events(self, events: pl.DataFrame | Sequence[Mapping[str, Any]]) -> tuple[int, int]:
        """Append events to the hash chain; returns ``(first_seq, last_seq)``.

        ``events`` has ``kind`` (required) and optionally ``subject``, ``run_id``, ``payload``
        (a JSON string or anything JSON-serialisable), ``recorded_at`` (UTC datetime; default now).
        Free-form notes (e.g. ``kind="reputation_note", subject=contributor_id, payload={"delta": -1}``)
        are covered by the chain itself; reputation values go through :meth:`add_reputation`.
        """
        frame = events if isinstance(events, pl.DataFrame) else pl.DataFrame(
            [{**e, "payload": e.get("payload") if isinstance(e.get("payload"), str | None)
              else json.dumps(e["payload"], sort_keys=True, default=str)} for e in events],
            infer_schema_length=None)
        if frame.height == 0:
            seq = self.head()[0]
            return seq + 1, seq
        if "kind" not in frame.columns or frame["kind"].null_count():
            raise InputError("every event needs a kind", field="kind")
        now = _now()
        if "recorded_at" in frame.columns:
            for value in (frame["recorded_at"].min(), frame["recorded_at"].max()):
                _check_time(value, "recorded_at")
        frame = frame.with_columns(
            [pl.lit(None, dtype=pl.String).alias(c) for c in ("subject", "run_id", "payload") if c not in frame.columns]
            + ([pl.lit(now).alias("recorded_at")] if "recorded_at" not in frame.columns else [])
        ).with_columns(pl.col("recorded_at").cast(pl.Datetime("us", "UTC")), pl.col("subject", "run_id", "payload").cast(pl.String))
        with self.transaction() as con:
            seq0, prev = self.head()
            seqs = list(range(seq0 + 1, seq0 + 1 + frame.height))
            at_us = frame["recorded_at"].dt.epoch("us").to_list()
            prevs, hashes = [], []
            for seq, at, kind, subject, run_id, payload in zip(
                    seqs, at_us, frame["kind"].to_list(), frame["subject"].to_list(), frame["run_id"].to_list(),
                    frame["payload"].to_list(), strict=True):
                prevs.append(prev)
                prev = _event_hash(prev, seq, at, kind, subject, run_id, payload)
                hashes.append(prev)
            rows = frame.select("recorded_at", "kind", "subject", "run_id", "payload").with_columns(
                pl.Series("seq", seqs, dtype=pl.Int64), pl.Series("prev_hash", prevs), pl.Series("hash", hashes))
            con.register("_olkit_events", rows)
            con.execute("INSERT INTO events SELECT seq, recorded_at, kind, subject, run_id, payload, prev_hash, hash "
                        "FROM _olkit_events")
            con.unregister("_olkit_events")
        return seqs[0], seqs[-1]

    def add_run(self, kind: str, *, run_id: str | None = None, policy: Any = None,
                params: Mapping[str, Any] | None = None, stats: Mapping[str, Any] | None = None,
                started_at: datetime | None = None) -> str:
        """Record a finished run of any stage (simulate, train, attribute ...); returns its id."""
        run_id = run_id or self.new_run_id(kind)
        _check_time(started_at, "started_at")
        with self.transaction():
            self._finish_run(run_id, kind, started_at=started_at or _now(), params=params, stats=stats,
                             policy=policy, event_payload={"stats": dict(stats or {})})
        return run_id

    def _finish_run(self, run_id: str, kind: str, *, started_at: datetime, params: Mapping[str, Any] | None,
                    stats: Mapping[str, Any] | None, event_payload: dict[str, Any], policy: Any = None,
                    covers: Sequence[dict[str, Any]] = ()) -> None:
        """Insert the run's row (if new) and its event, whose payload covers every row written."""
        if not isinstance(run_id, str) or not run_id.strip():
            raise InputError("a run id must be a non-empty string", field="run_id")
        policy_hash, policy_json = _policy_parts(policy)
        covers = list(covers)
        exists = self.con.execute("SELECT count(*) FROM runs WHERE run_id = ?", [run_id]).fetchall()[0][0]
        if not exists:
            row = pl.DataFrame({
                "run_id": [run_id], "kind": [kind], "started_at": [started_at], "finished_at": [_now()],
                "policy_hash": [policy_hash], "policy": [policy_json],
                "params": [json.dumps(dict(params or {}), sort_keys=True, default=str)],
                "stats": [json.dumps(dict(stats or {}), sort_keys=True, default=str)],
                "head_seq": [None], "head_hash": [None]},
                schema={"run_id": pl.String, "kind": pl.String, "started_at": pl.Datetime("us", "UTC"),
                        "finished_at": pl.Datetime("us", "UTC"), "policy_hash": pl.String, "policy": pl.String,
                        "params": pl.String, "stats": pl.String, "head_seq": pl.Int64, "head_hash": pl.String})
            self._insert("runs", row)
            covers.append(self._digest("runs", run_id))
        payload = json.dumps({"policy_hash": policy_hash, **event_payload, "covers": covers},
                             sort_keys=True, default=str)
        self.append_events([{"kind": kind, "subject": None, "run_id": run_id, "payload": payload}])
        head_seq, head_hash = self.head()
        self.con.execute("UPDATE runs SET head_seq = ?, head_hash = ? WHERE run_id = ?",
                         [head_seq, head_hash, run_id])

    # -- writing: decisions, adapters, payouts, reputation ---------------------------------
    def add_decisions(self, frame: pl.DataFrame, run_id: str | None = None, policy: Any = None) -> str:
        """Record one filter run's decisions; returns the run id.

        ``frame``: ``submission_id``, ``accepted`` and optionally ``reasons`` (list of reason
        codes), ``scores`` (JSON string, struct or dict) — any other numeric columns (per-filter
        scores) are packed into ``scores``.  Every submission must be in the store.
        """
        run_id = run_id or self.new_run_id("filter")
        for col in ("submission_id", "accepted"):
            if col not in frame.columns:
                raise InputError(f"decisions need a {col!r} column", field=col)
        if frame["submission_id"].is_duplicated().any():
            dup = frame.filter(pl.col("submission_id").is_duplicated())["submission_id"][0]
            raise InputError(f"submission {dup} has two decisions in one run", field="submission_id")
        extra = [c for c in frame.columns if c not in ("submission_id", "accepted", "reasons", "scores")
                 and frame.schema[c].is_numeric()]
        if "scores" in frame.columns:
            scores = pl.col("scores") if frame.schema["scores"] == pl.String else pl.col("scores").struct.json_encode()
        elif extra:
            scores = pl.struct(extra).struct.json_encode()
        else:
            scores = pl.lit(None, dtype=pl.String)
        reasons = (pl.col("reasons").cast(pl.List(pl.String)).fill_null(pl.lit([], dtype=pl.List(pl.String)))
                   if "reasons" in frame.columns else pl.lit([], dtype=pl.List(pl.String)))
        policy_hash, _ = _policy_parts(policy)
        now = _now()
        try:
            rows = frame.select(
                pl.lit(run_id).alias("run_id"), pl.col("submission_id").cast(pl.String),
                pl.col("accepted").cast(pl.Boolean), reasons.alias("reasons"), scores.alias("scores"),
                pl.lit(policy_hash, dtype=pl.String).alias("policy_hash"),
                pl.lit(now).cast(pl.Datetime("us", "UTC")).alias("decided_at"))
        except pl.exceptions.PolarsError as err:
            raise InputError(f"decisions have a column of the wrong type: {str(err).splitlines()[0]}") from None
        if rows["accepted"].null_count():
            raise InputError("accepted must be true or false for every submission", field="accepted")
        with self.transaction() as con:
            if con.execute("SELECT count(*) FROM decisions WHERE run_id = ?", [run_id]).fetchall()[0][0]:
                raise InputError(f"run {run_id} already has decisions", field="run_id")
            con.register("_olkit_decisions_in", rows)
            unknown = _first(con.execute("SELECT d.submission_id FROM _olkit_decisions_in d ANTI JOIN submissions s "
                                         "USING (submission_id) LIMIT 1").fetchall())
            con.unregister("_olkit_decisions_in")
            if unknown:
                raise InputError(f"submission {unknown[0]} is not in the store", field="submission_id")
            self._insert("decisions", rows)
            accepted = int(rows["accepted"].sum())
            cover = self._digest("decisions", run_id)
            self._finish_run(run_id, "filter", started_at=now, params={}, policy=policy,
                             stats={"decided": rows.height, "accepted": accepted},
                             event_payload={"accepted": accepted, **cover}, covers=[cover])
        return run_id

    def add_adapter(self, path: str | Path, *, run_id: str, base_model: str, submission_ids: Sequence[str],
                    policy: Any = None, manifest: Mapping[str, Any] | None = None,
                    adapter_id: str | None = None) -> str:
        """Record a trained adapter and the exact submissions it was trained on."""
        adapter_id = adapter_id or f"adapter-{uuid.uuid4().hex[:10]}"
        policy_hash, _ = _policy_parts(policy)
        ids = sorted(set(submission_ids))
        row = pl.DataFrame({
            "adapter_id": [adapter_id], "run_id": [run_id], "path": [str(path)], "base_model": [base_model],
            "policy_hash": [policy_hash], "submission_ids": [ids], "n_examples": [len(ids)],
            "manifest": [json.dumps(dict(manifest or {}), sort_keys=True, default=str)], "created_at": [_now()]},
            schema={"adapter_id": pl.String, "run_id": pl.String, "path": pl.String, "base_model": pl.String,
                    "policy_hash": pl.String, "submission_ids": pl.List(pl.String), "n_examples": pl.Int64,
                    "manifest": pl.String, "created_at": pl.Datetime("us", "UTC")})
        with self.transaction() as con:
            if con.execute("SELECT count(*) FROM adapters WHERE adapter_id = ?", [adapter_id]).fetchall()[0][0]:
                raise InputError(f"adapter {adapter_id} is already recorded", field="adapter_id")
            self._insert("adapters", row)
            cover = self._digest("adapters", adapter_id)
            self.append_events([{"kind": "adapter", "subject": adapter_id, "run_id": run_id, "payload": {
                "n_examples": len(ids), "ids_digest": sha256_hex(*ids), "base_model": base_model,
                "policy_hash": policy_hash, "covers": [cover]}}])
            if con.execute("SELECT count(*) FROM runs WHERE run_id = ?", [run_id]).fetchall()[0][0]:
                head_seq, head_hash = self.head()
                con.execute("UPDATE runs SET head_seq = ?, head_hash = ? WHERE run_id = ?",
                            [head_seq, head_hash, run_id])
        return adapter_id

    def add_payouts(self, frame: pl.DataFrame, run_id: str | None = None, policy: Any = None) -> str:
        """Record one reward run: ``contributor_id``, ``amount`` [, ``share``, ``components``].

        One row per contributor; a null or blank ``contributor_id`` or a non-finite amount is refused.
        ``amount`` is stored as a float and, exactly, as text in ``amount_exact``: integer and
        Decimal amounts (e.g. :func:`olkit.rewards.split_budget` with ``unit=`` beyond 2**53 units,
        an object array of Python ints/Decimals) keep every digit there.
        """
        run_id = run_id or self.new_run_id("reward")
        for col in ("contributor_id", "amount"):
            if col not in frame.columns:
                raise InputError(f"payouts need a {col!r} column", field=col)
        policy_hash, _ = _policy_parts(policy)
        now = _now()
        comp = frame.schema.get("components")
        frame = _exact_amounts(frame)
        rows = _contributor_rows(frame, "payouts", run_id, now, policy_hash, [
            pl.col("_amount_exact").alias("amount_exact"),
            pl.col("amount").cast(pl.Float64),
            (pl.col("share").cast(pl.Float64) if "share" in frame.columns
             else pl.lit(None, dtype=pl.Float64)).alias("share"),
            (pl.col("components") if comp == pl.String else pl.col("components").struct.json_encode()
             if comp is not None else pl.lit(None, dtype=pl.String)).alias("components")], ["amount"])
        self._write_run("payouts", "reward", rows, run_id, now, policy,
                        {"contributors": rows.height, "total": float(rows["amount"].sum())})
        return run_id

    def add_reputation(self, frame: pl.DataFrame, run_id: str | None = None, policy: Any = None) -> str:
        """Record one reputation run: ``contributor_id``, ``reputation`` [+ extra numeric columns].

        Extra numeric columns (e.g. ``alpha``, ``beta``, ``stake``) are kept as JSON in ``extra``.
        One row per contributor; null/blank ids and non-finite values are refused.  Read back with
        :meth:`latest_reputation` (latest run in chain order) or ``table("reputation")``.

        Example
        -------
        >>> import os, tempfile
        >>> with Store(os.path.join(tempfile.mkdtemp(), "s.duckdb")) as s:
        ...     run = s.add_reputation(pl.DataFrame({"contributor_id": ["ann"], "reputation": [0.8],
        ...                                          "alpha": [5.0]}))
        ...     s.latest_reputation().select("contributor_id", "reputation", "extra").rows(), s.verify().ok
        ([('ann', 0.8, '{"alpha":5.0}')], True)
        """
        run_id = run_id or self.new_run_id("reputation")
        for col in ("contributor_id", "reputation"):
            if col not in frame.columns:
                raise InputError(f"reputation needs a {col!r} column", field=col)
        extra = [c for c in frame.columns if c not in ("contributor_id", "reputation") and frame.schema[c].is_numeric()]
        policy_hash, _ = _policy_parts(policy)
        now = _now()
        rows = _contributor_rows(frame, "reputation", run_id, now, policy_hash, [
            pl.col("reputation").cast(pl.Float64),
            (pl.struct(extra).struct.json_encode() if extra else pl.lit(None, dtype=pl.String)).alias("extra")],
            ["reputation"])
        for col in extra:
            _check_finite(frame.select(pl.col(col).cast(pl.Float64)), col)
        self._write_run("reputation", "reputation", rows, run_id, now, policy, {"contributors": rows.height})
        return run_id

    def _write_run(self, table: str, kind: str, rows: pl.DataFrame, run_id: str, now: datetime, policy: Any,
                   stats: dict[str, Any]) -> None:
        """Insert a run's rows of ``table`` and finish the run with an event covering them (one transaction)."""
        with self.transaction() as con:
            if con.execute(f"SELECT count(*) FROM {table} WHERE run_id = ?", [run_id]).fetchall()[0][0]:
                raise InputError(f"run {run_id} already has {table}", field="run_id")
            self._insert(table, rows)
            cover = self._digest(table, run_id)
            self._finish_run(run_id, kind, started_at=now, params={}, policy=policy, stats=stats,
                             event_payload=cover, covers=[cover])

    # -- integrity ------------------------------------------------------------------------
    def verify(self, *, head: str | None = None, max_problems: int = 20) -> VerifyReport:
        """Check the whole ledger; ``head`` (``HASH`` or ``SEQ:HASH`` from :meth:`head`) must still be in the chain.

        * ``events``: the hash chain (an edited event no longer matches its hash, a deleted one
          leaves a gap and a broken link; a cut tail is caught by ``head`` and by the heads in ``runs``);
        * every hashed table: each row against its ``row_hash`` (an edit is named), duplicate rows
          (a copied row), and per run the number and digest of rows recorded by its event (a
          deletion, an insertion, a re-hashed edit) — rows that no event covers are a forged run;
        * ``runs``: every run has its event, and its ``head_seq``/``head_hash`` are an event of that run;
        * ``contributors``: recomputed from ``submissions``.

        The report lists the first bad row of each kind of problem, tables in :data:`TABLES` order.
        """
        problems: list[Problem] = []
        checked: dict[str, int] = {}
        problems += self._verify_chain(checked, head)
        recorded: dict[tuple[str, str], tuple[int, int, str]] = {}
        for seq, payload in self.con.execute(
                "SELECT seq, payload FROM events WHERE payload LIKE '%\"covers\"%' ORDER BY seq").fetchall():
            try:
                covers = json.loads(payload).get("covers") or []
            except (json.JSONDecodeError, AttributeError):
                continue  # the chain check reports the edit
            for cover in covers if isinstance(covers, list) else []:
                try:
                    key = (str(cover["table"]), str(cover["key"]))
                    value = (int(seq), int(cover["rows"]), str(cover["digest"]))
                except (KeyError, TypeError, ValueError):
                    continue
                if key in recorded:
                    problems.append(Problem("events", f"seq={seq}", f"covers {key[0]} of {key[1]} a second time "
                                            f"(first in seq={recorded[key][0]}): a replayed event"))
                    continue
                recorded[key] = value
        for table in TABLES:
            if table in _HASHED:
                found, checked[table] = self._verify_rows(table, recorded)
            elif table == "contributors":
                subs_bad = any(p.table == "submissions" for p in problems)
                found = [] if subs_bad else self._verify_contributors()
                checked[table] = int(self.con.execute("SELECT count(*) FROM contributors").fetchall()[0][0])
            else:
                continue
            problems += found
        return VerifyReport(ok=not problems, problems=problems[:max_problems], checked=checked)

    def _verify_rows(self, table: str, recorded: dict[tuple[str, str], tuple[int, int, str]]
                     ) -> tuple[list[Problem], int]:
        """Problems of one hashed table, and its row count."""
        group, keys = _HASHED[table]
        name = " || ', ' || ".join(f"'{k}=' || coalesce({k}::VARCHAR, 'NULL')" for k in keys)
        problems: list[Problem] = []
        content = ("FALSE", "FALSE")
        if table == "submissions":  # content hash and id recomputed too (names the edited row precisely)
            content = (f"(content_hash IS DISTINCT FROM {CONTENT_HASH_SQL} OR submission_id IS DISTINCT FROM "
                       f"{submission_id_sql('content_hash')})", f"content_hash IS DISTINCT FROM {CONTENT_HASH_SQL}")
        # one pass: per group its size, digest and first row; the first row failing its row hash,
        # the first duplicated row (by key, over the whole table), the first row failing its content hash
        groups = self.con.execute(
            f"SELECT {group}, count(*), {_DIGEST_SQL}, arg_min(_name, _rid), "
            "min(_rid) FILTER (WHERE _edited), arg_min(_name, _rid) FILTER (WHERE _edited), "
            "min(_rid) FILTER (WHERE _dup > 1), arg_min(_name || chr(31) || _dup, _rid) FILTER (WHERE _dup > 1), "
            "min(_rid) FILTER (WHERE _cbad), arg_min(_name || chr(31) || _cchanged, _rid) FILTER (WHERE _cbad) "
            f"FROM (SELECT *, rowid AS _rid, {name} AS _name, "
            f"row_hash IS DISTINCT FROM {row_hash_sql(table)} AS _edited, "
            f"count(*) OVER (PARTITION BY {', '.join(keys)}) AS _dup, {content[0]} AS _cbad, "
            f"{content[1]} AS _cchanged FROM {table}) GROUP BY {group} ORDER BY min(_rid)").fetchall()

        def first(at: int) -> str | None:
            hits = [(g[at], g[at + 1]) for g in groups if g[at] is not None]
            return min(hits)[1] if hits else None

        bad = first(8)
        if bad:
            row, changed = bad.rsplit(chr(31), 1)
            what = ("its content no longer matches its content_hash (edited)" if changed == "true"
                    else "its submission_id does not match datanet/contributor/content/parent (edited)")
            problems.append(Problem("submissions", row, what))
        edited = first(4)
        if edited and not problems:
            problems.append(Problem(table, edited, "edited: its values no longer match its row hash"))
        dup = first(6)
        if dup:
            row, times = dup.rsplit(chr(31), 1)
            problems.append(Problem(table, row, f"appears {times} times (a copied row)"))
        seen = set()
        for key, n, digest, first_row, *_ in groups:
            seen.add(str(key))
            rec = recorded.get((table, str(key)))
            if rec is None:
                problems.append(Problem(table, first_row, f"written by no event: {group}={key} is not in the "
                                        "hash chain (a forged run or rows added by hand)"))
            elif (int(n), digest) != rec[1:]:
                diff = int(n) - rec[1]
                what = (f"{-diff} row(s) deleted" if diff < 0 else f"{diff} row(s) added" if diff > 0
                        else "row(s) edited")
                problems.append(Problem(table, f"{group}={key}",
                                        f"rows no longer match the digest in events seq={rec[0]}: {what}"))
        for (tbl, key), (seq, n, _) in recorded.items():
            if tbl == table and key not in seen and n > 0:
                problems.append(Problem(table, f"{group}={key}",
                                        f"all {n} row(s) recorded in events seq={seq} are deleted"))
        if table == "runs":
            bad = _first(self.con.execute(
                "SELECT r.run_id FROM runs r LEFT JOIN events e ON e.seq = r.head_seq AND e.hash = r.head_hash "
                "AND e.run_id = r.run_id WHERE e.seq IS NULL ORDER BY r.rowid LIMIT 1").fetchall())
            if bad:
                problems.append(Problem("runs", f"run_id={bad[0]}", "its head_seq/head_hash is not an event of "
                                        "this run in the chain (edited)"))
        return problems, sum(int(g[1]) for g in groups)

    def _verify_contributors(self) -> list[Problem]:
        bad = _first(self.con.execute(
            f"WITH want AS ({_CONTRIBUTORS_SQL} GROUP BY contributor_id), "
            "diff AS ((SELECT * FROM contributors EXCEPT ALL SELECT * FROM want) UNION ALL "
            "(SELECT * FROM want EXCEPT ALL SELECT * FROM contributors)) "
            "SELECT contributor_id, count(*) FROM diff GROUP BY 1 ORDER BY 1 LIMIT 1").fetchall())
        if not bad:
            return []
        return [Problem("contributors", f"contributor_id={bad[0]}",
                        "does not match what its submissions give (first_seen, n_submissions): edited, "
                        "added or deleted")]

    def _verify_chain(self, checked: dict[str, int], head: str | None = None) -> list[Problem]:
        rows = self.con.execute("SELECT seq, epoch_us(recorded_at), kind, subject, run_id, payload, prev_hash, hash "
                                "FROM events ORDER BY seq").fetchall()
        checked["events"] = len(rows)
        problems: list[Problem] = []
        prev_seq, prev_hash = 0, GENESIS_HASH
        hashes: dict[str, int] = {}
        for seq, at, kind, subject, run_id, payload, stored_prev, stored in rows:
            if seq != prev_seq + 1:
                gone = f"seq={prev_seq + 1}" if seq == prev_seq + 2 else f"seq={prev_seq + 1}..{seq - 1}"
                problems.append(Problem("events", gone, f"deleted (the chain jumps from seq={prev_seq} to seq={seq})"))
                break
            if _event_hash(stored_prev, seq, at, kind, subject, run_id, payload) != stored:
                problems.append(Problem("events", f"seq={seq}", f"edited: its content (kind={kind!r}, "
                                        f"run_id={run_id!r}) no longer matches its hash"))
                break
            if stored_prev != prev_hash:
                problems.append(Problem("events", f"seq={seq}", f"its prev_hash does not match the hash of "
                                        f"seq={prev_seq}: a row was replaced or the chain was rewritten"))
                break
            prev_seq, prev_hash = seq, stored
            hashes[stored] = seq
        if not problems:
            top = _first(self.con.execute("SELECT head_seq, run_id FROM runs WHERE head_seq IS NOT NULL "
                                          "ORDER BY head_seq DESC LIMIT 1").fetchall())
            if top is not None and top[0] > prev_seq:
                problems.append(Problem("events", f"seq={prev_seq + 1}..{top[0]}",
                                        f"deleted (runs row run_id={top[1]} recorded the chain up to seq={top[0]}, "
                                        f"it ends at seq={prev_seq}; or that runs row was edited)"))
        if head is not None:
            want_seq, want = _parse_head(head)
            at = hashes.get(want)
            if at is None or (want_seq is not None and at != want_seq):
                where = f"seq={want_seq}" if want_seq is not None else f"hash={want[:16]}"
                problems.append(Problem("events", where, f"the recorded head {want[:16]}... is no longer in the "
                                        f"chain (it ends at seq={prev_seq}): events were cut off or rewritten"))
        return problems


#: digest of a group's row hashes (order-free: sorted)
_DIGEST_SQL = "sha256(coalesce(string_agg(row_hash, ',' ORDER BY row_hash), ''))"
#: contributors as derived from submissions (append ``WHERE ...`` and ``GROUP BY contributor_id``)
_CONTRIBUTORS_SQL = ("SELECT contributor_id, min(coalesce(created_at, ingested_at)) AS first_seen, "
                     "count(*) AS n_submissions, NULL::VARCHAR AS meta FROM submissions")


def _visible(table: str, prefix: str = "") -> str:
    """Select list of a table without the internal ``row_hash``."""
    return ", ".join(f"{prefix}{n}" for n, _ in _columns(table) if n != "row_hash")


def _parse_head(head: str) -> tuple[int | None, str]:
    text = str(head).strip()
    seq, sep, value = text.partition(":")
    if not sep:
        seq, value = "", text
    value = value.strip().lower()
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value) or (seq and not seq.strip().isdigit()):
        raise InputError(f"a head is HASH or SEQ:HASH (64 hex digits, as `olkit store head` prints), got {head!r}",
                         field="--head")
    return (int(seq) if seq else None), value


def _exact_amounts(frame: pl.DataFrame) -> pl.DataFrame:
    """``amount`` as Float64 plus ``_amount_exact`` (its exact text); Python ints/Decimals accepted."""
    amount = frame["amount"]
    if amount.dtype == pl.Object:  # an object array of Python ints / Decimals (one value per payee)
        values = amount.to_list()
        for i, value in enumerate(values):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float | Decimal)):
                raise InputError(f"amount must be a number, got {value!r}", row=i, field="amount")
        return frame.with_columns(pl.Series("amount", [None if v is None else float(v) for v in values],
                                            dtype=pl.Float64),
                                  pl.Series("_amount_exact", [None if v is None else str(v) for v in values],
                                            dtype=pl.String))
    if not (amount.dtype.is_numeric() or amount.dtype == pl.Null):
        raise InputError(f"amount must be numeric, not {amount.dtype}", field="amount")
    return frame.with_columns(amount.cast(pl.String).alias("_amount_exact"))


def _contributor_rows(frame: pl.DataFrame, table: str, run_id: str, now: datetime, policy_hash: str | None,
                      values: list[pl.Expr], finite: list[str]) -> pl.DataFrame:
    """The rows of a per-contributor table (payouts, reputation), checked: ids, one per run, finite values."""
    try:
        rows = frame.select(
            pl.lit(run_id).alias("run_id"), pl.col("contributor_id").cast(pl.String), *values,
            pl.lit(policy_hash, dtype=pl.String).alias("policy_hash"),
            pl.lit(now).cast(pl.Datetime("us", "UTC")).alias("created_at"))
    except pl.exceptions.PolarsError as err:
        raise InputError(f"{table} have a column of the wrong type: {str(err).splitlines()[0]}") from None
    _check_payees(rows, table)
    for column in finite:
        _check_finite(rows, column)
    return rows


def _check_payees(rows: pl.DataFrame, what: str) -> None:
    """Refuse null/blank contributor ids and a contributor listed twice."""
    blank = rows["contributor_id"].is_null() | (rows["contributor_id"].str.strip_chars() == "")
    if blank.any():
        raise InputError(f"{what}: contributor_id is null or blank (nobody to pay/score)",
                         row=int(blank.arg_true()[0]), field="contributor_id")
    if rows["contributor_id"].is_duplicated().any():
        dup = rows.filter(pl.col("contributor_id").is_duplicated())["contributor_id"][0]
        raise InputError(f"{what}: contributor {dup!r} appears twice in one run", field="contributor_id")


def _check_finite(rows: pl.DataFrame, column: str) -> None:
    values = rows[column] if column in rows.columns else rows.to_series(0)
    bad = values.is_null() | ~values.is_finite()
    if bad.any():
        i = int(bad.arg_true()[0])
        raise InputError(f"{column} must be a finite number, got {values[i]!r}", row=i, field=column)


#: Times the ledger accepts (as ingestion does for ``created_at``).
_TIME_RANGE = (datetime(1900, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC))


def _check_time(value: Any, name: str) -> None:
    """Refuse a time outside 1900..2200 (or not a datetime at all); ``None`` is fine."""
    if value is None:
        return
    if not isinstance(value, datetime):
        raise InputError(f"{name} must be a datetime, got {type(value).__name__}", field=name)
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    if not _TIME_RANGE[0] <= aware < _TIME_RANGE[1]:
        raise InputError(f"{name} {value.isoformat()} is outside 1900-01-01..2200-01-01", field=name)


def _printable(path: Path) -> str:
    text = str(path)
    return text if text.isprintable() else repr(text)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _first(rows: list[tuple]) -> tuple | None:
    return rows[0] if rows else None


def _sql_str(text: str) -> str:
    return str(text).replace("'", "''")
