"""Policy: validation names the key, YAML round-trips, the version hash tracks content."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from olkit.cli import main
from olkit.policy import Policy, PolicyError, bundled_policies, diff


def test_default_round_trips_through_yaml_and_json(tmp_path):
    policy = Policy(name="x")
    assert Policy.from_yaml(policy.to_yaml()) == policy
    path = policy.save(tmp_path / "p.json")
    assert Policy.load(path) == policy
    assert Policy.load(policy.save(tmp_path / "p.yaml")).version_hash == policy.version_hash


def test_version_hash_ignores_name_but_not_content():
    a = Policy(name="a")
    assert Policy(name="b", description="other").version_hash == a.version_hash
    changed = a.updated(**{"rewards.budget_per_epoch": 5.0})
    assert changed.version_hash != a.version_hash
    assert diff(a, changed) == {"rewards.budget_per_epoch": (1000.0, 5.0)}


def test_typo_in_key_is_named(tmp_path):
    bad = tmp_path / "typo.yaml"
    bad.write_text("name: t\nrewards:\n  budget_per_epok: 10\n")
    with pytest.raises(PolicyError, match=r"typo.yaml: unknown key 'rewards.budget_per_epok'"):
        Policy.load(bad)


def test_out_of_range_threshold_is_named(tmp_path):
    bad = tmp_path / "range.yaml"
    bad.write_text("rewards:\n  budget_per_epoch: -3\n")
    with pytest.raises(PolicyError, match=r"range.yaml: key 'rewards.budget_per_epoch'.*-3"):
        Policy.load(bad)


def test_broken_yaml_and_non_mapping_are_clear(tmp_path):
    (tmp_path / "broken.yaml").write_text("rewards: [unclosed\n")
    with pytest.raises(PolicyError, match="broken.yaml: not valid YAML"):
        Policy.load(tmp_path / "broken.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(PolicyError, match="list.yaml: a policy must be a mapping"):
        Policy.load(tmp_path / "list.yaml")


def test_bundled_policies_validate_and_differ():
    bundled = bundled_policies()
    assert {"strict", "lenient", "forgiving"} <= set(bundled)
    loaded = {name: Policy.load(path) for name, path in bundled.items()}
    assert len({p.version_hash for p in loaded.values()}) == len(loaded)


def test_cli_validate_and_diff(tmp_path, capsys):
    bundled = bundled_policies()
    assert main(["policy", "validate", str(bundled["strict"]), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["valid"] and out["version_hash"] == Policy.load(bundled["strict"]).version_hash
    assert main(["policy", "diff", str(bundled["strict"]), str(bundled["lenient"]), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)  # they differ in at least one key
    bad = tmp_path / "bad.yaml"
    bad.write_text("reputation:\n  rool: beta\n")
    assert main(["policy", "validate", str(bad)]) == 2
    assert "unknown key 'reputation.rool'" in capsys.readouterr().err


@settings(max_examples=30, deadline=None)
@given(budget=st.floats(min_value=0, max_value=1e9, allow_nan=False),
       max_examples=st.one_of(st.none(), st.integers(min_value=1, max_value=10**6)))
def test_any_valid_policy_round_trips(budget, max_examples):
    policy = Policy().updated(**{"rewards.budget_per_epoch": budget, "training.max_examples": max_examples})
    again = Policy.from_yaml(policy.to_yaml())
    assert again == policy and again.version_hash == policy.version_hash
