"""Datasets, CSV/NPZ readers, seeded index splits, the feature scaler and label encoding.

Everything here is deterministic: the same config and seed give the same arrays bit for bit, and
splits are made by row index so that ``evaluate`` can rebuild exactly the rows a run trained on.
Every problem with the user's data is a one-line :class:`DataError` (exit code 2) that says what
was wrong, where, and what is allowed.

scikit-learn is imported inside functions only: importing it costs about a second, and commands
such as ``mlptrain --help`` must not pay for it.
"""

from __future__ import annotations

import csv
import difflib
import inspect
import io
import math
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from mlptrain.errors import DataError

TASKS = ("auto", "classification", "regression")
SCALERS = ("standard", "minmax", "none")

# auto task inference: integer labels with at most this many distinct values are classes
MAX_AUTO_CLASSES = 50

# cells that mean "no value" in a CSV; they become NaN and are reported as missing
_MISSING_TOKENS = ("", "na", "n/a", "nan", "null", "none")

# how many names or values an error message lists before it says "and N more"
_LIST_LIMIT = 8


class DataConfig(Protocol):
    """The attributes of the config's ``data`` section that this module reads."""

    dataset: str
    params: dict[str, Any]
    path: str | Path | None
    target: str | None
    task: str
    test_size: float
    val_size: float
    scale: str


@dataclass(frozen=True)
class DatasetInfo:
    """One entry of ``mlptrain datasets``; sizes are those of the default parameters."""

    name: str
    kind: str  # "bundled" | "generator" | "file"
    task: str  # "classification" | "regression" | "auto" (files)
    description: str
    n_samples: int | None
    n_features: int | None
    n_classes: int | None


DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo("iris", "bundled", "classification",
                    "Iris flowers: 4 measurements, 3 species", 150, 4, 3),
        DatasetInfo("digits", "bundled", "classification",
                    "8x8 images of handwritten digits 0-9", 1797, 64, 10),
        DatasetInfo("wine", "bundled", "classification",
                    "Wine chemical analysis: 3 cultivars", 178, 13, 3),
        DatasetInfo("breast_cancer", "bundled", "classification",
                    "Breast cancer diagnosis (malignant/benign)", 569, 30, 2),
        DatasetInfo("diabetes", "bundled", "regression",
                    "Diabetes progression after one year", 442, 10, None),
        DatasetInfo("moons", "generator", "classification",
                    "Two interleaving half circles (make_moons)", 500, 2, 2),
        DatasetInfo("circles", "generator", "classification",
                    "A circle inside a circle (make_circles)", 500, 2, 2),
        DatasetInfo("blobs", "generator", "classification",
                    "Isotropic Gaussian blobs (make_blobs)", 500, 2, 3),
        DatasetInfo("classification", "generator", "classification",
                    "Random n-class problem (make_classification)", 500, 20, 3),
        DatasetInfo("regression", "generator", "regression",
                    "Random linear regression problem (make_regression)", 500, 10, None),
        DatasetInfo("csv", "file", "auto",
                    "A CSV file with a header; target column last unless data.target says",
                    None, None, None),
        DatasetInfo("npz", "file", "auto",
                    "A NumPy .npz file with arrays X (2-D) and y", None, None, None),
    )
}  # fmt: skip

_BUNDLED_LOADERS = {
    "iris": "load_iris",
    "digits": "load_digits",
    "wine": "load_wine",
    "breast_cancer": "load_breast_cancer",
    "diabetes": "load_diabetes",
}

# defaults chosen to give a problem an MLP can learn in seconds; user params override them
_GENERATORS: dict[str, tuple[str, dict[str, Any]]] = {
    "moons": ("make_moons", {"n_samples": 500, "noise": 0.2}),
    "circles": ("make_circles", {"n_samples": 500, "noise": 0.1, "factor": 0.5}),
    "blobs": ("make_blobs", {"n_samples": 500, "n_features": 2, "centers": 3}),
    "classification": (
        "make_classification",
        {"n_samples": 500, "n_features": 20, "n_informative": 5, "n_redundant": 2,
         "n_classes": 3},
    ),
    "regression": (
        "make_regression",
        {"n_samples": 500, "n_features": 10, "n_informative": 5, "noise": 1.0},
    ),
}  # fmt: skip

# parameters that change the number of values a generator returns
_REFUSED_PARAMS = {"make_blobs": ("return_centers",), "make_regression": ("coef",)}


@dataclass
class RawData:
    """A dataset as loaded, before splitting, encoding or scaling.

    ``X`` is float64 of shape (n_samples, n_features); ``y`` has the labels as given (ints,
    floats, bools or strings) of shape (n_samples,), or float of shape (n_samples, n_targets)
    for multi-target regression.
    """

    X: np.ndarray
    y: np.ndarray
    feature_names: list[str]
    task: str
    source: str


