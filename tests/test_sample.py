"""Tests of the embedded sample datanet and the external eval set (olkit.data)."""

from __future__ import annotations

import json
import re

import numpy as np
import polars as pl
import pytest

from olkit.data import ARCHETYPES, DEFAULT_MIX, LABELS, external_eval_set, sample_stream
from olkit.data.corpus import multilingual, stdlib_qa
from olkit.data.sample import LABEL_MIX, OUTPUT_COLUMNS
from olkit.data.textops import NEAR_BAND, shingle_jaccard, tokens
from olkit.errors import InputError
from olkit.paths import data_dir
from olkit.schema import SUBMISSION_SCHEMA, content_hash, submission_id


@pytest.fixture(scope="module")
def stream() -> pl.DataFrame:
    return sample_stream(n_contributors=200, seed=0)


@pytest.fixture(scope="module")
def external() -> pl.DataFrame:
    return external_eval_set(seed=0)


@pytest.fixture(scope="module")
def shipped_synthetic() -> pl.DataFrame:
    path = data_dir() / "synthetic_answers.jsonl"
    return pl.DataFrame([json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()])


def test_same_seed_same_frame_different_seed_different() -> None:
    a, b = sample_stream(60, seed=3), sample_stream(60, seed=3)
    assert a.equals(b)
    c = sample_stream(60, seed=4)
    assert not a.equals(c)
    assert set(a["response"]) != set(c["response"])
    assert external_eval_set(seed=1, n_items=300).equals(external_eval_set(seed=1, n_items=300))
    assert not external_eval_set(seed=1, n_items=300).equals(external_eval_set(seed=2, n_items=300))


@pytest.mark.parametrize("which", ["stream", "external"])
def test_columns_types_and_unique_submission_ids(which: str, request: pytest.FixtureRequest) -> None:
    frame = request.getfixturevalue(which)
    assert tuple(frame.columns) == OUTPUT_COLUMNS
    for col in ("contributor_id", "instruction", "response", "source", "source_id", "license",
                "created_at", "parent_id", "datanet"):
        assert frame.schema[col] == SUBMISSION_SCHEMA[col], col
    for col in ("contributor_id", "instruction", "response", "source_id", "license", "label",
                "archetype", "split", "question_id"):
        assert frame[col].null_count() == 0, col
    assert frame["source_id"].is_unique().all()
    assert frame["created_at"].is_sorted()
    # ingestion's content-addressed ids must not collapse two rows of the stream into one
    ids = [submission_id(d, c, content_hash(i, r, None), p) for d, c, i, r, p in
           frame.select("datanet", "contributor_id", "instruction", "response", "parent_id").iter_rows()]
    assert len(set(ids)) == frame.height


def test_size_every_label_and_archetype(stream: pl.DataFrame, external: pl.DataFrame) -> None:
    assert 2000 <= stream.height <= 5000
    assert stream["contributor_id"].n_unique() == 200
    for split in ("train", "heldout"):
        part = stream.filter(pl.col("split") == split)
        counts = dict(part.group_by("label").len().iter_rows())
        assert set(counts) == set(LABELS), split
        assert min(counts.values()) >= 8, counts
    assert set(stream["archetype"]) == set(ARCHETYPES)
    assert set(external["label"]) == set(LABELS)
    assert external["split"].unique().to_list() == ["heldout"]


def test_archetype_and_label_proportions_follow_the_mix(stream: pl.DataFrame) -> None:
    per_contrib = stream.group_by("contributor_id").agg(pl.col("archetype").first())
    counts = dict(per_contrib.group_by("archetype").len().iter_rows())
    for arch, share in DEFAULT_MIX.items():
        assert abs(counts[arch] - 200 * share) <= 1, (arch, counts)
    shares = (stream.group_by("archetype", "label").len()
              .with_columns((pl.col("len") / pl.col("len").sum().over("archetype")).alias("share")))
    got = {(a, lab): s for a, lab, _, s in shares.iter_rows()}
    # labels the generator draws directly (copies may be relabelled when no original exists)
    for arch, lab in [("expert", "genuine"), ("spammer", "spam"), ("farmer", "synthetic"),
                      ("casual", "low_effort"), ("recycler", "near_duplicate")]:
        assert abs(got.get((arch, lab), 0.0) - LABEL_MIX[arch][lab]) < 0.1, (arch, lab, got.get((arch, lab)))
    assert got.get(("expert", "spam"), 0.0) == 0.0
    # mix overrides the archetype shares; missing archetypes get none
    only = sample_stream(40, seed=1, mix={"spammer": 1, "expert": 3})
    per = only.group_by("contributor_id").agg(pl.col("archetype").first())
    assert dict(per.group_by("archetype").len().iter_rows()) == {"expert": 30, "spammer": 10}


