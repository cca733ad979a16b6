"""Model-based filters on real models: SmolLM2 synthetic-text detection, MiniLM relevance and quality.

SmolLM2 is loaded once per session (``olkit.filters.synthetic._load_lm`` is cached); LM features
are cached on disk by content hash in a per-session folder, so each item is scored once.
"""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from olkit.data import external_eval_set, sample_stream
from olkit.errors import InputError
from olkit.filters.config import FilterPolicy
from olkit.filters.embeddings import EmbeddingCache
from olkit.filters.quality import QualityFilter, QualityModel, default_model, fit_quality
from olkit.filters.relevance import RelevanceFilter
from olkit.filters.synthetic import (
    DETECTOR_FEATURES,
    FEATURES,
    LMFeatureExtractor,
    SyntheticFilter,
    SyntheticTextClassifier,
    auroc,
    default_classifier,
)

N_SYN, N_HUMAN = 20, 24  # per evaluation set: enough for a stable AUROC, cheap enough for CI


def _balanced(frame: pl.DataFrame, seed: int) -> pl.DataFrame:
    syn = frame.filter(pl.col("label") == "synthetic")
    hum = frame.filter(pl.col("label") == "genuine")
    out = pl.concat([syn.sample(min(N_SYN, syn.height), seed=seed), hum.sample(min(N_HUMAN, hum.height), seed=seed)])
    return out.with_columns(pl.col("source_id").alias("submission_id"))


@pytest.fixture(scope="session")
def lm_extractor(tmp_path_factory) -> LMFeatureExtractor:
    return LMFeatureExtractor(cache=tmp_path_factory.mktemp("lm_features"), show_progress=False)


@pytest.fixture(scope="session")
def stream() -> pl.DataFrame:
    return sample_stream(n_contributors=200, seed=0)


@pytest.fixture(scope="session")
def heldout_lm(stream) -> pl.DataFrame:
    return _balanced(stream.filter(pl.col("split") == "heldout"), seed=1)


@pytest.fixture(scope="session")
def external_lm() -> pl.DataFrame:
    return _balanced(external_eval_set(seed=0), seed=2)


@pytest.fixture(scope="session")
def embedder() -> EmbeddingCache:
    return EmbeddingCache(show_progress=False)


# -- synthetic-text detection ----------------------------------------------------------------

def test_lm_features_are_finite_cached_and_deterministic(lm_extractor, heldout_lm):
    few = heldout_lm.head(6)
    feats = lm_extractor.transform(few["instruction"].to_list(), few["response"].to_list())
    assert feats.columns == list(FEATURES)
    x = feats.to_numpy()
    assert np.isfinite(x).all()
    assert (x[:, FEATURES.index("top10_rate")] >= x[:, FEATURES.index("top1_rate")]).all()
    assert np.allclose(x[:, FEATURES.index("log_ppl")], -x[:, FEATURES.index("mean_logprob")])
    computed = lm_extractor.n_computed
    again = lm_extractor.transform(few["instruction"].to_list(), few["response"].to_list())
    assert lm_extractor.n_computed == computed  # served from the disk cache
    assert np.allclose(again.to_numpy(), x)
    # without cache, float32 features do not depend on the batch an item lands in (padding is masked)
    instr, resp = few["instruction"].to_list()[:3], few["response"].to_list()[:3]
    batched = LMFeatureExtractor(cache=False, batch_size=4, dtype="float32", show_progress=False)
    one = LMFeatureExtractor(cache=False, batch_size=1, dtype="float32", show_progress=False)
    f32 = batched.transform(instr, resp).to_numpy()
    assert np.allclose(f32, one.transform(instr, resp).to_numpy(), atol=1e-3)
    # the default (bf16 where native) stays close to float32 on the features that carry the score
    cols = [FEATURES.index(c) for c in ("mean_logprob", "top10_rate", "mean_entropy")]
    assert np.allclose(x[:3, cols], f32[:, cols], atol=0.15)


