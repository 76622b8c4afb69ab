"""Inputs at predict time: reading feature files and checking them against the training features."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mlptrain.data._text import nonfinite_error, quote_list
from mlptrain.data.files import (
    check_file,
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
    X = np.asarray(X)
    if X.dtype.kind == "O":
        # checked element by element: astype(float) would quietly turn None into NaN and
        # the string "1.5" into 1.5
        bad = [v for v in X.flat if not isinstance(v, int | float | np.number)]
        if bad:
            raise DataError(
                f"{source}: features must be numbers, but X holds objects such as {bad[0]!r}"
            )
        X = X.astype(np.float64)
    if X.dtype.kind not in ("b", "i", "u", "f"):
        sample = repr(X.flat[0].item()) if X.size else "none"
        raise DataError(
            f"{source}: features must be numbers, but X has dtype {X.dtype} (e.g. {sample})"
        )
    if X.ndim == 1:
        raise DataError(
            f"{source}: expected a 2-D array, got a 1-D array of shape {X.shape}; reshape with "
            "X.reshape(1, -1) for a single sample or X.reshape(-1, 1) for a single feature"
        )
    if X.ndim != 2:
        raise DataError(
            f"{source}: expected a 2-D array (n_samples, n_features), got {X.ndim} dimensions "
            f"(shape {X.shape})"
        )
    if X.shape[0] == 0:
        raise DataError(f"{source}: 0 samples: X has shape {X.shape}")
    if X.shape[1] != n_features:
        # the same words as scikit-learn, which users already know
        raise DataError(
            f"{source}: X has {X.shape[1]} features, but the model expects {n_features}"
        )
    X = np.ascontiguousarray(X, dtype=np.float64)
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
    if all(name in header for name in feature_names):
        indices = [header.index(name) for name in feature_names]
    else:
        indices = [j for j, name in enumerate(header) if name != target]
        if len(indices) != n_features:
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
