"""Identity is exact and ingestion never half-writes: property tests over JSONL/JSON/CSV/Parquet.

Ids are kept as the exact source text (a JSON number's literal digits, never a float round trip):
two distinct source ids never merge.  Random files either ingest with ids and text round-tripping
exactly, or fail with a clear error naming the file, leaving the store unchanged.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from olkit.errors import InputError
from olkit.ingest import ingest, normalize_text, read
from olkit.ingest.normalize import normalize_id_expr
from olkit.store import TABLES, Store

_SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                             HealthCheck.too_slow])

#: JSON number literals: big and small ints, decimals with trailing zeros, exponents, negatives
_NUMBER = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.from_regex(r"-?(0|[1-9][0-9]{0,20})\.[0-9]{1,6}([eE][+-]?[0-9]{1,2})?", fullmatch=True),
    st.from_regex(r"-?[1-9][0-9]{0,18}[eE][+-]?[0-9]{1,2}", fullmatch=True),
    st.sampled_from(["9007199254740993", "9007199254740992", "9007199254740992.0", "12345", "12345.0", "-0.0",
                     "1E5", "1e5", "100000"]),
)
#: text ids that normalisation leaves alone
_TEXT_ID = st.text(alphabet="abcxyz0123456789-_.:@", min_size=1, max_size=10)


def _normalize_id(value: str) -> str:
    return pl.select(normalize_id_expr(pl.lit(value, dtype=pl.String))).item()


def _snapshot(path: Path) -> dict[str, list]:
    with Store(path, read_only=True) as store:
        return {t: store.table(t).rows() for t in TABLES}


def test_json_number_ids_stay_exact_and_distinct(tmp_path) -> None:
    src = tmp_path / "ids.jsonl"
    src.write_text('{"contributor_id": 9007199254740993, "instruction": "a"}\n'
                   '{"contributor_id": 9007199254740992, "instruction": "b"}\n'
                   '{"contributor_id": 12345, "instruction": "c", "response": 1.50}\n'
                   '{"contributor_id": "12345.0", "instruction": "d"}\n'
                   '{"contributor_id": 1.5, "instruction": "e"}\n')
    with Store(tmp_path / "s.duckdb") as store:
        ingest(src, store, progress=False)
        ids = sorted(store.contributors()["contributor_id"].to_list())
        assert ids == sorted(["9007199254740993", "9007199254740992", "12345", "12345.0", "1.5"])
        assert store.submissions().filter(pl.col("instruction") == "c")["response"][0] == "1.50"
        assert store.verify().ok


@_SETTINGS
@given(ids=st.lists(st.one_of(_NUMBER.map(lambda t: ("number", t)), _TEXT_ID.map(lambda t: ("text", t))),
                    min_size=1, max_size=12),
       as_array=st.booleans())
def test_distinct_source_ids_never_merge(tmp_path_factory, ids, as_array) -> None:
    folder = tmp_path_factory.mktemp("ids")
    records = [f'{{"contributor_id": {t if kind == "number" else json.dumps(t)}, "instruction": "item {i}"}}'
               for i, (kind, t) in enumerate(ids)]
    if as_array:
        src = folder / "ids.json"
        src.write_text("[" + ",\n".join(records) + "]")
    else:
        src = folder / "ids.jsonl"
        src.write_text("\n".join(records) + "\n")
    frame = read(src)
    expected = [t for _, t in ids]
    assert frame["contributor_id"].to_list() == expected  # exact literal text, in order
    assert frame["contributor_id"].n_unique() == len(set(expected))


_VALUE = st.one_of(st.none(), st.text(max_size=8), st.integers(-(2**66), 2**66), st.booleans(),
                   st.floats(allow_nan=False, allow_infinity=False), st.lists(st.integers(0, 3), max_size=2))
_CREATED = st.one_of(st.none(), st.sampled_from(["2024-05-01T12:00:00Z", "2024-05-01", "soon", "-1e12", "9999-01-01"]),
                     st.sampled_from([1714564800, 1e300, -1e12, 0]))


@_SETTINGS
@given(rows=st.lists(st.fixed_dictionaries(
    {"contributor_id": st.one_of(_TEXT_ID, st.integers(-(2**62), 2**62), st.floats(allow_nan=False, allow_infinity=False),
                                 st.none(), st.just(" ")),
     "instruction": st.text(max_size=12)},
    optional={"response": _VALUE, "created_at": _CREATED, "extra": _VALUE}), min_size=1, max_size=8),
    fmt=st.sampled_from(["jsonl", "csv", "parquet"]))
def test_fuzzed_files_round_trip_or_fail_cleanly(tmp_path_factory, rows, fmt) -> None:
    folder = tmp_path_factory.mktemp("fuzz")
    store_path = folder / "s.duckdb"
    with Store(store_path) as store:  # a store with something in it already
        ingest(pl.DataFrame({"contributor_id": ["seed"], "instruction": ["seed item"]}), store, progress=False)
    before = _snapshot(store_path)
    src = folder / f"data.{fmt}"
    if fmt == "jsonl":
        src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        cols = sorted({k for r in rows for k in r})
        try:
            frame = pl.DataFrame([{c: r.get(c) for c in cols} for r in rows], infer_schema_length=None)
        except (pl.exceptions.PolarsError, TypeError, OverflowError, ValueError):
            return  # polars itself cannot hold these mixed values: no file to test
        if fmt == "csv":
            try:
                frame.write_csv(src)
            except pl.exceptions.PolarsError:
                return  # nested values cannot be CSV
        else:
            frame.write_parquet(src)
    datanet = uuid.uuid4().hex[:8]
    with Store(store_path) as store:
        try:
            result = ingest(src, store, datanet=datanet, progress=False)
        except InputError as err:
            assert str(src) in str(err) or err.field is not None, str(err)
            assert "\n" not in str(err)
            failed = True
        else:
            failed = False
            got = store.submissions(datanet=datanet).sort("source_id")
            assert result.added == got.height and store.verify().ok
    if failed:
        assert _snapshot(store_path) == before
        return
    # the exact text each format holds: JSON literals, CSV cells, Parquet values as text
    if fmt == "jsonl":
        ids = [c if isinstance(c, str) or c is None else json.dumps(c) for c in (r["contributor_id"] for r in rows)]
        texts = [r["instruction"] for r in rows]
        first = 1
    elif fmt == "csv":
        cells = pl.read_csv(src, infer_schema=False)
        ids, texts, first = cells["contributor_id"].to_list(), cells["instruction"].to_list(), 2
    else:
        cells = pl.read_parquet(src)
        ids, texts, first = cells["contributor_id"].cast(pl.String).to_list(), cells["instruction"].to_list(), 0
    assert got.height == len(rows)
    for source_id, cid, text in zip(got["source_id"], got["contributor_id"], got["instruction"], strict=True):
        pos = int(source_id.split(":")[1]) - first
        assert cid == _normalize_id(ids[pos])
        assert text == normalize_text(texts[pos] if texts[pos] is not None else None)


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "parquet"])
def test_big_integer_ids_exact_in_every_format(tmp_path, fmt) -> None:
    frame = pl.DataFrame({"contributor_id": [9007199254740993, 9007199254740992], "instruction": ["a", "b"]})
    src = tmp_path / f"x.{fmt}"
    {"jsonl": frame.write_ndjson, "json": frame.write_json, "csv": frame.write_csv,
     "parquet": frame.write_parquet}[fmt](src)
    assert read(src)["contributor_id"].to_list() == ["9007199254740993", "9007199254740992"]
