"""The ledger: one DuckDB file holding everything that happened, append-only and tamper-evident.

Tables
------
``submissions``   one row per contributed item (never deleted; rejected items stay with reasons)
``contributors``  one row per contributor (first seen, number of submissions)
``decisions``     one row per submission per filter run (accepted, reason codes, scores, policy hash)
``events``        the audit log: every write (ingest, decisions, runs, adapters, payouts, reputation
                  events) is an event whose ``hash`` covers its content and the previous row's hash
``runs``          one row per run of any stage (kind, policy, params, stats, chain head after it)
``adapters``      trained adapters with the exact submission ids they saw
``payouts``       rewards per contributor per reward run

:meth:`Store.verify` recomputes the event chain (an edited row no longer matches its hash; a
deleted row breaks the sequence and the link), recomputes every submission's content hash and id,
and re-derives the per-run digests that the events recorded for submissions, decisions and payouts.

Every write is one transaction (:meth:`Store.transaction`): on any error nothing is written.

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
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from olkit.errors import InputError, OlkitError
from olkit.ingest.hashing import CONTENT_HASH_SQL, submission_id_sql
from olkit.schema import sha256_hex

GENESIS_HASH = "0" * 64

_DDL: dict[str, str] = {
    "submissions": """
        submission_id VARCHAR NOT NULL, datanet VARCHAR NOT NULL, contributor_id VARCHAR NOT NULL,
        instruction VARCHAR, response VARCHAR, text VARCHAR, source VARCHAR, source_id VARCHAR,
        license VARCHAR, created_at TIMESTAMPTZ, parent_id VARCHAR, content_hash VARCHAR NOT NULL,
        meta VARCHAR, ingested_at TIMESTAMPTZ NOT NULL, ingest_run VARCHAR NOT NULL""",
    "contributors": """
        contributor_id VARCHAR PRIMARY KEY, first_seen TIMESTAMPTZ, n_submissions BIGINT, meta VARCHAR""",
    "decisions": """
        run_id VARCHAR NOT NULL, submission_id VARCHAR NOT NULL, accepted BOOLEAN NOT NULL,
        reasons VARCHAR[], scores VARCHAR, policy_hash VARCHAR, decided_at TIMESTAMPTZ NOT NULL""",
    "events": """
        seq BIGINT PRIMARY KEY, recorded_at TIMESTAMPTZ NOT NULL, kind VARCHAR NOT NULL, subject VARCHAR,
        run_id VARCHAR, payload VARCHAR, prev_hash VARCHAR NOT NULL, hash VARCHAR NOT NULL""",
    "runs": """
        run_id VARCHAR PRIMARY KEY, kind VARCHAR NOT NULL, started_at TIMESTAMPTZ, finished_at TIMESTAMPTZ,
        policy_hash VARCHAR, policy VARCHAR, params VARCHAR, stats VARCHAR, head_seq BIGINT,
        head_hash VARCHAR""",
    "adapters": """
        adapter_id VARCHAR PRIMARY KEY, run_id VARCHAR, path VARCHAR, base_model VARCHAR,
        policy_hash VARCHAR, submission_ids VARCHAR[], n_examples BIGINT, manifest VARCHAR,
        created_at TIMESTAMPTZ""",
    "payouts": """
        run_id VARCHAR NOT NULL, contributor_id VARCHAR NOT NULL, amount DOUBLE NOT NULL, share DOUBLE,
        components VARCHAR, policy_hash VARCHAR, created_at TIMESTAMPTZ NOT NULL""",
}
#: The tables of a store, in the order they are described above.
TABLES = tuple(_DDL)

#: Per-run digests recorded in events and re-derived by :meth:`Store.verify`: table -> (run column, key).
_DIGESTED = {
    "submissions": ("ingest_run", "submission_id || ':' || content_hash"),
    "decisions": ("run_id", "submission_id || ':' || accepted::VARCHAR || ':' || coalesce(array_to_string(reasons, '|'), '')"
                  " || ':' || coalesce(scores, '') || ':' || coalesce(policy_hash, '')"),
    "payouts": ("run_id", "contributor_id || ':' || amount::VARCHAR || ':' || coalesce(share::VARCHAR, '')"
                " || ':' || coalesce(components, '')"),
}


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


class Store:
    """The DuckDB ledger.  Use as a context manager; ``read_only=True`` for inspection.

    Parameters
    ----------
    path:
        The DuckDB file (created with all tables unless ``read_only`` or ``create=False``).
    """

    def __init__(self, path: str | Path, *, read_only: bool = False, create: bool = True) -> None:
        self.path = Path(path)
        if (read_only or not create) and not self.path.exists():
            raise StoreError(f"{self.path}: no such store (create one with `olkit ingest ... --store {self.path}`)")
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.con = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.Error as err:
            raise StoreError(f"{self.path}: cannot open the store: {err}") from None
        self.read_only = read_only
        self._depth = 0
        self.con.execute("SET TimeZone = 'UTC'")
        self.con.execute("SET enable_progress_bar = false")
        if not read_only:
            for name, cols in _DDL.items():
                self.con.execute(f"CREATE TABLE IF NOT EXISTS {name} ({cols})")
        missing = [t for t in TABLES if t not in self._tables()]
        if missing:
            self.close()
            raise StoreError(f"{self.path}: not an olkit store (missing tables {missing})")

    # -- lifecycle -----------------------------------------------------------------------
    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    def _tables(self) -> set[str]:
        return {r[0] for r in self.con.execute("SELECT table_name FROM information_schema.tables").fetchall()}

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
        """A whole table as polars (timestamps in UTC)."""
        self._check_table(name)
        order = {"events": "seq", "submissions": "ingested_at, submission_id",
                 "decisions": "decided_at, run_id, submission_id", "runs": "started_at, run_id"}.get(name)
        return self.con.sql(f"SELECT * FROM {name}" + (f" ORDER BY {order}" if order else "")).pl()

    def to_pandas(self, name: str):
        """A whole table as pandas."""
        return self.table(name).to_pandas()

    def submissions(self, *, datanet: str | None = None, columns: Sequence[str] | None = None) -> pl.DataFrame:
        """Submissions (optionally of one datanet), in ingestion order."""
        cols = ", ".join(columns) if columns else "*"
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

    def latest_decisions(self) -> pl.DataFrame:
        """For each decided submission, its decision from the most recent run."""
        return self.con.sql(
            "SELECT * FROM decisions QUALIFY row_number() OVER "
            "(PARTITION BY submission_id ORDER BY decided_at DESC, run_id DESC) = 1 ORDER BY submission_id"
        ).pl()

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
        """``(seq, hash)`` of the last event: publish it elsewhere to anchor the whole chain."""
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
        """Write a table to ``.parquet`` / ``.csv`` / ``.jsonl`` atomically (temp file + rename)."""
        self._check_table(name)
        path = Path(path)
        fmt = {".parquet": "(FORMAT parquet)", ".csv": "(FORMAT csv, HEADER)", ".jsonl": "(FORMAT json)",
               ".ndjson": "(FORMAT json)"}.get(path.suffix.lower())
        if fmt is None:
            raise InputError("export writes .parquet, .csv or .jsonl", file=str(path))
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
        os.close(fd)
        try:
            self.con.execute(f"COPY (SELECT * FROM {name}) TO '{_sql_str(tmp)}' {fmt}")
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
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
            f"INSERT INTO submissions SELECT {cols}, ?::TIMESTAMPTZ, ? FROM ({select_sql}) f "
            "WHERE NOT EXISTS (SELECT 1 FROM submissions s WHERE s.submission_id = f.submission_id) "
            "QUALIFY row_number() OVER (PARTITION BY f.submission_id ORDER BY f._pos) = 1",
            [ingested_at, run_id],
        ).fetchall()[0]
        return int(row[0]) if row else 0

    def record_ingest(self, run_id: str, *, started_at: datetime, sources: list[dict[str, Any]],
                      params: dict[str, Any], added: int, rows: int, rejected_rows: int = 0,
                      rejected: list[dict[str, Any]] | None = None) -> None:
        """Update contributors, add the run and its hash-chained event (inside the ingest transaction)."""
        with self.transaction() as con:
            con.execute(
                "INSERT INTO contributors SELECT contributor_id, min(coalesce(created_at, ingested_at)), "
                "count(*), NULL FROM submissions WHERE contributor_id IN "
                "(SELECT DISTINCT contributor_id FROM submissions WHERE ingest_run = ?) GROUP BY contributor_id "
                "ON CONFLICT (contributor_id) DO UPDATE SET first_seen = excluded.first_seen, "
                "n_submissions = excluded.n_submissions", [run_id])
            payload = {"added": added, "rows_read": rows, "sources": sources, "rejected_rows": rejected_rows,
                       "rejected": rejected or [], **self._digest("submissions", run_id)}
            self._finish_run(run_id, "ingest", started_at=started_at, params=params,
                             stats={"added": added, "rows_read": rows, "rejected_rows": rejected_rows,
                                    "skipped_existing": rows - added - rejected_rows},
                             event_payload=payload)

    def _digest(self, table: str, run_id: str) -> dict[str, Any]:
        run_col, key = _DIGESTED[table]
        n, digest = self.con.execute(
            f"SELECT count(*), sha256(coalesce(string_agg({key}, chr(10) ORDER BY {key}), '')) "
            f"FROM {table} WHERE {run_col} = ?", [run_id]).fetchall()[0]
        return {"table": table, "rows": int(n), "digest": digest}

    # -- writing: events and runs -------------------------------------------------------
    def append_events(self, events: pl.DataFrame | Sequence[Mapping[str, Any]]) -> tuple[int, int]:
        """Append events to the hash chain; returns ``(first_seq, last_seq)``.

        ``events`` has ``kind`` (required) and optionally ``subject``, ``run_id``, ``payload``
        (a JSON string or anything JSON-serialisable), ``recorded_at`` (UTC datetime; default now).
        Reputation stages log e.g. ``kind="reputation", subject=contributor_id, payload={"delta": -1}``.
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
        with self.transaction():
            self._finish_run(run_id, kind, started_at=started_at or _now(), params=params, stats=stats,
                             policy=policy, event_payload={"stats": dict(stats or {})})
        return run_id

    def _finish_run(self, run_id: str, kind: str, *, started_at: datetime, params: Mapping[str, Any] | None,
                    stats: Mapping[str, Any] | None, event_payload: dict[str, Any], policy: Any = None) -> None:
        policy_hash, policy_json = _policy_parts(policy)
        exists = self.con.execute("SELECT count(*) FROM runs WHERE run_id = ?", [run_id]).fetchall()[0][0]
        if not exists:
            self.con.execute("INSERT INTO runs VALUES (?, ?, ?, NULL, ?, ?, ?, ?, NULL, NULL)",
                             [run_id, kind, started_at, policy_hash, policy_json,
                              json.dumps(dict(params or {}), sort_keys=True, default=str),
                              json.dumps(dict(stats or {}), sort_keys=True, default=str)])
        payload = json.dumps({"policy_hash": policy_hash, **event_payload}, sort_keys=True, default=str)
        seq, _ = self.append_events([{"kind": kind, "subject": None, "run_id": run_id, "payload": payload}])
        head_seq, head_hash = self.head()
        self.con.execute("UPDATE runs SET finished_at = ?, head_seq = ?, head_hash = ? WHERE run_id = ?",
                         [_now(), head_seq, head_hash, run_id])

    # -- writing: decisions, adapters, payouts ---------------------------------------------
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
        rows = frame.select(
            pl.lit(run_id).alias("run_id"), pl.col("submission_id").cast(pl.String),
            pl.col("accepted").cast(pl.Boolean), reasons.alias("reasons"), scores.alias("scores"),
            pl.lit(policy_hash, dtype=pl.String).alias("policy_hash"),
            pl.lit(now).cast(pl.Datetime("us", "UTC")).alias("decided_at"))
        if rows["accepted"].null_count():
            raise InputError("accepted must be true or false for every submission", field="accepted")
        with self.transaction() as con:
            if con.execute("SELECT count(*) FROM decisions WHERE run_id = ?", [run_id]).fetchall()[0][0]:
                raise InputError(f"run {run_id} already has decisions", field="run_id")
            con.register("_olkit_decisions", rows)
            unknown = _first(con.execute("SELECT d.submission_id FROM _olkit_decisions d ANTI JOIN submissions s "
                                         "USING (submission_id) LIMIT 1").fetchall())
            if unknown:
                con.unregister("_olkit_decisions")
                raise InputError(f"submission {unknown[0]} is not in the store", field="submission_id")
            con.execute("INSERT INTO decisions SELECT * FROM _olkit_decisions")
            con.unregister("_olkit_decisions")
            accepted = int(rows["accepted"].sum())
            self._finish_run(run_id, "filter", started_at=now, params={}, policy=policy,
                             stats={"decided": rows.height, "accepted": accepted},
                             event_payload={"accepted": accepted, **self._digest("decisions", run_id)})
        return run_id

    def add_adapter(self, path: str | Path, *, run_id: str, base_model: str, submission_ids: Sequence[str],
                    policy: Any = None, manifest: Mapping[str, Any] | None = None,
                    adapter_id: str | None = None) -> str:
        """Record a trained adapter and the exact submissions it was trained on."""
        adapter_id = adapter_id or f"adapter-{uuid.uuid4().hex[:10]}"
        policy_hash, _ = _policy_parts(policy)
        ids = sorted(set(submission_ids))
        with self.transaction() as con:
            con.execute("INSERT INTO adapters VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [adapter_id, run_id, str(path), base_model, policy_hash, ids, len(ids),
                         json.dumps(dict(manifest or {}), sort_keys=True, default=str), _now()])
            self.append_events([{"kind": "adapter", "subject": adapter_id, "run_id": run_id, "payload": {
                "n_examples": len(ids), "ids_digest": sha256_hex(*ids), "base_model": base_model,
                "policy_hash": policy_hash}}])
        return adapter_id

    def add_payouts(self, frame: pl.DataFrame, run_id: str | None = None, policy: Any = None) -> str:
        """Record one reward run: ``contributor_id``, ``amount`` [, ``share``, ``components``]."""
        run_id = run_id or self.new_run_id("reward")
        for col in ("contributor_id", "amount"):
            if col not in frame.columns:
                raise InputError(f"payouts need a {col!r} column", field=col)
        policy_hash, _ = _policy_parts(policy)
        now = _now()
        comp = frame.schema.get("components")
        rows = frame.select(
            pl.lit(run_id).alias("run_id"), pl.col("contributor_id").cast(pl.String),
            pl.col("amount").cast(pl.Float64),
            (pl.col("share").cast(pl.Float64) if "share" in frame.columns else pl.lit(None, dtype=pl.Float64)).alias("share"),
            (pl.col("components") if comp == pl.String else pl.col("components").struct.json_encode()
             if comp is not None else pl.lit(None, dtype=pl.String)).alias("components"),
            pl.lit(policy_hash, dtype=pl.String).alias("policy_hash"),
            pl.lit(now).cast(pl.Datetime("us", "UTC")).alias("created_at"))
        with self.transaction() as con:
            con.register("_olkit_payouts", rows)
            con.execute("INSERT INTO payouts SELECT * FROM _olkit_payouts")
            con.unregister("_olkit_payouts")
            self._finish_run(run_id, "reward", started_at=now, params={}, policy=policy,
                             stats={"contributors": rows.height, "total": float(rows["amount"].sum())},
                             event_payload=self._digest("payouts", run_id))
        return run_id

    def add_reputation(self, frame: pl.DataFrame, run_id: str | None = None, policy: Any = None) -> str:
        """Record one reputation run: ``contributor_id, reputation`` as chained ``reputation`` events.

        One event per contributor (``subject`` = contributor, payload ``{"reputation": r}``) plus
        the run, in one transaction; returns the run id.
        """
        run_id = run_id or self.new_run_id("reputation")
        for col in ("contributor_id", "reputation"):
            if col not in frame.columns:
                raise InputError(f"reputation needs a {col!r} column", field=col)
        rep = frame["reputation"].cast(pl.Float64)
        if rep.null_count() or not rep.is_finite().all():
            raise InputError("reputation must be a finite number for every contributor", field="reputation")
        policy_hash, _ = _policy_parts(policy)
        events = [{"kind": "reputation", "subject": str(c), "run_id": run_id,
                   "payload": json.dumps({"reputation": float(r), "policy_hash": policy_hash}, sort_keys=True)}
                  for c, r in zip(frame["contributor_id"].to_list(), rep.to_list(), strict=True)]
        with self.transaction():
            self.append_events(events)
            self._finish_run(run_id, "reputation", started_at=_now(), params={}, policy=policy,
                             stats={"contributors": frame.height}, event_payload={"contributors": frame.height})
        return run_id

    # -- integrity ------------------------------------------------------------------------
    def verify(self, *, max_problems: int = 20) -> VerifyReport:
        """Check the event chain, every submission's hashes and the per-run digests.

        An edited events row no longer matches its hash; a deleted one leaves a gap in ``seq`` and a
        broken ``prev_hash`` link; a deleted tail is caught by the chain head recorded in ``runs``.
        The report names the first bad row of each kind of problem.
        """
        problems: list[Problem] = []
        checked: dict[str, int] = {}
        problems += self._verify_chain(checked)
        bad = _first(self.con.execute(
            f"SELECT submission_id, content_hash <> {CONTENT_HASH_SQL} AS content_changed FROM submissions "
            f"WHERE content_hash <> {CONTENT_HASH_SQL} OR submission_id <> {submission_id_sql('content_hash')} "
            "ORDER BY ingested_at, submission_id LIMIT 1").fetchall())
        dup = _first(self.con.execute("SELECT submission_id, count(*) FROM submissions GROUP BY 1 "
                                      "HAVING count(*) > 1 ORDER BY 1 LIMIT 1").fetchall())
        if dup:
            problems.append(Problem("submissions", f"submission_id={dup[0]}", f"appears {dup[1]} times (inserted by hand)"))
        checked["submissions"] = int(self.con.execute("SELECT count(*) FROM submissions").fetchall()[0][0])
        if bad:
            what = ("its content no longer matches its content_hash (edited)" if bad[1]
                    else "its submission_id does not match datanet/contributor/content/parent (edited)")
            problems.append(Problem("submissions", f"submission_id={bad[0]}", what))
        for seq, run_id, payload in self.con.execute(
                "SELECT seq, run_id, payload FROM events WHERE kind IN ('ingest', 'filter', 'reward') ORDER BY seq"
        ).fetchall():
            try:
                recorded = json.loads(payload or "{}")
            except json.JSONDecodeError:
                continue  # the chain check already reported the edit
            table = recorded.get("table")
            if table not in _DIGESTED:
                continue
            now = self._digest(table, run_id)
            if (now["rows"], now["digest"]) != (recorded.get("rows"), recorded.get("digest")):
                diff = now["rows"] - int(recorded.get("rows") or 0)
                what = (f"{-diff} row(s) deleted" if diff < 0 else f"{diff} row(s) added" if diff > 0
                        else "row(s) edited")
                problems.append(Problem(table, f"run_id={run_id}",
                                        f"rows of this run no longer match the digest in events seq={seq}: {what}"))
        checked["decisions"] = int(self.con.execute("SELECT count(*) FROM decisions").fetchall()[0][0])
        return VerifyReport(ok=not problems, problems=problems[:max_problems], checked=checked)

    def _verify_chain(self, checked: dict[str, int]) -> list[Problem]:
        rows = self.con.execute("SELECT seq, epoch_us(recorded_at), kind, subject, run_id, payload, prev_hash, hash "
                                "FROM events ORDER BY seq").fetchall()
        checked["events"] = len(rows)
        problems: list[Problem] = []
        prev_seq, prev_hash = 0, GENESIS_HASH
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
        if not problems:
            head = self.con.execute("SELECT max(head_seq) FROM runs").fetchall()[0][0]
            if head is not None and head > prev_seq:
                problems.append(Problem("events", f"seq={prev_seq + 1}..{head}",
                                        f"deleted (runs recorded the chain up to seq={head}, it ends at seq={prev_seq})"))
        return problems


def _first(rows: list[tuple]) -> tuple | None:
    return rows[0] if rows else None


def _sql_str(text: str) -> str:
    return str(text).replace("'", "''")
