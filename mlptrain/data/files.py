"""The user's own data as `RawData`: a CSV (header, numeric features, any target; parsed by
`csv_reader`) or an NPZ (X, y; never unpickled)."""

from __future__ import annotations

import difflib
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mlptrain.data._text import did_you_mean, nonfinite_error, quote_list
from mlptrain.data.csv_reader import missing_mask, numeric_columns, parse_csv
from mlptrain.data.preprocess import infer_task
from mlptrain.errors import DataError


@dataclass
class RawData:
    """A dataset as loaded, before splitting, encoding or scaling.

    ``X`` is float64 of shape (n_samples, n_features) (for tables: (n_samples, 0)); ``y`` has the labels as given (ints,
    floats, bools or strings) of shape (n_samples,), or float of shape (n_samples, n_targets)
    for multi-target regression.
    """

    X: np.ndarray
    y: np.ndarray
    feature_names: list[str]
    task: str
    source: str
    target_name: str | None = None  # the target's column name, for tables with a header
    # Optional row assignment ("train", "val" or "test" per row) that replaces the seeded
    # split: an NPZ may carry it as an array ``split`` (mlptrain.fit(X=..., y=...) writes one).
    split: np.ndarray | None = None
    # Optional group per row (``data.group_column``): a seeded split keeps each group's rows
    # in one part.
    groups: np.ndarray | None = None
    # csv/parquet tables: the typed columns (``mlptrain.data.tables.Table``) and what each
    # column is (``ColumnInfo``); X then has no columns, the encoder builds them per split
    table: Any = None
    columns: list[Any] | None = None
    notes: list[str] = field(default_factory=list)


def check_finite(
    X: np.ndarray, y: np.ndarray, names: Sequence[str], *, where: str, target: str = "the target"
) -> None:
    """The one check that features and targets hold no NaN or inf, for files and for arrays
    alike: one DataError counting them per column, with the first row."""
    error = nonfinite_error(
        X, names, what="features", where=where, row_text=lambda i: f"row index {i}"
    )
    if error:
        raise error
    if y.dtype.kind == "f":
        bad = ~np.isfinite(y.reshape(len(y), -1)).all(axis=1)
        if bad.any():
            count, first = int(bad.sum()), int(np.flatnonzero(bad)[0])
            raise DataError(
                f"{where}: {count} missing or non-finite target value{'s' if count > 1 else ''} "
                f"(NaN or inf) in {target}; first at row index {first}; drop or fill those rows"
            )


def check_file(path: str | Path) -> Path:
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path}: is a directory, not a file; give the path of a CSV or NPZ file")
    if not path.exists():
        hint = ""
        if path.parent.is_dir():
            siblings = [p.name for p in path.parent.iterdir() if p.is_file()]
            close = difflib.get_close_matches(path.name, siblings, n=1, cutoff=0.6)
            if close:
                hint = f" (did you mean {str(path.parent / close[0])!r}?)"
        raise DataError(f"{path}: file not found{hint}")
    return path


def _parse_target(path: Path, column: np.ndarray, name: str, lines: np.ndarray) -> np.ndarray:
    """A target column as int64 if every cell is an integer, else float64, else strings."""
    missing = missing_mask(column)
    if missing.any():
        raise DataError(
            f"{path}: target column {name!r} has {int(missing.sum())} missing value(s) "
            f"(first at line {lines[np.flatnonzero(missing)[0]]}); drop or fill those rows"
        )
    try:
        return np.array([int(cell) for cell in column], dtype=np.int64)
    except (ValueError, OverflowError):
        pass
    try:
        values = column.astype(np.float64)
    except ValueError:
        return column.astype(str)
    if not np.all(np.isfinite(values)):
        bad = ~np.isfinite(values)
        raise DataError(
            f"{path}: target column {name!r} has {int(bad.sum())} non-finite value(s) "
            f"(first at line {lines[np.flatnonzero(bad)[0]]}); drop or fix those rows"
        )
    return values


