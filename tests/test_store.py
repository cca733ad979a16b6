"""The DuckDB ledger: transactions, idempotent ingest, hash-chained events, verify, decisions, export."""

from __future__ import annotations

import json

import duckdb
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from olkit.cli import main
from olkit.errors import InputError
from olkit.ingest import ingest, read
from olkit.store import TABLES, Store, StoreError


def _frame(n: int = 6, offset: int = 0) -> pl.DataFrame:
    return pl.DataFrame({
        "contributor_id": [f"c{(i + offset) % 3}" for i in range(n)],
        "instruction": [f"Question {i + offset}?" for i in range(n)],
        "response": [f"Answer {i + offset}." for i in range(n)],
    })


def _snapshot(path) -> dict[str, list]:
    with Store(path, read_only=True) as store:
        return {t: store.table(t).rows() for t in TABLES}


def test_ingest_counts_contributors_and_runs(tmp_path) -> None:
    with Store(tmp_path / "s.duckdb") as store:
        first = ingest(_frame(6), store, progress=False)
        second = ingest([_frame(6), _frame(4, offset=6)], store, progress=False)
        assert (first.added, first.skipped_existing) == (6, 0)
        assert (second.added, second.skipped_existing, second.rows_read) == (4, 6, 10)
        contributors = store.contributors().sort("contributor_id")
        assert contributors["n_submissions"].to_list() == [4, 3, 3]
        assert store.stats()["runs"] == 2 and store.stats()["events"] == 2
        subs = store.submissions()
        assert subs.height == 10 and subs["submission_id"].is_unique().all()
        assert set(subs.columns) >= {"source", "source_id", "meta", "ingest_run", "ingested_at"}
        event = json.loads(store.events("ingest")["payload"][1])
        assert event["added"] == 4 and event["rows"] == 4 and len(event["digest"]) == 64
        assert store.verify().ok


def test_duplicates_inside_one_call_keep_the_first(tmp_path) -> None:
    frame = pl.concat([_frame(3), _frame(3)])
    with Store(tmp_path / "s.duckdb") as store:
        result = ingest(frame, store, progress=False)
        assert (result.added, result.skipped_existing) == (3, 3)
        assert store.submissions()["source_id"].sort().to_list() == ["row:0", "row:1", "row:2"]


def test_error_in_a_later_source_writes_nothing(tmp_path) -> None:
    path = tmp_path / "s.duckdb"
    with Store(path) as store:
        ingest(_frame(3), store, progress=False)
    before = _snapshot(path)
    bad = tmp_path / "bad.jsonl"
    lines = [json.dumps({"contributor_id": "z", "instruction": f"q{i}", "response": "a"}) for i in range(2000)]
    lines[1500] = '{"contributor_id": "z", "instruction": '
    bad.write_text("\n".join(lines) + "\n")
    good = tmp_path / "good.jsonl"
    _frame(5, offset=100).write_ndjson(good)
    with Store(path) as store, pytest.raises(InputError, match=r"bad.jsonl, line 1501"):
        # small chunks: the first 1000+ lines of bad.jsonl are already inserted when line 1501 fails
        ingest([good, bad], store, progress=False, batch_bytes=4096)
    assert _snapshot(path) == before


def test_verify_detects_edited_and_deleted_events(tmp_path, capsys) -> None:
    path = tmp_path / "s.duckdb"
    with Store(path) as store:
        for k in range(4):
            ingest(_frame(3, offset=10 * k), store, progress=False)
        store.append_events([{"kind": "reputation", "subject": "c1", "payload": {"delta": 0.5}}])
        assert store.verify().ok and store.head()[0] == 5
    con = duckdb.connect(str(path))
    con.execute("UPDATE events SET payload = replace(payload, '0.5', '5.0') WHERE seq = 5")
    con.close()
    with Store(path, read_only=True) as store:
        report = store.verify()
    assert not report.ok and str(report.problems[0]).startswith("events row seq=5: edited")

    path2 = tmp_path / "t.duckdb"
    with Store(path2) as store:
        for k in range(4):
            ingest(_frame(3, offset=10 * k), store, progress=False)
    con = duckdb.connect(str(path2))
    con.execute("DELETE FROM events WHERE seq = 2")
    con.close()
    with Store(path2, read_only=True) as store:
        assert str(store.verify().problems[0]).startswith("events row seq=2: deleted")
    assert main(["store", "verify", "--store", str(path2)]) == 1
    assert "FAILED: events row seq=2: deleted (the chain jumps from seq=1 to seq=3)" in capsys.readouterr().out
    con = duckdb.connect(str(path2))
    con.execute("DELETE FROM events WHERE seq >= 2")  # the tail: caught by the head recorded in runs
    con.close()
    with Store(path2, read_only=True) as store:
        assert str(store.verify().problems[0]).startswith("events row seq=2..4: deleted")