def test_heldout_split_is_disjoint_by_question(stream: pl.DataFrame) -> None:
    held = stream.filter(pl.col("split") == "heldout")
    train = stream.filter(pl.col("split") == "train")
    assert 0.15 < held.height / stream.height < 0.35
    assert not set(held["question_id"]) & set(train["question_id"])
    # no held-out honest answer text appears in train (off-topic answers stay inside their split)
    held_text = set(held.filter(pl.col("label").is_in(["genuine", "off_topic"]))["response"])
    assert not held_text & set(train["response"])
    # the split is a property of the question, the same for every seed
    other = sample_stream(60, seed=9)
    both = stream.select("question_id", "split").unique().join(
        other.select("question_id", "split").unique(), on="question_id")
    assert both.height > 50 and (both["split"] == both["split_right"]).all()


@pytest.mark.parametrize("which", ["stream", "external"])
def test_copies_point_to_earlier_originals(which: str, request: pytest.FixtureRequest) -> None:
    frame = request.getfixturevalue(which)
    orig = frame.select(pl.col("source_id").alias("duplicate_of"),
                        *[pl.col(c).alias(f"o_{c}") for c in
                          ("instruction", "response", "created_at", "contributor_id", "label")])
    copies = frame.filter(pl.col("label").is_in(["exact_duplicate", "near_duplicate"]))
    assert copies["duplicate_of"].null_count() == 0
    joined = copies.join(orig, on="duplicate_of", how="left")
    assert joined["o_response"].null_count() == 0
    assert (joined["created_at"] >= joined["o_created_at"]).all()
    exact = joined.filter(pl.col("label") == "exact_duplicate")
    # a near duplicate edits an original; an exact one copies the first item with that content
    # (two edits of one original can coincide, then the second is an exact copy of the first)
    assert joined.filter(pl.col("label") == "near_duplicate")["o_label"].is_in(["genuine", "synthetic"]).all()
    assert exact["o_label"].is_in(["genuine", "synthetic", "near_duplicate"]).all()
    assert (exact["response"] == exact["o_response"]).all()
    assert (exact["instruction"] == exact["o_instruction"]).all()
    assert (exact["contributor_id"] != exact["o_contributor_id"]).all()
    near = joined.filter(pl.col("label") == "near_duplicate")
    assert near.height > 50
    sims = np.array([shingle_jaccard(a, b) for a, b in near.select("o_response", "response").iter_rows()])
    full = np.array([shingle_jaccard(f"{i} {a}", f"{j} {b}") for i, a, j, b in
                     near.select("o_instruction", "o_response", "instruction", "response").iter_rows()])
    lo, hi = NEAR_BAND
    assert sims.min() >= lo and sims.max() <= hi, (sims.min(), sims.max())
    assert full.min() >= lo and full.max() <= hi
    assert np.quantile(sims, 0.9) - np.quantile(sims, 0.1) > 0.1  # spread over the band, not one value
    # datasketch's MinHash (a real, independent implementation) sees them as near too
    from datasketch import MinHash

    def mh(text: str) -> MinHash:
        m = MinHash(num_perm=128, seed=1)
        toks = tokens(text)
        m.update_batch([" ".join(toks[i:i + 3]).encode() for i in range(max(len(toks) - 2, 1))])
        return m

    est = np.array([mh(a).jaccard(mh(b)) for a, b in near.head(60).select("o_response", "response").iter_rows()])
    assert np.abs(est - sims[:60]).mean() < 0.08
    assert (est > 0.45).all()
    # exact duplicates are never "near" by accident and genuine items are not copies of each other
    gen = frame.filter(pl.col("label") == "genuine")
    assert gen["response"].is_unique().all()


