"""Column typing of a table: inference, ``data.columns`` overrides, likely ids, the target.

Rules (docs/tables.md): a column whose non-missing cells all parse as numbers is numeric (a
few distinct integers stay numeric unless listed as categorical); anything else is
categorical. Columns a model must not learn from are left out unless ``data.columns`` lists
them, each with a note naming the line that keeps it:

- a likely id, kept out of training and carried through predict: a text column whose values
  are almost all distinct (at least ``ID_SHARE`` of its non-missing cells, and at least
  ``ID_MIN_ROWS`` of them); or a whole-number column that carries an id's name (``ID_NAMES``:
  rownames, id, index, PID, ...) and whose values are all distinct, or almost all (at least
  ``ID_SHARE`` of ``ID_MIN_ROWS`` or more: a patient id with a few repeat visits); or a
  whole-number column whose values are all distinct and that numbers the rows (no
  gaps, at least ``ID_MIN_ROWS`` rows, and its values fill at least ``SEQUENCE_SHARE`` of the
  range from its least to its greatest, as a row number does even after a random split has
  taken some rows away). On a table sorted by the target, a row number is the target in
  disguise;
- a constant column (one value in every non-missing cell): nothing to learn, ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlptrain.data._text import did_you_mean, quote_list
from mlptrain.data.dates import FORMATS, ISO, detect_format
from mlptrain.data.tables import Column, Table
from mlptrain.errors import DataError

COLUMN_KINDS = ("numeric", "categorical", "date", "ignore", "id")
# the kinds a model reads (a date column as the numeric features of mlptrain.data.dates)
FEATURE_KINDS = ("numeric", "categorical", "date")
ID_SHARE = 0.9
ID_MIN_ROWS = 20
SEQUENCE_SHARE = 0.5
# Names (compared without case, spaces, '_' and '.') that number rows or entities.
ID_NAMES = frozenset(
    {"id", "rownames", "rowname", "index", "idx", "pid", "order", "rowid", "rownumber", "unnamed0"}
)
# ... or that end in an id word: customer_id, CustomerID, patient id
_ID_SUFFIX = re.compile(r"(?:^|[\W_])(?i:id)$|[a-z](?:ID|Id)$")
LIKELY_ID, CONSTANT = "likely id", "constant"


@dataclass
class ColumnInfo:
    """What mlptrain makes of one column; ``how`` is "inferred", "listed" or "likely id"."""

    name: str
    kind: str  # numeric | categorical | ignore | id | target
    how: str
    n_missing: int
    n_levels: int | None  # distinct values of a text column
    date_format: str | None = None  # a date column: "iso" or a strptime format

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "how": self.how,
            "n_missing": self.n_missing,
            "n_levels": self.n_levels,
            **({"date_format": self.date_format} if self.date_format else {}),
        }


def resolve_target(table: Table, target: str | int | None) -> str:
    """The target column's name: a name, a 0-based index, or (None) the last column."""
    return target_name(table.names, table.source, target)


def target_name(names: list[str], source: str, target: str | int | None) -> str:
    """``resolve_target`` for a table known by its column names (a stream before its rows)."""
    if target is None:
        return names[-1]
    if isinstance(target, str) and target not in names and target.isdigit():
        target = int(target)  # a 0-based column index, as data.target may give one
    if isinstance(target, int):
        if not 0 <= target < len(names):
            raise DataError(
                f"{source}: data.target: index {target} is out of range; the table has "
                f"{len(names)} columns (indices 0 to {len(names) - 1})"
            )
        return names[target]
    if target not in names:
        raise DataError(
            f"{source}: target column {target!r} not found; the columns are "
            f"{quote_list(names, 20)}{did_you_mean(target, names)}"
        )
    return target


def _first_non_number(column: Column) -> str:
    for level in column.levels if column.levels is not None else []:
        try:
            float(level)
        except ValueError:
            return str(level)
    return ""