def test_verify_detects_tampered_submissions(tmp_path) -> None:
    path = tmp_path / "s.duckdb"
    with Store(path) as store:
        ingest(_frame(5), store, progress=False)
        victim = store.submissions()["submission_id"][2]
    con = duckdb.connect(str(path))
    con.execute("UPDATE submissions SET response = 'better answer' WHERE submission_id = ?", [victim])
    con.close()
    with Store(path, read_only=True) as store:
        problems = [str(p) for p in store.verify().problems]
    assert problems[0] == f"submissions row submission_id={victim}: its content no longer matches its content_hash (edited)"
    con = duckdb.connect(str(path))
    con.execute("DELETE FROM submissions WHERE submission_id = ?", [victim])
    con.close()
    with Store(path, read_only=True) as store:
        problems = [str(p) for p in store.verify().problems]
    assert len(problems) == 1 and "1 row(s) deleted" in problems[0]


def test_decisions_payouts_adapters(tmp_path) -> None:
    from olkit.policy import Policy

    with Store(tmp_path / "s.duckdb") as store:
        ingest(_frame(4), store, progress=False)
        ids = store.submissions()["submission_id"].to_list()
        policy = Policy(name="strict")
        run1 = store.add_decisions(pl.DataFrame({
            "submission_id": ids, "accepted": [True, False, True, True],
            "reasons": [[], ["heuristics.symbol_ratio"], [], []], "heuristics.score": [0.1, 0.9, 0.2, 0.3]}),
            policy=policy)
        run2 = store.add_decisions(pl.DataFrame({"submission_id": ids[:2], "accepted": [False, True]}),
                                   run_id="filter-2", policy=policy.version_hash)
        latest = store.latest_decisions()
        assert latest.height == 4
        by_id = dict(zip(latest["submission_id"], latest["run_id"], strict=True))
        assert by_id[ids[0]] == run2 and by_id[ids[3]] == run1
        first = store.table("decisions").filter(pl.col("run_id") == run1)
        assert json.loads(first["scores"][1]) == {"heuristics.score": 0.9}
        assert first["reasons"][1].to_list() == ["heuristics.symbol_ratio"]
        assert first["policy_hash"][0] == policy.version_hash
        assert store.table("runs").filter(pl.col("run_id") == run1)["policy"][0] is not None
        with pytest.raises(InputError, match="not in the store"):
            store.add_decisions(pl.DataFrame({"submission_id": ["s_nope"], "accepted": [True]}))
        with pytest.raises(InputError, match="already has decisions"):
            store.add_decisions(pl.DataFrame({"submission_id": ids[:1], "accepted": [True]}), run_id="filter-2")
        store.add_payouts(pl.DataFrame({"contributor_id": ["c0", "c1"], "amount": [3.0, 1.0]}), run_id="reward-1")
        store.add_adapter("/tmp/adapter", run_id="train-1", base_model="smollm2-135m", submission_ids=ids[:3])
        assert store.table("adapters")["n_examples"][0] == 3
        assert store.verify().ok
        events = store.events()["kind"].to_list()
        assert events == ["ingest", "filter", "filter", "reward", "adapter"]
    con = duckdb.connect(str(tmp_path / "s.duckdb"))
    con.execute("UPDATE payouts SET amount = 30 WHERE contributor_id = 'c0'")
    con.close()
    with Store(tmp_path / "s.duckdb", read_only=True) as store:
        assert "payouts row run_id=reward-1" in str(store.verify().problems[0])


def test_export_and_frames(tmp_path) -> None:
    with Store(tmp_path / "s.duckdb") as store:
        ingest(_frame(5), store, progress=False)
        for suffix in ("parquet", "csv", "jsonl"):
            out = store.export("submissions", tmp_path / f"out/subs.{suffix}")
            assert out.exists()
        assert pl.read_parquet(tmp_path / "out/subs.parquet").height == 5
        assert len(pl.read_ndjson(tmp_path / "out/subs.jsonl")) == 5
        assert store.to_pandas("contributors").shape[0] == 3
        with pytest.raises(InputError, match="unknown table"):
            store.export("nope", tmp_path / "x.parquet")
    with pytest.raises(StoreError, match="no such store"):
        Store(tmp_path / "missing.duckdb", read_only=True)