def test_revisions_carry_lineage(stream: pl.DataFrame) -> None:
    revs = stream.filter(pl.col("parent_id").is_not_null())
    assert revs.height >= 10
    parents = stream.select(pl.col("source_id").alias("parent_id"), pl.col("contributor_id").alias("pc"),
                            pl.col("created_at").alias("pt"))
    j = revs.join(parents, on="parent_id", how="left")
    assert j["pc"].null_count() == 0
    assert (j["pc"] == j["contributor_id"]).all()
    assert (j["pt"] <= j["created_at"]).all()
    assert (j["label"] == "near_duplicate").all() and (j["archetype"] == "expert").all()


def test_synthetic_items_come_from_the_shipped_generated_file(
        stream: pl.DataFrame, external: pl.DataFrame, shipped_synthetic: pl.DataFrame) -> None:
    by_batch = {b: set(g["response"]) for (b,), g in shipped_synthetic.group_by("batch")}
    assert len(by_batch["sample"]) >= 380 and len(by_batch["external"]) >= 150
    assert not by_batch["sample"] & by_batch["external"]
    assert set(shipped_synthetic["model"]) == {"HuggingFaceTB/SmolLM2-135M-Instruct"}
    assert set(shipped_synthetic.group_by("batch").agg(pl.col("temperature").first()).rows()) == {
        ("sample", 0.7), ("external", 1.0)}
    syn = stream.filter(pl.col("label") == "synthetic")
    assert syn.height >= 100
    assert set(syn["response"]) <= by_batch["sample"]
    assert syn["response"].is_unique().all()
    assert set(external.filter(pl.col("label") == "synthetic")["response"]) <= by_batch["external"]
    # the generated answers were written for the questions they are attached to
    qa_q = dict(zip(shipped_synthetic["response"], shipped_synthetic["question_id"], strict=True))
    assert all(qa_q[r] == q for r, q in syn.select("response", "question_id").iter_rows())
    # and the honest text never contains them
    assert not set(stream.filter(pl.col("label") == "genuine")["response"]) & by_batch["sample"]


_EN_STOP = {"the", "and", "is", "of", "to", "a", "in", "that", "it", "for", "be", "with"}


