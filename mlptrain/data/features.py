"""Inputs at predict time: reading feature files and checking them against the training features."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mlptrain.data._text import nonfinite_error, quote_list
from mlptrain.data.files import (
    check_file,
    feature_matrix,
    load_npz,
    npz_feature_names,
    npz_features,
    numeric_columns,
    parse_csv,
)
from mlptrain.errors import DataError


def check_features(
    X: np.ndarray, *, n_features: int, feature_names: list[str] | None, source: str
) -> np.ndarray:
    """Prediction features as float64 (n_samples, n_features); anything else is a DataError."""
    X = feature_matrix(X, source)
    if X.shape[1] != n_features:
        # the same words as scikit-learn, which users already know
        raise DataError(
            f"{source}: X has {X.shape[1]} features, but the model expects {n_features}"
        )
    names = feature_names if feature_names and len(feature_names) == n_features else None
    error = nonfinite_error(
        X,
        names or [f"x{j}" for j in range(n_features)],
        what="features",
        where=source,
        row_text=lambda i: f"row index {i}",
    )
    if error:
        raise error
    return X


def feature_columns(header: list[str], feature_names: list[str], target: str | None) -> list[int]:
    """The columns of a table holding the model's features: by name in training order when the
    header has every training feature name (other columns, such as a target, are ignored);
    otherwise every column but ``target``, by position."""
    if all(name in header for name in feature_names):
        return [header.index(name) for name in feature_names]
    return [j for j, name in enumerate(header) if name != target]


def read_features(
    path: str | Path, *, feature_names: list[str], target: str | None = None
) -> tuple[np.ndarray, list[str]]:
    """Prediction inputs and the column names used, checked against the model's features.

    CSV: when every training feature name is in the header, those columns are taken in
    training order (others, such as a target column, are ignored); otherwise all columns but
    ``target`` are taken by position. NPZ: array X.
    """
    n_features = len(feature_names)
    if Path(path).suffix.lower() == ".npz":
        path = check_file(path)
        arrays = load_npz(path, ("X",))
        X = npz_features(path, arrays["X"])
        names = npz_feature_names(arrays, X.shape[1])
        if names is None:
            # an NPZ has no header, so columns are taken by position with the training names
            width = X.shape[1]
            names = list(feature_names) if width == n_features else [f"x{j}" for j in range(width)]
        return check_features(
            X, n_features=n_features, feature_names=names, source=str(path)
        ), names

    path = check_file(path)
    header, cells, lines = parse_csv(path)
    indices = feature_columns(header, feature_names, target)
    if len(indices) != n_features:  # only possible when taken by position
        missing = [name for name in feature_names if name not in header]
        raise DataError(
            f"{path}: X has {len(indices)} features, but the model expects {n_features}; "
            f"the model's columns missing from the header: {quote_list(missing)}"
        )
    names = [header[j] for j in indices]
    X = numeric_columns(
        path,
        cells[:, indices],
        names,
        [j + 1 for j in indices],
        lines,
        hint="the model's features are numbers",
    )
    error = nonfinite_error(
        X, names, what="features", where=str(path), row_text=lambda i: f"line {lines[i]}"
    )
    if error:
        raise error
    return check_features(X, n_features=n_features, feature_names=names, source=str(path)), names


def read_table_inputs(
    path: str | Path, *, encoder: Any, data: dict[str, Any], keep: Sequence[str] = ()
) -> tuple[Any, list[str]]:
    """A raw table for a table model, read as its training file was (delimiter, header,
    missing markers), and notes for the user (columns the model does not use).

    With a header, columns are matched by name: a missing feature column is an error, extra
    ones are ignored. Without one, the columns are the training file's, in order, with or
    without the target column.
    """
    from mlptrain.data.frame import DEFAULT_NA_VALUES
    from mlptrain.data.tables import Column, Table, load_table

    header = bool(data.get("header", True))
    numeric = {c["name"] for c in encoder.numeric}
    # kept columns are copied as written, unless the model reads them as numbers
    text = [*encoder.text_inputs, *encoder.ids, *(k for k in keep if k not in numeric)]
    table: Table = load_table(
        path,
        delimiter=data.get("delimiter") or "auto",
        header=header,
        na_values=data.get("na_values") or DEFAULT_NA_VALUES,
        text_columns=text,
    )
    trained: list[str] = list(encoder.state.get("table_columns") or [])
    target = encoder.state.get("target")
    if not header and trained:
        names = trained if len(table.names) == len(trained) else [n for n in trained if n != target]
        if len(names) != len(table.names):
            raise DataError(
                f"{path}: has {len(table.names)} columns; the model was trained on a file of "
                f"{len(trained)} columns without a header (give them in that order, with or "
                "without the target column)"
            )
        table = Table(
            {n: Column(n, c.values, c.levels, c.integer) for n, c in zip(names, table.columns.values(), strict=True)},
            table.n_rows,
            table.source,
        )  # fmt: skip
    missing = [name for name in encoder.features if name not in table.columns]
    if missing:
        raise DataError(
            f"{path}: missing column(s) {quote_list(missing)}; the model reads "
            f"{quote_list(encoder.features, 20)}"
        )
    absent = [name for name in keep if name not in table.columns]
    if absent:
        raise DataError(
            f"{path}: keep: no column named {quote_list(absent)}; the columns are "
            f"{quote_list(table.names, 20)}"
        )
    known = {*trained, *encoder.features, *encoder.ids, *keep}
    extra = [name for name in table.names if name not in known]
    notes = []
    if extra:
        notes.append(f"ignored {len(extra)} column(s) the model does not use: {quote_list(extra)}")
    return table, notes


def read_labelled_table(
    path: str | Path, *, encoder: Any, data: dict[str, Any]
) -> tuple[Any, Any, list[str]]:
    """(table, labels, notes) of a labelled file for a table model: read as predict reads it
    (``read_table_inputs``), with the training target column taken out (a row without a
    target is an error, or dropped when the run's config says ``drop_missing_target``)."""
    from mlptrain.data.columns import target_values

    target = encoder.state.get("target")
    table, notes = read_table_inputs(path, encoder=encoder, data=data)
    if target not in table.columns:
        raise DataError(
            f"{path}: no target column {target!r}; a labelled file needs the column the "
            f"model was trained to predict"
        )
    labels, rows = target_values(
        table, target, drop_missing=bool(data.get("drop_missing_target", False))
    )
    if len(rows) < table.n_rows:
        notes.append(f"{table.n_rows - len(rows)} row(s) without a target value dropped")
        table = table.take(rows)
    return table, labels, notes
