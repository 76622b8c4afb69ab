"""JSON cells to the typed columns the file readers produce, with no CSV text in between.

A served JSON request holds Python values (None, bool, int, float, str) where a file holds
text. ``mlptrain predict`` must give the same answers for the same rows in a file, so each
value is read as its text in a CSV would be read:

- None is a missing cell;
- a str is the cell's text: stripped, ``na_values`` missing, a column whose every level is a
  number read as numbers (``text_column`` and ``finish_table``, the readers' own rules);
- a bool is the text ``true``/``false`` (the readers never infer booleans: they are
  categories);
- an int or float is the number. A float's ``repr`` reads back to the same float and the
  readers parse a written int to the nearest float, as ``float(int)`` does, so a number sent
  as a number and one read from a file are the same bits.

A column whose every cell is a number or None becomes numeric at once (``float64`` in one
NumPy call); any other column, and every column the model reads as text, takes the text way.
Both end in ``finish_table``: the infinity check and the notes of a file.

In-memory columns (``Predictor.predict`` on a dict of arrays, a DataFrame or a 2-D array:
``table_from_mapping``) are typed by the same ``column_from_cells``: a NumPy column of numbers
is the numbers (no Python objects made), any other column its cells as Python values, a NaN
cell missing. So a bool column is text ``true``/``false`` whether it came as JSON or in memory.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import numpy as np

from mlptrain.data._text import quote_list
from mlptrain.data.frame import (
    Column,
    Table,
    check_names,
    finish_table,
    promote_numeric,
    refuse_infinity,
    text_column,
)
from mlptrain.data.numbers import PLAIN, NumberFormat
from mlptrain.errors import DataError

_NUMBERS = frozenset({int, float, type(None)})
_CELLS = frozenset({str, bool, int, float, type(None)})
_TEXTS = frozenset({str, type(None)})
# pyarrow reads a column of whole numbers as int64, one beyond it as float64 (not "integer")
_INT64 = 2**63


def cell_text(value: Any) -> str | None:
    """A JSON cell as the text a CSV file would hold for it; None for a missing cell."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)  # int; float: repr reads back to the same float ('nan', 'inf' too)


def _bad_cell(source: str, name: str, cells: Sequence[Any] | np.ndarray) -> DataError:
    row, value = next((i, v) for i, v in enumerate(cells) if type(v) not in _CELLS)
    kind = "a list" if isinstance(value, list) else "an object"
    return DataError(
        f"{source}: column {name!r} holds {kind} in data row {row + 1}; a cell is a number, "
        "a string or null"
    )


def _numbers(cells: Sequence[Any] | np.ndarray, kinds: set[type]) -> Column | None:
    """Cells that are all int, float or None as a numeric column (None: NaN); None when an
    int is too large for a float (its text is then read, as a file's would be: infinity)."""
    try:
        if type(None) in kinds:
            values = np.array([np.nan if c is None else c for c in cells], dtype=np.float64)
        else:
            values = np.array(cells, dtype=np.float64)
    except OverflowError:
        return None
    integer = float not in kinds
    # near int64's edge a float cannot tell: ask the ints themselves (NaN compares False)
    if integer and bool((np.abs(values) >= _INT64 / 2).any()):
        integer = all(-_INT64 <= c < _INT64 for c in cells if c is not None)
    return Column("", values, None, integer)


def column_from_cells(
    name: str, cells: Sequence[Any] | np.ndarray, *, na: np.ndarray, text: bool, source: str
) -> Column:
    """One column of JSON cells, typed as the readers type the same column of a file
    (module docstring); ``text``: the model reads it as text (categories, dates, ids).
    ``cells`` may be a NumPy array of numbers (``table_from_mapping``), read as its numbers."""
    if isinstance(cells, np.ndarray):  # int, unsigned or float: _mapping_cells says so
        kinds: set[type] = {int} if cells.dtype.kind in "iu" else {float}
    else:
        kinds = set(map(type, cells))
    if not kinds <= _CELLS:
        raise _bad_cell(source, name, cells)
    if not text and kinds <= _NUMBERS:
        column = _numbers(cells, kinds)
        if column is not None:
            column.name = name
            return column
    texts = cells if kinds <= _TEXTS else list(map(cell_text, cells))
    # the levels in order of appearance (text_column sorts, strips and merges them), each
    # cell's code looked up in C (map), not in a Python loop: a 1,000-row column is ~0.1 ms
    levels = dict.fromkeys(texts)
    levels.pop(None, None)
    position: dict[str | None, int] = {text: i for i, text in enumerate(levels)}
    position[None] = -1
    codes = np.fromiter(map(position.__getitem__, texts), dtype=np.int64, count=len(texts))
    return text_column(name, codes, np.array(list(levels), dtype=str), na)


