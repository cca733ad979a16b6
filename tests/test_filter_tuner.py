"""FilterTuner driven without a browser: controls from the policy, re-decision without re-scoring, timing."""

from __future__ import annotations

import time

import ipywidgets as W
import plotly.graph_objects as go
import polars as pl
import pytest

from olkit.data.sample import sample_stream
from olkit.filters import Pipeline
from olkit.filters.embeddings import EmbeddingCache
from olkit.filters.evaluate import evaluate
from olkit.filters.pipeline import PipelineResult
from olkit.filters.registry import default_filters
from olkit.filters.relevance import RelevanceFilter
from olkit.policy import Policy
from olkit.widgets import FilterTuner
from olkit.widgets.filter_tuner import RESCORE_KEYS


@pytest.fixture(scope="module")
def embedder() -> EmbeddingCache:
    return EmbeddingCache(show_progress=False)


@pytest.fixture(scope="module")
def sample() -> pl.DataFrame:
    frame = sample_stream(n_contributors=16, seed=5)
    return frame.with_columns(pl.col("source_id").alias("submission_id"))


@pytest.fixture(scope="module")
def result(sample, embedder) -> PipelineResult:
    filters = [*default_filters("instruction"), RelevanceFilter(embedder=embedder)]
    return Pipeline(filters).run(sample, progress=False)


def test_one_control_per_threshold_from_the_policy(result):
    tuner = FilterTuner(result)
    names = {f.name for f in result.filters}
    assert {k.split(".")[0] for k in tuner.sliders} <= names
    assert "relevance.target_fpr" in tuner.sliders
    s = tuner.sliders["relevance.target_fpr"]
    assert isinstance(s, W.FloatSlider) and (s.min, s.max) == (0.0, 0.5)
    assert s.value == result.policy.relevance.target_fpr
    assert isinstance(tuner.sliders["format.min_words"], W.IntSlider)
    assert isinstance(tuner.sliders["relevance.enabled"], W.Checkbox)
    assert not RESCORE_KEYS & set(tuner.sliders)  # scoring parameters are not re-decidable
    assert isinstance(tuner.figure, go.FigureWidget)


def test_slider_redecides_from_cached_scores_without_rescoring(result, embedder):
    tuner = FilterTuner(result)
    encoded_before = embedder.n_encoded
    before = tuner.summary["per_label"]["off_topic"]["rejection_rate"]
    tuner.sliders["relevance.target_fpr"].value = 0.5
    after = tuner.summary["per_label"]["off_topic"]["rejection_rate"]
    assert embedder.n_encoded == encoded_before  # no text was embedded again
    assert tuner.result_now.scores is result.scores
    assert tuner.policy.filters.relevance.target_fpr == 0.5
    assert after >= before and tuner.summary["false_rejection"] >= 0
    # the summary is exactly what an independent evaluation of the re-decided result says
    expected = evaluate(result.redecide(tuner.policy).decisions)
    assert tuner.summary["accept_rate"] == pytest.approx(expected.accept["accept_rate"])
    assert tuner.summary["false_rejection"] == pytest.approx(expected.accept["false_rejection"])
    # and the bar chart shows the per-label rejection rates
    fig_y = dict(zip(tuner.figure.data[0].x, tuner.figure.data[0].y, strict=True))
    for row in expected.per_label.iter_rows(named=True):
        assert fig_y[row["label"]] == pytest.approx(row["rejection_rate"])
    # switching the filter off accepts everything it rejected
    tuner.sliders["relevance.enabled"].value = False
    off = result.redecide(tuner.policy).decisions
    assert not any("relevance.off_topic" in r for r in off["reasons"].to_list())
    assert tuner.summary["accept_rate"] >= expected.accept["accept_rate"]


def test_margin_table_holds_items_nearest_the_threshold(result, sample):
    tuner = FilterTuner(result, labels=sample)
    tuner.set("relevance.target_fpr", 0.1)
    m = tuner.margin
    assert 0 < m.height <= 10
    assert set(m["threshold"]) == {"relevance.target_fpr"}
    dist = m["distance"].abs().to_list()
    assert dist == sorted(dist)
    # nothing outside the table is closer to the threshold than the farthest row in it
    fpr = result.scores["relevance.human_fpr"].drop_nulls()
    assert ((fpr - 0.1).abs() < max(dist) - 1e-12).sum() <= m.height
    assert {"label", "instruction", "response"} <= set(m.columns)
    # rows below the threshold are the rejected ones
    assert (m.filter(pl.col("distance") < 0)["relevance.passed"] == False).all()  # noqa: E712
    assert "relevance.target_fpr" in tuner.margin_html.value or "<table" in tuner.margin_html.value


def test_export_writes_a_policy_that_loads_back(result, tmp_path):
    tuner = FilterTuner(result, export_path=tmp_path / "tuned.yaml")
    tuner.sliders["relevance.target_fpr"].value = 0.07
    tuner.sliders["format.min_words"].value = 7
    tuner.export_button.click()
    loaded = Policy.load(tmp_path / "tuned.yaml")
    assert loaded.filters.relevance.target_fpr == pytest.approx(0.07)
    assert loaded.filters.format.min_words == 7
    assert loaded.version_hash == tuner.policy.version_hash
    assert "tuned.yaml" in tuner.status.value


def test_invalid_combination_is_reported_not_applied(result):
    tuner = FilterTuner(result)
    max_words = tuner.policy.filters.format.max_words
    hash_before = tuner.policy.version_hash
    tuner.set("format.min_words", max_words + 1)
    assert tuner.policy.version_hash == hash_before
    assert "not applied" in tuner.status.value


def test_recompute_under_a_second_for_10k_items(result):
    reps = -(-10_000 // result.scores.height)

    def tile(frame: pl.DataFrame) -> pl.DataFrame:
        return pl.concat([frame.with_columns(pl.col("submission_id") + f"-{i}") for i in range(reps)]).head(10_000)

    big = PipelineResult(filters=result.filters, policy=result.policy, meta=tile(result.meta),
                         scores=tile(result.scores), score_seconds=result.score_seconds,
                         full_policy=result.full_policy).redecide(result.policy)
    assert big.decisions.height == 10_000
    tuner = FilterTuner(big)
    timings = []
    for value in (0.01, 0.05, 0.1):
        t0 = time.perf_counter()
        tuner.sliders["relevance.target_fpr"].value = value
        timings.append(time.perf_counter() - t0)
    assert tuner.summary["n"] == 10_000
    assert min(timings) < 1.0, timings  # loose: a shared 2-core machine; typically ~0.1 s