def _read_csv(path: str | Path, target: str | None) -> RawData:
    path = check_file(path)
    header, cells, lines = parse_csv(path)
    if target is None:
        target_index = len(header) - 1
    elif target in header:
        target_index = header.index(target)
    else:
        raise DataError(
            f"{path}: target column {target!r} not found; the columns are "
            f"{quote_list(header, 20)}{did_you_mean(target, header)}"
        )
    target_name = header[target_index]
    feature_indices = [j for j in range(len(header)) if j != target_index]
    if not feature_indices:
        raise DataError(
            f"{path}: 0 features: the only column is the target {target_name!r}; "
            "a CSV needs at least one feature column besides the target"
        )
    feature_names = [header[j] for j in feature_indices]
    X = numeric_columns(
        path,
        cells[:, feature_indices],
        feature_names,
        [j + 1 for j in feature_indices],
        lines,
        hint="features must be numbers: make such a column the target with data.target, "
        "or drop it from the file",
    )
    error = nonfinite_error(
        X, feature_names, what="features", where=str(path), row_text=lambda i: f"line {lines[i]}"
    )
    if error:
        raise error
    y = _parse_target(path, np.char.strip(cells[:, target_index]), target_name, lines)
    source = f"CSV {path} (target column {target_name!r})"
    return RawData(X, y, feature_names, infer_task(y, "auto"), source, target_name=target_name)


def load_npz(path: Path, required: Sequence[str]) -> dict[str, np.ndarray]:
    """The arrays of an .npz file; never unpickles (object arrays are refused)."""
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(
            f"{path}: not a readable .npz file ({exc}); save arrays with np.savez(path, X=X, y=y)"
        ) from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(
            f"{path}: is a single .npy array, not an .npz archive; "
            "save both arrays with np.savez(path, X=X, y=y)"
        )
    with archive:
        found = list(archive.files)
        missing = [name for name in required if name not in found]
        if missing:
            raise DataError(
                f"{path}: no array named {' or '.join(repr(m) for m in missing)}; "
                f"arrays found: {quote_list(found) or 'none'}; "
                "save with np.savez(path, X=X, y=y)"
            )
        arrays: dict[str, np.ndarray] = {}
        for name in [*required, *(n for n in ("feature_names", "split") if n in found)]:
            try:
                arrays[name] = archive[name]
            except ValueError as exc:
                if "allow_pickle" in str(exc) or "Object arrays" in str(exc):
                    raise DataError(
                        f"{path}: array {name!r} is an object array; refused because loading "
                        "it would unpickle (run) code; save plain numeric or string arrays"
                    ) from None
                raise DataError(f"{path}: array {name!r} cannot be read: {exc}") from None
            except (OSError, EOFError, zipfile.BadZipFile) as exc:
                raise DataError(f"{path}: array {name!r} cannot be read: {exc}") from None
    return arrays


def feature_matrix(X: Any, source: str) -> np.ndarray:
    """``X`` as a float64 (n_samples, n_features) array with at least one sample, or one
    DataError saying what is wrong with it; training files and predict inputs share it."""
    X = np.asarray(X)
    if X.dtype.kind == "O":
        # Checked element by element: astype(float) would quietly turn None into NaN and
        # the string "1.5" into 1.5.
        bad = [v for v in X.flat if not isinstance(v, int | float | np.number)]
        if bad:
            raise DataError(
                f"{source}: features must be numbers, but X holds objects such as {bad[0]!r}"
            )
        X = X.astype(np.float64)
    if X.dtype.kind not in "biuf":
        sample = repr(X.flat[0].item()) if X.size else "none"
        raise DataError(
            f"{source}: X has dtype {X.dtype}; features must be numbers (bool, int or float), "
            f"not e.g. {sample}"
        )
    if X.ndim == 1:
        raise DataError(
            f"{source}: expected a 2-D array, got a 1-D array of shape {X.shape}; reshape with "
            "X.reshape(1, -1) for a single sample or X.reshape(-1, 1) for a single feature"
        )
    if X.ndim != 2:
        raise DataError(
            f"{source}: expected a 2-D array (n_samples, n_features), got {X.ndim} dimensions "
            f"(shape {X.shape}); flatten each sample with X.reshape(len(X), -1)"
        )
    if X.shape[0] == 0:
        raise DataError(f"{source}: 0 samples: X has shape {X.shape}")
    return np.ascontiguousarray(X, dtype=np.float64)


