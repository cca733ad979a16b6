"""Relevance as a contrast against a reference bank, thresholded by a target human false-positive rate.

The statistic does not depend on a genre's typical cosine level, the threshold follows the rate on a
held-out genre, the old absolute-cosine key fails with a message naming its replacement, the bank
survives save/load, and the shipped bank catches canned and mismatched answers while sparing loose
but legitimate prompts.  ``benchmarks/filter_sources_bench.py`` measures it on real sets.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from pydantic import ValidationError

from olkit.data.offtopic_eval import mismatched_pairs, source_halves
from olkit.errors import InputError
from olkit.filters.config import FilterPolicy, scoring_keys
from olkit.filters.embeddings import EmbeddingCache
from olkit.filters.fpr import HumanFprCalibration, leave_source_out, rate_ci
from olkit.filters.relevance import (
    STATISTICS,
    RelevanceBank,
    RelevanceFilter,
    build_bank,
    contrast_scores,
    default_bank,
)

DIM = 64


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _genre(rng: np.random.Generator, n: int, tightness: float) -> tuple[np.ndarray, np.ndarray]:
    """Pairs whose response is its instruction plus noise: ``tightness`` sets the genre's cosine level."""
    instr = _unit(rng.normal(size=(n, DIM)))
    resp = _unit(tightness * instr + rng.normal(size=(n, DIM)) / np.sqrt(DIM))
    return instr, resp


def test_contrast_is_genre_independent_where_the_cosine_is_not():
    rng = np.random.default_rng(0)
    bank_i, bank_r = _genre(rng, 400, 1.0)
    tight, loose = _genre(rng, 300, 2.0), _genre(rng, 300, 0.35)
    cos_t, cos_l = contrast_scores(*tight, bank_i, bank_r, "cosine"), contrast_scores(*loose, bank_i, bank_r, "cosine")
    assert np.median(cos_l) < 0.5 * np.median(cos_t)  # a loose genre sits far lower on the raw cosine
    off_i = _unit(rng.normal(size=(300, DIM)))  # answers under unrelated instructions
    for stat in ("zinstr", "ztwo", "rank"):
        on = contrast_scores(*loose, bank_i, bank_r, stat)
        off = contrast_scores(off_i, loose[1], bank_i, bank_r, stat)
        # the loose genre's pairs still beat every off-topic pair's typical score
        assert np.quantile(on, 0.05) > np.median(off), stat
    with pytest.raises(InputError, match="statistic"):
        contrast_scores(*loose, bank_i, bank_r, "nope")
    # a missing text (zero vector) has no score: the item passes
    z = np.zeros((1, DIM), dtype=np.float32)
    assert np.isnan(contrast_scores(z, loose[1][:1], bank_i, bank_r, "ztwo")[0])


def test_human_fpr_follows_the_target_on_a_held_out_genre():
    rng = np.random.default_rng(1)
    scores = {g: rng.normal(0.0, 1.0, 2000) for g in ("a", "b", "c")}
    cal = HumanFprCalibration(scores, flag="low")
    held_out = rng.normal(0.0, 1.0, 5000)
    for target in (0.01, 0.02, 0.05):
        fpr = float((cal.human_fpr(held_out) <= target).mean())
        assert fpr <= target + 3 * np.sqrt(target / 5000) + 0.005, (target, fpr)
        assert fpr >= target / 3
    # the rate is the worst genre's: a genre sitting lower sets the threshold for all
    low = HumanFprCalibration({**scores, "loose": rng.normal(-1.0, 1.0, 2000)}, flag="low")
    assert (low.human_fpr(held_out) <= 0.02).mean() < (cal.human_fpr(held_out) <= 0.02).mean()
    assert np.isnan(cal.human_fpr(np.array([np.nan]))[0])
    back = HumanFprCalibration.from_dict(cal.to_dict())
    assert np.abs(back.human_fpr(held_out) - cal.human_fpr(held_out)).max() <= 1e-3  # 6 significant digits kept
    assert cal.without("a").sources == ["b", "c"]
    with pytest.raises(InputError):
        HumanFprCalibration({"a": [np.nan]})


