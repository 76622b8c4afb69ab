"""Fitting a table's preprocessing: the settings, scikit-learn's transformers, and their
fitted state copied out into plain numbers and strings.

``fit_state`` fits a ``ColumnTransformer`` of ``SimpleImputer`` + ``StandardScaler``/
``MinMaxScaler`` for numeric columns, ``SimpleImputer`` + ``OneHotEncoder``
(``handle_unknown="infrequent_if_exist"``, ``max_categories``, ``min_frequency``) for
categorical ones, and ``MissingIndicator`` when asked, on the training rows only, and returns
their state (fill values, scaling statistics, categories, the infrequent ones, column order):
what ``mlptrain.data.encoding.TableEncoder`` applies with NumPy and a checkpoint keeps in its
SHA-256-covered metadata. Nothing is pickled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mlptrain.data.columns import FEATURE_KINDS, ColumnInfo
from mlptrain.data.dates import part_names, with_date_parts
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


def refuse_gaps(table: Table, name: str, rows: np.ndarray | None, key: str) -> None:
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


def extended_levels(levels: np.ndarray | None, constant: bool) -> np.ndarray:
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


def _check_columns(
    table: Table, numeric: list[str], categorical: list[str], train_rows: np.ndarray,
    settings: Settings,
) -> None:  # fmt: skip
    """Refuse gaps where data.missing says 'refuse', and more categories than max_categories
    allows with infrequent folding off."""
    constant = settings.categorical_missing == "constant"
    if settings.numeric_missing == "refuse":
        for name in numeric:
            refuse_gaps(table, name, None, "numeric")
    if settings.categorical_missing == "refuse":
        for name in categorical:
            refuse_gaps(table, name, None, "categorical")
    if settings.infrequent or settings.max_categories is None:
        return
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


def _numeric_entry(name: str, step: Any) -> dict[str, Any]:
    """A fitted numeric pipeline as numbers: the fill, then (x - shift) / scale * mul + add."""
    steps = {} if step == "passthrough" else dict(step.steps)
    entry = {"name": name, "fill": None, "shift": 0.0, "scale": 1.0, "mul": 1.0, "add": 0.0}
    if "impute" in steps:
        entry["fill"] = float(steps["impute"].statistics_[0])
    scaler = steps.get("scale")
    if scaler is not None and hasattr(scaler, "mean_"):
        entry["shift"], entry["scale"] = float(scaler.mean_[0]), float(scaler.scale_[0])
    elif scaler is not None:
        entry["mul"], entry["add"] = float(scaler.scale_[0]), float(scaler.min_[0])
    return entry


def _categorical_entry(name: str, step: Any, as_text: np.ndarray) -> dict[str, Any]:
    """A fitted categorical pipeline as strings: the fill, the frequent categories in one-hot
    order and the infrequent ones (None: no infrequent column)."""
    steps = dict(step.steps)
    onehot = steps["onehot"]
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
    return {"name": name, "fill": fill, "categories": frequent, "infrequent": infrequent}


def fit_parts(transformer: Any, X: np.ndarray) -> dict[str, Any]:
    """Each part of the (unfitted) ``ColumnTransformer`` fitted on its columns of ``X``, by
    name: the fitted state ``transformer.fit(X)`` gives, without the encoded matrix that
    fit builds (ColumnTransformer.fit is its fit_transform: for the 1M-row benchmark table a
    sparse matrix and its stacking, about 0.9 GB at their peak, then thrown away)."""
    fitted: dict[str, Any] = {}
    every = list(range(X.shape[1]))
    for name, step, columns in transformer.transformers:
        if step == "passthrough":
            fitted[name] = step
        else:
            fitted[name] = step.fit(X if list(columns) == every else X[:, columns])
    return fitted


def fit_state(
    table: Table, infos: list[ColumnInfo], train_rows: np.ndarray, settings: Settings
) -> dict[str, Any]:
    """The state of a ``TableEncoder`` fitted on ``train_rows`` of ``table``."""
    dates = {i.name: str(i.date_format) for i in infos if i.kind == "date"}
    table = with_date_parts(table, dates)
    numeric = [i.name for i in infos if i.kind == "numeric"]
    numeric += [part for name in dates for part in part_names(name)]
    categorical = [i.name for i in infos if i.kind == "categorical"]
    constant = settings.categorical_missing == "constant"
    _check_columns(table, numeric, categorical, train_rows, settings)
    extended = {name: extended_levels(table.columns[name].levels, constant) for name in categorical}
    missing_code = [
        float(np.flatnonzero(extended[name] == MISSING_CATEGORY)[0]) if constant else 0.0
        for name in categorical
    ]
    transformer = build_column_transformer(numeric, categorical, settings, missing_code)
    X = fit_matrix(table, numeric, categorical, train_rows, constant)
    fitted = fit_parts(transformer, X)
    del X
    state: dict[str, Any] = {
        "numeric": [_numeric_entry(name, fitted[f"num{j}"]) for j, name in enumerate(numeric)],
        "categorical": [
            _categorical_entry(name, fitted[f"cat{j}"], extended[name])
            for j, name in enumerate(categorical)
        ],
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
    if settings.indicator:
        inputs = numeric + categorical
        state["indicators"] = [inputs[int(j)] for j in fitted["indicator"].features_]
    return state
