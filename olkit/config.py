"""Base class for every Policy section: strict (unknown keys are errors), validated, frozen."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError


class Section(BaseModel):
    """A strict pydantic model: a typo in a key or an out-of-range value is a validation error."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    @property
    def version_hash(self) -> str:
        """12 hex digits of the canonical JSON of this section (:class:`olkit.policy.Policy`
        overrides it to leave out its name and description)."""
        from olkit.kit import canonical_hash

        return canonical_hash(self.model_dump(mode="json"))

def check_rule_params(model: type[BaseModel], rule: str, params: dict[str, Any], what: str = "rule") -> None:
    """Validate ``params`` against ``rule``'s parameter model; a ``ValueError`` names ``params.<key>``."""
    try:
        model.model_validate(params)
    except ValidationError as err:
        e = err.errors()[0]
        key = ".".join(str(p) for p in e["loc"])
        if e["type"] == "extra_forbidden":
            raise ValueError(f"unknown parameter params.{key} for {what} {rule!r} "
                             f"(known: {', '.join(model.model_fields)})") from None
        raise ValueError(f"params.{key} for {what} {rule!r}: {e['msg']} (got {e.get('input')!r})") from None