def test_shorter_spans_from_one_pass_and_prompt_settings(tmp_path, heldout_lm):
    """``also_spans`` fills the cache of a shorter span with what a pass at that span computes; the
    prompt is part of the cache key; a filter refuses an extractor other than its classifier's."""
    few = heldout_lm.head(3)
    instr, resp = few["instruction"].to_list(), few["response"].to_list()
    kw = {"dtype": "float32", "show_progress": False, "prompt": "chat_template"}
    long = LMFeatureExtractor(cache=tmp_path, max_response_tokens=40, also_spans=(16,), **kw)
    long.transform(instr, resp)
    short = LMFeatureExtractor(cache=tmp_path, max_response_tokens=16, **kw)
    from_cache = short.transform(instr, resp).to_numpy()
    assert short.n_computed == 0 and short.n_cached == 3
    fresh = LMFeatureExtractor(cache=False, max_response_tokens=16, **kw).transform(instr, resp).to_numpy()
    assert np.allclose(from_cache, fresh, atol=1e-3)
    assert not np.allclose(from_cache, long.transform(instr, resp).to_numpy(), atol=1e-3)
    plain = LMFeatureExtractor(cache=tmp_path, max_response_tokens=16, **{**kw, "prompt": "plain"})
    assert plain.settings_key != short.settings_key
    assert not np.allclose(plain.transform(instr, resp).to_numpy(), fresh, atol=1e-3)
    with pytest.raises(InputError, match="prompt"):
        LMFeatureExtractor(prompt="none")
    from olkit.filters.synthetic import DETECTOR_FEATURES, LEGACY_EXTRACTOR_SETTINGS

    clf = default_classifier()  # the shipped detector scores with the settings it was fitted with
    fitted = clf.metadata.get("extractor") or LEGACY_EXTRACTOR_SETTINGS
    assert fitted == LMFeatureExtractor().settings() and tuple(clf.features) == DETECTOR_FEATURES
    other = {**fitted, "max_response_tokens": fitted["max_response_tokens"] + 1}
    with pytest.raises(InputError, match="settings"):
        _ = SyntheticFilter(classifier=clf, extractor=LMFeatureExtractor(**other)).extractor
    assert SyntheticFilter(classifier=clf).extractor.settings() == fitted


def test_bf16_switch_and_length_buckets(monkeypatch):
    from olkit.filters.synthetic import length_buckets, resolve_dtype

    monkeypatch.setenv("OLKIT_BF16", "0")
    assert resolve_dtype("auto") == "float32"
    assert LMFeatureExtractor(dtype="auto").settings_key == LMFeatureExtractor(dtype="float32").settings_key
    assert LMFeatureExtractor(dtype="bfloat16").settings_key != LMFeatureExtractor(dtype="float32").settings_key
    with pytest.raises(InputError, match="dtype"):
        resolve_dtype("float16")
    buckets = length_buckets(np.array([40, 3, 41, 4, 300]), max_items=2, max_tokens=100)
    assert [sorted(b.tolist()) for b in buckets] == [[1, 3], [0, 2], [4]]


def test_refiltering_with_another_policy_does_no_model_work(tmp_path, heldout_lm):
    """Fresh filter instances on the same disk caches (what another process, notebook or policy
    change sees) read the scores instead of running SmolLM2 or MiniLM again."""
    from olkit.filters import Pipeline
    from olkit.filters.registry import default_filters
    from olkit.filters.synthetic import LM_CALLS
    from olkit.policy import Policy

    frame = heldout_lm.head(6).drop("submission_id")

    def pipeline():
        emb = EmbeddingCache(show_progress=False, disk=tmp_path / "emb")
        swap = {"synthetic": SyntheticFilter(extractor=LMFeatureExtractor(cache=tmp_path / "lm",
                                                                          show_progress=False)),
                "relevance": RelevanceFilter(embedder=emb), "quality": QualityFilter(embedder=emb)}
        return Pipeline([swap.get(f.name, f) for f in default_filters(models=True)]), emb

    first, emb1 = pipeline()
    calls = LM_CALLS["items"]
    a = first.run(frame, progress=False)
    assert LM_CALLS["items"] > calls and emb1.n_encoded > 0  # the first run does the model work
    calls = LM_CALLS["items"]
    second, emb2 = pipeline()
    strict = Policy().updated(**{"filters.quality.min_score": 0.6, "filters.synthetic.target_fpr": 0.2})
    b = second.run(frame, policy=strict, progress=False)
    assert LM_CALLS["items"] == calls and emb2.n_encoded == 0 and emb2.n_disk > 0
    assert a.scores.equals(b.scores)
    assert b.decisions["accepted"].sum() <= a.decisions["accepted"].sum()


