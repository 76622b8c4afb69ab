"""The base of every config model: unknown keys, coercions and non-finite floats are errors."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """Base of every section: unknown keys, coercions and non-finite floats are errors."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
