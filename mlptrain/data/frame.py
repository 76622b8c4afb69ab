"""In-memory typed columns of a table: ``Column``, ``Table``, and the rules that turn text
cells into them (missing markers, stripped levels, numbers inferred from the levels).

Every column is either numeric (float64, NaN where a cell was missing) or text (int32 codes
into its sorted unique ``levels``, -1 where missing). A column is numeric when every
non-missing cell parses as a number, unless it is named in ``text_columns``.
"""

from __future__ import annotations

import codecs
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mlptrain.data.membership import SMALL, isin_text
from mlptrain.data.memory import MemoryFile, Source, read_raw
from mlptrain.data.numbers import PLAIN, NumberFormat
from mlptrain.errors import DataError

_SNIFF_BYTES = 64 * 1024
# cells that mean "no value" in a table unless data.na_values says otherwise
DEFAULT_NA_VALUES = ("", "NA", "N/A", "NaN", "nan", "null", "NULL", "?")


@dataclass
class Column:
    """One column of a table. Numeric: float64 ``values`` with NaN for missing cells. Text:
    int32 ``values`` indexing the sorted, unique ``levels`` (str), -1 for missing cells."""

    name: str
    values: np.ndarray
    levels: np.ndarray | None = None
    integer: bool = False  # numeric and every non-missing cell is a whole number

    @property
    def is_text(self) -> bool:
        return self.levels is not None

    @property
    def missing(self) -> np.ndarray:
        return self.values < 0 if self.is_text else np.isnan(self.values)

    def strings(self, missing: str = "") -> np.ndarray:
        """The cells as a str array (text columns as read; numbers formatted)."""
        if self.levels is not None:
            out = np.concatenate([self.levels, np.array([missing])])[self.values]
            return out
        text = np.char.mod("%.17g", self.values) if not self.integer else None
        if text is None:
            whole = np.where(np.isnan(self.values), 0, self.values).astype(np.int64)
            text = whole.astype(str)
        return np.where(np.isnan(self.values), missing, text)


@dataclass
class Table:
    """Columns in file order, each of ``n_rows`` cells."""

    columns: dict[str, Column]
    n_rows: int
    source: str
    delimiter: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return list(self.columns)

    def take(self, rows: np.ndarray) -> Table:
        columns = {
            name: Column(c.name, c.values[rows], c.levels, c.integer)
            for name, c in self.columns.items()
        }
        return Table(columns, len(rows), self.source, self.delimiter, list(self.notes))


def python_encoding(encoding: str) -> str:
    """UTF-8 read with an optional byte-order mark, as spreadsheets write it."""
    return "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding


def not_in_encoding(path: Source, encoding: str, raw: bytes, exc: UnicodeDecodeError) -> DataError:
    """The one message for a file that is not text in ``encoding``: where, and the option."""
    line = raw.count(b"\n", 0, exc.start) + 1
    byte = raw[exc.start : exc.start + 1].hex().upper()
    return DataError(
        f"{path}: line {line}: byte 0x{byte} is not {codecs.lookup(encoding).name} text; set "
        "data.encoding to the file's encoding (for example latin-1 or cp1252), or save the "
        "file as UTF-8"
    )


def open_text_sample(path: Source, encoding: str = "utf-8") -> str:
    try:
        raw = read_raw(path, _SNIFF_BYTES)
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot read the file: {exc}") from None
    text = raw.decode(python_encoding(encoding), errors="replace")
    if len(raw) == _SNIFF_BYTES and "\n" in text:
        text = text[: text.rindex("\n")]  # drop a line cut in the middle
    return text


def check_names(path: Source | str, names: Sequence[str]) -> None:
    seen: dict[str, int] = {}
    for number, name in enumerate(names, start=1):
        if not name.strip():
            raise DataError(f"{path}: column {number} has an empty name in the header")
        if name in seen:
            raise DataError(
                f"{path}: column name {name!r} appears twice in the header (columns "
                f"{seen[name]} and {number}); column names must be unique"
            )
        seen[name] = number


def text_column(name: str, codes: np.ndarray, levels: np.ndarray, na: np.ndarray) -> Column:
    """Strip the levels, turn missing markers into -1 and merge levels equal after stripping."""
    if len(levels) <= SMALL:
        return _few_levels(name, codes, levels, na)
    levels = np.char.strip(levels.astype(str)) if len(levels) else levels.astype(str)
    is_na = isin_text(levels, na)
    unique, inverse = np.unique(levels, return_inverse=True)
    keep = ~isin_text(unique, na)
    renumber = np.cumsum(keep) - 1
    mapping = np.where(is_na, -1, renumber[inverse]).astype(np.int32)
    mapping = np.append(mapping, np.int32(-1))  # code -1 stays missing
    return Column(name, mapping[codes], unique[keep])