def test_store_cli_verify_export_stats(tmp_path, capsys) -> None:
    path = tmp_path / "s.duckdb"
    src = tmp_path / "x.jsonl"
    _frame(6).write_ndjson(src)
    assert main(["ingest", str(src), "--store", str(path), "--json"]) == 0
    capsys.readouterr()
    assert main(["store", "stats", "--store", str(path), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["submissions"] == 6 and stats["events"] == 1
    assert main(["store", "verify", "--store", str(path)]) == 0
    assert "ok" in capsys.readouterr().out
    assert main(["store", "export", "--store", str(path), "--table", "events", "--out", str(tmp_path / "e.parquet")]) == 0
    assert pl.read_parquet(tmp_path / "e.parquet").height == 1
    con = duckdb.connect(str(path))
    con.execute("UPDATE events SET kind = 'forged' WHERE seq = 1")
    con.close()
    assert main(["store", "verify", "--store", str(path)]) == 1
    assert "events row seq=1: edited" in capsys.readouterr().out
    assert main(["store", "stats", "--store", str(tmp_path / "none.duckdb")]) == 2
    assert "no such store" in capsys.readouterr().err


_ITEM = st.tuples(st.sampled_from(["ann", "bob", " ann", "bób"]),
                  st.text(alphabet="ab \u00a0\u0301e\n", max_size=6),
                  st.text(alphabet="xy\r\n\t ", max_size=4))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_ITEM, min_size=1, max_size=12))
def test_ingest_twice_equals_once(tmp_path_factory, items) -> None:
    frame = pl.DataFrame(items, schema=["contributor_id", "instruction", "response"], orient="row")
    path = tmp_path_factory.mktemp("idem") / "s.duckdb"
    with Store(path) as store:
        ingest(frame, store, progress=False)
        once = {t: store.table(t).drop("ingested_at", "recorded_at", strict=False).rows() for t in TABLES}
        again = ingest(frame, store, progress=False)
        twice = {t: store.table(t).drop("ingested_at", "recorded_at", strict=False).rows() for t in TABLES}
        assert again.added == 0 and twice == once
        assert store.submissions().height == read(frame)["submission_id"].n_unique()


def test_economy_round_writes_through_store_methods(tmp_path) -> None:
    """Decisions, reputation, adapter and payouts attached to round runs: verify passes, latest = chain order."""
    with Store(tmp_path / "s.duckdb") as store:
        ingest(_frame(6), store, progress=False)
        ids = store.submissions()["submission_id"].to_list()
        for k in range(2):
            round_id = store.add_run("round", run_id=f"round-{k}", params={"round": k})
            store.add_decisions(pl.DataFrame({"submission_id": ids, "accepted": [(i + k) % 2 == 0 for i in range(6)]}),
                                run_id=round_id, policy="p1")
            store.add_reputation(pl.DataFrame({"contributor_id": ["c0", "c1", "c2"], "reputation": [0.1 * k, 0.5, 0.9],
                                               "alpha": [1.0, 2.0, 3.0]}), run_id=round_id, policy="p1")
            store.add_adapter("/tmp/a", run_id=round_id, base_model="smollm2-135m", submission_ids=ids[:2])
            store.add_payouts(pl.DataFrame({"contributor_id": ["c0", "c1"], "amount": [1.0, 2.0]}), run_id=round_id)
            store.append_events([{"kind": "note", "subject": "c0", "payload": {"round": k}}])
        assert store.verify().ok
        assert set(store.latest_decisions()["run_id"]) == {"round-1"}
        assert store.latest_reputation().filter(pl.col("contributor_id") == "c0")["reputation"][0] == pytest.approx(0.1)
        runs = store.table("runs")
        assert runs.height == 3 and set(runs["kind"]) == {"ingest", "round"}
        with pytest.raises(InputError, match="already has payouts"):
            store.add_payouts(pl.DataFrame({"contributor_id": ["c0"], "amount": [1.0]}), run_id="round-1")
        with pytest.raises(InputError, match="already has reputation"):
            store.add_reputation(pl.DataFrame({"contributor_id": ["c0"], "reputation": [1.0]}), run_id="round-1")
        assert store.verify().ok
        assert "row_hash" not in store.table("payouts").columns


def test_store_imports_no_stage() -> None:
    """The store sits below the stages: it imports only errors, hashing, the shared kit and schema from olkit."""
    import ast
    from pathlib import Path

    import olkit.store

    tree = ast.parse(Path(olkit.store.__file__).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
                and node.module.startswith("olkit")}
    assert imported == {"olkit.errors", "olkit.hashing", "olkit.kit", "olkit.schema"}