@dataclass
class Split:
    """One part of a split: ``X`` scaled, C-contiguous, in the run's dtype; ``y`` int64 class
    indices of shape (n,) for classification, or the run's dtype of shape (n, n_targets)."""

    X: np.ndarray
    y: np.ndarray


@dataclass
class Prepared:
    """What training needs: the three splits and the fitted encoder and scaler."""

    task: str
    train: Split
    val: Split | None
    test: Split
    encoder: LabelEncoder | None
    scaler: Scaler
    feature_names: list[str]
    n_features: int
    n_outputs_hint: int
    source: str
    # Regression targets are standardised for training (fitted on train only) so that the
    # loss starts near 1 whatever the target's units; predictions are mapped back.
    target_scaler: Scaler | None = None


def _quote_list(items: Sequence[object], limit: int = _LIST_LIMIT) -> str:
    shown = ", ".join(repr(item) for item in items[:limit])
    if len(items) > limit:
        shown += f", ... ({len(items) - limit} more)"
    return shown


def _plain_list(items: Sequence[object], limit: int = _LIST_LIMIT) -> str:
    shown = ", ".join(str(item) for item in items[:limit])
    if len(items) > limit:
        shown += f", ... ({len(items) - limit} more)"
    return shown


def _did_you_mean(name: str, choices: Sequence[str]) -> str:
    lowered = {choice.lower(): choice for choice in choices}
    if name.lower() in lowered:
        return f" (did you mean {lowered[name.lower()]!r}?)"
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _label(value: object) -> str:
    """A label as the user wrote it: ``'apple'`` for strings, ``3`` for numbers."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def _nonfinite_error(
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
    columns = [f"{names[j]!r} ({int(per_column[j])})" for j in np.flatnonzero(per_column)]
    first_row = int(np.flatnonzero(bad.any(axis=1))[0])
    noun = "value" if count == 1 else "values"
    return DataError(
        f"{where}: {count} missing or non-finite {noun} (NaN, inf or empty) in {what}, "
        f"in column{'s' if len(columns) > 1 else ''} {_plain_list(columns)}; "
        f"first at {row_text(first_row)}; "
        "mlptrain does not impute: drop or fill those rows"
    )


def infer_task(y: np.ndarray, requested: str, *, where: str = "the target") -> str:
    """The task for labels ``y``: ``requested`` if given and possible, else inferred.

    auto: strings and bools are classes; integers are classes when there are at most
    ``MAX_AUTO_CLASSES`` distinct values and fewer than half as many as samples; floats and
    2-D targets are regression.
    """
    if requested not in TASKS:
        raise DataError(
            f"data.task is {requested!r}; allowed: {', '.join(TASKS)}"
            + _did_you_mean(requested, TASKS)
        )
    y = np.asarray(y)
    kind = y.dtype.kind
    if kind in ("O", "S", "U") and (requested == "regression" or y.ndim == 2):
        sample = _label(y.flat[0]) if y.size else "''"
        raise DataError(
            f"{where} holds strings (e.g. {sample}) but regression needs numeric targets; "
            "set data.task: classification or use a numeric target column"
        )
    if requested == "classification":
        if y.ndim != 1:
            raise DataError(
                f"{where} has shape {y.shape}; classification needs one label per sample "
                "(a 1-D y); 2-D targets are for regression"
            )
        if kind == "f" and np.any(y != np.round(y)):
            sample = y[np.flatnonzero(y != np.round(y))[0]]
            raise DataError(
                f"{where} holds non-integer numbers (e.g. {_label(sample)}) that cannot be class "
                "labels; set data.task: regression, or use integer or string labels"
            )
        return "classification"
    if requested == "regression":
        return "regression"
    if y.ndim == 2 or kind in ("f", "c"):
        return "regression"
    if kind in ("O", "S", "U", "b"):
        return "classification"
    n_distinct = len(np.unique(y))
    if n_distinct <= MAX_AUTO_CLASSES and n_distinct < len(y) / 2:
        return "classification"
    return "regression"


class LabelEncoder:
    """Maps the original labels (strings, ints, floats or bools) to indices 0..n_classes-1.

    ``classes`` is sorted and unique, so index ``k`` always means the same label for the same
    training data, whatever order the rows came in.
    """

    def __init__(self, classes: Sequence[object] | np.ndarray | None = None) -> None:
        self.classes: np.ndarray = np.asarray([]) if classes is None else np.asarray(classes)
        if classes is not None:
            self._check_classes()

    def _check_classes(self) -> None:
        classes = self.classes
        if classes.ndim != 1 or len(classes) == 0:
            raise DataError(f"label classes must be a non-empty list, got shape {classes.shape}")
        if classes.dtype.kind not in "biufU":
            raise DataError(
                f"label classes must be str, int, float or bool, got dtype {classes.dtype}"
            )
        if classes.dtype.kind == "f" and not np.all(np.isfinite(classes)):
            raise DataError("label classes must be finite numbers")
        if len(classes) > 1 and not np.all(classes[1:] > classes[:-1]):
            raise DataError("label classes must be sorted and unique")

    def fit(self, y: np.ndarray) -> LabelEncoder:
        self.classes = np.unique(np.asarray(y))
        self._check_classes()
        return self

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def encode(self, y: np.ndarray) -> np.ndarray:
        """Labels of shape (n,) -> int64 indices of shape (n,); unknown labels are an error."""
        y = np.asarray(y)
        if y.ndim != 1:
            raise DataError(f"labels must be 1-D, got shape {y.shape}")
        if self.classes.dtype.kind == "U" and y.dtype.kind != "U":
            y = y.astype(str)
        strings = (self.classes.dtype.kind == "U", y.dtype.kind == "U")
        if strings[0] != strings[1]:
            known = np.zeros(len(y), dtype=bool)  # numbers are never equal to strings
        else:
            known = np.isin(y, self.classes)
        if not known.all():
            unknown = list(dict.fromkeys(_label(v) for v in y[~known]))
            raise DataError(
                f"{len(unknown)} label(s) not seen in training: {_plain_list(unknown)}; "
                f"the model knows {_plain_list([_label(c) for c in self.classes])}"
            )
        return np.searchsorted(self.classes, y).astype(np.int64)

    def decode(self, indices: np.ndarray) -> np.ndarray:
        """int indices of shape (n,) -> the original labels of shape (n,)."""
        indices = np.asarray(indices)
        if indices.dtype.kind not in "iu":
            raise DataError(f"class indices must be integers, got dtype {indices.dtype}")
        if indices.size and (indices.min() < 0 or indices.max() >= self.n_classes):
            raise DataError(
                f"class index out of range: got {int(indices.min())}..{int(indices.max())}, "
                f"the encoder has {self.n_classes} classes"
            )
        return self.classes[indices]

    def to_list(self) -> list[str | int | float | bool]:
        """The classes as plain Python values, for JSON; ``from_list`` restores the dtype."""
        return [value.item() for value in self.classes]

    @classmethod
    def from_list(cls, values: Sequence[object]) -> LabelEncoder:
        values = list(values)
        if not values:
            raise DataError("label classes list is empty")
        if all(isinstance(v, bool) for v in values):
            return cls(np.array(values, dtype=bool))
        # bool is a subclass of int, so it is excluded explicitly from the numeric cases
        if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            return cls(np.array(values, dtype=np.int64))
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            return cls(np.array(values, dtype=np.float64))
        if all(isinstance(v, str) for v in values):
            return cls(np.array(values, dtype=str))
        kinds = sorted({type(v).__name__ for v in values})
        raise DataError(
            f"label classes must all be str, all int, all float or all bool; got {', '.join(kinds)}"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LabelEncoder):
            return NotImplemented
        return (
            self.classes.dtype.kind == other.classes.dtype.kind
            and self.classes.shape == other.classes.shape
            and bool(np.all(self.classes == other.classes))
        )

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value

    def __repr__(self) -> str:
        return f"LabelEncoder(classes={self.to_list()!r})"


class Scaler:
    """Per-feature affine scaling ``x' = (x - shift) / scale``, fitted on the training split.

    standard: shift = mean, scale = standard deviation; minmax: shift = min, scale = max - min;
    none: shift = 0, scale = 1. A constant column gets scale 1 and shift equal to its value, so
    it maps to exactly 0 instead of dividing by zero.
    """

    def __init__(self, kind: str = "standard") -> None:
        if kind not in SCALERS:
            raise DataError(
                f"data.scale is {kind!r}; allowed: {', '.join(SCALERS)}"
                + _did_you_mean(kind, SCALERS)
            )
        self.kind = kind
        self.shift: np.ndarray | None = None
        self.scale: np.ndarray | None = None

    @property
    def n_features(self) -> int | None:
        return None if self.shift is None else len(self.shift)

    def fit(self, X: np.ndarray) -> Scaler:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
            raise DataError(f"the scaler needs a non-empty 2-D array, got shape {X.shape}")
        n_features = X.shape[1]
        if self.kind == "standard":
            shift = X.mean(axis=0)
            scale = X.std(axis=0)
        elif self.kind == "minmax":
            shift = X.min(axis=0)
            scale = X.max(axis=0) - shift
        else:
            shift = np.zeros(n_features)
            scale = np.ones(n_features)
        # max == min is the exact test for a constant column; the std of one can come out as a
        # tiny rounding residue rather than 0, which would blow the column up instead
        constant = (X.max(axis=0) == X.min(axis=0)) | (scale == 0)
        if self.kind != "none":
            shift = np.where(constant, X[0], shift)
            scale = np.where(constant, 1.0, scale)
        self.shift = np.ascontiguousarray(shift, dtype=np.float64)
        self.scale = np.ascontiguousarray(scale, dtype=np.float64)
        return self

    def transform(self, X: np.ndarray, dtype: np.dtype | type = np.float64) -> np.ndarray:
        """X of shape (n, n_features) -> a new C-contiguous array of ``dtype``; X is untouched."""
        if self.shift is None or self.scale is None:
            raise DataError("the scaler is not fitted; call fit(X) or Scaler.from_state first")
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != len(self.shift):
            got = X.shape[1] if X.ndim == 2 else f"shape {X.shape}"
            raise DataError(f"X has {got} features, but the scaler expects {len(self.shift)}")
        # computed in float64 and cast once, so float32 runs get correctly rounded inputs
        with np.errstate(over="ignore"):  # overflow is reported below, as a DataError
            scaled = ((X.astype(np.float64, copy=False) - self.shift) / self.scale).astype(dtype)
        if not np.all(np.isfinite(scaled)):
            raise DataError(
                f"{int((~np.isfinite(scaled)).sum())} feature value(s) overflow {np.dtype(dtype)} "
                "after scaling; the input has values far outside the training range"
            )
        return np.ascontiguousarray(scaled)

    def state_dict(self) -> dict[str, np.ndarray]:
        if self.shift is None or self.scale is None:
            raise DataError("the scaler is not fitted; nothing to save")
        return {"scaler.shift": self.shift.copy(), "scaler.scale": self.scale.copy()}

    @classmethod
    def from_state(cls, kind: str, state: dict[str, np.ndarray]) -> Scaler:
        scaler = cls(kind)
        missing = [key for key in ("scaler.shift", "scaler.scale") if key not in state]
        if missing:
            raise DataError(
                f"scaler state lacks {', '.join(missing)}; found {_plain_list(sorted(state))}"
            )
        shift = np.asarray(state["scaler.shift"])
        scale = np.asarray(state["scaler.scale"])
        if shift.dtype.kind not in "iuf" or scale.dtype.kind not in "iuf":
            raise DataError("scaler state arrays must be numeric")
        shift = np.array(shift, dtype=np.float64)
        scale = np.array(scale, dtype=np.float64)
        if shift.ndim != 1 or shift.shape != scale.shape or shift.size == 0:
            raise DataError(
                f"scaler state has shift shape {shift.shape} and scale shape {scale.shape}; "
                "both must be the same non-empty 1-D shape"
            )
        if not (np.all(np.isfinite(shift)) and np.all(np.isfinite(scale)) and np.all(scale > 0)):
            raise DataError("scaler state must be finite with a positive scale")
        scaler.shift, scaler.scale = shift, scale
        return scaler

    def __repr__(self) -> str:
        return f"Scaler(kind={self.kind!r}, n_features={self.n_features})"


def _check_file(path: str | Path) -> Path:
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


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read the file: {exc.strerror or exc}") from None
    try:
        # utf-8-sig drops the byte-order mark that spreadsheet programs put at the start
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(
            f"{path}: is not valid UTF-8 text (byte 0x{raw[exc.start]:02x} at line {line}); "
            "save the CSV as UTF-8"
        ) from None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _parse_csv(path: Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The header, the cells as a stripped string array (n_rows, n_columns), and each row's line."""
    text = _read_text(path)
    if not text.strip():
        raise DataError(f"{path}: the file is empty; a CSV needs a header line and data rows")
    reader = csv.reader(io.StringIO(text))
    rows: list[list[str]] = []
    lines: list[int] = []
    try:
        for row in reader:
            if row:  # csv yields [] for blank lines
                rows.append(row)
                lines.append(reader.line_num)
    except csv.Error as exc:
        raise DataError(f"{path}: line {reader.line_num}: cannot parse CSV: {exc}") from None
    header = [name.strip() for name in rows[0]]
    if len(header) == 1 and (";" in header[0] or "\t" in header[0]):
        sep = "';'" if ";" in header[0] else "a tab"
        raise DataError(
            f"{path}: the header has a single column {header[0]!r} that contains {sep}; "
            "mlptrain reads comma-separated files: save the file with ',' as the separator"
        )
    if all(_is_number(name) for name in header):
        raise DataError(
            f"{path}: the first line looks like data, not a header (all numbers: "
            f"{_plain_list(header, 5)}); add a header line naming the columns"
        )
    for number, name in enumerate(header, start=1):
        if not name:
            raise DataError(f"{path}: column {number} has an empty name in the header (line 1)")
    seen: dict[str, int] = {}
    for number, name in enumerate(header, start=1):
        if name in seen:
            raise DataError(
                f"{path}: column name {name!r} appears twice in the header "
                f"(columns {seen[name]} and {number}); column names must be unique"
            )
        seen[name] = number
    for row, line in zip(rows[1:], lines[1:], strict=True):
        if len(row) != len(header):
            raise DataError(
                f"{path}: line {line} has {len(row)} fields, but the header has {len(header)}; "
                "every row needs one value per column"
            )
    if len(rows) == 1:
        raise DataError(f"{path}: 0 samples: the file has a header but no data rows")
    cells = np.array(rows[1:], dtype=str).reshape(len(rows) - 1, len(header))
    return header, cells, np.array(lines[1:])


