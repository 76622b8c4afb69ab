"""Imputation, one-hot encoding and scaling of a table's feature columns.

Fitted with scikit-learn's transformers on the training rows only: a ``ColumnTransformer`` of
``SimpleImputer`` + ``StandardScaler``/``MinMaxScaler`` for numeric columns, ``SimpleImputer``
+ ``OneHotEncoder`` (``handle_unknown="infrequent_if_exist"``, ``max_categories``,
``min_frequency``) for categorical ones, and ``MissingIndicator`` when asked. Their fitted state
(fill values, scaling statistics, categories, the infrequent ones, column order) is copied out
into plain numbers and strings (``TableEncoder.state``), which a checkpoint keeps in its
SHA-256-covered metadata: nothing is pickled. ``transform`` applies that state with NumPy and
writes each part's matrix once, directly in the training dtype; tests check it against the
fitted ``ColumnTransformer`` cell for cell, gaps and unseen categories included.

The encoded columns are: numeric columns in table order, then each categorical column's
categories (sorted, frequent ones first, then ``<column>=infrequent``), then one 0/1
``<column>=missing`` indicator per feature that had gaps in training (``missing.indicator``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlptrain.data._text import quote_list
from mlptrain.data.category_lookup import CategoryLookup
from mlptrain.data.columns import FEATURE_KINDS, ColumnInfo
from mlptrain.data.dates import FORMATS, ISO, part_names, with_date_parts
from mlptrain.data.tables import Table
from mlptrain.errors import DataError

NUMERIC_FILLS = {"median": "median", "mean": "mean", "zero": "constant"}
MISSING_CATEGORY = "missing"  # the category that 'constant' imputation fills gaps with
INFREQUENT = "infrequent"


@dataclass
class Settings:
    """The config keys the encoder follows (data.missing, data.categorical, data.scale)."""

    numeric_missing: str = "median"
    categorical_missing: str = "most_frequent"
    indicator: bool = False
    max_categories: int | None = 50
    min_frequency: int = 1
    infrequent: bool = True
    scale: str = "standard"

    @classmethod
    def from_config(cls, data_cfg: Any) -> Settings:
        missing = getattr(data_cfg, "missing", None)
        categorical = getattr(data_cfg, "categorical", None)
        settings = cls(scale=getattr(data_cfg, "scale", "standard"))
        if missing is not None:
            settings.numeric_missing = missing.numeric
            settings.categorical_missing = missing.categorical
            settings.indicator = missing.indicator
        if categorical is not None:
            settings.max_categories = categorical.max_categories
            settings.min_frequency = categorical.min_frequency
            settings.infrequent = categorical.infrequent
        return settings


def unseen_note(unseen: dict[str, int]) -> str:
    """The one line that counts, per column, cells holding a category not seen in training."""
    counts = ", ".join(f"{name!r} {n}" for name, n in unseen.items())
    return (
        f"{sum(unseen.values())} cell(s) hold categories not seen in training, encoded as the "
        f"column's infrequent category or all zeros: {counts}"
    )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _refuse_gaps(table: Table, name: str, rows: np.ndarray | None, key: str) -> None:
    missing = table.columns[name].missing
    if rows is not None:
        missing = missing[rows]
    if missing.any():
        first = int(np.flatnonzero(missing)[0])
        first_row = int(rows[first]) + 1 if rows is not None else first + 1
        raise DataError(
            f"{table.source}: column {name!r} has {int(missing.sum())} missing value(s) (first "
            f"at data row {first_row}) and data.missing.{key} is 'refuse'; fill them, or set "
            f"data.missing.{key} to an imputation"
        )


def _extended_levels(levels: np.ndarray | None, constant: bool) -> np.ndarray:
    """A column's levels, with the 'missing' category appended when gaps are filled with it."""
    if levels is None:  # the reader reads every categorical column as text
        raise ValueError("a categorical column must be a text column, with levels")
    if constant and MISSING_CATEGORY not in levels:
        return np.append(levels, MISSING_CATEGORY)
    return levels


def _codes(table: Table, name: str, rows: np.ndarray, constant: bool) -> np.ndarray:
    """Float codes (NaN for gaps) of a text column: what the categorical pipeline is fitted on."""
    column = table.columns[name]
    codes = column.values[rows].astype(np.float64)
    codes[codes < 0] = np.nan
    return codes


