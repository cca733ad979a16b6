"""Ingestion: normalisation, ids, mappings, readers, provenance (no store writes except where noted)."""

from __future__ import annotations

import json

import datasets
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from olkit import schema
from olkit.errors import InputError
from olkit.ingest import ColumnMap, add_ids, detect_preset, normalize_expr, normalize_text, read
from olkit.ingest.normalize import normalize_series
from olkit.ingest.readers import open_source

NON_LATIN = {
    "zh": "数据贡献经济中的模型归因是什么？",
    "ar": "ما هي بيانات المساهمين؟\u200f",
    "hi": "डेटा योगदान क्या है?",
    "ru": "Что такое вклад данных?",
    "ja": "データ貢献とは\u3000何ですか",
    "emoji": "family: 👨\u200d👩\u200d👧 ok",
    "fa_zwnj": "می\u200cخواهم",
}

# -- normalisation --------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), [
    ("  Cafe\u0301\u00a0au lait \r\n\n\n\nok\x00 ", "Café au lait\n\nok"),
    ("a\r\nb\rc\u2028d", "a\nb\nc\nd"),
    ("zero\u200bwidth\ufeff bom\u2060", "zerowidth bom"),
    ("def f():\n    return 1   \n", "def f():\n    return 1"),  # indentation kept, trailing spaces gone
    ("\t\ttabs\tinside\t", "tabs\tinside"),
    ("bell\x07 and del\x7f", "bell and del"),
    ("", ""),
    ("   \n\t ", ""),
])
def test_normalize_examples(raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected


def test_normalize_keeps_scripts_and_joiners() -> None:
    for text in NON_LATIN.values():
        out = normalize_text(text)
        assert out == out.strip()
        if "\u200d" in text:
            assert "\u200d" in out  # ZWJ keeps emoji sequences together
        if "\u200c" in text:
            assert "\u200c" in out  # ZWNJ is meaningful in Persian
    assert normalize_text(NON_LATIN["ja"]) == "データ貢献とは 何ですか"
    assert normalize_text(None) is None


def test_normalize_one_megabyte_string() -> None:
    chunk = "naïve café 数据 " * 7 + "\r\n"
    big = chunk * (1_000_000 // len(chunk.encode()) + 1)
    assert len(big.encode()) > 1_000_000
    out = normalize_text(big)
    assert "\r" not in out and " \n" not in out
    assert normalize_text(out) == out


def test_vectorised_equals_scalar() -> None:
    values = ["a\u00a0b ", None, "e\u0301\x00", *NON_LATIN.values()]
    frame = pl.DataFrame({"t": values}, schema={"t": pl.String})
    assert frame.select(normalize_expr("t"))["t"].to_list() == [normalize_text(v) for v in values]


_TEXT = st.text(alphabet=st.characters(max_codepoint=0x2FFFF, exclude_categories=("Cs",)), max_size=60)
_MESSY = st.lists(st.one_of(_TEXT, st.sampled_from(["\r\n", "\u00a0", "\x00", "\u200b", "\u0301", " \n",
                                                     "\n\n\n", "\t", "\u2028", "e\u0301", "\ufeff"])),
                  max_size=12).map("".join)


@settings(max_examples=300, deadline=None)
@given(_MESSY)
def test_normalisation_is_idempotent(text: str) -> None:
    once = normalize_text(text)
    assert normalize_text(once) == once


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(st.none(), _MESSY, st.text(alphabet="ab \t", max_size=8)), min_size=1, max_size=30))
def test_fast_series_path_equals_expression(values: list[str | None]) -> None:
    series = pl.Series("t", values, dtype=pl.String)
    fast = normalize_series(series)
    assert fast.to_list() == series.to_frame().select(normalize_expr("t"))["t"].to_list()


# -- ids ------------------------------------------------------------------------------------------


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(_TEXT, st.one_of(st.none(), _TEXT), st.one_of(st.none(), _TEXT),
                          st.one_of(st.none(), _TEXT)), min_size=1, max_size=30))