def table_from_cells(
    names: Sequence[str],
    columns: Sequence[Sequence[Any]],
    *,
    source: str,
    na_values: Sequence[str],
    text_columns: Collection[str],
    numbers: NumberFormat = PLAIN,
) -> Table:
    """A Table of JSON cells, one sequence of cells per name, all of one length: the columns
    a file of the same rows reads to, through the same checks (names, no rows, infinity)."""
    check_names(source, names)
    na = np.asarray(list(na_values), dtype=str)
    typed = {
        name: column_from_cells(name, cells, na=na, text=name in text_columns, source=source)
        for name, cells in zip(names, columns, strict=True)
    }
    n_rows = len(columns[0]) if columns else 0
    return finish_table(source, names, typed, n_rows, text_columns, None, numbers)


def matrix_from_cells(
    names: Sequence[str], columns: Sequence[Sequence[Any]], *, source: str
) -> np.ndarray:
    """Cells of a model without a table, (n_rows, n_columns): float64 when every cell is a
    number or None (NaN), else the cells' CSV text ("" where missing), which
    ``numeric_columns`` reads and refuses as it does a file's."""
    kinds = set().union(*(map(type, cells) for cells in columns))
    if not kinds <= _CELLS:
        bad = next(j for j, cells in enumerate(columns) if not set(map(type, cells)) <= _CELLS)
        raise _bad_cell(source, names[bad], columns[bad])
    n_rows = len(columns[0]) if columns else 0
    if kinds <= _NUMBERS:
        try:
            flat = [np.nan if c is None else c for cells in columns for c in cells]
            return np.array(flat, dtype=np.float64).reshape(len(columns), n_rows).T
        except OverflowError:
            pass
    text = [["" if c is None else str(cell_text(c)) for c in cells] for cells in columns]
    return np.array(text, dtype=str).reshape(len(columns), n_rows).T


def _plain(value: Any) -> Any:
    """An in-memory cell as a JSON cell: NumPy scalars as Python's, NaN as None (missing), any
    other object its str."""
    if isinstance(value, np.generic):
        value = value.item()
    if type(value) is float:
        return None if value != value else value
    return value if type(value) in _CELLS else str(value)


def _mapping_cells(name: str, values: Any, source: str, text: bool) -> Sequence[Any] | np.ndarray:
    """One in-memory column as ``column_from_cells`` takes it: a NumPy array of numbers as it
    is, unless the model reads it as text; any other column as a list of JSON cells."""
    cells = np.asarray(values)
    if cells.ndim != 1:
        raise DataError(f"{source}: column {name!r} has shape {cells.shape}; columns are 1-D")
    if cells.dtype.kind in "iuf" and not text:
        return cells
    if cells.dtype.kind == "M":  # datetimes: as datetime.datetime (str: their ISO text), NaT None
        cells = cells.astype("datetime64[us]")
    return [_plain(value) for value in cells.tolist()]


def table_from_mapping(
    data: Any,
    *,
    names: Sequence[str],
    text_columns: Collection[str],
    na_values: Sequence[str],
    source: str,
) -> Table:
    """A Table from in-memory columns: a dict of 1-D arrays, a DataFrame, or a 2-D array whose
    columns are ``names`` in order; typed cell by cell as a JSON request's (module docstring):
    None, NaN and ``na_values`` cells are missing, a bool is text."""
    if hasattr(data, "items") and callable(data.items):
        mapping = {str(k): v for k, v in data.items()}
    else:
        array = np.asarray(data)
        if array.ndim != 2 or array.shape[1] != len(names):
            raise DataError(
                f"{source}: expected a table of columns {quote_list(list(names), 12)} (a dict of "
                f"arrays, a DataFrame, or a 2-D array with {len(names)} columns in that order), "
                f"got an array of shape {array.shape}"
            )
        mapping = {name: array[:, j] for j, name in enumerate(names)}
    na = np.asarray(list(na_values), dtype=str)
    columns: dict[str, Column] = {}
    n_rows: int | None = None
    for name, values in mapping.items():
        text = name in text_columns
        cells = _mapping_cells(name, values, source, text)
        if n_rows is not None and len(cells) != n_rows:
            raise DataError(f"{source}: column {name!r} has {len(cells)} rows, others {n_rows}")
        n_rows = len(cells)
        column = column_from_cells(name, cells, na=na, text=text, source=source)
        columns[name], _ = promote_numeric(column, text)
        refuse_infinity(source, columns[name])  # as a file's numbers are checked
    return Table(columns, n_rows or 0, source)