def build_column_transformer(
    numeric: list[str], categorical: list[str], settings: Settings, missing_code: list[float]
) -> Any:
    """The scikit-learn ColumnTransformer that the state is taken from (unfitted)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import MissingIndicator, SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, StandardScaler

    k = len(numeric)
    parts: list[tuple[str, Any, list[int]]] = []
    for j, _name in enumerate(numeric):
        steps: list[tuple[str, Any]] = []
        if settings.numeric_missing != "refuse":
            strategy = NUMERIC_FILLS[settings.numeric_missing]
            steps.append(
                (
                    "impute",
                    SimpleImputer(strategy=strategy, fill_value=0.0, keep_empty_features=True),
                )
            )
        if settings.scale == "standard":
            steps.append(("scale", StandardScaler()))
        elif settings.scale == "minmax":
            steps.append(("scale", MinMaxScaler()))
        parts.append((f"num{j}", Pipeline(steps) if steps else "passthrough", [j]))
    for j, _name in enumerate(categorical):
        steps = []
        if settings.categorical_missing == "most_frequent":
            steps.append(
                ("impute", SimpleImputer(strategy="most_frequent", keep_empty_features=True))
            )
        elif settings.categorical_missing == "constant":
            steps.append(("impute", SimpleImputer(strategy="constant", fill_value=missing_code[j])))
        folding = settings.infrequent
        steps.append(
            (
                "onehot",
                OneHotEncoder(
                    handle_unknown="infrequent_if_exist" if folding else "ignore",
                    max_categories=settings.max_categories if folding else None,
                    min_frequency=settings.min_frequency
                    if folding and settings.min_frequency > 1
                    else None,
                    sparse_output=True,
                ),
            )
        )
        parts.append((f"cat{j}", Pipeline(steps), [k + j]))
    if settings.indicator:
        parts.append(
            ("indicator", MissingIndicator(features="missing-only", sparse=True),
             list(range(k + len(categorical))))
        )  # fmt: skip
    return ColumnTransformer(parts, sparse_threshold=1.0)


def fit_matrix(table: Table, numeric: list[str], categorical: list[str], rows: np.ndarray,
               constant: bool) -> np.ndarray:  # fmt: skip
    """The float64 matrix the ColumnTransformer sees: numbers, then category codes."""
    X = np.empty((len(rows), len(numeric) + len(categorical)), dtype=np.float64)
    for j, name in enumerate(numeric):
        X[:, j] = table.columns[name].values[rows]
    for j, name in enumerate(categorical):
        X[:, len(numeric) + j] = _codes(table, name, rows, constant)
    return X


class TableEncoder:
    """Fitted preprocessing of a table: ``transform(table, rows, dtype)`` -> encoded matrix."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.state = state
        self.numeric: list[dict[str, Any]] = state["numeric"]
        self.categorical: list[dict[str, Any]] = state["categorical"]
        self.indicators: list[str] = state["indicators"]
        self.ids: list[str] = state["ids"]
        self.refuse: dict[str, bool] = state["refuse"]
        self.features: list[str] = state["features"]
        # date column -> its format; the model reads their parts (mlptrain.data.dates)
        self.dates: dict[str, str] = state.get("dates") or {}
        self.text_inputs = [c["name"] for c in self.categorical] + list(self.dates)

    @functools.cached_property
    def _lookups(self) -> dict[str, CategoryLookup]:
        """Each categorical column's one-hot positions, built at the first ``transform``."""
        return {c["name"]: CategoryLookup.of(c) for c in self.categorical}

    @classmethod
    def from_state(cls, state: Any, source: str) -> TableEncoder:
        """Rebuild from ``state`` (a checkpoint's metadata); a malformed one is a DataError."""
        try:
            encoder = cls(state)
            for c in encoder.numeric:
                for key in ("fill", "shift", "scale", "mul", "add"):
                    value = c[key]
                    if value is not None and not isinstance(value, int | float):
                        raise TypeError(f"{c['name']}.{key} is {value!r}")
                if not c["scale"]:
                    raise ValueError(f"{c['name']}.scale is 0")
            for c in encoder.categorical:
                values = [c["fill"], *c["categories"], *(c["infrequent"] or [])]
                if not all(isinstance(v, str) or v is None for v in values):
                    raise TypeError(f"categories of {c['name']} must be strings")
            if not all(
                isinstance(k, str) and (v == ISO or v in FORMATS) for k, v in encoder.dates.items()
            ):
                raise TypeError(f"date formats must be one of iso, {', '.join(FORMATS)}")
            names = [*encoder.features, *encoder.ids, *encoder.indicators]
            if not all(isinstance(n, str) for n in names):
                raise TypeError("column names must be strings")
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise DataError(
                f"{source}: the table preprocessing state is malformed ({exc})"
            ) from None
        return encoder

    def check_inputs(self, table: Table) -> Table:
        """Every input column present, and the numeric ones holding numbers: ``table`` with
        its date columns' parts added."""
        missing = [name for name in self.features if name not in table.columns]
        if missing:
            raise DataError(
                f"{table.source}: missing column(s) {quote_list(missing)}; the model reads "
                f"{quote_list(self.features, 20)}"
            )
        table = with_date_parts(table, self.dates)
        for c in self.numeric:
            column = table.columns[c["name"]]
            if column.levels is not None:
                sample = next((str(v) for v in column.levels if not _is_number(v)), "")
                raise DataError(
                    f"{table.source}: column {c['name']!r} holds text such as {sample!r}; the "
                    "model was trained on numbers in this column"
                )
        return table

    @property
    def inputs(self) -> list[str]:
        """The raw columns the encoder reads, in table order of kind (numeric, categorical,
        dates)."""
        parts = {p for name in self.dates for p in part_names(name)}
        numeric = [c["name"] for c in self.numeric if c["name"] not in parts]
        return numeric + [c["name"] for c in self.categorical] + list(self.dates)

    @property
    def feature_names(self) -> list[str]:
        names = [c["name"] for c in self.numeric]
        for c in self.categorical:
            names += [f"{c['name']}={v}" for v in c["categories"]]
            if c["infrequent"] is not None:
                names.append(f"{c['name']}={INFREQUENT}")
        names += [f"{name}={MISSING_CATEGORY}" for name in self.indicators]
        return names

    @functools.cached_property
    def width(self) -> int:
        """The encoded matrix's columns; once per model (every ``transform`` asks)."""
        return len(self.feature_names)

    def raw_groups(self) -> list[tuple[str, list[int]]]:
        """Each raw input column with every encoded column it becomes: a numeric column and
        its gap indicator, a categorical column's levels, a date column's parts."""
        raw_of = {part: name for name in self.dates for part in part_names(name)}
        raw_of.update({f"{name}={MISSING_CATEGORY}": name for name in self.indicators})
        owned: dict[str, list[int]] = {}
        for name, start, stop in self.groups():
            raw = raw_of.get(name, name)  # a gap indicator's column, which may be a date part
            owned.setdefault(raw_of.get(raw, raw), []).extend(range(start, stop))
        return list(owned.items())

    def groups(self) -> list[tuple[str, int, int]]:
        """(input column, first, past-the-end) encoded columns of each input column."""
        out, start = [], 0
        for c in self.numeric:
            out.append((c["name"], start, start + 1))
            start += 1
        for c in self.categorical:
            size = len(c["categories"]) + (c["infrequent"] is not None)
            out.append((c["name"], start, start + size))
            start += size
        for name in self.indicators:
            out.append((f"{name}={MISSING_CATEGORY}", start, start + 1))
            start += 1
        return out

    @classmethod
    def fit(  # noqa: C901  split when the module is divided: its helpers would take it past 450 lines
        cls, table: Table, infos: list[ColumnInfo], train_rows: np.ndarray, settings: Settings
    ) -> TableEncoder:
        dates = {i.name: str(i.date_format) for i in infos if i.kind == "date"}
        table = with_date_parts(table, dates)
        numeric = [i.name for i in infos if i.kind == "numeric"]
        numeric += [part for name in dates for part in part_names(name)]
        categorical = [i.name for i in infos if i.kind == "categorical"]
        constant = settings.categorical_missing == "constant"
        if settings.numeric_missing == "refuse":
            for name in numeric:
                _refuse_gaps(table, name, None, "numeric")
        if settings.categorical_missing == "refuse":
            for name in categorical:
                _refuse_gaps(table, name, None, "categorical")
        levels = {name: table.columns[name].levels for name in categorical}
        extended = {name: _extended_levels(levels[name], constant) for name in categorical}
        missing_code = [
            float(np.flatnonzero(extended[name] == MISSING_CATEGORY)[0]) if constant else 0.0
            for name in categorical
        ]
        if not settings.infrequent and settings.max_categories is not None:
            for name in categorical:
                used = np.unique(table.columns[name].values[train_rows])
                n_used = int((used >= 0).sum()) + int(constant and (used < 0).any())
                if n_used > settings.max_categories:
                    raise DataError(
                        f"{table.source}: column {name!r} has {n_used} categories in the "
                        f"training rows, more than data.categorical.max_categories "
                        f"({settings.max_categories}) allows with infrequent folding off; raise "
                        "max_categories, set data.categorical.infrequent: true, or list the "
                        "column as id or ignore under data.columns"
                    )
        transformer = build_column_transformer(numeric, categorical, settings, missing_code)
        X = fit_matrix(table, numeric, categorical, train_rows, constant)
        transformer.fit(X)
        del X
        fitted = transformer.named_transformers_
        state: dict[str, Any] = {
            "numeric": [],
            "categorical": [],
            "indicators": [],
            "features": [i.name for i in infos if i.kind in FEATURE_KINDS],
            "dates": dates,
            "table_columns": [i.name for i in infos],
            "target": next((i.name for i in infos if i.kind == "target"), None),
            "ids": [i.name for i in infos if i.kind == "id"],
            "ignored": [i.name for i in infos if i.kind == "ignore"],
            "refuse": {
                "numeric": settings.numeric_missing == "refuse",
                "categorical": settings.categorical_missing == "refuse",
            },
        }
        for j, name in enumerate(numeric):
            step = fitted[f"num{j}"]
            steps = {} if step == "passthrough" else dict(step.steps)
            entry = {"name": name, "fill": None, "shift": 0.0, "scale": 1.0, "mul": 1.0, "add": 0.0}
            if "impute" in steps:
                entry["fill"] = float(steps["impute"].statistics_[0])
            scaler = steps.get("scale")
            if scaler is not None and hasattr(scaler, "mean_"):
                entry["shift"], entry["scale"] = float(scaler.mean_[0]), float(scaler.scale_[0])
            elif scaler is not None:
                entry["mul"], entry["add"] = float(scaler.scale_[0]), float(scaler.min_[0])
            state["numeric"].append(entry)
        for j, name in enumerate(categorical):
            steps = dict(fitted[f"cat{j}"].steps)
            onehot = steps["onehot"]
            as_text = extended[name]
            categories = as_text[onehot.categories_[0].astype(np.int64)]
            infrequent = None
            if getattr(onehot, "_infrequent_enabled", False):
                rare = onehot.infrequent_categories_[0]
                if rare is not None:
                    infrequent = [str(v) for v in as_text[np.asarray(rare).astype(np.int64)]]
            frequent = [str(v) for v in categories if infrequent is None or v not in infrequent]
            fill = None
            if "impute" in steps:
                fill = str(as_text[int(steps["impute"].statistics_[0])])
            state["categorical"].append(
                {"name": name, "fill": fill, "categories": frequent, "infrequent": infrequent}
            )
        if settings.indicator:
            inputs = numeric + categorical
            state["indicators"] = [inputs[int(j)] for j in fitted["indicator"].features_]
        return cls(state)

    def transform(
        self, table: Table, rows: np.ndarray | None = None, dtype: Any = np.float64
    ) -> tuple[np.ndarray, dict[str, int]]:
        """The encoded matrix (n, width) in ``dtype``, and per categorical column the number of
        rows holding a category not seen in training (encoded as infrequent or all zeros)."""
        table = self.check_inputs(table)
        n = table.n_rows if rows is None else len(rows)
        out = np.zeros((n, self.width), dtype=dtype)
        unseen: dict[str, int] = {}

        def cells(name: str) -> np.ndarray:
            values = table.columns[name].values
            return values if rows is None else values[rows]

        for j, c in enumerate(self.numeric):
            x = cells(c["name"]).astype(np.float64)
            gaps = np.isnan(x)
            if gaps.any():
                if c["fill"] is None:
                    _refuse_gaps(table, c["name"], rows, "numeric")
                x[gaps] = c["fill"]
            # the same operations, in the same order, as the fitted scikit-learn scalers
            out[:, j] = ((x - c["shift"]) / c["scale"]) * c["mul"] + c["add"]
        start = len(self.numeric)
        for c in self.categorical:
            column = table.columns[c["name"]]
            categories = self._lookups[c["name"]]
            levels = column.levels if column.levels is not None else column.strings()
            codes = column.values if column.levels is not None else np.arange(table.n_rows)
            if rows is not None:
                codes = codes[rows]
            block = out[:, start : start + categories.size]
            n_unseen, gap = categories.encode(levels, codes, block)
            if gap and c["fill"] is None:
                _refuse_gaps(table, c["name"], rows, "categorical")
            if n_unseen:
                unseen[c["name"]] = n_unseen
            start += categories.size
        for name in self.indicators:
            out[:, start] = (
                table.columns[name].missing if rows is None else table.columns[name].missing[rows]
            )
            start += 1
        return out, unseen