def test_vectorised_ids_agree_with_schema(rows: list[tuple]) -> None:
    frame = pl.DataFrame(
        [{"datanet": "d", "contributor_id": c, "instruction": i, "response": r, "text": None, "parent_id": p}
         for c, i, r, p in rows],
        schema={k: pl.String for k in ("datanet", "contributor_id", "instruction", "response", "text", "parent_id")})
    out = add_ids(frame, normalize=False)
    for row in out.iter_rows(named=True):
        ch = schema.content_hash(row["instruction"], row["response"], row["text"])
        assert row["content_hash"] == ch
        assert row["submission_id"] == schema.submission_id("d", row["contributor_id"], ch, row["parent_id"])


def test_add_ids_on_a_raw_frame_matches_ingestion() -> None:
    raw = pl.DataFrame({"datanet": ["qa"] * 4, "contributor_id": [" ann", "bob\u00a0", "cé", "d"],
                        "instruction": ["Cafe\u0301? ", "x\r\ny", "plain", None],
                        "response": ["ok\x00", "  spaced  ", "\u200bz", "t"], "text": [None] * 4,
                        "parent_id": [None, " s_1", None, None]},
                       schema_overrides={"text": pl.String})
    ids = add_ids(raw)
    assert ids["submission_id"].to_list() == read(raw)["submission_id"].to_list()
    assert ids["instruction"][0] == "Café?" and ids["contributor_id"][0] == "ann"
    assert add_ids(raw, normalize=False)["submission_id"][0] != ids["submission_id"][0]


# -- mappings -------------------------------------------------------------------------------------


def test_map_spec_parsing() -> None:
    m = ColumnMap.parse("instruction=question, response=answer,contributor_id='Ann, B.'")
    assert m.preset is None and m.columns == {"instruction": "question", "response": "answer"}
    assert m.literals == {"contributor_id": "Ann, B."}
    assert ColumnMap.parse("sharegpt,license=\"CC-BY-4.0\"").literals == {"license": "CC-BY-4.0"}
    with pytest.raises(InputError, match="unknown mapping preset 'nope'"):
        ColumnMap.parse("nope")
    with pytest.raises(InputError, match="cannot map to 'answer'"):
        ColumnMap.parse("answer=response")
    with pytest.raises(InputError, match="cannot parse mapping"):
        ColumnMap.parse("instruction=q,,=x")


def test_detect_presets() -> None:
    assert detect_preset(["contributor_id", "instruction", "response"]) == "olkit"
    assert detect_preset(["instruction", "input", "output"]) == "alpaca"
    assert detect_preset(["conversations", "id"]) == "sharegpt"
    assert detect_preset(["messages"]) == "openai"
    assert detect_preset(["instruction", "context", "response", "category"]) == "dolly"


def test_alpaca_json_array_keeps_unused_fields(tmp_path) -> None:
    path = tmp_path / "alpaca.json"
    path.write_text(json.dumps([
        {"instruction": "Translate", "input": "chat", "output": "cat", "lang": "fr"},
        {"instruction": "Name a colour", "input": "", "output": "blue", "lang": None},
    ]))
    out = read(path, "alpaca,contributor_id='stanford',license='CC-BY-NC-4.0'")
    assert out["instruction"].to_list() == ["Translate\n\nchat", "Name a colour"]
    assert out["response"].to_list() == ["cat", "blue"]
    assert out["contributor_id"].unique().to_list() == ["stanford"]
    assert out["license"].unique().to_list() == ["CC-BY-NC-4.0"]
    assert json.loads(out["meta"][0]) == {"lang": "fr"}
    assert out["source_id"].to_list() == ["record:0", "record:1"]


def test_sharegpt_and_openai_layouts(tmp_path) -> None:
    convs = [
        {"id": "x1", "user": "u1", "conversations": [{"from": "human", "value": "Hi?"}, {"from": "gpt", "value": "Hello"}]},
        {"id": "x2", "user": "u2", "conversations": [{"from": "system", "value": "Be brief"},
                                                     {"from": "human", "value": "2+2?"}, {"from": "gpt", "value": "4"},
                                                     {"from": "human", "value": "and 3+3?"}]},
    ]
    path = tmp_path / "sharegpt.jsonl"
    path.write_text("\n".join(json.dumps(c) for c in convs) + "\n")
    out = read(path, "contributor_id=user")
    assert out["instruction"].to_list() == ["Hi?", "2+2?"]
    assert out["response"].to_list() == ["Hello", "4"]
    assert out["source_id"].to_list() == ["x1", "x2"]
    assert json.loads(out["meta"][0])["conversations"] is None
    assert len(json.loads(out["meta"][1])["conversations"]) == 4  # the whole multi-turn chat is kept
    msgs = pl.DataFrame({"messages": [[{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}]],
                         "who": ["w"]})
    out = read(msgs, "openai,contributor_id=who")
    assert out.select("instruction", "response", "contributor_id").row(0) == ("Q", "A", "w")