def test_leave_source_out_and_rates():
    src = np.array(["a", "b", "a", "c"])
    seen = []
    out = leave_source_out(src, lambda fit, apply: (seen.append(set(src[fit])), np.full(int(apply.sum()), 1.0))[1])
    assert out.tolist() == [1.0] * 4 and {"a"} not in seen and all(len(s) == 2 for s in seen)
    r = rate_ci(np.array([True] * 3 + [False] * 97), reps=500)
    assert r["rate"] == 0.03 and r["ci95"][0] <= 0.03 <= r["ci95"][1] and r["n"] == 100
    halves = source_halves(["x"] * 10 + ["y"] * 7, seed=3)
    assert halves[:10].sum() == 5 and halves[10:].sum() == 3


def test_policy_target_fpr_is_decide_time_and_old_key_is_named():
    assert FilterPolicy().relevance.target_fpr == 0.02
    assert "relevance.target_fpr" not in scoring_keys()
    with pytest.raises(ValidationError, match="relevance.target_fpr"):
        FilterPolicy.model_validate({"relevance": {"min_similarity": 0.15}})
    with pytest.raises(ValidationError):
        FilterPolicy.model_validate({"relevance": {"target_fpr": 0.9}})


def test_policy_file_with_old_key_fails_with_a_clear_message(tmp_path):
    from olkit.policy import Policy, PolicyError

    p = tmp_path / "old.yaml"
    p.write_text("filters:\n  relevance:\n    min_similarity: 0.2\n")
    with pytest.raises(PolicyError, match="min_similarity.*target_fpr"):
        Policy.load(p)


def test_mismatched_pairs_are_real_answers_under_other_questions():
    h = pl.DataFrame({"source": ["a"] * 6 + ["b"] * 4, "instruction": [f"q{i}" for i in range(10)],
                      "response": [f"r{i}" for i in range(10)]})
    own = dict(zip(h["response"], h["instruction"], strict=True))
    src = dict(zip(h["response"], h["source"], strict=True))
    same = mismatched_pairs(h, "same_genre", seed=1)
    assert same.height > 0 and all(own[r] != i for r, i in zip(same["response"], same["instruction"], strict=True))
    inst_src = dict(zip(h["instruction"], h["source"], strict=True))
    assert all(src[r] == inst_src[i] for r, i in zip(same["response"], same["instruction"], strict=True))
    cross = mismatched_pairs(h, "cross_genre", seed=1)
    assert cross.height == 10 and all(src[r] != inst_src[i] for r, i in
                                      zip(cross["response"], cross["instruction"], strict=True))
    canned = mismatched_pairs(h, "canned", seed=1, n_canned=2, canned_copies=5)
    assert canned.height == 20 and canned["response"].n_unique() == 4
    assert mismatched_pairs(h, "canned", seed=1).equals(mismatched_pairs(h, "canned", seed=1))
    with pytest.raises(InputError, match="kind"):
        mismatched_pairs(h, "other")


# -- real MiniLM, small ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def embedder() -> EmbeddingCache:
    return EmbeddingCache(show_progress=False)


def test_bank_builds_calibrates_leave_source_out_and_round_trips(embedder, tmp_path):
    rows = {"docs": [("How do I sort a list?", "Use sorted(xs) or xs.sort()."),
                     ("How do I read a file?", "Open it with open(path) and call read()."),
                     ("How do I join strings?", "Call ', '.join(parts)."),
                     ("How do I time code?", "Use the timeit module.")],
            "pets": [("Tell me about cats.", "Cats sleep most of the day and hunt at dusk."),
                     ("Tell me about dogs.", "Dogs were domesticated from wolves."),
                     ("Tell me about parrots.", "Parrots can live for decades and mimic speech."),
                     ("Tell me about fish.", "Goldfish remember things for months.")]}
    pairs = pl.DataFrame([{"source": s, "instruction": i, "response": r} for s, v in rows.items() for i, r in v])
    bank = build_bank(pairs, per_source=3, embedder=embedder, statistic="ztwo")
    assert len(bank) == 6 and set(bank.sources.tolist()) == {"docs", "pets"}
    assert sorted(bank.calibration.sources) == ["docs", "pets"] and bank.metadata["calibration"] == "leave-source-out"
    back = RelevanceBank.load(bank.save(tmp_path / "bank.json"))
    assert back.statistic == "ztwo" and back.instructions == bank.instructions
    f1, f2 = RelevanceFilter(bank=bank, embedder=embedder), RelevanceFilter(bank=back, embedder=embedder)
    batch = pairs.with_columns(pl.format("s{}", pl.int_range(pl.len())).alias("submission_id"))
    assert np.allclose(f1.score(batch)["relevance.contrast"].to_numpy(), f2.score(batch)["relevance.contrast"].to_numpy(),
                       atol=1e-6)
    (tmp_path / "bad.json").write_text('{"kind": "something else"}')
    with pytest.raises(InputError, match="relevance bank"):
        RelevanceBank.load(tmp_path / "bad.json")
    with pytest.raises(InputError, match="columns"):
        build_bank(pairs.drop("source"), embedder=embedder)


