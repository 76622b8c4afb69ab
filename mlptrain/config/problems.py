"""How schema validators report a problem: a value as the user wrote it, and an error that
points below the validated object (turned into one line by ``config.messages``)."""

from __future__ import annotations

import math

from pydantic_core import PydanticCustomError

from mlptrain.config.yamlsafe import KeyPath

_MAX_SHOWN = 60


def problem(subpath: KeyPath, message: str) -> PydanticCustomError:
    """An error raised inside a validator that points below the validated object."""
    return PydanticCustomError("mlptrain", "{message}", {"message": message, "subpath": subpath})


def show_value(value: object) -> str:
    """A value as the user would recognise it from YAML, cut to about 60 characters."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return ".nan" if math.isnan(value) else (".inf" if value > 0 else "-.inf")
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."
