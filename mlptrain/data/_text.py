"""Message helpers shared by the data modules: quoted lists, suggestions, NaN counts."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence

import numpy as np

from mlptrain.errors import DataError

# how many names or values an error message lists before it says "and N more"
LIST_LIMIT = 8


def quote_list(items: Sequence[object], limit: int = LIST_LIMIT) -> str:
    shown = ", ".join(repr(item) for item in items[:limit])
    if len(items) > limit:
        shown += f", ... ({len(items) - limit} more)"
    return shown


def plain_list(items: Sequence[object], limit: int = LIST_LIMIT) -> str:
    shown = ", ".join(str(item) for item in items[:limit])
    if len(items) > limit:
        shown += f", ... ({len(items) - limit} more)"
    return shown


def did_you_mean(name: str, choices: Sequence[str]) -> str:
    lowered = {choice.lower(): choice for choice in choices}
    if name.lower() in lowered:
        return f" (did you mean {lowered[name.lower()]!r}?)"
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def format_label(value: object) -> str:
    """A label as the user wrote it: ``'apple'`` for strings, ``3`` for numbers."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def nonfinite_error(
    values: np.ndarray,
    names: Sequence[str],
    *,
    what: str,
    where: str,
    row_text: Callable[[int], str],
) -> DataError | None:
    """A DataError counting NaN/inf in a 2-D float array per column, or None if all finite."""
    bad = ~np.isfinite(values)
    count = int(bad.sum())
    if count == 0:
        return None
    per_column = bad.sum(axis=0)
    columns = [f"{names[j]!r} ({int(per_column[j])})" for j in np.flatnonzero(per_column).tolist()]
    first_row = int(np.flatnonzero(bad.any(axis=1))[0])
    noun = "value" if count == 1 else "values"
    return DataError(
        f"{where}: {count} missing or non-finite {noun} (NaN, inf or empty) in {what}, "
        f"in column{'s' if len(columns) > 1 else ''} {plain_list(columns)}; "
        f"first at {row_text(first_row)}; "
        "mlptrain does not impute: drop or fill those rows"
    )
