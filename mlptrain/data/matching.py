"""Which input columns are a model's features: the one rule for ``mlptrain predict``,
``mlptrain evaluate --data``, ``Predictor.predict`` and the HTTP server.

A model that recorded its feature names (a CSV header, scikit-learn's names such as digits'
``pixel_0_0``, an NPZ ``feature_names`` array, a DataFrame's columns) takes its inputs by name:
a recorded name missing from the input is an error naming it (with the closest input column),
columns the model does not use are ignored with a note, and the order of the columns does not
matter. Inputs without column names (a header-less CSV, an NPZ ``X`` without names, a NumPy
array) are taken by position, in training order, and the notes say so. A model whose names
were made up at training time (``x0, x1, ...``: it was trained on arrays without names) takes
named inputs by those names when they are all there, and by position otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlptrain.data._text import did_you_mean, quote_list
from mlptrain.errors import DataError

# the label column of a labelled file for a model trained on a dataset without a target
# column name: scikit-learn's name for it (``load_digits(as_frame=True).frame["target"]``)
DEFAULT_TARGET = "target"


def placeholder_names(n_features: int) -> list[str]:
    """The names given to unnamed features at training time: ``x0, x1, ...``."""
    return [f"x{j}" for j in range(n_features)]


def recorded_names(feature_names: Sequence[str] | None, n_features: int) -> list[str] | None:
    """The feature names a model recorded, or None when it has none (or only placeholders)."""
    names = [str(name) for name in feature_names or []]
    if len(names) != n_features or names == placeholder_names(n_features):
        return None
    return names


@dataclass(frozen=True)
class ColumnMatch:
    """Where the model's features are in an input: ``indices[k]`` is the input column of the
    model's feature ``k`` (training order); ``names`` the input's names of those columns;
    ``notes`` lines for the user (position used, columns ignored)."""

    indices: list[int]
    names: list[str]
    by_position: bool
    notes: list[str] = field(default_factory=list)


def _by_position(width: int, n_features: int, source: str, why: str) -> ColumnMatch:
    if width != n_features:
        # the same words as scikit-learn, which users already know
        raise DataError(f"{source}: X has {width} features, but the model expects {n_features}")
    note = f"{source}: {why}: its {width} columns are taken by position, in training order"
    return ColumnMatch(list(range(width)), placeholder_names(width), True, [note])


def _missing_error(
    source: str, missing: list[str], unused: list[str], expected: list[str]
) -> DataError:
    # the input's columns the model does not know are the likely misspellings of the missing ones
    hints = [f"{column!r}{did_you_mean(column, missing)}" for column in unused]
    hints = [hint for hint in hints if "did you mean" in hint][:3]
    close = f"; the input has {', '.join(hints)}" if hints else ""
    return DataError(
        f"{source}: missing feature column(s) {quote_list(missing)}{close}; the model takes its "
        f"{len(expected)} features by name: {quote_list(expected)}"
    )


def match_columns(
    columns: Sequence[str] | None,
    width: int,
    *,
    feature_names: Sequence[str] | None,
    n_features: int,
    source: str,
    ignore: Sequence[str] = (),
) -> ColumnMatch:
    """Match an input's columns to a model's features (see the module docstring for the rule).

    Parameters
    ----------
    columns : sequence of str or None
        The input's column names in order, or None when it has none (header-less CSV, NPZ
        ``X`` without ``feature_names``, NumPy array).
    width : int
        The input's number of columns.
    feature_names : sequence of str or None
        The names the model recorded at training time (checkpoint metadata).
    n_features : int
        The number of features the model takes.
    source : str
        What the input is, for messages (a file name, ``"Predictor"``).
    ignore : sequence of str
        Columns to leave out without a note (such as the target column of a labelled file).

    Returns
    -------
    ColumnMatch
        The input column of each feature in training order, and notes for the user.

    Raises
    ------
    DataError
        A recorded name missing from the input (naming it and the closest input column), or
        a column count that differs from the model's when taken by position.
    """
    if columns is None:
        return _by_position(width, n_features, source, "the input has no column names")
    columns = [str(column) for column in columns]
    names = recorded_names(feature_names, n_features)
    if names is None:
        placeholders = placeholder_names(n_features)
        if all(name in columns for name in placeholders):
            names = placeholders
        else:
            kept = [j for j, column in enumerate(columns) if column not in ignore]
            match = _by_position(
                len(kept), n_features, source, "the model recorded no feature names"
            )
            return ColumnMatch(kept, [columns[j] for j in kept], True, match.notes)
    missing = [name for name in names if name not in columns]
    unused = [column for column in columns if column not in names and column not in ignore]
    if missing:
        raise _missing_error(source, missing, unused, names)
    notes = []
    if unused:
        notes.append(
            f"{source}: ignored {len(unused)} column(s) the model does not use: "
            f"{quote_list(unused)}"
        )
    return ColumnMatch([columns.index(name) for name in names], list(names), False, notes)


def select_features(
    X: Any, *, feature_names: Sequence[str] | None, n_features: int, source: str
) -> tuple[Any, ColumnMatch]:
    """The model's feature columns of an in-memory input, in training order, and the match.

    A DataFrame (pandas, polars: anything with ``columns``) is matched by its column names;
    a NumPy array or nested list by position. The values are returned as given (a frame's
    selected columns, or the array), for ``check_features`` to turn into float64.
    """
    columns = getattr(X, "columns", None)
    if columns is None or isinstance(X, np.ndarray):
        width = int(np.shape(X)[1]) if np.ndim(X) == 2 else 0
        if np.ndim(X) != 2:
            return X, ColumnMatch([], [], True)  # check_features says what is wrong with it
        return X, match_columns(
            None, width, feature_names=feature_names, n_features=n_features, source=source
        )
    names = [str(column) for column in columns]
    match = match_columns(
        names, len(names), feature_names=feature_names, n_features=n_features, source=source
    )
    if hasattr(X, "iloc"):
        return X.iloc[:, match.indices], match
    return X[[names[j] for j in match.indices]], match


def check_label_column(columns: Sequence[str], label: str, *, asked: bool, source: str) -> None:
    """A DataError unless ``label`` is one of a labelled file's ``columns``: it names the label
    looked for (``asked``: given by the caller, else the run's) and the columns present."""
    if label in columns:
        return
    whose = "asked for" if asked else "the name the run was trained with"
    raise DataError(
        f"{source}: no label column {label!r} ({whose}){did_you_mean(label, columns)}; the "
        f"columns are {quote_list(columns, 10)}; name the label column with «target»"
    )
