"""Base class for every Policy section: strict (unknown keys are errors), validated, frozen."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A strict pydantic model: a typo in a key or an out-of-range value is a validation error."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)
