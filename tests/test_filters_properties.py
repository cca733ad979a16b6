"""Property tests: no filter crashes on empty, huge (1 MB) or non-Latin input, and outputs keep shape."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from olkit.filters import Pipeline
from olkit.filters.base import DECISION_COLUMNS
from olkit.filters.config import FilterPolicy
from olkit.filters.registry import default_filters

SCRIPTS = ["The quick brown fox.", "Съешь же ещё этих мягких французских булок.", "我能吞下玻璃而不伤身体。",
           "ファイルを開けませんでした", "정말 고맙습니다", "مرحبا بالعالم", "🔥🚀💰", "\u200b\ufeff\ufffd",
           "e\u0301\u0301\u0301", "\x00\x01\x1f", "   \n\n\t ", "#### ... …", "https://x.io/a?b=c", "a@b.co",
           "4111 1111 1111 1111", "```code```", "<div>&amp;</div>"]

texts = st.one_of(
    st.just(""),
    st.text(max_size=200),
    st.lists(st.sampled_from(SCRIPTS), max_size=12).map(" ".join),
    st.builds(lambda s, n: (s + " ") * n, st.sampled_from(SCRIPTS), st.integers(1, 50)),
)
maybe = st.one_of(st.none(), texts)


@st.composite
def batches(draw):
    n = draw(st.integers(1, 6))
    doc = draw(st.booleans())
    rows = {
        "submission_id": [f"s{i}" for i in range(n)],
        "instruction": [None if doc else draw(maybe) for _ in range(n)],
        "response": [None if doc else draw(maybe) for _ in range(n)],
        "text": [draw(maybe) if doc else None for _ in range(n)],
    }
    return pl.DataFrame(rows, schema={k: pl.String for k in rows})


def _check(batch: pl.DataFrame) -> None:
    for f in default_filters("instruction"):
        scores = f.score(batch)
        assert scores.height == batch.height
        assert scores["submission_id"].to_list() == batch["submission_id"].to_list()
        dec = f.decide(scores, FilterPolicy())
        assert list(dec.columns[:4]) == list(DECISION_COLUMNS)
        assert dec.height == batch.height
        assert dec["passed"].null_count() == 0


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches())
def test_filters_never_crash(batch):
    _check(batch)


@pytest.mark.parametrize("block", ["word ", "日本語", "Привет мир. ", "🔥", "x\n"])
def test_one_megabyte_strings(block):
    big = block * (1_000_000 // len(block.encode()))
    batch = pl.DataFrame({"submission_id": ["big", "small"], "instruction": ["Explain.", "Explain."],
                          "response": [big, "A short, ordinary answer that is fine."]})
    result = Pipeline.default().run(batch, progress=False)
    assert result.scores.height == 2
    small = result.decisions.filter(pl.col("submission_id") == "small")
    assert small["accepted"].item()
    assert not result.decisions.filter(pl.col("submission_id") == "big")["accepted"].item()


def test_empty_batch():
    empty = pl.DataFrame(schema={"submission_id": pl.String, "instruction": pl.String, "response": pl.String})
    result = Pipeline.default().run(empty, progress=False)
    assert result.decisions.height == 0 and result.summary()["items"] == 0