def test_lm_feature_cache_compacts_its_parts(tmp_path, heldout_lm):
    few = heldout_lm.head(3)
    ex = LMFeatureExtractor(cache=tmp_path, max_cache_parts=2, show_progress=False)
    for i in range(3):  # one part per call, the third call merges them
        ex.transform(few["instruction"].to_list()[i:i + 1], few["response"].to_list()[i:i + 1])
    assert len(list(ex.cache_dir.glob("part-*.parquet"))) == 1
    assert ex.n_computed == 3
    ex.transform(few["instruction"].to_list(), few["response"].to_list())
    assert ex.n_computed == 3 and ex.n_cached == 3


@pytest.mark.parametrize("which", ["heldout", "external"])
def test_shipped_detector_auroc_at_least_085(which, lm_extractor, heldout_lm, external_lm):
    frame = heldout_lm if which == "heldout" else external_lm
    assert frame.filter(pl.col("label") == "synthetic").height >= N_SYN
    f = SyntheticFilter(extractor=lm_extractor)
    scores = f.score(frame)
    value = auroc(frame["label"] == "synthetic", scores["synthetic.prob"])
    print(f"synthetic AUROC {which}: {value:.3f} (n={frame.height})")
    assert value >= 0.85
    # calibrated probabilities: the default threshold keeps most human items
    decided = f.decide(scores, FilterPolicy()).join(frame.select("submission_id", "label"), on="submission_id")
    human_rejected = decided.filter(pl.col("label") == "genuine")["passed"].not_().mean()
    assert human_rejected <= 0.10
    assert set(decided.filter(~pl.col("passed"))["reason_code"]) <= {"synthetic.machine_generated"}


def test_detector_fit_save_load_roundtrip(lm_extractor, heldout_lm, tmp_path):
    feats = lm_extractor.transform(heldout_lm["instruction"].to_list(), heldout_lm["response"].to_list())
    y = (heldout_lm["label"] == "synthetic").to_numpy()
    clf = SyntheticTextClassifier(seed=3).fit(feats, y)
    assert clf.metadata["cv_auroc"] >= 0.85  # out-of-fold, so not a training-set number
    p = clf.predict_proba(feats)
    assert ((p >= 0) & (p <= 1)).all()
    path = clf.save(tmp_path / "det.json")
    back = SyntheticTextClassifier.load(path)
    assert np.allclose(back.predict_proba(feats), p, atol=1e-5)
    # same seed, same model
    assert np.allclose(SyntheticTextClassifier(seed=3).fit(feats, y).coef_, clf.coef_)
    # a broken model file is a clear input error naming the file
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"kind": "olkit.synthetic_text_classifier", "features": ["a"]}))
    with pytest.raises(InputError, match="bad.json"):
        SyntheticTextClassifier.load(bad)
    with pytest.raises(InputError, match="kind"):
        SyntheticTextClassifier.from_dict({"kind": "something else"})


def test_shipped_models_are_small_and_documented():
    clf = default_classifier()
    assert clf.features == DETECTOR_FEATURES  # the shipped detector's columns (a subset of FEATURES)
    assert clf.metadata["heldout_auroc"] >= 0.85 and clf.metadata["external_auroc"] >= 0.85
    q = default_model()
    assert q.metadata["heldout_auroc"] >= 0.85


EDGE_TEXTS = ["", "   ", "a", "x" * 1_000_000, "日本語の文章です。" * 50, "Ελληνικά κείμενα", "🙂" * 200,
              "\x00\ufffd control", None]


def test_model_filters_never_crash_on_edge_inputs(lm_extractor, embedder):
    n = len(EDGE_TEXTS)
    batch = pl.DataFrame({"submission_id": [f"e{i}" for i in range(n)],
                          "instruction": ["What is this?"] * (n - 1) + [None],
                          "response": EDGE_TEXTS}, schema={"submission_id": pl.String, "instruction": pl.String,
                                                           "response": pl.String})
    for f in (SyntheticFilter(extractor=lm_extractor), RelevanceFilter(embedder=embedder),
              QualityFilter(embedder=embedder)):
        scores = f.score(batch)
        assert scores.height == n and scores["submission_id"].to_list() == batch["submission_id"].to_list()
        d = f.decide(scores, FilterPolicy())
        assert d.columns == ["submission_id", "passed", "score", "reason_code", "reason_codes"]
        # empty responses are not the model filters' business: they pass (format rejects them)
        assert d.filter(pl.col("submission_id").is_in(["e0", "e1", "e8"]))["passed"].all()
        assert f.score(batch.head(0)).height == 0