def _check_listed(table: Table, target: str, listed: dict[str, str]) -> None:
    """Every column data.columns lists exists, is not the target, and has a known kind."""
    where = table.source
    for name, kind in listed.items():
        if name not in table.columns:
            raise DataError(
                f"{where}: data.columns: no column named {name!r}{did_you_mean(name, table.names)}; "
                f"the columns are {quote_list(table.names, 20)}"
            )
        if name == target:
            raise DataError(
                f"{where}: data.columns.{name}: {name!r} is the target column; remove it from "
                "data.columns"
            )
        if kind not in COLUMN_KINDS:
            raise DataError(
                f"{where}: data.columns.{name}: {kind!r} is not allowed; allowed: "
                + ", ".join(COLUMN_KINDS)
            )


def type_columns(table: Table, target: str, listed: dict[str, str]) -> list[ColumnInfo]:
    """One ColumnInfo per column of ``table`` (the target's kind is "target")."""
    where = table.source
    _check_listed(table, target, listed)
    kind: str | None  # listed, then inferred for a column not listed
    infos: list[ColumnInfo] = []
    for name, column in table.columns.items():
        missing = int(column.missing.sum())
        levels = None if column.levels is None else len(column.levels)
        if name == target:
            infos.append(ColumnInfo(name, "target", "listed", missing, levels))
            continue
        kind = listed.get(name)
        how = "listed"
        if kind == "numeric" and column.is_text:
            raise DataError(
                f"{where}: data.columns.{name}: listed as numeric, but it holds text such as "
                f"{_first_non_number(column)!r}; list it as categorical or fix those cells"
            )
        date_format = detect_format(column) if kind in (None, "date") else None
        if kind == "date" and date_format is None:
            raise DataError(
                f"{where}: data.columns.{name}: listed as date, but its values are not dates in "
                "one format (ISO 8601 such as 2021-03-04, or " + ", ".join(FORMATS) + "); list "
                "it as categorical or fix those cells"
            )
        if kind is None and date_format is not None:
            kind, how = "date", "inferred"
        if kind is None:
            kind, how = _infer_kind(name, column, table.n_rows - missing, levels)
        if kind in FEATURE_KINDS and missing == table.n_rows:
            raise DataError(
                f"{where}: column {name!r} is empty (all {table.n_rows} cells are missing); "
                f"remove it or add '{name}: ignore' under data.columns"
            )
        fmt = date_format if kind == "date" else None
        infos.append(ColumnInfo(name, kind, how, missing, levels, fmt))
    if not any(info.kind in FEATURE_KINDS for info in infos):
        guessed = [f"{i.name!r} ({i.how})" for i in infos if i.how in (LIKELY_ID, CONSTANT)]
        raise DataError(
            f"{where}: 0 features: no numeric or categorical column besides the target "
            f"{target!r}; the columns are {quote_list(table.names, 20)}"
            + (
                f"; left out: {', '.join(guessed)}; list one under data.columns (e.g. "
                f"'{infos[0].name}: numeric') to train on it"
                if guessed
                else ""
            )
        )
    return infos


def _infer_kind(name: str, column: Column, present: int, levels: int | None) -> tuple[str, str]:
    """(kind, how) of a column ``data.columns`` does not list (module docstring)."""
    if column.is_text:
        if present >= ID_MIN_ROWS and levels is not None and levels >= ID_SHARE * present:
            return "id", LIKELY_ID
        if present == len(column.values) > 1 and levels == 1:
            return "ignore", CONSTANT
        return "categorical", "inferred"
    values = column.values[~np.isnan(column.values)]
    # a column with gaps is not constant: whether a cell is missing may tell something
    if len(column.values) == len(values) > 1 and values.min() == values.max():
        return "ignore", CONSTANT
    if column.integer and len(values) >= 2:
        distinct = len(np.unique(values))
        named = _plain(name) in ID_NAMES or _ID_SUFFIX.search(name) is not None
        near_unique = len(values) >= ID_MIN_ROWS and distinct >= ID_SHARE * len(values)
        if named and (distinct == len(values) or near_unique):
            return "id", LIKELY_ID
        span = float(values.max() - values.min()) + 1
        numbers_rows = len(values) == len(column.values) >= ID_MIN_ROWS  # row numbers: no gaps
        if distinct == len(values) and numbers_rows and len(values) >= SEQUENCE_SHARE * span:
            return "id", LIKELY_ID
    return "numeric", "inferred"


