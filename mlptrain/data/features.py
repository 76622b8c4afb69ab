"""Inputs at predict time: reading feature files and checking them against the training features."""

from __future__ import annotations

from pathlib import Path

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