# -- relevance and quality (MiniLM) ----------------------------------------------------------

@pytest.fixture(scope="session")
def minilm_eval(stream) -> dict[str, pl.DataFrame]:
    ext = external_eval_set(seed=0)
    keep = ["genuine", "off_topic", "low_effort", "spam"]
    out = {}
    for name, frame, seed in (("heldout", stream.filter(pl.col("split") == "heldout"), 3), ("external", ext, 4)):
        parts = [frame.filter(pl.col("label") == lab).sample(min(60 if lab == "genuine" else 30,
                                                                  frame.filter(pl.col("label") == lab).height),
                                                              seed=seed) for lab in keep]
        out[name] = pl.concat(parts).with_columns(pl.col("source_id").alias("submission_id"))
    return out


@pytest.mark.parametrize("which", ["heldout", "external"])
def test_relevance_catches_off_topic_and_spares_genuine(which, minilm_eval, embedder):
    frame = minilm_eval[which]
    f = RelevanceFilter(embedder=embedder)
    scores = f.score(frame)
    d = f.decide(scores, FilterPolicy()).join(frame.select("submission_id", "label"), on="submission_id")
    rate = dict(d.group_by("label").agg(pl.col("passed").not_().mean()).rows())
    print(which, "relevance rejection by label", rate)
    assert rate["genuine"] <= 0.10
    sub = d.filter(pl.col("label").is_in(["genuine", "off_topic"]))
    assert auroc(sub["label"] == "off_topic", -sub["score"]) >= 0.85
    # a stricter policy rejects a superset (decisions are monotone in the rate)
    strict = f.decide(scores, FilterPolicy.model_validate({"relevance": {"target_fpr": 0.1}}))
    assert (strict["passed"] <= f.decide(scores, FilterPolicy())["passed"]).all()
    strict_rate = dict(strict.join(frame.select("submission_id", "label"), on="submission_id")
                       .group_by("label").agg(pl.col("passed").not_().mean()).rows())
    assert strict_rate["off_topic"] >= rate["off_topic"] and strict_rate["genuine"] <= 0.10


@pytest.mark.xfail(strict=True, reason="known conflict (issue 16): at the default 2% human false-positive rate "
                   "on every genre, relevance catches ~5% / ~1% of off-topic items (benchmarks/filter_sources_bench.py "
                   "relevance_tradeoff_report): fortunes under category prompts are as loose as off-topic pairs")
@pytest.mark.parametrize("which", ["heldout", "external"])
def test_relevance_catches_off_topic_at_the_default_rate(which, minilm_eval, embedder):
    frame = minilm_eval[which]
    f = RelevanceFilter(embedder=embedder)
    d = f.decide(f.score(frame), FilterPolicy()).join(frame.select("submission_id", "label"), on="submission_id")
    rate = dict(d.group_by("label").agg(pl.col("passed").not_().mean()).rows())
    assert rate["off_topic"] >= (0.5 if which == "heldout" else 0.3)


def test_embedding_cache_embeds_each_text_once(minilm_eval, embedder):
    frame = minilm_eval["heldout"].head(20)
    cache = EmbeddingCache(embedder.encoder, show_progress=False)
    rel = RelevanceFilter(embedder=cache)
    rel.score(frame)
    encoded = cache.n_encoded
    texts = set(frame["instruction"].to_list() + frame["response"].to_list())
    if rel.bank.statistic != "cosine":  # a contrastive statistic embeds the reference bank once, too
        texts |= set(rel.bank.instructions + rel.bank.responses)
    assert encoded == len(texts - {""})
    QualityFilter(embedder=cache).score(frame)  # same texts: nothing new to embed
    assert cache.n_encoded == encoded
    v = cache.embed(["hello world", "hello world"])
    assert np.allclose(v[0], v[1]) and np.isclose(np.linalg.norm(v[0]), 1.0, atol=1e-5)


@pytest.mark.parametrize("which", ["heldout", "external"])
def test_shipped_quality_model_ranks_genuine_above_junk(which, minilm_eval, embedder):
    frame = minilm_eval[which]
    f = QualityFilter(embedder=embedder)
    scores = f.score(frame).join(frame.select("submission_id", "label"), on="submission_id")
    value = auroc(scores["label"] == "genuine", scores["quality.score"])
    print(which, "quality AUROC", round(value, 3))
    assert value >= 0.85
    d = f.decide(scores, FilterPolicy()).join(frame.select("submission_id", "label"), on="submission_id")
    assert d.filter(pl.col("label") == "genuine")["passed"].not_().mean() <= 0.10