def _plain(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def date_notes(infos: list[ColumnInfo]) -> list[str]:
    """One note per date column: what the model reads of it, and the line that changes it."""
    return [
        f"column {i.name!r} holds dates "
        f"({'ISO 8601' if i.date_format == ISO else i.date_format}): the model reads their year, "
        "month, day of the week, day of the year and days since 1970 as numbers; add "
        f"'{i.name}: categorical' under data.columns to read them as categories"
        for i in infos
        if i.kind == "date" and i.how == "inferred"
    ]


def likely_id_notes(infos: list[ColumnInfo], n_rows: int) -> list[str]:
    """One line per column left out without being listed: likely ids and constants."""
    notes = []
    for info in infos:
        if info.how == LIKELY_ID and info.n_levels is not None:
            notes.append(
                f"column {info.name!r} looks like an id ({info.n_levels} distinct values in "
                f"{n_rows - info.n_missing} rows): kept out of training and carried through "
                f"predict; add '{info.name}: id' under data.columns to say so (or "
                f"'{info.name}: categorical' to train on it)"
            )
        elif info.how == LIKELY_ID:
            notes.append(
                f"column {info.name!r} looks like an id (distinct whole numbers that name or "
                f"number the rows): kept out of training and carried through predict; add "
                f"'{info.name}: id' under data.columns to say so (or '{info.name}: numeric' to "
                "train on it)"
            )
        elif info.how == CONSTANT:
            notes.append(
                f"column {info.name!r} has the same value in every row: left out (nothing to "
                f"learn); add '{info.name}: ignore' under data.columns to say so (or "
                f"'{info.name}: numeric' / '{info.name}: categorical' to keep it)"
            )
    return notes


def target_values(
    table: Table, target: str, *, drop_missing: bool
) -> tuple[np.ndarray, np.ndarray]:
    """(labels, kept row indices): text targets as str, whole numbers as int64, else float64.

    Rows whose target is missing are an error, or dropped when ``drop_missing`` is set.
    """
    column = table.columns[target]
    missing = column.missing
    rows = np.arange(table.n_rows)
    if missing.any():
        if not drop_missing:
            first = int(np.flatnonzero(missing)[0]) + 1
            raise DataError(
                f"{table.source}: target column {target!r} has {int(missing.sum())} missing "
                f"value(s) (first at data row {first}); drop those rows, or set "
                "data.drop_missing_target: true"
            )
        rows = rows[~missing]
        if len(rows) == 0:
            raise DataError(f"{table.source}: target column {target!r} is empty")
    if column.levels is not None:
        return column.levels[column.values[rows]], rows
    values = column.values[rows]
    if column.integer:
        return values.astype(np.int64), rows
    return values, rows


def summary_rows(infos: list[ColumnInfo]) -> list[list[str]]:
    """The column table of ``validate``, ``fit`` and the report: name, type, missing, levels."""
    rows = []
    for info in infos:
        kind = {LIKELY_ID: "id (likely)", CONSTANT: "ignore (constant)"}.get(info.how, info.kind)
        levels = "" if info.n_levels is None or info.kind == "numeric" else str(info.n_levels)
        if info.date_format is not None:  # the format it was read in
            kind = f"date ({'ISO 8601' if info.date_format == ISO else info.date_format})"
        rows.append([info.name, kind, str(info.n_missing), levels])
    return rows


def format_summary(infos: list[ColumnInfo]) -> str:
    header = ["column", "type", "missing", "levels"]
    rows = [header, *summary_rows(infos)]
    widths = [max(len(row[j]) for row in rows) for j in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )
