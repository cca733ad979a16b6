"""The policy lab runs the same seeded economy under each policy and compares round metrics."""

from __future__ import annotations

import polars as pl
import pytest

from olkit.errors import InputError
from olkit.policy_lab import compare_end_to_end
from olkit.store import Store


def test_policy_lab_needs_a_policy():
    with pytest.raises(InputError, match="at least one policy"):
        compare_end_to_end({})


@pytest.mark.slow
def test_policies_meet_the_same_population_and_a_rerun_resumes(tmp_path):
    kw = dict(rounds=1, base="tiny-llama", agents=10, seed=1, train_steps=1, max_length=64, max_eval=2,
              workdir=tmp_path, progress=False)
    lab = compare_end_to_end({"strict": "strict", "lenient": "lenient"}, **kw)
    assert lab.table["policy"].to_list() == ["strict", "lenient"]
    assert lab.table["version_hash"].n_unique() == 2 and lab.table["economy_id"].n_unique() == 2
    assert set(lab.rounds["policy"]) == {"strict", "lenient"} and lab.rounds.height == 2
    for col in ("adversary_payout_share", "honest_retention", "false_rejection", "heldout_loss", "gini"):
        assert col in lab.table.columns
    content = []
    for name in ("strict", "lenient"):
        with Store(lab.stores[name], read_only=True) as st:
            content.append(st.submissions().select("contributor_id", "instruction", "response").sort(pl.all()))
            decided = st.table("decisions")
        assert decided.height == content[-1].height
    assert content[0].equals(content[1])  # round 0: the same contributors submitted the same items
    # the policies decide differently on them
    with Store(lab.stores["strict"], read_only=True) as a, Store(lab.stores["lenient"], read_only=True) as b:
        assert a.table("decisions")["accepted"].sum() < b.table("decisions")["accepted"].sum()
    again = compare_end_to_end({"strict": "strict", "lenient": "lenient"}, **kw)
    assert [r.new_rounds for r in again.results.values()] == [0, 0]
    assert again.table.drop("rounds").equals(lab.table.drop("rounds"))
    assert len(lab.figure().data) >= 6
