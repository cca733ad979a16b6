"""The tamper suite: every single edit, deletion, copied row and forged run in any table fails verify.

A store is built once (ingest through the CLI, two filter runs, a reputation run, a reward run with
exact integer payouts, a train run with its adapter).  Each case copies it, tampers with it through
plain DuckDB (as someone with the file would), and runs ``olkit store verify`` (exit 1 expected).
Edits come in two strengths: the value alone, and the value plus a recomputed ``row_hash`` (the
attacker knows the row-hash formula), which only the per-run digests in the chain can catch.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest

from olkit.cli import main
from olkit.rewards import split_budget
from olkit.store import _HASHED, TABLES, Store, _columns, row_hash_sql


def _build(path: Path, src: Path) -> None:
    n = 9
    pl.DataFrame({
        "contributor_id": [f"c{i % 3}" for i in range(n)],
        "instruction": [f"Question {i}?" for i in range(n)],
        "response": [f"Answer {i}." for i in range(n)],
        "source_id": [f"q{i}" for i in range(n)],
        "license": ["cc-by-4.0"] * n,
        "created_at": [f"2024-05-0{1 + i % 9}T12:00:00Z" for i in range(n)],
        "parent_id": [None, "q0"] + [None] * (n - 2),
        "topic": [f"t{i % 2}" for i in range(n)],
    }).write_ndjson(src)
    assert main(["ingest", str(src), "--store", str(path), "--json"]) == 0
    with Store(path) as store:
        ids = store.submissions()["submission_id"].to_list()
        store.add_decisions(pl.DataFrame({"submission_id": ids, "accepted": [i % 4 != 0 for i in range(n)],
                                          "reasons": [["spam.score"] if i % 4 == 0 else [] for i in range(n)],
                                          "spam.score": [i / 10 for i in range(n)]}), policy="abc123")
        store.add_reputation(pl.DataFrame({"contributor_id": ["c0", "c1", "c2"], "reputation": [0.2, 0.5, 0.9],
                                           "alpha": [1.0, 2.0, 3.0]}), policy="abc123")
        pay = split_budget(10**20, np.array([1.0, 2.0, 3.0]), unit=1)
        store.add_payouts(pl.DataFrame({"contributor_id": ["c0", "c1", "c2"], "amount": [float(p) for p in pay],
                                        "share": [1 / 6, 2 / 6, 3 / 6]}), policy="abc123")
        train = store.add_run("train", params={"lr": 1e-4}, stats={"loss": 1.5})
        store.add_adapter("/tmp/a", run_id=train, base_model="smollm2-135m", submission_ids=ids[:5],
                          manifest={"seed": 0})
        store.add_decisions(pl.DataFrame({"submission_id": ids[:3], "accepted": [True, True, False]}))
        assert store.verify().ok


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tamper")
    path = folder / "ledger.duckdb"
    _build(path, folder / "src.jsonl")
    return path


def _changed(column: str, typ: str) -> str:
    if typ.endswith("[]"):
        return f"list_append(coalesce({column}, []::VARCHAR[]), 'x')"
    if typ == "BOOLEAN":
        return f"NOT {column}"
    if typ == "BIGINT":
        return f"coalesce({column}, 0) + 1000"
    if typ == "DOUBLE":
        return f"coalesce({column}, 0) * 2 + 1"  # + 1 alone is no change for an amount of 3e19
    if typ.startswith("TIMESTAMP"):
        return f"coalesce({column}, now()) + INTERVAL 1 SECOND"
    return f"coalesce({column}, '') || 'x'"


def _first_row(table: str) -> str:
    return f"rowid = (SELECT min(rowid) FROM {table})"


def _cases() -> list[tuple[str, list[str]]]:
    cases: list[tuple[str, list[str]]] = []
    for table in TABLES:
        for column, typ in _columns(table):
            edit = f"UPDATE {table} SET {column} = {_changed(column, typ)} WHERE {_first_row(table)}"
            cases.append((f"edit-{table}.{column}", [edit]))
            if table in _HASHED and column != "row_hash":
                cases.append((f"edit+rehash-{table}.{column}",
                              [edit, f"UPDATE {table} SET row_hash = {row_hash_sql(table)}"]))
        for which in ("min", "max") if table == "events" else ("min",):
            cases.append((f"delete-{which}-{table}",
                          [f"DELETE FROM {table} WHERE rowid = (SELECT {which}(rowid) FROM {table})"]))
        key = {"runs": "run_id", "adapters": "adapter_id", "contributors": "contributor_id"}.get(table)
        if table == "events":
            copy = "INSERT INTO events SELECT * REPLACE ((SELECT max(seq) + 1 FROM events) AS seq) FROM events WHERE seq = 2"
        elif key:
            copy = f"INSERT INTO {table} SELECT * REPLACE ({key} || '-copy' AS {key}) FROM {table} WHERE {_first_row(table)}"
        else:
            copy = f"INSERT INTO {table} SELECT * FROM {table} WHERE {_first_row(table)}"
        cases.append((f"copy-{table}", [copy]))
    # forged runs: a runs row plus rows under the new run id, every row hash recomputed
    forged_run = ("INSERT INTO runs SELECT * REPLACE ('forged-1' AS run_id) FROM runs WHERE kind = '{kind}' LIMIT 1")
    for table, kind in (("submissions", "ingest"), ("decisions", "filter"), ("payouts", "reward"),
                        ("reputation", "reputation"), ("runs", "train")):
        group = _HASHED[table][0]
        steps = [forged_run.format(kind=kind), "UPDATE runs SET row_hash = " + row_hash_sql("runs")]
        if table != "runs":
            steps.insert(0, f"INSERT INTO {table} SELECT * REPLACE ('forged-1' AS {group}) FROM {table} "
                         f"WHERE {_first_row(table)}")
            steps.insert(1, f"UPDATE {table} SET row_hash = {row_hash_sql(table)}")
            if table == "submissions":  # a new submission (new content, valid hashes) in the forged run
                steps[0] = steps[0].replace("* REPLACE (", "* REPLACE ('forged text' AS response, ")
                steps.insert(1, "UPDATE submissions SET content_hash = substr(sha256(coalesce(instruction, '') || "
                             "chr(31) || coalesce(response, '') || chr(31) || coalesce(text, '')), 1, 32)")
        cases.append((f"forged-run-{table}", steps))
    cases.append(("forged-adapter", [
        "INSERT INTO adapters SELECT * REPLACE ('adapter-forged' AS adapter_id) FROM adapters",
        "UPDATE adapters SET row_hash = " + row_hash_sql("adapters")]))
    cases.append(("forged-event", [
        "INSERT INTO events SELECT * REPLACE ((SELECT max(seq) + 1 FROM events) AS seq, 'forged' AS run_id) "
        "FROM events WHERE seq = (SELECT max(seq) FROM events)"]))
    return cases


CASES = _cases()


def test_untouched_store_passes(base, capsys) -> None:
    assert main(["store", "verify", "--store", str(base)]) == 0
    head = capsys.readouterr()
    assert main(["store", "head", "--store", str(base), "--json"]) == 0
    recorded = json.loads(capsys.readouterr().out)
    assert main(["store", "verify", "--store", str(base), "--head", recorded["head"]]) == 0
    assert main(["store", "verify", "--store", str(base), "--head", recorded["hash"]]) == 0
    assert "ok:" in head.out
    with Store(base, read_only=True) as store:
        assert set(store.verify().checked) == set(TABLES)


@pytest.mark.parametrize(("name", "steps"), CASES, ids=[c[0] for c in CASES])
def test_tampering_fails_verify(base, tmp_path, capsys, name, steps) -> None:
    path = tmp_path / "ledger.duckdb"
    shutil.copy(base, path)
    con = duckdb.connect(str(path))
    for sql in steps:
        con.execute(sql)
    con.close()
    assert main(["store", "verify", "--store", str(path)]) == 1, name
    out = capsys.readouterr().out
    table = name.split("-")[-1].split(".")[0]
    first = out.splitlines()[0]
    assert "FAILED: " in first
    if name.startswith(("edit-", "delete-", "copy-")) and table != "contributors":
        # the first problem names the tampered table (a runs head pointing past the chain names both)
        assert f"FAILED: {table} row " in first or (table == "runs" and "runs row run_id=" in first), first


def test_tail_truncation_needs_the_recorded_head(base, tmp_path, capsys) -> None:
    path = tmp_path / "ledger.duckdb"
    shutil.copy(base, path)
    with Store(path, read_only=True) as store:
        seq, digest = store.head()
        last = store.events()["run_id"][-1]
    con = duckdb.connect(str(path))  # cut the last run off cleanly: its event, its rows and its runs row
    con.execute("DELETE FROM events WHERE seq = ?", [seq])
    con.execute("DELETE FROM decisions WHERE run_id = ?", [last])
    con.execute("DELETE FROM runs WHERE run_id = ?", [last])
    con.close()
    assert main(["store", "verify", "--store", str(path)]) == 0  # consistent on its own ...
    capsys.readouterr()
    assert main(["store", "verify", "--store", str(path), "--head", f"{seq}:{digest}"]) == 1  # ... but not the head
    assert f"events row seq={seq}: the recorded head" in capsys.readouterr().out
    assert main(["store", "verify", "--store", str(path), "--head", "nonsense", "--json"]) == 2
    assert json.loads(capsys.readouterr().out)["field"] == "--head"


def test_latest_is_chain_order_not_timestamps(base, tmp_path) -> None:
    path = tmp_path / "ledger.duckdb"
    shutil.copy(base, path)
    with Store(path) as store:
        latest = store.latest_decisions()
        first_run, last_run = store.events("filter")["run_id"].to_list()
    assert latest.height == 9 and latest.filter(pl.col("run_id") == last_run).height == 3
    con = duckdb.connect(str(path))  # re-date the first run into the future: it must not become "latest"
    con.execute("UPDATE decisions SET decided_at = decided_at + INTERVAL 10 YEAR WHERE run_id = ?", [first_run])
    con.close()
    with Store(path, read_only=True) as store:
        again = store.latest_decisions()
        assert again.filter(pl.col("run_id") == last_run).height == 3
        assert not store.verify().ok
