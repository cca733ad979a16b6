"""The ``datatrove`` heuristics preset takes HF datatrove's decisions (Gopher quality + Gopher
repetition + C4 quality + FineWeb quality, default arguments) on real documents, and is a real,
selectable configuration of the policy (scoring-time, so re-deciding with another preset is refused).

datatrove itself runs here on a few hundred documents (~2 s); ``benchmarks/heuristics_bench.py``
measures the same on tens of thousands.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from olkit.errors import InputError
from olkit.filters.config import FilterPolicy, HeuristicsPolicy
from olkit.filters.heuristics import HeuristicsFilter

datatrove = pytest.importorskip("datatrove")
pytest.importorskip("spacy")


def _documents(n: int = 300, seed: int = 3) -> list[str]:
    """Real paragraphs (stdlib docstrings, language reference, Debian descriptions) recombined into
    1-6 paragraph documents, as in the benchmark (a different seed)."""
    import pydoc_data.topics

    from olkit.data.corpus import external_qa, stdlib_qa

    texts = [*stdlib_qa()["answer"].to_list(), *external_qa()["answer"].to_list(),
             *pydoc_data.topics.topics.values()]
    paras = [p.strip() for t in texts for p in t.split("\n\n") if len(p.strip()) > 40]
    rng = np.random.default_rng(seed)
    return ["\n\n".join(paras[i] for i in rng.integers(0, len(paras), size=k))
            for k in rng.integers(1, 7, size=n).tolist()]


def _datatrove_passed(docs: list[str]) -> np.ndarray:
    from datatrove.data import Document
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )

    filters = [GopherQualityFilter(), GopherRepetitionFilter(), C4QualityFilter(), FineWebQualityFilter()]
    return np.array([all(f.filter(Document(text=t, id=str(i))) is True for f in filters)
                     for i, t in enumerate(docs)])


def test_datatrove_preset_agrees_with_datatrove_on_real_documents():
    docs = _documents()
    policy = FilterPolicy(heuristics={"preset": "datatrove"})
    f = HeuristicsFilter(policy.heuristics)
    frame = pl.DataFrame({"submission_id": [str(i) for i in range(len(docs))], "text": docs})
    ours = f.decide(f.score(frame), policy)["passed"].to_numpy()
    theirs = _datatrove_passed(docs)
    assert 0.05 < theirs.mean() < 0.95  # both outcomes occur: agreement is not a constant
    assert np.mean(ours == theirs) >= 0.99
    # the adapted default rules decide differently on these web-style rules (the reason for the preset)
    default = HeuristicsFilter()
    assert np.mean(default.decide(default.score(frame), FilterPolicy())["passed"].to_numpy() == theirs) < 0.9


@pytest.mark.parametrize("text, reason", [
    ("too short to be a page.", "heuristics.gopher_doc_words"),
    ("Sentence number one is here. " * 20 + "{ braces }.", "heuristics.curly_braces"),
    ("word " * 80, "heuristics.c4_sentences"),
])
def test_datatrove_preset_reasons(text, reason):
    policy = FilterPolicy(heuristics={"preset": "datatrove"})
    f = HeuristicsFilter(policy.heuristics)
    d = f.decide(f.score(pl.DataFrame({"submission_id": ["a"], "text": [text]})), policy)
    assert reason in d["reason_codes"][0].to_list()
    assert _datatrove_passed([text])[0] == bool(d["passed"][0])


def test_preset_is_a_scoring_time_policy_field():
    from olkit.filters.pipeline import Pipeline
    from olkit.filters.registry import default_filters

    policy = FilterPolicy(heuristics={"preset": "datatrove"})
    [h] = [f for f in default_filters("document", policy=policy) if f.name == "heuristics"]
    assert h.params.preset == "datatrove"
    frame = pl.DataFrame({"submission_id": ["a", "b"], "contributor_id": ["c", "c"],
                          "text": _documents(2, seed=5)})
    res = Pipeline([h]).run(frame, policy=policy, progress=False)
    assert "heuristics.dt_words" in res.scores.columns
    with pytest.raises(InputError, match="heuristics.preset"):
        res.redecide(FilterPolicy())
    assert HeuristicsPolicy().preset == "olkit"