def _missing_mask(cells: np.ndarray) -> np.ndarray:
    return np.isin(np.char.lower(np.char.strip(cells)), _MISSING_TOKENS)


def _numeric_columns(
    path: Path,
    cells: np.ndarray,
    names: Sequence[str],
    numbers: Sequence[int],
    lines: np.ndarray,
    *,
    hint: str,
) -> np.ndarray:
    """Cells of shape (n, k) -> float64 (n, k), missing cells as NaN; non-numeric is an error."""
    values = np.empty(cells.shape, dtype=np.float64)
    bad_columns: list[str] = []
    for j in range(cells.shape[1]):
        # the fast path parses a clean column in one call (it accepts surrounding spaces, nan
        # and inf); only a column that fails it pays for the missing-token scan
        try:
            values[:, j] = cells[:, j].astype(np.float64)
            continue
        except ValueError:
            pass
        column = np.char.strip(cells[:, j])
        filled = np.where(_missing_mask(column), "nan", column)
        try:
            values[:, j] = filled.astype(np.float64)
            continue
        except ValueError:
            pass
        for i, cell in enumerate(filled):
            if not _is_number(str(cell)):
                bad_columns.append(
                    f"{names[j]!r} (column {numbers[j]}, e.g. {str(cell)!r} at line {lines[i]})"
                )
                break
    if bad_columns:
        noun = "column is" if len(bad_columns) == 1 else "columns are"
        raise DataError(f"{path}: feature {noun} not numeric: {'; '.join(bad_columns)}; {hint}")
    return values


