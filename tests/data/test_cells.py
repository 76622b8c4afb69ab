"""JSON cells to typed columns (mlptrain.data.cells): the columns the CSV reader gives for a
file holding the same cells, bit for bit, and its messages word for word."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest

from mlptrain.data.cells import cell_text, matrix_from_cells, table_from_cells, table_from_mapping
from mlptrain.data.frame import DEFAULT_NA_VALUES
from mlptrain.data.memory import MemoryFile
from mlptrain.data.numbers import PLAIN, NumberFormat
from mlptrain.data.tables import Table, have_pyarrow, load_table
from mlptrain.errors import DataError

pytestmark = pytest.mark.skipif(not have_pyarrow(), reason="the reference reader is pyarrow's")


def file_of(names: list[str], columns: list[list]) -> MemoryFile:
    """The CSV a user would write for these cells: each cell's text, a gap empty."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(names)
    for row in zip(*columns, strict=True):
        writer.writerow(["" if cell is None else cell_text(cell) for cell in row])
    return MemoryFile("request", buffer.getvalue().encode())


def both(names, columns, text_columns=(), numbers=PLAIN) -> tuple[Table, Table]:
    """(the CSV reader's table of the cells' file, the cells' table)."""
    read = load_table(
        file_of(names, columns),
        delimiter=",",
        text_columns=text_columns,
        thousands=numbers.thousands or "none",
        decimal=numbers.decimal,
    )
    typed = table_from_cells(
        names,
        columns,
        source="request",
        na_values=DEFAULT_NA_VALUES,
        text_columns=text_columns,
        numbers=numbers,
    )
    return read, typed


def assert_same_columns(
    read: Table, typed: Table, *, integer: bool = True, notes: bool = True
) -> None:
    assert typed.names == read.names and typed.n_rows == read.n_rows
    if notes:
        assert typed.notes == read.notes
    for name in read.names:
        a, b = read.columns[name], typed.columns[name]
        assert b.values.dtype == a.values.dtype, name
        assert b.values.tobytes() == a.values.tobytes(), name  # NaN and -0.0 bit for bit
        assert (b.levels is None) == (a.levels is None), name
        if a.levels is not None:
            assert list(b.levels) == list(a.levels), name
        if integer:
            assert b.integer == a.integer, name


COLUMNS = {
    "ints with a gap": [1, 2, None, -3],
    "floats that must keep their bits": [0.1, 5e-324, -0.0, 1.0000000000000002],
    "mixed int float str None": [1, 2.5, "3", None],
    "bools": [True, False, None, True],
    "bools with numbers and text": [True, 1, "a", None],
    "int64's largest": [2**63 - 1, 1, 2, 3],
    "beyond int64": [2**63, 1, 2, None],
    "very large ints": [10**20, -(10**19), 5, None],
    "ints beyond 2**53": [2**53 + 1, 2**60 + 3, -(2**55) - 1, 0],
    "text with markers": ["a", " a", "None", "NA"],
    "NaN cells": [float("nan"), 1.0, 2, None],
    "numbers with a thousands mark": ["1,234", "5", "6,000", None],
    "all null": [None, None, None, None],
    "text a file must quote": ["x,y", 'q"uote', "", "tab\there"],
}


@pytest.mark.parametrize("cells", list(COLUMNS.values()), ids=list(COLUMNS))
def test_a_column_of_cells_is_the_column_a_file_of_them_reads_to(cells) -> None:
    assert_same_columns(*both(["c"], [cells]))


def test_strings_that_look_like_numbers_are_numbers_as_in_a_file() -> None:
    """The same values; only whether the column is "whole numbers" may differ, where pyarrow
    types "1e5" as a float and the readers' text rule (``promote_numeric``, which the stdlib
    reader follows too) sees whole values."""
    cells = ["1", " 2 ", "1e5", "+3", "-0.5e-3", "  7"]
    read, typed = both(["c"], [cells])
    assert_same_columns(read, typed, integer=False)
    assert typed.columns["c"].values.tolist() == [1.0, 2.0, 1e5, 3.0, -0.0005, 7.0]


def test_columns_read_as_text_spell_numbers_as_a_file_does() -> None:
    cells = [[1, 1.0, None, 2.5], [True, "x", 3, float("nan")], [None] * 4, [10**20, 0.1, -1, 7]]
    names = ["ints", "mixed", "empty", "numbers"]
    read, typed = both(names, cells, text_columns=names)
    assert_same_columns(read, typed)
    assert list(typed.columns["ints"].levels) == ["1", "1.0", "2.5"]
    assert list(typed.columns["mixed"].levels) == ["3", "true", "x"]  # NaN: a missing marker


def test_a_decimal_comma_reads_text_cells_and_leaves_numbers_alone() -> None:
    """ "1,5" sent as text is read as a file with ``decimal: ","`` reads it; 1.5 sent as a
    number is 1.5 (no text, so no decimal mark to read). pyarrow reads a decimal comma itself
    where the cells take the readers' text rule, which notes the marks it needed: a note that
    fit and validate show, never predict or a served answer."""
    comma = NumberFormat.from_options("auto", ",")
    read, typed = both(["c"], [["1,5", "2", None]], numbers=comma)
    assert_same_columns(read, typed, integer=False, notes=False)
    numbers = table_from_cells(
        ["c"], [[1.5, 2, None]], source="r", na_values=["", "NA"], text_columns=(), numbers=comma
    )
    assert numbers.columns["c"].values.tolist()[:2] == [1.5, 2.0]