def npz_features(path: Path, X: np.ndarray) -> np.ndarray:
    X = feature_matrix(X, str(path))
    if X.shape[1] == 0:
        raise DataError(f"{path}: 0 features: X has shape {X.shape}")
    return X


def npz_feature_names(arrays: dict[str, np.ndarray], n_features: int) -> list[str] | None:
    """The optional string array ``feature_names`` saved next to X, if it fits X."""
    names = arrays.get("feature_names")
    if names is not None and names.dtype.kind == "U" and names.shape == (n_features,):
        return [str(name) for name in names]
    return None


def _read_npz(path: str | Path) -> RawData:
    path = check_file(path)
    arrays = load_npz(path, ("X", "y"))
    X = npz_features(path, arrays["X"])
    y = arrays["y"]
    if y.dtype.kind == "S":
        try:
            y = np.char.decode(y, "utf-8")
        except UnicodeDecodeError:
            raise DataError(f"{path}: array 'y' holds bytes that are not UTF-8 text") from None
    if y.dtype.kind not in "biufU":
        raise DataError(
            f"{path}: array 'y' has dtype {y.dtype}; targets must be numbers or strings"
        )
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.ravel()
    if y.ndim not in (1, 2):
        raise DataError(
            f"{path}: y has shape {y.shape}; y must be 1-D (n_samples,) or, for several "
            "regression targets, 2-D (n_samples, n_targets)"
        )
    if len(y) != len(X):
        raise DataError(
            f"{path}: X has {len(X)} rows but y has {len(y)}; they need one label per sample"
        )
    names = npz_feature_names(arrays, X.shape[1]) or [f"x{j}" for j in range(X.shape[1])]
    error = nonfinite_error(
        X, names, what="features (X)", where=str(path), row_text=lambda i: f"row index {i}"
    )
    if error:
        raise error
    if y.dtype.kind == "f":
        error = nonfinite_error(
            y.reshape(len(y), -1).astype(np.float64),
            [f"y[:, {k}]" if y.ndim == 2 else "y" for k in range(y.size // len(y))],
            what="targets (y)",
            where=str(path),
            row_text=lambda i: f"row index {i}",
        )
        if error:
            raise error
    split = npz_split(path, arrays.get("split"), len(X))
    return RawData(X, y, names, infer_task(y, "auto"), f"NPZ {path}", split=split)


SPLIT_NAMES = ("train", "val", "test")


def npz_split(path: Path, split: np.ndarray | None, n_rows: int) -> np.ndarray | None:
    """The optional ``split`` array: one of train/val/test per row, at least one train row."""
    if split is None:
        return None
    allowed = ", ".join(SPLIT_NAMES)
    if split.dtype.kind != "U" or split.shape != (n_rows,):
        raise DataError(
            f"{path}: array 'split' has dtype {split.dtype} and shape {split.shape}; it must "
            f"be strings of shape ({n_rows},), one of {allowed} per row"
        )
    unknown = sorted({str(value) for value in np.unique(split)} - set(SPLIT_NAMES))
    if unknown:
        raise DataError(f"{path}: array 'split' holds {quote_list(unknown)}; allowed: {allowed}")
    for needed in ("train", "test"):
        if not np.any(split == needed):
            raise DataError(
                f"{path}: array 'split' marks no row as {needed!r}; at least one is needed"
            )
    return split


def read_table(path: str | Path, *, target: str | None) -> RawData:
    """A CSV (header required; ``target`` column, default the last) or an NPZ (arrays X, y).

    The format follows the file name: ``.npz`` is NumPy, anything else is read as CSV.
    """
    if Path(path).suffix.lower() == ".npz":
        return _read_npz(path)
    return _read_csv(path, target)