def test_shipped_bank_ranks_canned_and_mismatched_below_loose_prompts(embedder):
    bank = default_bank()
    assert bank.statistic in STATISTICS and bank.calibration is not None and len(bank.calibration.sources) >= 5
    questions = ["How do I sort a list in Python?", "What does os.path.join do?", "How do I read a CSV file?",
                 "What is the Debian package curl for?", "How do I reverse a string in Python?",
                 "What does the NEWS of coreutils say?"]
    canned = "Great question! Follow my channel and like this post for more amazing tips every day."
    loose = [("Tell me something about wisdom.", "A wise man learns more from his enemies than a fool from his friends."),
             ("Tell me something about work.", "Hard work never killed anybody, but why take a chance?"),
             ("What does the NEWS of coreutils say?", "ls now quotes file names with spaces by default when "
              "writing to a terminal; use -N to get the old behaviour.")]
    mismatched = [("How do I sort a list in Python?", "The Eiffel Tower is 330 metres tall and was built in 1889."),
                  ("What is the Debian package curl for?", "Preheat the oven to 200 degrees and bake for 25 minutes.")]
    frame = pl.DataFrame(
        {"instruction": questions + [i for i, _ in loose] + [i for i, _ in mismatched],
         "response": [canned] * len(questions) + [r for _, r in loose] + [r for _, r in mismatched],
         "kind": ["canned"] * len(questions) + ["loose"] * len(loose) + ["mismatched"] * len(mismatched)}
    ).with_columns(pl.format("r{}", pl.int_range(pl.len())).alias("submission_id"))
    f = RelevanceFilter(embedder=embedder)
    scores = f.score(frame)
    assert set(scores.columns) == {"submission_id", "relevance.cosine", "relevance.contrast", "relevance.human_fpr"}
    by = scores.join(frame.select("submission_id", "instruction", "kind"), on="submission_id")
    fortunes = by.filter(pl.col("instruction").str.starts_with("Tell me something"))["relevance.human_fpr"]
    bad = by.filter(pl.col("kind") != "loose")["relevance.human_fpr"]
    # fortune-style answers to broad prompts sit in the bulk of human pairs; canned and mismatched
    # answers in the tail (the raw cosine separates them only so far: see the module docstring)
    assert fortunes.min() > 0.5 and bad.max() < 0.2

    def rejected(target: float) -> dict:
        d = f.decide(scores, FilterPolicy.model_validate({"relevance": {"target_fpr": target}}))
        d = d.join(frame.select("submission_id", "kind"), on="submission_id")
        assert (d.filter(~pl.col("passed"))["reason_code"] == "relevance.off_topic").all()
        return dict(d.group_by("kind").agg(pl.col("passed").not_().mean()).rows())

    assert rejected(0.02)["loose"] == 0.0  # the default spares broad prompts ...
    at20 = rejected(0.2)  # ... and a 20% rate catches every canned and mismatched answer here
    assert at20["canned"] == 1.0 and at20["mismatched"] == 1.0
    # a stricter rate rejects a superset; switching off rejects nothing; no rescoring needed
    strict = f.decide(scores, FilterPolicy.model_validate({"relevance": {"target_fpr": 0.2}}))
    assert (strict["passed"] <= f.decide(scores, FilterPolicy())["passed"]).all()
    off = f.decide(scores, FilterPolicy.model_validate({"relevance": {"enabled": False}}))
    assert off["passed"].all()
    # documents (no instruction) pass, unscored
    docs = f.score(pl.DataFrame({"submission_id": ["d"], "text": ["Just a document."]}))
    assert docs["relevance.human_fpr"].null_count() == 1
    assert f.decide(docs, FilterPolicy())["passed"].all()
