"""Acceptance of ``olkit sample|ingest|store`` through the CLI (in-process, plus one subprocess smoke test)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from olkit.cli import main
from olkit.store import TABLES, Store

ROOT = Path(__file__).resolve().parent.parent


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def _tables(path: Path) -> dict[str, list]:
    with Store(path, read_only=True) as store:
        return {t: store.table(t).rows() for t in TABLES}


@pytest.fixture
def seeded_store(tmp_path, capsys) -> Path:
    """A store holding a few good rows, to check that failed ingests leave it unchanged."""
    good = tmp_path / "good.jsonl"
    pl.DataFrame({"contributor_id": ["a", "b"], "instruction": ["q1", "q2"], "response": ["r1", "r2"]}).write_ndjson(good)
    store = tmp_path / "s.duckdb"
    code, _, _ = _run(capsys, "ingest", str(good), "--store", str(store), "--json")
    assert code == 0
    return store


def test_sample_then_ingest_twice(tmp_path, capsys) -> None:
    code, out, _ = _run(capsys, "sample", "--out", str(tmp_path / "sample"), "--contributors", "25", "--seed", "3", "--json")
    assert code == 0
    written = json.loads(out)
    labels = pl.read_parquet(written["labels"])
    assert {"submission_id", "label", "archetype", "split"} <= set(labels.columns)
    store = tmp_path / "s.duckdb"
    code, out, _ = _run(capsys, "ingest", written["submissions"], "--store", str(store), "--json")
    first = json.loads(out)
    assert code == 0 and first["added"] > 0 and first["rejected_rows"] == 0 and first["store"] == str(store)
    code, out, _ = _run(capsys, "ingest", written["submissions"], "--store", str(store), "--json")
    second = json.loads(out)
    assert code == 0 and second["added"] == 0 and second["skipped_existing"] == first["rows_read"]
    with Store(store, read_only=True) as s:
        ids = set(s.submissions()["submission_id"])
        assert s.verify().ok
    assert ids == set(labels["submission_id"])  # ground truth joins on the ids the store computed


def test_broken_jsonl_line_two(tmp_path, capsys, seeded_store) -> None:
    before = _tables(seeded_store)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"contributor_id": "x", "instruction": "fine"}\n{"contributor_id": "y", "instruction": \n'
                   '{"contributor_id": "z", "instruction": "fine too"}\n')
    code, _, err = _run(capsys, "ingest", str(bad), "--store", str(seeded_store))
    assert code != 0
    assert f"{bad}, line 2: not valid JSON" in err and "Traceback" not in err
    assert _tables(seeded_store) == before


def test_csv_missing_required_column(tmp_path, capsys, seeded_store) -> None:
    before = _tables(seeded_store)
    csv = tmp_path / "foreign.csv"
    csv.write_text("author,question,answer\nann,What?,That.\n")
    code, _, err = _run(capsys, "ingest", str(csv), "--store", str(seeded_store), "--map", "instruction=question,response=answer")
    assert code != 0 and "field 'contributor_id'" in err and str(csv) in err
    code, _, err = _run(capsys, "ingest", str(csv), "--store", str(seeded_store), "--map", "instruction=question,contributor_id=user")
    assert code != 0 and "field 'user'" in err
    assert _tables(seeded_store) == before
    code, out, _ = _run(capsys, "ingest", str(csv), "--store", str(seeded_store), "--json",
                        "--map", "instruction=question,response=answer,contributor_id=author")
    assert code == 0 and json.loads(out)["added"] == 1


def test_invalid_utf8_names_the_line(tmp_path, capsys, seeded_store) -> None:
    before = _tables(seeded_store)
    bad = tmp_path / "latin1.jsonl"
    bad.write_bytes(b'{"contributor_id": "a", "instruction": "ok"}\n\n{"contributor_id": "b", "instruction": "caf\xe9"}\n')
    code, _, err = _run(capsys, "ingest", str(bad), "--store", str(seeded_store))
    assert code != 0 and f"{bad}, line 3: not valid UTF-8" in err
    csv = tmp_path / "latin1.csv"
    csv.write_bytes(b"contributor_id,instruction\na,ok\nb,caf\xe9\n")
    code, _, err = _run(capsys, "ingest", str(csv), "--store", str(seeded_store))
    assert code != 0 and f"{csv}, line 3: not valid UTF-8" in err
    assert _tables(seeded_store) == before


def test_empty_files(tmp_path, capsys, seeded_store) -> None:
    before = _tables(seeded_store)
    for name, body in (("empty.jsonl", ""), ("blank.jsonl", "\n\n"), ("empty.csv", ""),
                       ("header.csv", "contributor_id,instruction\n")):
        path = tmp_path / name
        path.write_text(body)
        code, _, err = _run(capsys, "ingest", str(path), "--store", str(seeded_store))
        assert code != 0 and str(path) in err, name
        assert "empty" in err or "no rows" in err, err
    assert _tables(seeded_store) == before


def test_help_on_every_command(capsys) -> None:
    for argv in (["sample"], ["ingest"], ["store"], ["store", "stats"], ["store", "verify"], ["store", "export"]):
        with pytest.raises(SystemExit) as exit_:
            main([*argv, "--help"])
        assert exit_.value.code == 0
        assert "usage: olkit" in capsys.readouterr().out


def test_subprocess_smoke(tmp_path) -> None:
    """The installed entry point: one clear line on stderr, exit 2, nothing written (one start: imports are slow)."""
    good = tmp_path / "good.jsonl"
    good.write_text('{"contributor_id": "a", "instruction": "Hi", "response": "Hello"}\n')
    bad = tmp_path / "x.jsonl"
    bad.write_text('{"contributor_id": "a", "instruction": "Hi", "response": "Hello"}\n'
                   '{"contributor_id": "a", "instruction": "Bye"\n')
    store = tmp_path / "s.duckdb"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "olkit.cli", "ingest", str(good), str(bad), "--store", str(store), "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == f"olkit ingest: error: {bad}, line 2: not valid JSON (Expecting ',' delimiter at column 45)"
    assert json.loads(proc.stdout) == {"ok": False, "command": "ingest", "file": str(bad), "row": 2, "field": None,
                                       "error": proc.stderr.strip().removeprefix("olkit ingest: error: ")}
    assert not store.exists()  # a failed first ingest leaves no store behind


def test_skip_mode_keeps_good_records_and_lists_the_bad(tmp_path, capsys) -> None:
    src = tmp_path / "mixed.jsonl"
    src.write_bytes(b'{"contributor_id": "a", "instruction": "ok 1"}\n'
                    b'{"contributor_id": "a", "instruction": \n'
                    b'[1, 2]\n'
                    b'{"contributor_id": "b", "instruction": "caf\xe9"}\n'
                    b'{"instruction": "no contributor"}\n'
                    b'{"contributor_id": "c", "instruction": "bad time", "created_at": "soon"}\n'
                    b'{"contributor_id": "c", "instruction": "ok 2", "created_at": "2024-01-01"}\n')
    store = tmp_path / "s.duckdb"
    code, _, err = _run(capsys, "ingest", str(src), "--store", str(store))
    assert code == 2 and f"{src}, line 2: not valid JSON" in err
    assert not store.exists()
    code, out, _ = _run(capsys, "ingest", str(src), "--store", str(store), "--on-error", "skip", "--json")
    result = json.loads(out)
    assert code == 0
    assert (result["added"], result["rejected_rows"], result["rows_read"]) == (2, 5, 7)
    assert [(r["position"], r["field"]) for r in result["rejected"]] == [
        ("line 2", None), ("line 3", None), ("line 4", None), ("line 5", "contributor_id"), ("line 6", "created_at")]
    with Store(store, read_only=True) as s:
        assert sorted(s.submissions()["source_id"]) == ["line:1", "line:7"]
        event = json.loads(s.events("ingest")["payload"][0])
        assert event["rejected_rows"] == 5 and event["rejected"][2]["reason"] == "not valid UTF-8"
        assert s.verify().ok
    bad_only = tmp_path / "bad.jsonl"
    bad_only.write_text("{oops\n[1]\n")
    code, _, err = _run(capsys, "ingest", str(bad_only), "--store", str(store), "--on-error", "skip")
    assert code == 2 and "no readable record: all 2 were rejected (first: line 1" in err