@pytest.mark.parametrize(
    ("names", "columns"),
    [
        (["c"], [[1.0, float("inf"), None]]),
        (["c"], [[1.0, "-inf", None]]),
        (["c"], [[10**400, 1, 2]]),  # no float holds it: read as its text is, infinity
        (["a", "a"], [[1], [2]]),
        (["a", " "], [[1], [2]]),
        (["a"], [[]]),
    ],
    ids=["inf", "-inf as text", "int beyond float", "duplicate name", "empty name", "no rows"],
)
def test_refusals_are_the_readers_words(names, columns) -> None:
    with pytest.raises(DataError) as from_file:
        load_table(file_of(names, columns), delimiter=",")
    with pytest.raises(DataError) as from_cells:
        table_from_cells(
            names, columns, source="request", na_values=DEFAULT_NA_VALUES, text_columns=()
        )
    assert str(from_cells.value) == str(from_file.value)


@pytest.mark.parametrize(("cell", "kind"), [([1], "a list"), ({"a": 1}, "an object")])
def test_a_cell_that_is_not_a_value_is_refused(cell, kind) -> None:
    with pytest.raises(DataError, match=f"column 'c' holds {kind} in data row 2; a cell is a"):
        table_from_cells(["c"], [[1, cell]], source="request", na_values=[""], text_columns=())
    with pytest.raises(DataError, match=f"column 'q' holds {kind} in data row 2"):
        matrix_from_cells(["p", "q"], [[1, 2], [3, cell]], source="request")


def test_cell_text_is_what_a_file_would_hold() -> None:
    assert [cell_text(v) for v in (None, True, False, 10**20, 0.1, float("nan"), "x")] == [
        None, "true", "false", "100000000000000000000", "0.1", "nan", "x",
    ]  # fmt: skip
    assert float(cell_text(5e-324)) == 5e-324


def test_a_matrix_of_numbers_is_float64_and_anything_else_its_text() -> None:
    numbers = matrix_from_cells(["a", "b"], [[1, None], [0.1, 2**70]], source="r")
    assert numbers.dtype == np.float64 and numbers.shape == (2, 2)
    assert np.isnan(numbers[1, 0]) and numbers[0, 1] == 0.1 and numbers[1, 1] == float(2**70)
    text = matrix_from_cells(["a", "b"], [[1, None], [True, "x"]], source="r")
    assert text.tolist() == [["1", "true"], ["", "x"]]
    assert matrix_from_cells(["a"], [[10**400]], source="r").tolist() == [["1" + "0" * 400]]


def mapped(columns: dict[str, object], text_columns=()) -> Table:
    return table_from_mapping(
        columns,
        names=list(columns),
        text_columns=text_columns,
        na_values=DEFAULT_NA_VALUES,
        source="request",
    )


@pytest.mark.parametrize("cells", list(COLUMNS.values()), ids=list(COLUMNS))
def test_in_memory_cells_are_typed_as_the_same_json_cells(cells) -> None:
    """``Predictor.predict``'s mapping path and a JSON request's path are one typing: an
    object array of the cells reads to the columns the JSON cells read to, bit for bit."""
    _, typed = both(["c"], [cells])
    assert_same_columns(typed, mapped({"c": np.array(cells, dtype=object)}), notes=False)


def test_a_bool_column_is_text_in_memory_and_in_json() -> None:
    """A NumPy bool column was typed as the numbers 0 and 1 in memory; JSON's true/false and a
    file's are categories "true"/"false". Now all three agree."""
    flags = [True, False, False, True]
    read, typed = both(["flag"], [flags])
    assert list(typed.columns["flag"].levels) == ["false", "true"]
    assert typed.columns["flag"].values.tolist() == [1, 0, 0, 1]
    for column in (np.array(flags), np.array(flags, dtype=object), flags):
        in_memory = mapped({"flag": column})
        assert_same_columns(read, in_memory, notes=False)
        assert_same_columns(typed, in_memory, notes=False)
    with_gap = mapped({"flag": np.array([True, None, False], dtype=object)}).columns["flag"]
    assert list(with_gap.levels) == ["false", "true"] and with_gap.values.tolist() == [1, -1, 0]


def test_in_memory_numbers_stay_numbers_and_nan_is_a_gap() -> None:
    table = mapped(
        {
            "ints": np.array([3, -1, 2**62], dtype=np.int64),
            "floats": np.array([0.1, np.nan, -0.0]),
            "text with nan": np.array(["a", np.nan, "b"], dtype=object),
            "numpy scalars": np.array([np.int64(4), np.float64(0.5), None], dtype=object),
        }
    )
    ints, floats, text, scalars = (table.columns[n] for n in table.names)
    assert ints.values.tolist() == [3.0, -1.0, float(2**62)] and ints.integer
    assert floats.values.tobytes() == np.array([0.1, np.nan, -0.0]).tobytes()
    assert not floats.integer
    assert list(text.levels) == ["a", "b"] and text.values.tolist() == [0, -1, 1]
    assert scalars.values[:2].tolist() == [4.0, 0.5] and np.isnan(scalars.values[2])
