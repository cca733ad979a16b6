"""The Policy: one plain, versioned, serialisable object that drives every stage.

Filter thresholds, the reputation rule, the reward rule and training-set selection live in one
validated model.  It loads from and saves to YAML/JSON, and its :attr:`Policy.version_hash` (a hash
of its canonical JSON) is stored with every decision, run and payout, so any result can be traced
to the exact policy that produced it.

Example
-------
>>> from olkit.policy import Policy
>>> p = Policy(name="demo")
>>> p2 = Policy.from_yaml(p.to_yaml())
>>> p2.version_hash == p.version_hash
True
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError

from olkit.config import Section
from olkit.errors import OlkitError
from olkit.filters.config import FilterPolicy
from olkit.kit import canonical_hash, dotted_update, write_text_atomic
from olkit.reputation.config import ReputationPolicy
from olkit.rewards_config import RewardPolicy, TrainingSelection


class PolicyError(OlkitError, ValueError):
    """A policy file or mapping is invalid; the message names the file and the key."""


class Policy(Section):
    """Filter thresholds + reputation rule + reward rule + training selection."""

    name: str = "default"
    description: str = ""
    filters: FilterPolicy = Field(default_factory=FilterPolicy)
    reputation: ReputationPolicy = Field(default_factory=ReputationPolicy)
    rewards: RewardPolicy = Field(default_factory=RewardPolicy)
    training: TrainingSelection = Field(default_factory=TrainingSelection)

    # -- identity -------------------------------------------------------------------------
    @property
    def version_hash(self) -> str:
        """Hash of the canonical JSON of every field except name/description (12 hex digits)."""
        return canonical_hash(self.model_dump(mode="json", exclude={"name", "description"}))

    # -- (de)serialisation ----------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "<dict>") -> Policy:
        """Validate a mapping; errors name the source and the dotted key (NaN/inf values are refused)."""
        if not isinstance(data, dict):
            raise PolicyError(f"{source}: a policy must be a mapping, got {type(data).__name__}")
        _check_values(data, source)
        try:
            return cls.model_validate(data)
        except ValidationError as err:
            raise PolicyError(_describe(err, source)) from None

    @classmethod
    def from_yaml(cls, text: str, *, source: str = "<yaml>") -> Policy:
        """Parse YAML (or JSON, which is YAML) text: at most 1 MB and 100 aliases (no alias bombs)."""
        if len(text) > MAX_YAML_CHARS:
            raise PolicyError(f"{source}: the policy is {len(text)} characters; at most {MAX_YAML_CHARS} are read")
        try:
            data = yaml.load(text, Loader=_LimitedLoader)  # noqa: S506 - a SafeLoader with limits
        except yaml.YAMLError as err:
            raise PolicyError(f"{source}: not valid YAML: {' '.join(str(err).split())}") from None
        except _TooManyAliases:
            raise PolicyError(f"{source}: more than {MAX_YAML_ALIASES} YAML aliases (*name); a policy needs "
                              "none (refusing a possible alias bomb)") from None
        return cls.from_dict(data if data is not None else {}, source=source)

    @classmethod
    def load(cls, path: str | Path) -> Policy:
        """Load a policy from a YAML or JSON file."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise PolicyError(f"{path}: no such policy file") from None
        except UnicodeDecodeError as err:
            raise PolicyError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
        return cls.from_yaml(text, source=str(path))

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def save(self, path: str | Path) -> Path:
        """Write YAML (``.json`` suffix: JSON) atomically; returns the path."""
        path = Path(path)
        text = json.dumps(self.to_dict(), indent=2) if path.suffix == ".json" else self.to_yaml()
        return write_text_atomic(path, text)

    def updated(self, **changes: Any) -> Policy:
        """A copy with dotted-key changes, validated: ``p.updated(**{"reputation.rule": "beta"})``."""
        return Policy.from_dict(dotted_update(self.to_dict(), changes), source="updated()")


#: Limits on policy text: characters, YAML aliases, and values (after aliases are expanded).
MAX_YAML_CHARS = 1_000_000
MAX_YAML_ALIASES = 100
MAX_POLICY_VALUES = 100_000


class _TooManyAliases(Exception):
    pass


class _LimitedLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that stops after :data:`MAX_YAML_ALIASES` aliases."""

    _aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_YAML_ALIASES:
                raise _TooManyAliases
        return super().compose_node(parent, index)


def _check_values(data: Any, source: str) -> None:
    """Refuse NaN/inf numbers (naming the dotted key) and structures of more than MAX_POLICY_VALUES values."""
    stack: list[tuple[Any, str]] = [(data, "")]
    seen = 0
    while stack:
        node, key = stack.pop()
        seen += 1
        if seen > MAX_POLICY_VALUES:
            raise PolicyError(f"{source}: more than {MAX_POLICY_VALUES} values; not a policy")
        if isinstance(node, dict):
            stack.extend((v, f"{key}.{k}" if key else str(k)) for k, v in node.items())
        elif isinstance(node, list | tuple):
            stack.extend((v, f"{key}[{i}]") for i, v in enumerate(node))
        elif isinstance(node, float) and not math.isfinite(node):
            raise PolicyError(f"{source}: key {key!r}: {node} is not a finite number")


def diff(a: Policy, b: Policy) -> dict[str, tuple[Any, Any]]:
    """Dotted keys whose values differ between two policies, with (a, b) values."""
    out: dict[str, tuple[Any, Any]] = {}

    def walk(x: Any, y: Any, prefix: str) -> None:
        if isinstance(x, dict) and isinstance(y, dict):
            for key in sorted(set(x) | set(y)):
                walk(x.get(key), y.get(key), f"{prefix}.{key}" if prefix else key)
        elif x != y:
            out[prefix] = (x, y)

    walk(a.to_dict(), b.to_dict(), "")
    return out


def _describe(err: ValidationError, source: str) -> str:
    lines = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "<root>"
        if e["type"] == "extra_forbidden":
            lines.append(f"{source}: unknown key {key!r}")
        else:
            lines.append(f"{source}: key {key!r}: {e['msg']} (got {e.get('input')!r})")
    return "\n".join(lines)


def bundled_policies() -> dict[str, Path]:
    """The example policies shipped in ``data/policies`` (name -> path)."""
    from olkit.paths import data_dir

    return {p.stem: p for p in sorted((data_dir() / "policies").glob("*.yaml"))}
