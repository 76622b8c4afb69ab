"""Task inference, label encoding and feature scaling (fitted on the training split only)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mlptrain.data._text import did_you_mean, format_label, plain_list
from mlptrain.errors import DataError

TASKS = ("auto", "classification", "regression")
SCALERS = ("standard", "minmax", "none")

# auto task inference: integer labels with at most this many distinct values are classes
MAX_AUTO_CLASSES = 50


def infer_task(y: np.ndarray, requested: str, *, where: str = "the target") -> str:
    """The task for labels ``y``: ``requested`` if given and possible, else inferred.

    auto: strings and bools are classes; integers are classes when there are at most
    ``MAX_AUTO_CLASSES`` distinct values and fewer than half as many as samples; floats and
    2-D targets are regression.
    """
    if requested not in TASKS:
        raise DataError(
            f"data.task is {requested!r}; allowed: {', '.join(TASKS)}"
            + did_you_mean(requested, TASKS)
        )
    y = np.asarray(y)
    kind = y.dtype.kind
    if kind in ("O", "S", "U") and (requested == "regression" or y.ndim == 2):
        sample = format_label(y.flat[0]) if y.size else "''"
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
                f"{where} holds non-integer numbers (e.g. {format_label(sample)}) that cannot be class "
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
            unknown = list(dict.fromkeys(format_label(v) for v in y[~known]))
            raise DataError(
                f"{len(unknown)} label(s) not seen in training: {plain_list(unknown)}; "
                f"the model knows {plain_list([format_label(c) for c in self.classes])}"
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
                + did_you_mean(kind, SCALERS)
            )
        self.kind = kind
        self.shift: np.ndarray | None = None
        self.scale: np.ndarray | None = None

    @property
    def n_features(self) -> int | None:
        return None if self.shift is None else len(self.shift)

    def fit(self, X: np.ndarray, sample_weight: np.ndarray | None = None) -> Scaler:
        """Fit on X (n, n_features); with ``sample_weight`` (n,) the mean and standard
        deviation are weighted, so a weight of 2 is the same as the row written twice."""
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
            raise DataError(f"the scaler needs a non-empty 2-D array, got shape {X.shape}")
        n_features = X.shape[1]
        if self.kind != "none":  # "none" reads no values: no float64 copy of the data
            X = X.astype(np.float64, copy=False)
        weight = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        if weight is not None and not weight.sum() > 0:
            weight = None  # all-zero weights: nothing to weight by
        if self.kind == "standard" and weight is not None:
            shift = np.average(X, axis=0, weights=weight)
            scale = np.sqrt(np.average((X - shift) ** 2, axis=0, weights=weight))
        elif self.kind == "standard":
            shift = X.mean(axis=0)
            scale = X.std(axis=0)
        elif self.kind == "minmax":
            shift = X.min(axis=0)
            scale = X.max(axis=0) - shift
        else:
            shift = np.zeros(n_features)
            scale = np.ones(n_features)
        if self.kind != "none":
            # max == min is the exact test for a constant column; the std of one can come out
            # as a tiny rounding residue rather than 0, which would blow the column up instead
            constant = (X.max(axis=0) == X.min(axis=0)) | (scale == 0)
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
            if not self.shift.any() and np.all(self.scale == 1):
                # (x - 0) / 1 is x exactly: one cast, no float64 temporaries
                scaled = np.array(X, dtype=dtype, order="C")
            else:
                scaled = ((X.astype(np.float64, copy=False) - self.shift) / self.scale).astype(
                    dtype
                )
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
                f"scaler state lacks {', '.join(missing)}; found {plain_list(sorted(state))}"
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