def _parse_target(path: Path, column: np.ndarray, name: str, lines: np.ndarray) -> np.ndarray:
    """A target column as int64 if every cell is an integer, else float64, else strings."""
    missing = _missing_mask(column)
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
    path = _check_file(path)
    header, cells, lines = _parse_csv(path)
    if target is None:
        target_index = len(header) - 1
    elif target in header:
        target_index = header.index(target)
    else:
        raise DataError(
            f"{path}: target column {target!r} not found; the columns are "
            f"{_quote_list(header, 20)}{_did_you_mean(target, header)}"
        )
    target_name = header[target_index]
    feature_indices = [j for j in range(len(header)) if j != target_index]
    if not feature_indices:
        raise DataError(
            f"{path}: 0 features: the only column is the target {target_name!r}; "
            "a CSV needs at least one feature column besides the target"
        )
    feature_names = [header[j] for j in feature_indices]
    X = _numeric_columns(
        path,
        cells[:, feature_indices],
        feature_names,
        [j + 1 for j in feature_indices],
        lines,
        hint="features must be numbers: make such a column the target with data.target, "
        "or drop it from the file",
    )
    error = _nonfinite_error(
        X, feature_names, what="features", where=str(path), row_text=lambda i: f"line {lines[i]}"
    )
    if error:
        raise error
    y = _parse_target(path, np.char.strip(cells[:, target_index]), target_name, lines)
    source = f"CSV {path} (target column {target_name!r})"
    return RawData(X, y, feature_names, infer_task(y, "auto"), source)


