"""Data the caller already holds: arrays (NumPy, pandas) to ``RawData`` with its split, and back
to an NPZ file that ``prepare`` reads to the same splits.

``mlptrain.fit(config, X=..., y=...)`` and the scikit-learn estimators both come through here,
so arrays, CSV files and NPZ files share one path to ``Prepared`` (``prepare_rows``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mlptrain.data.files import SPLIT_NAMES, RawData, check_finite, feature_matrix
from mlptrain.data.preprocess import infer_task
from mlptrain.data.splits import split_indices
from mlptrain.errors import DataError
from mlptrain.store.atomic import atomic_write_bytes


def feature_names_of(X: Any) -> list[str] | None:
    """Column names of a DataFrame (as strings), or None for arrays."""
    columns = getattr(X, "columns", None)
    if columns is None:
        return None
    return [str(name) for name in columns]


def target_array(y: Any, source: str) -> np.ndarray:
    """``y`` (list, array, Series or DataFrame) as an array of numbers or strings."""
    y = np.asarray(y.to_numpy() if hasattr(y, "to_numpy") else y)
    if y.dtype.kind == "O":
        values = list(y.flat)
        if all(isinstance(v, str) for v in values):
            y = y.astype(str)
        elif all(
            isinstance(v, int | float | np.number) and not isinstance(v, bool) for v in values
        ):
            y = y.astype(np.float64)
        else:
            kinds = sorted({type(v).__name__ for v in values})
            raise DataError(
                f"{source}: y mixes {', '.join(kinds)}; labels must be all numbers or all strings"
            )
    if y.dtype.kind not in "biufU":
        raise DataError(f"{source}: y has dtype {y.dtype}; targets must be numbers or strings")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.ravel()
    if y.ndim not in (1, 2):
        raise DataError(
            f"{source}: y has shape {y.shape}; y must be 1-D (n_samples,) or, for several "
            "regression targets, 2-D (n_samples, n_targets)"
        )
    return y


def _pair(X: Any, y: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    features = feature_matrix(X, f"X{name}")
    targets = target_array(y, f"y{name}")
    if len(targets) != len(features):
        raise DataError(
            f"X{name} has {len(features)} rows but y{name} has {len(targets)}; "
            "they need one label per sample"
        )
    names = feature_names_of(X) or [f"x{j}" for j in range(features.shape[1])]
    check_finite(features, targets, names, where=f"X{name}, y{name}", target=f"y{name}")
    return features, targets


def raw_from_arrays(
    X: Any,
    y: Any,
    *,
    X_val: Any = None,
    y_val: Any = None,
    X_test: Any = None,
    y_test: Any = None,
    task: str = "auto",
    test_size: float = 0.2,
    val_size: float = 0.1,
    seed: int = 0,
) -> RawData:
    """All rows in one ``RawData`` whose ``split`` says where each row goes.

    Rows of ``X``/``y`` are split as a config's data would be (seeded, stratified for
    classification; ``test_size`` then ``val_size``) except for the parts given explicitly:
    with ``X_test`` none of ``X`` is held out for testing, with ``X_val`` none for validation.
    """
    for name, features, targets in (("_val", X_val, y_val), ("_test", X_test, y_test)):
        if (features is None) != (targets is None):
            raise DataError(f"X{name} and y{name} go together: give both or neither")
    parts = {"train": _pair(X, y, "")}
    if X_val is not None:
        parts["val"] = _pair(X_val, y_val, "_val")
    if X_test is not None:
        parts["test"] = _pair(X_test, y_test, "_test")
    n_features = parts["train"][0].shape[1]
    for part, (features, _) in parts.items():
        if features.shape[1] != n_features:
            raise DataError(f"X_{part} has {features.shape[1]} features, but X has {n_features}")
    names = feature_names_of(X) or [f"x{j}" for j in range(n_features)]
    all_y = np.concatenate([targets for _, targets in parts.values()])
    task = infer_task(all_y, task, where="y")
    rows = len(parts["train"][1])
    labels = np.full(rows, "train", dtype="<U5")
    missing = [part for part in ("val", "test") if part not in parts]
    if "test" in missing:
        _, val, test = split_indices(
            parts["train"][1],
            task=task,
            test_size=test_size,
            val_size=val_size if "val" in missing else 0.0,
            seed=seed,
            where="X, y",
        )
        labels[val] = "val"
        labels[test] = "test"
    elif "val" in missing and val_size > 0:
        # split_indices always takes a test part first: here that part is the validation rows
        _, _, val = split_indices(
            parts["train"][1], task=task, test_size=val_size, val_size=0.0, seed=seed, where="X, y"
        )
        labels[val] = "val"
    split = np.concatenate(
        [
            labels,
            *(np.full(len(parts[p][1]), p, dtype="<U5") for p in ("val", "test") if p in parts),
        ]
    )
    return RawData(
        X=np.concatenate([features for features, _ in parts.values()]),
        y=all_y,
        feature_names=names,
        task=task,
        source="arrays X, y",
        split=split,
    )


def write_npz(path: str | Path, raw: RawData) -> None:
    """``raw`` as an NPZ (X, y, feature_names, split) that ``prepare`` reads back exactly."""
    import io

    arrays: dict[str, np.ndarray] = {
        "X": raw.X,
        "y": raw.y,
        "feature_names": np.asarray(raw.feature_names, dtype=str),
    }
    if raw.split is not None:
        if set(np.unique(raw.split)) - set(SPLIT_NAMES):
            raise ValueError(f"split labels must be among {SPLIT_NAMES}")
        arrays["split"] = raw.split
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]  # numpy stub: **arrays vs allow_pickle
    atomic_write_bytes(Path(path), buffer.getvalue())
