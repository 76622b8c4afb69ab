"""The plain CSV reader: a file's text → its header and cells as strings, the header checks,
and the numeric columns of a non-table model's features (training files, predict and
``evaluate --data`` inputs all come through here)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mlptrain.data._text import plain_list
from mlptrain.data.memory import MemoryFile
from mlptrain.errors import DataError

# cells that mean "no value" in a CSV; they become NaN and are reported as missing
MISSING_TOKENS = ("", "na", "n/a", "nan", "null", "none")


def _read_text(path: Path | MemoryFile) -> str:
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


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _rows(path: Path | MemoryFile) -> tuple[list[list[str]], list[int]]:
    """The file's non-blank rows and the line each starts on."""
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
    return rows, lines


def _check_header(path: Path | MemoryFile, header: list[str]) -> None:
    """A header names every column once; a line of numbers is data, not a header."""
    if all(is_number(name) for name in header):
        raise DataError(
            f"{path}: the first line looks like data, not a header (all numbers: "
            f"{plain_list(header, 5)}); add a header line naming the columns"
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


def parse_csv(
    path: Path | MemoryFile, *, header_required: bool = True
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The header, the cells as a stripped string array (n_rows, n_columns), and each row's line.

    With ``header_required=False`` a first line of numbers is data: the header is then ``[]``.
    """
    rows, lines = _rows(path)
    header = [name.strip() for name in rows[0]]
    if len(header) == 1 and (";" in header[0] or "\t" in header[0]):
        sep = "';'" if ";" in header[0] else "a tab"
        raise DataError(
            f"{path}: the header has a single column {header[0]!r} that contains {sep}; "
            "mlptrain reads comma-separated files: save the file with ',' as the separator"
        )
    if not header_required and all(is_number(name) for name in header):
        return [], _cells(path, rows, lines, len(header), "the first line"), np.array(lines)
    _check_header(path, header)
    if len(rows) == 1:
        raise no_data_rows(path)
    cells = _cells(path, rows[1:], lines[1:], len(header), "the header")
    return header, cells, np.array(lines[1:])


def no_data_rows(path: Path | MemoryFile | str) -> DataError:
    """A table of features with a header and no rows (a file's, or an empty request's)."""
    return DataError(f"{path}: 0 samples: the file has a header but no data rows")


def _cells(
    path: Path | MemoryFile, rows: list[list[str]], lines: list[int], width: int, first: str
) -> np.ndarray:
    for row, line in zip(rows, lines, strict=True):
        if len(row) != width:
            raise DataError(
                f"{path}: line {line} has {len(row)} fields, but {first} has {width}; "
                "every row needs one value per column"
            )
    return np.array(rows, dtype=str).reshape(len(rows), width)


def missing_mask(cells: np.ndarray) -> np.ndarray:
    """Which cells hold one of the missing-value tokens (any case, surrounding spaces)."""
    return np.isin(np.char.lower(np.char.strip(cells)), MISSING_TOKENS)


def numeric_columns(
    path: Path | MemoryFile | str,
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
        filled = np.where(missing_mask(column), "nan", column)
        try:
            values[:, j] = filled.astype(np.float64)
            continue
        except ValueError:
            pass
        for i, cell in enumerate(filled):
            if not is_number(str(cell)):
                bad_columns.append(
                    f"{names[j]!r} (column {numbers[j]}, e.g. {str(cell)!r} at line {lines[i]})"
                )
                break
    if bad_columns:
        noun = "column is" if len(bad_columns) == 1 else "columns are"
        raise DataError(f"{path}: feature {noun} not numeric: {'; '.join(bad_columns)}; {hint}")
    return values
