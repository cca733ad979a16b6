"""The filters' rooms: template in base, executors in engines, scoring-time vs decide-time policy
fields, metrics and the calibrated model in their own modules, the disk score cache."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from olkit.errors import InputError
from olkit.filters import Pipeline
from olkit.filters.config import FilterPolicy, scoring_keys, scoring_values
from olkit.filters.engines import ENGINES, score_local
from olkit.filters.metrics import auroc, prf, threshold_at_fpr
from olkit.filters.registry import default_filters
from olkit.filters.score_cache import PartCache
from olkit.filters.synthetic import length_buckets
from olkit.policy import Policy

FRAME = pl.DataFrame({
    "contributor_id": ["c1", "c2", "c3"],
    "instruction": ["What is the capital of France?"] * 3,
    "response": ["The capital of France is Paris, on the Seine.",
                 "The capital of France is Paris, on the Seine.",
                 "CLICK HERE buy now!!! http://x.io"],
})


def test_leaf_filters_import_the_template_not_the_pipeline():
    import olkit.filters as pkg

    root = __import__("pathlib").Path(pkg.__file__).parent
    for path in root.glob("*.py"):
        if path.stem in ("pipeline", "__init__", "cli"):
            continue
        assert "from olkit.filters.pipeline import" not in path.read_text(), path.name


def test_scoring_time_fields_are_marked_and_read_by_the_tuner():
    keys = scoring_keys()
    assert {"dedup.num_perm", "dedup.bands", "dedup.rows", "dedup.shingle", "dedup.shingle_size",
            "dedup.seed", "heuristics.preset"} == keys
    # decide-time fields are not in it (the tuner's old hand list had these two wrong)
    assert "dedup.exact" not in keys and "language.min_evidence" not in keys
    assert scoring_values(FilterPolicy(), "dedup")["dedup.num_perm"] == 128
    from olkit.widgets.filter_tuner import RESCORE_KEYS

    assert RESCORE_KEYS == keys


def test_redecide_refuses_a_policy_that_changes_a_scoring_time_field():
    result = Pipeline.default().run(FRAME, progress=False)
    # decide-time change: fine, no re-scoring
    relaxed = result.redecide(Policy().updated(**{"filters.dedup.near_threshold": 0.9}))
    assert relaxed.decisions.height == 3
    with pytest.raises(InputError, match="dedup.num_perm"):
        result.redecide(Policy().updated(**{"filters.dedup.num_perm": 256}))
    # a pipeline asked to run with a policy its filters were not built for refuses too
    with pytest.raises(InputError, match="dedup.rows"):
        Pipeline.default().run(FRAME, policy=Policy().updated(**{"filters.dedup.rows": 2}), progress=False)
    # built for that policy, it runs and the policy hash names what was scored
    p = Policy().updated(**{"filters.dedup.num_perm": 256})
    assert Pipeline.default(policy=p).run(FRAME, progress=False).policy_hash == p.version_hash


def test_engines_table_and_local_executor_match_the_pipeline():
    from olkit.filters.base import prepare_batch

    assert set(ENGINES) == {"local", "ray"}
    batch = prepare_batch(FRAME)
    filters = default_filters()
    scores, seconds = score_local(filters, batch)
    assert set(seconds) == {f.name for f in filters}
    assert scores.equals(Pipeline(filters).run(FRAME, progress=False).scores)


def test_metrics_one_implementation():
    assert auroc([0, 1], [0.2, 0.9]) == 1.0 and np.isnan(auroc([1, 1], [0.1, 0.2]))
    assert prf(0, 0, 3) == (None, 0.0, None)
    t = threshold_at_fpr(np.linspace(0, 1, 101), 0.02)
    assert np.mean(np.linspace(0, 1, 101) >= t) <= 0.02
    import olkit.filters.evaluate as ev
    import olkit.filters.synthetic as syn

    assert syn.auroc is auroc and ev._prf is prf


def test_length_buckets_respect_item_and_token_budgets():
    lengths = np.array([3, 90, 10, 11, 12, 200, 5, 60])
    buckets = length_buckets(lengths, max_items=3, max_tokens=100)
    flat = np.concatenate(buckets)
    assert sorted(flat.tolist()) == list(range(len(lengths)))
    for b in buckets:
        assert len(b) <= 3
        assert len(b) == 1 or len(b) * lengths[b].max() <= 100


def test_part_cache_roundtrip_and_compaction(tmp_path):
    cache = PartCache(tmp_path, max_parts=2)
    assert cache.read(["a"]) is None
    for i in range(3):
        cache.write(pl.DataFrame({"key": [f"k{i}"], "x": [float(i)]}))
    assert len(cache.parts()) == 1
    got = cache.read(["k0", "k2", "zz"]).sort("key")
    assert got["x"].to_list() == [0.0, 2.0]