def _load_npz(path: Path, required: Sequence[str]) -> dict[str, np.ndarray]:
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
                f"arrays found: {_quote_list(found) or 'none'}; "
                "save with np.savez(path, X=X, y=y)"
            )
        arrays: dict[str, np.ndarray] = {}
        for name in [*required, *(n for n in ("feature_names",) if n in found)]:
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


def _npz_features(path: Path, X: np.ndarray) -> np.ndarray:
    if X.dtype.kind not in "biuf":
        raise DataError(
            f"{path}: array 'X' has dtype {X.dtype}; features must be numbers (bool, int or float)"
        )
    if X.ndim == 1:
        raise DataError(
            f"{path}: X is 1-D (shape {X.shape}); X must be 2-D (n_samples, n_features): "
            "use X.reshape(-1, 1) for a single feature"
        )
    if X.ndim != 2:
        raise DataError(
            f"{path}: X has {X.ndim} dimensions (shape {X.shape}); X must be 2-D "
            "(n_samples, n_features): flatten each sample with X.reshape(len(X), -1)"
        )
    if X.shape[0] == 0:
        raise DataError(f"{path}: 0 samples: X has shape {X.shape}")
    if X.shape[1] == 0:
        raise DataError(f"{path}: 0 features: X has shape {X.shape}")
    return np.ascontiguousarray(X, dtype=np.float64)