def test_override_moves_identity_column_to_meta() -> None:
    frame = pl.DataFrame({"contributor_id": ["a"], "instruction": ["old"], "question": ["new"], "response": ["r"]})
    out = read(frame, "instruction=question")
    assert out["instruction"][0] == "new"
    assert json.loads(out["meta"][0]) == {"instruction": "old"}


def test_mapping_errors_name_the_field(tmp_path) -> None:
    frame = pl.DataFrame({"user": ["a"], "q": ["x"]})
    with pytest.raises(InputError, match="contributor_id"):
        read(frame, "instruction=q")
    with pytest.raises(InputError, match="'nothere'"):
        read(frame, "instruction=nothere,contributor_id=user")
    with pytest.raises(InputError, match=r"row 1, field 'contributor_id'"):
        read(pl.DataFrame({"contributor_id": ["a", None], "instruction": ["x", "y"]}))
    bad = tmp_path / "t.jsonl"
    bad.write_text('{"contributor_id": "a", "instruction": "x", "created_at": "2024-01-01"}\n'
                   '{"contributor_id": "a", "instruction": "y", "created_at": "yesterday"}\n')
    with pytest.raises(InputError, match=r"line 2, field 'created_at': not a timestamp: 'yesterday'"):
        read(bad)
    nested = tmp_path / "n.jsonl"
    nested.write_text('{"contributor_id": "a", "instruction": {"q": 1}}\n')
    with pytest.raises(InputError, match=r"line 1, field 'instruction': expected text"):
        read(nested)


# -- readers and provenance -----------------------------------------------------------------------


def _rows() -> pl.DataFrame:
    return pl.DataFrame({
        "contributor_id": ["ann", "bob", "ann"],
        "instruction": [NON_LATIN["zh"], "What is 2+2?\u00a0", "Explain NFC"],
        "response": ["归因", "4", "Cafe\u0301"],
        "created_at": ["2025-01-02T03:04:05Z", "2025-01-02 10:00:00", None],
        "source_id": ["a1", "a2", "a3"],
        "score": [1, 2, 3],
    })


def test_every_format_gives_the_same_ids(tmp_path) -> None:
    frame = _rows()
    frame.write_ndjson(tmp_path / "x.jsonl")
    frame.write_csv(tmp_path / "x.csv")
    frame.write_parquet(tmp_path / "x.parquet")
    (tmp_path / "x.json").write_text(json.dumps(frame.to_dicts()))
    datasets.Dataset.from_polars(frame).save_to_disk(str(tmp_path / "hf"))
    ids = read(frame)["submission_id"].to_list()
    for src in ("x.jsonl", "x.csv", "x.parquet", "x.json", "hf"):
        out = read(tmp_path / src)
        assert out["submission_id"].to_list() == ids, src
        assert out["source"][0] == str(tmp_path / src)
    assert read(frame.to_pandas())["submission_id"].to_list() == ids
    assert read(datasets.Dataset.from_polars(frame))["submission_id"].to_list() == ids
    out = read(tmp_path / "x.jsonl")
    assert out["instruction"][1] == "What is 2+2?" and out["response"][2] == "Café"
    assert out["created_at"].dt.year().to_list() == [2025, 2025, None]
    assert str(out.schema["created_at"]) == str(pl.Datetime("us", "UTC"))
    assert json.loads(out["meta"][0]) == {"score": 1}
    assert out["datanet"].unique().to_list() == ["default"]
    assert read(frame, datanet="qa")["datanet"].unique().to_list() == ["qa"]


def test_dataset_dict_records_split(tmp_path) -> None:
    dd = datasets.DatasetDict({"train": datasets.Dataset.from_polars(_rows()),
                               "test": datasets.Dataset.from_polars(_rows().head(1))})
    dd.save_to_disk(str(tmp_path / "dd"))
    out = read(tmp_path / "dd")
    assert sorted(json.loads(m)["hf_split"] for m in out["meta"]) == ["test", "train", "train", "train"]


