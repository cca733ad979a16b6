"""Base class for every Policy section: strict (unknown keys are errors), validated, frozen."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A strict pydantic model: a typo in a key or an out-of-range value is a validation error."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    @property
    def version_hash(self) -> str:
        """12 hex digits of the canonical JSON of this section (:class:`olkit.policy.Policy`
        overrides it to leave out its name and description)."""
        from olkit.kit import canonical_hash

        return canonical_hash(self.model_dump(mode="json"))