def _npz_feature_names(arrays: dict[str, np.ndarray], n_features: int) -> list[str] | None:
    """The optional string array ``feature_names`` saved next to X, if it fits X."""
    names = arrays.get("feature_names")
    if names is not None and names.dtype.kind == "U" and names.shape == (n_features,):
        return [str(name) for name in names]
    return None


def _read_npz(path: str | Path) -> RawData:
    path = _check_file(path)
    arrays = _load_npz(path, ("X", "y"))
    X = _npz_features(path, arrays["X"])
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
    names = _npz_feature_names(arrays, X.shape[1]) or [f"x{j}" for j in range(X.shape[1])]
    error = _nonfinite_error(
        X, names, what="features (X)", where=str(path), row_text=lambda i: f"row index {i}"
    )
    if error:
        raise error
    if y.dtype.kind == "f":
        error = _nonfinite_error(
            y.reshape(len(y), -1).astype(np.float64),
            [f"y[:, {k}]" if y.ndim == 2 else "y" for k in range(y.size // len(y))],
            what="targets (y)",
            where=str(path),
            row_text=lambda i: f"row index {i}",
        )
        if error:
            raise error
    return RawData(X, y, names, infer_task(y, "auto"), f"NPZ {path}")


def read_table(path: str | Path, *, target: str | None) -> RawData:
    """A CSV (header required; ``target`` column, default the last) or an NPZ (arrays X, y).

    The format follows the file name: ``.npz`` is NumPy, anything else is read as CSV.
    """
    if Path(path).suffix.lower() == ".npz":
        return _read_npz(path)
    return _read_csv(path, target)


def _unknown_dataset(name: str) -> DataError:
    return DataError(
        f"data.dataset: unknown dataset {name!r}{_did_you_mean(name, list(DATASETS))}; "
        f"allowed: {', '.join(DATASETS)}"
    )


def _load_bundled(name: str) -> RawData:
    import sklearn.datasets

    bunch = getattr(sklearn.datasets, _BUNDLED_LOADERS[name])()
    X = np.ascontiguousarray(bunch.data, dtype=np.float64)
    y = np.asarray(bunch.target)
    info = DATASETS[name]
    if info.task == "classification":
        # class names make predictions readable ("setosa", "malignant"); for digits they are
        # the integers 0-9, so the labels stay integers
        y = np.asarray(bunch.target_names)[y]
        if y.dtype.kind in "OSU":
            y = y.astype(str)
    names = [str(n) for n in getattr(bunch, "feature_names", [])] or [
        f"x{j}" for j in range(X.shape[1])
    ]
    source = f"{name} (scikit-learn bundled dataset, {X.shape[0]} samples)"
    return RawData(X, y, names, info.task, source)


def _load_generated(name: str, params: dict[str, Any], seed: int) -> RawData:
    import sklearn.datasets

    function_name, defaults = _GENERATORS[name]
    generate = getattr(sklearn.datasets, function_name)
    accepted = list(inspect.signature(generate).parameters)
    refused = _REFUSED_PARAMS.get(function_name, ())
    allowed = [p for p in accepted if p not in refused]
    for key in params:
        if key in refused:
            raise DataError(
                f"data.params.{key}: changes what {function_name} returns and is not supported; "
                f"accepted parameters: {', '.join(allowed)}"
            )
        if key not in accepted:
            raise DataError(
                f"data.params.{key}: {function_name} has no parameter {key!r}"
                f"{_did_you_mean(str(key), allowed)}; accepted parameters: {', '.join(allowed)}"
            )
    kwargs = {**defaults, **params}
    kwargs.setdefault("random_state", seed)
    try:
        X, y = generate(**kwargs)
    except (TypeError, ValueError) as exc:
        given = ", ".join(f"{k}={v!r}" for k, v in params.items()) or "none"
        raise DataError(
            f"data.params: {function_name} rejected the parameters ({given}): "
            f"{str(exc).rstrip('.')}; "
            f"accepted parameters: {', '.join(allowed)}"
        ) from None
    X = np.ascontiguousarray(X, dtype=np.float64)
    y = np.asarray(y)
    if function_name != "make_regression":
        y = y.astype(np.int64)
    call = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    names = [f"x{j}" for j in range(X.shape[1])]
    return RawData(X, y, names, DATASETS[name].task, f"{function_name}({call})")


def _validate_raw(raw: RawData) -> None:
    """Checks that hold for every source: shapes, sizes, finite values."""
    X, y, where = raw.X, raw.y, raw.source
    if X.ndim != 2:
        raise DataError(f"{where}: X must be 2-D (n_samples, n_features), got shape {X.shape}")
    if X.shape[0] == 0:
        raise DataError(f"{where}: 0 samples")
    if X.shape[1] == 0:
        raise DataError(f"{where}: 0 features")
    if len(y) != X.shape[0]:
        raise DataError(f"{where}: X has {X.shape[0]} rows but y has {len(y)}")
    error = _nonfinite_error(
        X, raw.feature_names, what="features", where=where, row_text=lambda i: f"row index {i}"
    )
    if error:
        raise error
    if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        raise DataError(f"{where}: {int((~np.isfinite(y)).sum())} non-finite target value(s)")


def load_raw(data_cfg: DataConfig, *, seed: int) -> RawData:
    """The dataset the config names, validated, with its task resolved.

    Generators get ``random_state=seed`` unless ``data.params`` sets it.
    """
    name = data_cfg.dataset
    info = DATASETS.get(name)
    if info is None:
        raise _unknown_dataset(name)
    params = dict(data_cfg.params or {})
    path = data_cfg.path
    target = data_cfg.target
    if info.kind != "generator" and params:
        raise DataError(
            f"data.params: {name!r} takes no parameters (given: {', '.join(map(str, params))}); "
            f"only the generators {', '.join(_GENERATORS)} do"
        )
    if info.kind != "file" and path is not None:
        raise DataError(
            f"data.path is set ({path}) but data.dataset is {name!r}; "
            "set data.dataset: csv or npz to read a file"
        )
    if name != "csv" and target is not None:
        raise DataError(
            f"data.target is set ({target!r}) but data.dataset is {name!r}; "
            "data.target chooses the target column of a CSV file"
        )
    if info.kind == "file" and not path:
        raise DataError(f"data.path is required when data.dataset is {name!r}")

    if info.kind == "bundled":
        raw = _load_bundled(name)
    elif info.kind == "generator":
        raw = _load_generated(name, params, seed)
    elif name == "csv":
        raw = _read_csv(path, target)  # type: ignore[arg-type]  # checked above
    else:
        raw = _read_npz(path)  # type: ignore[arg-type]
    _validate_raw(raw)
    where = f"the target of {raw.source}"
    if data_cfg.task == "auto":
        # built-in datasets know their task; inferring it could misfire on small generated sets
        task = raw.task if info.kind != "file" else infer_task(raw.y, "auto", where=where)
    else:
        task = infer_task(raw.y, data_cfg.task, where=where)
    raw.task = task
    return raw


def _split_sizes(n: int, test_size: float, val_size: float) -> tuple[int, int, int]:
    """(n_train, n_val, n_test) exactly as scikit-learn's train_test_split computes them."""
    n_test = math.ceil(test_size * n)
    n_rest = n - n_test
    n_val = math.ceil(val_size * n_rest) if val_size > 0 else 0
    return n_rest - n_val, n_val, n_test


def _sizes_ok(n: int, test_size: float, val_size: float, n_classes: int) -> bool:
    n_train, n_val, n_test = _split_sizes(n, test_size, val_size)
    least = max(1, n_classes)  # a stratified split puts every class in every part
    return n_train >= least and n_test >= least and (val_size == 0 or n_val >= least)


def split_indices(
    y: np.ndarray,
    *,
    task: str,
    test_size: float,
    val_size: float,
    seed: int,
    where: str = "the data",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded (train, val, test) row indices, each sorted int64; val is empty if val_size is 0.

    Classification splits are stratified on ``y``: each part keeps the class proportions.
    ``val_size`` is a fraction of what remains after the test rows are taken.
    """
    from sklearn.model_selection import train_test_split

    if not 0 < test_size < 1:
        raise DataError(f"data.test_size must be between 0 and 1 (exclusive), got {test_size}")
    if not 0 <= val_size < 1:
        raise DataError(f"data.val_size must be in [0, 1), got {val_size}")
    if not 0 <= seed < 2**32:
        raise DataError(f"seed must be an integer in [0, 2**32), got {seed}")
    y = np.asarray(y)
    n = len(y)
    stratify = task == "classification"
    classes, counts = np.unique(y, return_counts=True) if stratify else (np.array([]), None)
    n_classes = len(classes)
    if stratify and n_classes < 2:
        label = _label(classes[0]) if n_classes else "none"
        raise DataError(
            f"{where}: only one class ({label}) in the target; classification needs at "
            "least 2 classes"
        )
    if stratify and counts is not None:
        needed = 2 if val_size == 0 else 3
        parts = "train/test" if val_size == 0 else "train/validation/test"
        if counts.min() < needed:
            rare = int(np.argmin(counts))
            raise DataError(
                f"{where}: class {_label(classes[rare])} has only {int(counts[rare])} "
                f"sample(s); a stratified {parts} split needs at least {needed} per class; "
                "add samples of that class or remove its rows"
            )
    if not _sizes_ok(n, test_size, val_size, n_classes):
        n_min = n + 1
        while not _sizes_ok(n_min, test_size, val_size, n_classes) and n_min < 10**8:
            n_min += 1
        n_train, n_val, n_test = _split_sizes(n, test_size, val_size)
        per_part = (
            f"; stratifying {n_classes} classes needs at least {n_classes} rows in each part"
            if stratify
            else ""
        )
        raise DataError(
            f"{where}: too few samples for the split: {n} samples with test_size={test_size} "
            f"and val_size={val_size} give {n_train} train / {n_val} validation / {n_test} test "
            f"rows{per_part}; need at least {n_min} samples, or change test_size/val_size"
        )
    indices = np.arange(n, dtype=np.int64)
    try:
        rest, test = train_test_split(
            indices, test_size=test_size, random_state=seed, stratify=y if stratify else None
        )
        if val_size > 0:
            if stratify:
                left_classes, left_counts = np.unique(y[rest], return_counts=True)
                if len(left_classes) < n_classes or left_counts.min() < 2:
                    rare = int(np.argmin(left_counts))
                    raise DataError(
                        f"{where}: class {_label(left_classes[rare])} has only "
                        f"{int(left_counts[rare])} sample(s) left after taking the test rows; "
                        "the stratified validation split needs at least 2; add samples of "
                        "that class or lower test_size"
                    )
            train, val = train_test_split(
                rest,
                test_size=val_size,
                random_state=seed,
                stratify=y[rest] if stratify else None,
            )
        else:
            train, val = rest, np.array([], dtype=np.int64)
    except ValueError as exc:
        raise DataError(f"{where}: cannot split the data: {exc}") from None
    return tuple(np.sort(np.asarray(part, dtype=np.int64)) for part in (train, val, test))  # type: ignore[return-value]


def _float_dtype(dtype: np.dtype | type | str) -> np.dtype:
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        resolved = None
    if resolved not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise DataError(f"dtype must be float32 or float64, got {dtype!r}")
    return resolved


def prepare(data_cfg: DataConfig, *, seed: int, dtype: np.dtype | type | str) -> Prepared:
    """load_raw, then split by index, encode labels, fit the scaler on train only, transform."""
    dtype = _float_dtype(dtype)
    raw = load_raw(data_cfg, seed=seed)
    train_idx, val_idx, test_idx = split_indices(
        raw.y,
        task=raw.task,
        test_size=data_cfg.test_size,
        val_size=data_cfg.val_size,
        seed=seed,
        where=raw.source,
    )
    encoder: LabelEncoder | None
    if raw.task == "classification":
        encoder = LabelEncoder().fit(raw.y)
        targets = encoder.encode(raw.y)
        n_outputs = encoder.n_classes
    else:
        encoder = None
        targets = raw.y.reshape(len(raw.y), -1).astype(dtype)
        n_outputs = targets.shape[1]
    scaler = Scaler(data_cfg.scale).fit(raw.X[train_idx])
    target_scaler = None if encoder is not None else Scaler("standard").fit(targets[train_idx])

    def part(indices: np.ndarray) -> Split:
        return Split(
            scaler.transform(raw.X[indices], dtype), np.ascontiguousarray(targets[indices])
        )

    return Prepared(
        task=raw.task,
        train=part(train_idx),
        val=part(val_idx) if data_cfg.val_size > 0 else None,
        test=part(test_idx),
        encoder=encoder,
        scaler=scaler,
        feature_names=list(raw.feature_names),
        n_features=raw.X.shape[1],
        n_outputs_hint=n_outputs,
        source=raw.source,
        target_scaler=target_scaler,
    )


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
    error = _nonfinite_error(
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
        path = _check_file(path)
        arrays = _load_npz(path, ("X",))
        X = _npz_features(path, arrays["X"])
        names = _npz_feature_names(arrays, X.shape[1])
        if names is None:
            # an NPZ has no header, so columns are taken by position with the training names
            width = X.shape[1]
            names = list(feature_names) if width == n_features else [f"x{j}" for j in range(width)]
        return check_features(
            X, n_features=n_features, feature_names=names, source=str(path)
        ), names

    path = _check_file(path)
    header, cells, lines = _parse_csv(path)
    if all(name in header for name in feature_names):
        indices = [header.index(name) for name in feature_names]
    else:
        indices = [j for j, name in enumerate(header) if name != target]
        if len(indices) != n_features:
            missing = [name for name in feature_names if name not in header]
            raise DataError(
                f"{path}: X has {len(indices)} features, but the model expects {n_features}; "
                f"the model's columns missing from the header: {_quote_list(missing)}"
            )
    names = [header[j] for j in indices]
    X = _numeric_columns(
        path,
        cells[:, indices],
        names,
        [j + 1 for j in indices],
        lines,
        hint="the model's features are numbers",
    )
    error = _nonfinite_error(
        X, names, what="features", where=str(path), row_text=lambda i: f"line {lines[i]}"
    )
    if error:
        raise error
    return check_features(X, n_features=n_features, feature_names=names, source=str(path)), names
