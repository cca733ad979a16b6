"""olkit.filters.evaluate: per-label metrics, accept metrics, confusion, figures -- against hand counts."""

from __future__ import annotations

import plotly.graph_objects as go
import polars as pl
import pytest

from olkit.errors import InputError
from olkit.filters.evaluate import OTHER, evaluate, reason_target


@pytest.fixture
def decisions() -> pl.DataFrame:
    # 10 items: 5 genuine (1 falsely rejected), 3 spam (2 caught by spam rules, 1 by heuristics),
    # 2 exact duplicates (1 caught by dedup.exact, with dedup.near too; 1 missed)
    return pl.DataFrame({
        "submission_id": [f"s{i}" for i in range(10)],
        "accepted": [True, True, True, True, False, False, False, False, False, True],
        "reasons": [[], [], [], [], ["heuristics.symbol_ratio"], ["spam.promo"], ["spam.links", "format.too_short"],
                    ["heuristics.top_ngram"], ["dedup.exact", "dedup.near"], []],
        "label": ["genuine"] * 5 + ["spam"] * 3 + ["exact_duplicate"] * 2,
    })


def test_reason_target_longest_prefix_wins():
    assert reason_target("dedup.exact") == "exact_duplicate"
    assert reason_target("dedup.near_duplicate") == "near_duplicate"
    assert reason_target("spam.promo") == "spam"
    assert reason_target("relevance.off_topic") == "off_topic"
    assert reason_target("pii.email") is None
    assert reason_target("spammy.x") is None  # a prefix must end at a separator


def test_per_label_counts_match_hand_computation(decisions):
    ev = evaluate(decisions)
    t = {r["label"]: r for r in ev.per_label.iter_rows(named=True)}
    assert t["genuine"]["n"] == 5 and t["genuine"]["rejected"] == 1
    assert t["genuine"]["rejection_rate"] == pytest.approx(0.2)
    # spam: 3 items, 3 rejected, 2 for a spam reason -> recall 2/3; predicted spam = 2, both spam
    assert t["spam"]["rejection_rate"] == pytest.approx(1.0)
    assert t["spam"]["recall"] == pytest.approx(2 / 3)
    assert t["spam"]["precision"] == pytest.approx(1.0)
    assert t["spam"]["f1"] == pytest.approx(0.8)
    # exact duplicates: 1 of 2 caught by the right rule
    assert t["exact_duplicate"]["recall"] == pytest.approx(0.5)
    assert t["exact_duplicate"]["precision"] == pytest.approx(1.0)
    assert t["exact_duplicate"]["top_reason"] in ("dedup.exact", "dedup.near")
    # low_effort is predicted (heuristics) for a genuine and a spam item, but is not a true label here
    assert "low_effort" not in t


def test_accept_metrics(decisions):
    ev = evaluate(decisions)
    a = ev.accept
    # accepted: s0..s3 (genuine) + s9 (duplicate) -> precision 4/5, recall 4/5
    assert a["accept_rate"] == pytest.approx(0.5)
    assert a["precision"] == pytest.approx(0.8)
    assert a["recall"] == pytest.approx(0.8)
    assert a["false_rejection"] == pytest.approx(0.2)
    assert a["false_acceptance"] == pytest.approx(1 / 5)


def test_confusion_rows_sum_to_label_counts(decisions):
    ev = evaluate(decisions)
    conf = ev.confusion
    assert conf.columns[:2] == ["label", "accepted"]
    assert conf.columns[-1] == OTHER
    totals = dict(zip(conf["label"], conf.drop("label").sum_horizontal(), strict=True))
    assert totals == {"genuine": 5, "spam": 3, "exact_duplicate": 2}
    row = conf.filter(pl.col("label") == "spam").row(0, named=True)
    assert row["spam"] == 2 and row["low_effort"] == 1 and row["accepted"] == 0


def test_labels_as_frame_or_sequence_give_the_same_answer(decisions):
    base = evaluate(decisions)
    frame_labels = decisions.select("submission_id", "label").reverse()
    ev1 = evaluate(decisions.drop("label"), frame_labels)
    ev2 = evaluate(decisions.drop("label"), decisions["label"].to_list())
    for ev in (ev1, ev2):
        assert ev.per_label.equals(base.per_label)
        assert ev.accept == base.accept


def test_any_labelled_dataset_with_custom_labels():
    d = pl.DataFrame({"submission_id": ["a", "b", "c", "d"], "accepted": [True, False, False, True],
                      "reasons": [[], ["spam.x"], ["format.y"], []], "label": ["good", "bad", "good", "bad"]})
    ev = evaluate(d, good_labels=["good"])
    bad = ev.per_label.filter(pl.col("label") == "bad").row(0, named=True)
    # "bad" is targeted by no rule: any rejection counts, precision undefined
    assert bad["recall"] == pytest.approx(0.5) and bad["precision"] is None
    assert ev.accept["false_rejection"] == pytest.approx(0.5)
    assert ev.summary()["bad.rejection_rate"] == pytest.approx(0.5)


def test_figures_are_plotly_and_carry_the_numbers(decisions):
    ev = evaluate(decisions)
    figs = [ev.rejection_figure(), ev.prf_figure(), ev.confusion_figure(), ev.reason_figure()]
    assert all(isinstance(f, go.Figure) for f in figs)
    rej = figs[0].data[0]
    assert list(rej.x) == ev.per_label["label"].to_list()
    assert list(rej.y) == pytest.approx(ev.per_label["rejection_rate"].to_list())
    names = {t.name for t in figs[1].data}
    assert names == {"precision", "recall", "f1"}


def test_bad_input_is_named():
    d = pl.DataFrame({"submission_id": ["a", "b"], "accepted": [True, False], "reasons": [[], ["x.y"]]})
    with pytest.raises(InputError, match="label"):
        evaluate(d)
    with pytest.raises(InputError, match="2 decisions"):
        evaluate(d, ["genuine"])
    with pytest.raises(InputError, match="no label"):
        evaluate(d, pl.DataFrame({"submission_id": ["a"], "label": ["genuine"]}))
    with pytest.raises(InputError, match="accepted"):
        evaluate(d.drop("accepted"), ["genuine", "spam"])


def test_a_reason_can_target_several_labels():
    """The learned quality score is trained on low-effort, spam and off-topic items as bad: catching
    an off-topic item is a hit, rejecting a genuine item still counts against low_effort."""
    from olkit.filters.evaluate import reason_targets

    assert reason_targets("quality.low_score") == ("low_effort", "spam", "off_topic")
    assert reason_target("quality.low_score") == "low_effort"
    d = pl.DataFrame({"submission_id": list("abcd"), "accepted": [False, False, False, True],
                      "reasons": [["quality.low_score"], ["quality.low_score"], ["quality.low_score"], []],
                      "label": ["off_topic", "low_effort", "genuine", "genuine"]})
    per = evaluate(d).per_label
    row = {r["label"]: r for r in per.iter_rows(named=True)}
    assert row["off_topic"]["recall"] == 1.0 and row["off_topic"]["precision"] == 1.0
    assert row["low_effort"]["recall"] == 1.0 and row["low_effort"]["precision"] == 0.5