def test_corruptions_look_like_what_they_claim(stream: pl.DataFrame) -> None:
    spam = stream.filter(pl.col("label") == "spam")["response"].to_list()
    marker = re.compile(r"https?://|follow|subscribe|like|upvote|[\U0001F300-\U0001FAFF\u2705\u2b50]", re.I)
    assert all(marker.search(s) for s in spam)
    low = stream.filter(pl.col("label") == "low_effort")["response"].to_list()
    assert all(len(tokens(s)) <= 9 for s in low)
    other = stream.filter(pl.col("label") == "other_language")["response"].to_list()
    known = set(multilingual("sample")["text"])
    for text in other:
        toks = tokens(text)
        assert sum(t in _EN_STOP for t in toks) <= max(1, len(toks) // 8), text
        assert any(text.startswith(k) for k in known)
    # off-topic answers are real answers, but to another question
    qa = dict(zip(stdlib_qa()["question_id"], stdlib_qa()["answer"], strict=True))
    off = stream.filter(pl.col("label") == "off_topic")
    answers = set(qa.values())
    assert all(r in answers and qa[q] != r for q, r in off.select("question_id", "response").iter_rows())


def test_external_set_is_independent_of_the_sample(stream: pl.DataFrame, external: pl.DataFrame) -> None:
    assert not set(external["response"]) & set(stream["response"])
    assert not set(external["instruction"]) & set(stream["instruction"])
    assert not set(multilingual("external")["text"]) & set(multilingual("sample")["text"])

    def grams(frame: pl.DataFrame, label: str) -> set[tuple[str, ...]]:
        out: set[tuple[str, ...]] = set()
        for text in frame.filter(pl.col("label") == label)["response"]:
            toks = [t for t in tokens(text) if not t.isdigit()]
            out |= {tuple(toks[i:i + 3]) for i in range(len(toks) - 2)}
        return out

    s_spam, e_spam = grams(stream, "spam"), grams(external, "spam")
    assert len(s_spam & e_spam) / len(e_spam) < 0.05  # different spam phrase banks
    # honest text of the external set comes from the language reference and Debian descriptions
    assert set(external["question_id"].str.split(":").list.first()) == {"ref", "deb"}


def test_large_streams_stay_honest_when_the_corpus_runs_out() -> None:
    with pytest.warns(UserWarning, match="exact duplicates"):
        big = sample_stream(900, seed=2)
    assert big.height > 10_000
    key = big.select(pl.col("instruction") + "\x1f" + pl.col("response")).to_series()
    first = ~key.is_duplicated() | (pl.int_range(big.height, eager=True) == 0)
    repeats = big.filter(key.is_duplicated() & ~key.is_first_distinct())
    assert (repeats["label"] == "exact_duplicate").all()
    assert first.sum() > 0
    assert big.filter(pl.col("label") == "genuine")["response"].is_unique().all()


@pytest.mark.parametrize("kwargs, field", [
    ({"mix": {"wizard": 1.0}}, "mix"),
    ({"mix": {"expert": -1.0, "casual": 2.0}}, "mix"),
    ({"mix": {"expert": 0.0}}, "mix"),
    ({"n_contributors": 0}, "n_contributors"),
    ({"n_contributors": 2.5}, "n_contributors"),
])
def test_bad_arguments_raise_input_error(kwargs: dict, field: str) -> None:
    with pytest.raises(InputError) as err:
        sample_stream(**kwargs)
    assert err.value.field == field and field in str(err.value)


def test_honest_answers_are_not_near_duplicates_of_each_other(stream: pl.DataFrame) -> None:
    """Only items labelled as copies are near copies: a dedup filter's errors are its own."""
    from datasketch import MinHash, MinHashLSH

    honest = stream.filter(pl.col("label").is_in(["genuine", "off_topic", "synthetic"]))
    lsh = MinHashLSH(threshold=0.4, num_perm=64)
    sets = {}
    close_pairs = 0
    for sid, text in honest.select("source_id", "response").iter_rows():
        toks = tokens(text)
        sh = {" ".join(toks[i:i + 3]) for i in range(max(len(toks) - 2, 1))}
        m = MinHash(num_perm=64, seed=3)
        m.update_batch([s.encode() for s in sh])
        close_pairs += sum(len(sh & sets[k]) / len(sh | sets[k]) >= NEAR_BAND[0] for k in lsh.query(m))
        sets[sid] = sh
        lsh.insert(sid, m)
    assert close_pairs <= honest.height // 200, close_pairs


def test_shipped_corpora_are_clean_and_sorted() -> None:
    qa = stdlib_qa()
    assert qa.height > 1500 and qa["question_id"].is_unique().all()
    assert qa["question_id"].is_sorted()
    assert set(qa["license"]) == {"PSF-2.0"}
    answers = qa["answer"].to_list()
    assert all(">>>" not in a and len(tokens(a)) >= 15 for a in answers)
    assert qa["answer"].is_unique().all()
    firsts = qa["answer"].str.split("\n\n").list.first()
    assert firsts.is_unique().all()
    ml = pl.read_parquet(data_dir() / "multilingual.parquet")
    assert ml["text"].is_unique().all()
    assert ml["lang"].n_unique() >= 12
    assert set(ml.filter(pl.col("group") == "sample")["domain"]).isdisjoint(
        ml.filter(pl.col("group") == "external")["domain"])


def test_docstring_cleaning_keeps_prose_only() -> None:
    import importlib.util
    import json as json_module

    spec = importlib.util.spec_from_file_location(
        "extract_corpora", data_dir() / "scripts" / "extract_corpora.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    doc = """Frobnicate the given widget twice.

    This paragraph explains, in words, what the function does for its caller.

        >>> frobnicate(1)
        2

    :param x: ignored
    """
    out = mod.clean_docstring(doc)
    assert out == ("Frobnicate the given widget twice.\n\n"
                   "This paragraph explains, in words, what the function does for its caller.")
    real = mod.clean_docstring(json_module.dumps.__doc__)
    assert real.startswith("Serialize ``obj`` to a JSON formatted ``str``.")
    assert ">>>" not in real and "\n\n" in real