def _few_levels(name: str, codes: np.ndarray, levels: np.ndarray, na: np.ndarray) -> Column:
    """``text_column``'s rule for a few levels (a served request's), in Python: its eight NumPy
    calls cost ~5-20 µs each whatever the size, most of a one-row column. ``str.strip`` strips
    what ``np.char.strip`` does, and sorted ``str`` compare as ``np.unique`` orders them."""
    missing = set(np.asarray(na, dtype=str).tolist())
    stripped = [level.strip() for level in levels.astype(str).tolist()]
    unique = sorted(set(stripped) - missing)
    position = {level: i for i, level in enumerate(unique)}
    mapping = np.array([position.get(level, -1) for level in stripped] + [-1], dtype=np.int32)
    return Column(name, mapping[codes], np.array(unique, dtype=str))


def promote_numeric(
    column: Column, keep_text: bool, numbers: NumberFormat = PLAIN
) -> tuple[Column, bool]:
    """A text column whose levels all parse as numbers (written as ``numbers`` says) becomes
    numeric (the inference rule); and whether that needed the format's marks."""
    if column.levels is None or keep_text:
        return column, False
    if len(column.levels) == 0:
        return Column(column.name, np.full(len(column.values), np.nan)), False
    parsed, plain = numbers.read(column.levels)
    if parsed is None:
        return column, False
    values = np.append(parsed, np.nan)[column.values]
    integer = bool(np.all(parsed == np.round(parsed)))
    return Column(column.name, values, None, integer), not plain


def short_name(path: Source | str) -> str:
    """How a note names its input: a file's name without its folders; rows in memory by theirs."""
    return path.name if isinstance(path, Path | MemoryFile) else str(path)


def _format_note(path: Source | str, name: str, numbers: NumberFormat) -> str:
    """The note for a text column read as numbers thanks to the format's marks."""
    marks = [f"{numbers.thousands!r} as the thousands separator"] if numbers.thousands else []
    if numbers.decimal != ".":
        marks.append(f"{numbers.decimal!r} as the decimal mark")
    return (
        f"{short_name(path)}: column {name!r} read as numbers with {' and '.join(marks)} "
        "(data.thousands, data.decimal)"
    )


def _other_format_note(
    path: Source | str, name: str, column: Column, numbers: NumberFormat
) -> str | None:
    """A hint when a text column would be numbers with the other decimal mark."""
    other = "," if numbers.decimal == "." else "."
    levels = column.levels
    if levels is None or len(levels) == 0:
        return None
    if NumberFormat.from_options("auto", other).parse(levels) is None:
        return None
    return (
        f"{short_name(path)}: column {name!r} is read as text, but every value would be a number "
        f"with {other!r} as the decimal mark: set data.decimal: {other!r} if it is"
    )


def finish_table(
    path: Source | str,
    names: Sequence[str],
    columns: dict[str, Column],
    n_rows: int,
    text_columns: Collection[str],
    delimiter: str | None,
    numbers: NumberFormat = PLAIN,
) -> Table:
    if n_rows == 0:
        raise DataError(f"{path}: 0 samples: the file has no data rows")
    out: dict[str, Column] = {}
    notes: list[str] = []
    for name in names:
        column, marked = promote_numeric(columns[name], name in text_columns, numbers)
        if marked:
            notes.append(_format_note(path, name, numbers))
        elif column.is_text and name not in text_columns:
            note = _other_format_note(path, name, column, numbers)
            notes += [note] if note else []
        refuse_infinity(path, column)
        out[name] = column
    return Table(out, n_rows, str(path), delimiter, notes)


def refuse_infinity(source: Source | str, column: Column) -> None:
    """A numeric column holding inf or -inf is refused, naming the first row (from 1)."""
    if column.is_text:
        return
    bad = np.isinf(column.values)
    if bad.any():
        row = int(np.flatnonzero(bad)[0]) + 1
        raise DataError(
            f"{source}: column {column.name!r} has {int(bad.sum())} infinite value(s) (first "
            f"at data row {row}); fix or remove them"
        )
