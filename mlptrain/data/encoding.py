"""A fitted table encoder: imputation, one-hot encoding and scaling of a table's feature
columns, applied with NumPy.

``TableEncoder.fit`` fits scikit-learn's transformers on the training rows only and keeps their
state as plain numbers and strings (``mlptrain.data.encoder_fit``), which a checkpoint keeps in
its SHA-256-covered metadata: nothing is pickled. ``encode`` applies that state and returns a
``CodedMatrix`` (``mlptrain.data.coded``): the numeric block written once in the training dtype,
each categorical column as small integer codes, expanded to one-hot rows a batch at a time;
``transform`` returns the same matrix dense. Tests check it against the fitted
``ColumnTransformer`` cell for cell, gaps and unseen categories included.

The encoded columns are: numeric columns in table order, then each categorical column's
categories (sorted, frequent ones first, then ``<column>=infrequent``), then one 0/1
``<column>=missing`` indicator per feature that had gaps in training (``missing.indicator``).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from mlptrain.data._text import quote_list
from mlptrain.data.category_lookup import CategoryLookup
from mlptrain.data.coded import CodedMatrix, code_dtype
from mlptrain.data.columns import ColumnInfo
from mlptrain.data.dates import FORMATS, ISO, part_names, with_date_parts
from mlptrain.data.encoder_fit import (
    INFREQUENT,
    MISSING_CATEGORY,
    NUMERIC_FILLS,
    Settings,
    build_column_transformer,
    fit_matrix,
    fit_state,
    refuse_gaps,
)
from mlptrain.data.tables import Table
from mlptrain.errors import DataError

# the fitting module's names, importable from here as before it was divided
__all__ = [
    "INFREQUENT", "MISSING_CATEGORY", "NUMERIC_FILLS", "Settings", "TableEncoder",
    "build_column_transformer", "fit_matrix", "unseen_note",
]  # fmt: skip


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


class TableEncoder:
    """Fitted preprocessing of a table: ``encode(table, rows, dtype)`` -> ``CodedMatrix``,
    ``transform`` -> the dense encoded matrix."""

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
    def fit(
        cls, table: Table, infos: list[ColumnInfo], train_rows: np.ndarray, settings: Settings
    ) -> TableEncoder:
        """Fitted on ``train_rows`` of ``table`` only (``encoder_fit.fit_state``)."""
        return cls(fit_state(table, infos, train_rows, settings))

    def transform(
        self, table: Table, rows: np.ndarray | None = None, dtype: Any = np.float64
    ) -> tuple[np.ndarray, dict[str, int]]:
        """The dense encoded matrix (n, width) in ``dtype``, and per categorical column the
        number of rows holding a category not seen in training (encoded as infrequent or all
        zeros). Large tables: ``encode``, which keeps the one-hot block as codes."""
        coded, unseen = self.encode(table, rows, dtype)
        return coded.rows(None), unseen

    def encode(
        self, table: Table, rows: np.ndarray | None = None, dtype: Any = np.float64
    ) -> tuple[CodedMatrix, dict[str, int]]:
        """The encoded rows as a ``CodedMatrix`` (numeric block in ``dtype``, categorical
        columns as codes, gap indicators), and the unseen counts of ``transform``."""
        table = self.check_inputs(table)
        n = table.n_rows if rows is None else len(rows)

        def cells(name: str) -> np.ndarray:
            values = table.columns[name].values
            return values if rows is None else values[rows]

        numeric = self._numeric(table, rows, cells, n).T.astype(dtype, order="C")
        codes, widths, unseen = [], [], {}
        for c in self.categorical:
            column_codes, n_unseen = self._codes(table, c, rows)
            if n_unseen:
                unseen[c["name"]] = n_unseen
            codes.append(column_codes)
            widths.append(self._lookups[c["name"]].size)
        indicators = np.empty((n, len(self.indicators)), dtype=bool)
        for j, name in enumerate(self.indicators):
            missing = table.columns[name].missing
            indicators[:, j] = missing if rows is None else missing[rows]
        return CodedMatrix(numeric, codes, widths, indicators), unseen

    def _numeric(self, table: Table, rows: np.ndarray | None, cells: Any, n: int) -> np.ndarray:
        """The numeric block in float64, one row per column (k, n): gaps filled, then scaled
        by the same operations, in the same order, as the fitted scikit-learn scalers, on all
        the columns at once (each cell as the column-by-column loop computed it)."""
        k = len(self.numeric)
        x = np.empty((k, n), dtype=np.float64)
        for j, c in enumerate(self.numeric):
            x[j] = cells(c["name"])
        gaps = np.isnan(x)
        if gaps.any():
            for j, c in enumerate(self.numeric):
                if c["fill"] is None and gaps[j].any():
                    refuse_gaps(table, c["name"], rows, "numeric")
            fill = [np.nan if c["fill"] is None else c["fill"] for c in self.numeric]
            np.copyto(x, np.array(fill)[:, None], where=gaps)

        def each(key: str) -> np.ndarray:
            return np.array([float(c[key]) for c in self.numeric])[:, None]

        x -= each("shift")
        x /= each("scale")
        x *= each("mul")
        x += each("add")
        return x

    def _codes(
        self, table: Table, c: dict[str, Any], rows: np.ndarray | None
    ) -> tuple[np.ndarray, int]:
        """A categorical column's one-hot positions (its width: none) in the smallest dtype,
        and how many rows hold a category not seen in training."""
        column = table.columns[c["name"]]
        categories = self._lookups[c["name"]]
        levels = column.levels if column.levels is not None else column.strings()
        codes = column.values if column.levels is not None else np.arange(table.n_rows)
        if rows is not None:
            codes = codes[rows]
        # rare and unseen levels go to the infrequent column if any, else nowhere (size)
        index, n_unseen, gap = categories.positions_of(levels, codes)
        if gap and c["fill"] is None:
            refuse_gaps(table, c["name"], rows, "categorical")
        return np.where(index >= 0, index, categories.size).astype(
            code_dtype(categories.size)
        ), n_unseen
