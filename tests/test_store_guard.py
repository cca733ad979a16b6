"""The store is a store: other files are never touched, exports never replace it, creation is race-safe,
and every CLI error is one line (one JSON object with --json), exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
import pytest

from olkit.cli import main
from olkit.errors import InputError
from olkit.policy import Policy, PolicyError
from olkit.store import Store, StoreError


def _good(tmp_path: Path, n: int = 3, tag: str = "") -> Path:
    path = tmp_path / f"good{tag}.jsonl"
    pl.DataFrame({"contributor_id": [f"c{i}{tag}" for i in range(n)], "instruction": [f"q{i}{tag}" for i in range(n)],
                  "response": ["r"] * n}).write_ndjson(path)
    return path


@pytest.mark.parametrize("suffix", ["jsonl", "parquet", "csv", "txt"])
def test_existing_data_file_is_refused_byte_identical(tmp_path, capsys, suffix) -> None:
    target = tmp_path / f"existing.{suffix}"
    frame = pl.DataFrame({"contributor_id": ["a"], "instruction": ["x"]})
    {"jsonl": frame.write_ndjson, "parquet": frame.write_parquet, "csv": frame.write_csv,
     "txt": lambda p: Path(p).write_text("notes\n")}[suffix](target)
    before = target.read_bytes()
    assert main(["ingest", str(_good(tmp_path)), "--store", str(target)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "exists and is not a DuckDB store" in err
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([target.name, "good.jsonl"])  # nothing else made


def test_foreign_duckdb_is_refused_byte_identical(tmp_path, capsys) -> None:
    target = tmp_path / "other.duckdb"
    con = duckdb.connect(str(target))
    con.execute("CREATE TABLE accounts (id INTEGER, balance DOUBLE)")
    con.execute("INSERT INTO accounts VALUES (1, 10.0)")
    con.close()
    before = target.read_bytes()
    assert main(["ingest", str(_good(tmp_path)), "--store", str(target), "--json"]) == 2
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] is False and "not an olkit store" in out["error"]
    assert target.read_bytes() == before
    with pytest.raises(StoreError, match="not an olkit store"):
        Store(target, read_only=True)


def test_export_refuses_to_overwrite_the_ledger(tmp_path, capsys) -> None:
    store = tmp_path / "ledger.jsonl"  # a new path: becomes a DuckDB store whatever its name
    assert main(["ingest", str(_good(tmp_path)), "--store", str(store)]) == 0
    before = store.read_bytes()
    assert main(["store", "export", "--store", str(store), "--table", "runs", "--out", str(store)]) == 2
    assert "refusing to overwrite the store" in capsys.readouterr().err
    assert store.read_bytes() == before
    assert main(["store", "verify", "--store", str(store)]) == 0
    assert main(["store", "export", "--store", str(store), "--table", "runs",
                 "--out", str(tmp_path / "missing" / "\0bad.parquet"), "--json"]) == 2
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["ok"] is False


def test_failed_first_ingest_removes_only_its_own_file(tmp_path) -> None:
    path = tmp_path / "s.duckdb"
    mine = Store(path)
    assert mine.created
    assert mine.discard_if_new() and not path.exists()
    with Store(path) as winner:  # another process's store, with data
        winner.add_run("note")
    loser = Store(path)  # opened, not created: never removed
    assert not loser.created and not loser.discard_if_new() and path.exists()
    with Store(path) as again:
        assert again.verify().ok and again.stats()["runs"] == 1


def test_creation_race_never_deletes_the_winners_store(tmp_path) -> None:
    """Two processes create the same new store at once, one with a broken file: the good rows survive."""
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"contributor_id": "a", "instruction": "x"}\n{"broken\n')
    good = _good(tmp_path)
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    path = tmp_path / "race.duckdb"
    sources = (bad, good)
    procs = {src: subprocess.Popen([sys.executable, "-m", "olkit.cli", "ingest", str(src), "--store", str(path),
                                    "--no-progress"], env=env, cwd=root, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, text=True) for src in sources}
    codes = {src: proc.wait(timeout=300) for src, proc in procs.items()}
    assert codes[bad] == 2, procs[bad].stderr.read()
    if codes[good] == 0:  # the good ingest won (or ran after): its rows must be there
        with Store(path, read_only=True) as store:
            assert store.stats()["submissions"] == 3 and store.verify().ok
    else:  # it lost the file lock: one clear line, nothing else
        assert "cannot open the store" in procs[good].stderr.read()
    assert not list(tmp_path.glob(".race.duckdb.*"))  # no temp files left behind


def test_yaml_alias_bomb_and_nan_are_refused(tmp_path, capsys) -> None:
    levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    levels += [f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]" for i in range(8)]
    with pytest.raises(PolicyError, match="YAML aliases|values"):
        Policy.from_yaml("\n".join(levels))
    with pytest.raises(PolicyError, match=r"key 'rewards.params.unit': nan is not a finite number"):
        Policy.from_yaml("rewards: {params: {unit: .nan}}")
    with pytest.raises(PolicyError, match="characters"):
        Policy.from_yaml("#" * 1_000_001)


def test_cli_errors_are_one_line_and_json(tmp_path, capsys) -> None:
    src = tmp_path / "t.jsonl"
    src.write_text('{"contributor_id": "a", "instruction": "x", "created_at": 1e300}\n')
    assert main(["ingest", str(src), "--store", str(tmp_path / "s.duckdb"), "--json"]) == 2
    captured = capsys.readouterr()
    obj = json.loads(captured.out)
    assert (obj["file"], obj["row"], obj["field"]) == (str(src), 1, "created_at")
    assert captured.err.count("\n") == 1 and "outside 1900-01-01..2200-01-01" in captured.err
    src.write_text('{"contributor_id": "a", "instruction": "x", "created_at": -1e12}\n')
    assert main(["ingest", str(src), "--store", str(tmp_path / "s.duckdb")]) == 2
    assert not (tmp_path / "s.duckdb").exists()
    pq = tmp_path / "b.parquet"
    pl.DataFrame({"contributor_id": ["a"], "instruction": [b"\xff\xfe"]}).write_parquet(pq)
    assert main(["ingest", str(pq), "--store", str(tmp_path / "s.duckdb")]) == 2
    assert "row 0, field 'instruction': expected text but found bytes that are not UTF-8" in capsys.readouterr().err


def test_ledger_times_outside_the_sane_range_are_refused(tmp_path) -> None:
    from datetime import UTC, datetime

    with Store(tmp_path / "s.duckdb") as store:
        with pytest.raises(InputError, match="started_at 1066-10-14"):
            store.add_run("x", started_at=datetime(1066, 10, 14, tzinfo=UTC))
        with pytest.raises(InputError, match="recorded_at"):
            store.append_events([{"kind": "note", "recorded_at": datetime(2999, 1, 1, tzinfo=UTC)}])
        assert store.stats()["events"] == 0


def test_usage_errors_are_one_line_and_json(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["store", "verify", "--json"])
    captured = capsys.readouterr()
    assert exit_.value.code == 2 and captured.err.count("\n") == 1
    assert json.loads(captured.out) == {"ok": False, "command": "store verify", "file": None, "row": None,
                                        "field": None, "error": "the following arguments are required: --store "
                                        "(see `olkit store verify --help`)"}
