"""A fingerprint of the data a run was trained on: SHA-256 of the raw arrays and of each split's rows.

``evaluate``, ``report`` and ``--resume`` rebuild the splits from the run's config; if the file
behind it changed (rows reordered, values edited, rows added), the rebuilt "test" split may hold
training rows and every number would silently change. Comparing the fingerprint stored with the
run against the rebuilt data turns that into one error that names what changed.
"""

from __future__ import annotations

import hashlib

import numpy as np

from mlptrain.data.files import RawData
from mlptrain.errors import DataError

# The parts of a fingerprint, in the words an error uses for them.
PARTS = {
    "features": "the feature values",
    "targets": "the target values",
    "train_rows": "the training rows",
    "val_rows": "the validation rows",
    "test_rows": "the test rows",
}


def array_digest(array: np.ndarray) -> str:
    """SHA-256 of an array's dtype, shape and bytes (C order); object arrays as their text."""
    array = np.asarray(array)
    if array.dtype.kind == "O":
        array = array.astype(str)
    array = np.ascontiguousarray(array)
    digest = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode())
    digest.update(array.tobytes())
    return digest.hexdigest()


def features_digest(raw: RawData) -> str:
    """SHA-256 of the feature values. A table with categorical columns (whose X has no
    columns) hashes each feature column's name, cells and levels instead."""
    if raw.table is None or raw.X.shape[1] > 0:
        return array_digest(raw.X)
    digest = hashlib.sha256()
    for name in raw.feature_names:
        column = raw.table.columns[name]
        digest.update(name.encode("utf-8") + b"\0")
        digest.update(array_digest(column.values).encode("ascii"))
        if column.levels is not None:
            digest.update(array_digest(column.levels).encode("ascii"))
    return digest.hexdigest()


def data_fingerprint(
    raw: RawData,
    train_rows: np.ndarray,
    val_rows: np.ndarray | None,
    test_rows: np.ndarray | None,
) -> dict[str, str]:
    """The SHA-256 of the raw features and targets, and of each split's row indices."""
    rows = {"train_rows": train_rows, "val_rows": val_rows, "test_rows": test_rows}
    fingerprint = {"features": features_digest(raw), "targets": array_digest(raw.y)}
    for name, indices in rows.items():
        indices = np.zeros(0, np.int64) if indices is None else np.asarray(indices, np.int64)
        fingerprint[name] = array_digest(indices)
    return fingerprint


def check_same_data(
    stored: dict[str, str] | None, current: dict[str, str], *, source: str, run: str, remedy: str
) -> None:
    """Raise a DataError naming the parts that differ; a run without a fingerprint passes."""
    if not stored:
        return
    changed = [PARTS[name] for name in PARTS if stored.get(name) != current.get(name)]
    if changed:
        raise DataError(
            f"{source}: the data differs from the data {run} was trained on "
            f"({', '.join(changed)} changed); {remedy}"
        )
