"""Inputs at predict time: reading feature files and checking them against the training features."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mlptrain.data._text import nonfinite_error, quote_list
from mlptrain.data.csv_reader import no_data_rows, numeric_columns, parse_csv
from mlptrain.data.files import (
    check_file,
    feature_matrix,
    load_npz,
    npz_feature_names,
    npz_features,
)
from mlptrain.data.matching import match_columns
from mlptrain.data.memory import MemoryFile
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


def read_features(
    path: str | Path | MemoryFile,
    *,
    feature_names: Sequence[str],
    target: str | None = None,
    notes: list[str] | None = None,
) -> tuple[np.ndarray, list[str]]:
    """Prediction inputs (float64, training column order) and the input's names of them.

    The columns are matched to ``feature_names`` by ``match_columns`` (by name when the input
    has names, by position for a header-less CSV or an NPZ ``X`` without ``feature_names``);
    ``target``, when given, is left out of a named input without a note. Lines for the user
    (position used, columns ignored) are appended to ``notes``.
    """
    n_features = len(feature_names)
    path = path if isinstance(path, MemoryFile) else check_file(path)
    if not isinstance(path, MemoryFile) and path.suffix.lower() == ".npz":
        arrays = load_npz(path, ("X",))
        X = npz_features(path, arrays["X"])
        columns = npz_feature_names(arrays, X.shape[1])
        match = match_columns(
            columns, X.shape[1], feature_names=feature_names, n_features=n_features,
            source=str(path), ignore=[target] if target else [],
        )  # fmt: skip
        X = X[:, match.indices]
        names = match.names if columns else list(feature_names)
    else:
        header, cells, lines = parse_csv(path, header_required=False)
        return cell_features(
            path, header, cells, lines, feature_names=feature_names, target=target, notes=notes
        )
    if notes is not None:
        notes.extend(match.notes)
    return check_features(X, n_features=n_features, feature_names=names, source=str(path)), names


def cell_features(
    path: str | Path | MemoryFile,
    header: Sequence[str],
    cells: np.ndarray,
    lines: np.ndarray,
    *,
    feature_names: Sequence[str],
    target: str | None = None,
    notes: list[str] | None = None,
) -> tuple[np.ndarray, list[str]]:
    """Prediction inputs from a table of cells (n_rows, n_columns) -- a CSV's text, or a
    request's numbers -- under ``header`` (``[]``: by position) with each row's line for
    messages: matched, read as numbers and checked as ``read_features`` says."""
    if len(cells) == 0:
        raise no_data_rows(path)
    n_features = len(feature_names)
    match = match_columns(
        list(header) or None, cells.shape[1], feature_names=feature_names,
        n_features=n_features, source=str(path), ignore=[target] if target else [],
    )  # fmt: skip
    names = match.names if header else list(feature_names)
    X = numeric_columns(
        path,
        cells[:, match.indices],
        names,
        [j + 1 for j in match.indices],
        lines,
        hint="the model's features are numbers",
    )
    error = nonfinite_error(
        X, names, what="features", where=str(path), row_text=lambda i: f"line {lines[i]}"
    )
    if error:
        raise error
    if notes is not None:
        notes.extend(match.notes)
    return check_features(X, n_features=n_features, feature_names=names, source=str(path)), names


def read_table_inputs(
    path: str | Path | MemoryFile, *, encoder: Any, data: dict[str, Any], keep: Sequence[str] = ()
) -> tuple[Any, list[str]]:
    """A raw table for a table model, read as its training file was (delimiter, header,
    missing markers), and notes for the user (columns the model does not use).

    With a header, columns are matched by name: a missing feature column is an error, extra
    ones are ignored. Without one, the columns are the training file's, in order, with or
    without the target column.
    """
    from mlptrain.data.tables import Column, Table, load_table

    header = bool(data.get("header", True))
    table: Table = load_table(
        path,
        delimiter=data.get("delimiter") or "auto",
        header=header,
        na_values=na_values(data),
        text_columns=text_inputs(encoder, keep),
        encoding=data.get("encoding") or "utf-8",
        thousands=data.get("thousands") or "auto",
        decimal=data.get("decimal") or ".",
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
    return check_table_inputs(table, encoder=encoder, keep=keep, where=str(path))


def na_values(data: dict[str, Any]) -> list[str]:
    """The cells a table model's inputs read as missing: the run's ``data.na_values``."""
    from mlptrain.data.frame import DEFAULT_NA_VALUES

    return list(data.get("na_values") or DEFAULT_NA_VALUES)


def text_inputs(encoder: Any, keep: Sequence[str]) -> list[str]:
    """The input columns read as text: categories, dates, ids, and kept columns (copied as
    written) unless the model reads them as numbers."""
    numeric = {c["name"] for c in encoder.numeric}
    return [*encoder.text_inputs, *encoder.ids, *(k for k in keep if k not in numeric)]


def check_table_inputs(
    table: Any, *, encoder: Any, keep: Sequence[str], where: str
) -> tuple[Any, list[str]]:
    """The one gate of a table model's inputs, a file's or a request's typed columns: every
    feature and ``keep`` column present; notes for the user (columns the model does not use)."""
    trained: list[str] = list(encoder.state.get("table_columns") or [])
    missing = [name for name in encoder.features if name not in table.columns]
    if missing:
        raise DataError(
            f"{where}: missing column(s) {quote_list(missing)}; the model reads "
            f"{quote_list(encoder.features, 20)}"
        )
    absent = [name for name in keep if name not in table.columns]
    if absent:
        raise DataError(
            f"{where}: keep: no column named {quote_list(absent)}; the columns are "
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
