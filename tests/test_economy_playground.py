"""The playground widget over an economy's adapters, driven without a browser."""

from __future__ import annotations

import re

import polars as pl
import pytest

from olkit.economy import run_economy
from olkit.store import Store
from olkit.widgets.playground import BASE, Playground

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def economy(tmp_path_factory):
    path = tmp_path_factory.mktemp("pg") / "s.duckdb"
    return run_economy(path, None, 2, base="tiny-llama", agents=10, train_steps=2, max_length=64, max_eval=3,
                       progress=False)


def test_playground_answers_side_by_side_and_hot_swaps_rounds(economy):
    pg = Playground.from_economy(economy, max_new_tokens=6, temperature=1.0)  # a random tiny model: sample
    assert pg.bank.names == ["round-0", "round-1"] and pg.adapter == "round-1"
    assert set(pg.answers) == {BASE, "round-1"} and all(isinstance(a, str) for a in pg.answers.values())
    assert "round-1" in pg.summary.value and len(pg.figure.data) >= 2
    first = dict(pg.answers)
    pg.controls["adapter"].value = "round-0"  # hot swap: re-asks with the other adapter
    assert set(pg.answers) == {BASE, "round-0"} and pg.answers[BASE] == first[BASE]
    summary = pg.summary.value
    pg.controls["max_new_tokens"].value = 12
    assert len(pg.answers[BASE]) > len(first[BASE]) and pg.summary.value != summary
    # the trained-on items are exactly the adapters' rows
    with Store(economy.meta["store"], read_only=True) as st:
        ids = set(st.table("adapters")["submission_ids"].explode())
    assert set(pg.train["submission_id"]) == ids


def test_playground_names_the_contributors_whose_text_an_answer_copies(economy):
    pg = Playground.from_store(economy.meta["store"], max_new_tokens=4, auto=False)
    assert pg.bank.names == ["round-0", "round-1"]
    # an answer that quotes a trained item verbatim leans on that item's contributor
    row = pg.train.filter(pl.col("response").str.split(" ").list.len() >= 8).row(0, named=True)
    quote = " ".join(row["response"].split()[:8])
    spans = pg.index.find(f"well, {quote} indeed", min_words=4)
    assert row["contributor_id"] in set(spans["contributor_id"])
    pg.explain({BASE: "nothing in common here", pg.adapter: f"well, {quote} indeed"})
    assert set(pg.spans["model"]) == {pg.adapter}
    assert row["contributor_id"] in set(pg.leans_on["contributor_id"])
    copied = re.search(rf"{pg.adapter}: \d+ tokens, \d+ words, (\d+) copied; leans on: .*{row['contributor_id']}",
                       pg.summary.value)
    assert copied and int(copied.group(1)) >= 8
    assert re.search(r"base: \d+ tokens, \d+ words, 0 copied", pg.summary.value)
    assert any(d.name.startswith("from ") for d in pg.figure.data)