def test_jsonl_positions_skip_blank_lines_and_batches(tmp_path) -> None:
    path = tmp_path / "gaps.jsonl"
    lines = [json.dumps({"contributor_id": f"c{i}", "text": f"t{i}"}) for i in range(50)]
    body = "\ufeff" + "\n\n".join(lines[:25]) + "\n   \n" + "\r\n".join(lines[25:]) + "\n"
    path.write_text(body, encoding="utf-8")
    # a tiny chunk size forces many newline-aligned batches
    from olkit.ingest.core import iter_prepared

    batches = [b for _, b in iter_prepared(path, progress=False, batch_bytes=64)]
    assert len(batches) > 5
    out = pl.concat(batches)
    assert out.height == 50
    expected = [1 + 2 * i for i in range(25)] + [51 + i for i in range(25)]
    assert out["_pos"].to_list() == expected
    assert out["source_id"][0] == "line:1" and out["text"][49] == "t49"


def test_reader_errors(tmp_path) -> None:
    with pytest.raises(InputError, match="no such file"):
        open_source(tmp_path / "missing.jsonl")
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(InputError, match="unknown file type"):
        open_source(tmp_path / "x.txt")
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "a.jsonl").write_text("{}")
    with pytest.raises(InputError, match="pass the data files instead: a.jsonl"):
        open_source(tmp_path / "folder")
    (tmp_path / "blank.jsonl").write_text("\n  \n\n")
    with pytest.raises(InputError, match="empty"):
        read(tmp_path / "blank.jsonl")
    (tmp_path / "arr.jsonl").write_text('{"contributor_id": "a", "text": "x"}\n[1, 2]\n')
    with pytest.raises(InputError, match=r"line 2: expected a JSON object"):
        read(tmp_path / "arr.jsonl")
    (tmp_path / "ragged.csv").write_text('contributor_id,instruction\na,"two\nlines"\nb,c,d\n')
    with pytest.raises(InputError, match=r"ragged.csv, line 4: expected 2 fields \(as in the header\), found 3"):
        read(tmp_path / "ragged.csv")
    with pytest.raises(InputError, match="frame is empty"):
        read(pl.DataFrame(schema={"contributor_id": pl.String, "text": pl.String}))


def test_one_megabyte_record_and_scripts(tmp_path) -> None:
    big = ("数据 données данные " * 40_000)[:650_000]
    assert len(big.encode()) > 1_000_000
    frame = pl.DataFrame({"contributor_id": ["ann", *NON_LATIN], "instruction": [big, *NON_LATIN.values()],
                          "response": ["ok", *NON_LATIN.values()]})
    frame.write_ndjson(tmp_path / "big.jsonl")
    out = read(tmp_path / "big.jsonl")
    assert out["instruction"][0] == big.strip()
    assert out["content_hash"][0] == schema.content_hash(big.strip(), "ok", None)
    assert out["contributor_id"].to_list() == ["ann", *NON_LATIN]
    from olkit.store import Store

    with Store(tmp_path / "s.duckdb") as store:
        from olkit.ingest import ingest

        assert ingest(tmp_path / "big.jsonl", store, progress=False).added == frame.height
        stored = store.submissions().sort("source_id")
        assert stored["instruction"][0] == big.strip() and stored["submission_id"].to_list() == out["submission_id"].to_list()
        assert store.verify().ok


def test_gzipped_files(tmp_path) -> None:
    import gzip

    frame = _rows()
    with gzip.open(tmp_path / "x.jsonl.gz", "wb") as fh:
        frame.write_ndjson(fh)
    with gzip.open(tmp_path / "x.csv.gz", "wb") as fh:
        frame.write_csv(fh)
    ids = read(frame)["submission_id"].to_list()
    assert read(tmp_path / "x.jsonl.gz")["submission_id"].to_list() == ids
    assert read(tmp_path / "x.csv.gz")["submission_id"].to_list() == ids


def test_docstring_examples() -> None:
    import doctest

    import olkit.ingest
    import olkit.ingest.core
    import olkit.ingest.hashing
    import olkit.ingest.mapping
    import olkit.ingest.normalize
    import olkit.store

    for module in (olkit.ingest, olkit.ingest.core, olkit.ingest.hashing, olkit.ingest.mapping,
                   olkit.ingest.normalize, olkit.store):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0 and result.attempted > 0, module.__name__