def test_fit_quality_is_seeded_and_learns(minilm_eval, embedder, tmp_path):
    train = minilm_eval["heldout"]
    m1 = fit_quality(train, seed=0, embedder=embedder)
    m2 = fit_quality(train, seed=0, embedder=embedder)
    assert np.allclose(m1.coef_, m2.coef_)
    assert m1.metadata["cv_auroc"] >= 0.8
    back = QualityModel.load(m1.save(tmp_path / "q.json"))
    X = QualityModel.featurize(train, embedder)
    assert np.allclose(back.predict_proba(X), m1.predict_proba(X), atol=1e-5)
    with pytest.raises(InputError, match="label"):
        fit_quality(train.drop("label"), embedder=embedder)
    # calibration on leave-topic-out folds: a group column is used and recorded, a missing one named
    grouped = fit_quality(train.with_columns(pl.col("question_id").str.extract(r"^py:([^.]+)").alias("topic")), seed=0,
                          embedder=embedder, group_col="topic")
    assert grouped.metadata["cv"] == "grouped" and grouped.metadata["group_col"] == "topic"
    assert grouped.calibration_ != m1.calibration_
    with pytest.raises(InputError, match="topic"):
        fit_quality(train, embedder=embedder, group_col="topic")
    # good items of another genre join as positives, each genre its own calibration group, and the
    # model then scores that genre higher than the model that never saw it
    other = pl.DataFrame({"source": ["fortunes"] * 12, "instruction": ["Tell me something about work."] * 12,
                          "response": [f"Hard work never killed anybody, but why take a chance on day {i}?"
                                       for i in range(12)]})
    wider = fit_quality(train, seed=0, embedder=embedder, extra_good=other)
    assert wider.metadata["n_positive"] == m1.metadata["n_positive"] + 12 and wider.metadata["cv"] == "grouped"
    Xo = QualityModel.featurize(other, embedder)
    assert wider.predict_proba(Xo).mean() > m1.predict_proba(Xo).mean()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.text(max_size=300), min_size=1, max_size=4))
def test_relevance_and_quality_total_on_any_text(embedder, texts):
    batch = pl.DataFrame({"submission_id": [f"h{i}" for i in range(len(texts))],
                          "instruction": texts[::-1], "response": texts})
    for f in (RelevanceFilter(embedder=embedder), QualityFilter(embedder=embedder)):
        s = f.score(batch)
        assert s.height == len(texts)
        col = s.columns[1]
        vals = s[col].drop_nulls().to_numpy()
        assert np.isfinite(vals).all()
        assert f.decide(s, FilterPolicy())["passed"].dtype == pl.Boolean


# -- the whole pipeline with every model filter on: issue 3's acceptance, small -------------------
# The full-size runs (850 held-out + 907 external items, ~17 min each on a 2-core AVX2 box) are
# ``benchmarks/filter_acceptance_bench.py``; here the same bounds on a smaller held-out split and
# external set (duplicates keep their originals: the sets are generated small, not subsampled).
@pytest.mark.slow
@pytest.mark.parametrize("which", ["heldout", "external"])
def test_full_pipeline_with_models_meets_acceptance_small(which, lm_extractor, embedder):
    """Every layer on (rules + synthetic + relevance + quality), default policy, against ground truth."""
    from olkit.filters.evaluate import acceptance_metrics
    from olkit.filters.pipeline import Pipeline
    from olkit.filters.registry import default_filters

    frame = (sample_stream(n_contributors=30, seed=0).filter(pl.col("split") == "heldout") if which == "heldout"
             else external_eval_set(seed=0, n_items=150))
    swap = {"synthetic": SyntheticFilter(extractor=lm_extractor), "relevance": RelevanceFilter(embedder=embedder),
            "quality": QualityFilter(embedder=embedder)}
    filters = [swap.get(f.name, f) for f in default_filters(models=True)]
    assert {"synthetic", "relevance", "quality"} <= {f.name for f in filters}
    m = acceptance_metrics(Pipeline(filters).run(frame, progress=False).decisions)
    print(which, m)
    assert m["genuine.n"] >= 30
    failed = [k for k, ok in m.pop("checks").items() if not ok]
    assert not failed, (failed, m)
