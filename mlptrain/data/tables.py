"""Reading tables (CSV, TSV, gzip'd CSV, Parquet) into typed columns, without loops over rows.

The reader is pyarrow when it is installed (the ``tables`` extra): it streams the file in
blocks, so the peak memory is about that of the typed columns, not of the text or of one
Python object per cell (docs/tables.md has the measurement behind this choice). Without
pyarrow, .csv/.tsv/.csv.gz files are read with the standard ``csv`` module (the whole file as
text, fine for small tables) and Parquet asks for the extra.

Every column comes out either numeric (float64, NaN where a cell was missing) or text (int32
codes into its sorted unique ``levels``, -1 where missing). A column is numeric when every
non-missing cell parses as a number, unless ``text_columns`` names it.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any
from pathlib import Path

import numpy as np

from mlptrain.data._text import quote_list
from mlptrain.errors import DataError

DELIMITERS = (",", ";", "\t", "|")
TABLE_SUFFIXES = (".csv", ".tsv", ".csv.gz", ".tsv.gz", ".parquet")
_SNIFF_BYTES = 64 * 1024
_SNIFF_LINES = 50
_BLOCK_BYTES = 4 * 2**20  # pyarrow's streaming block: small enough to stay lean, big enough to be fast


def _show(delimiter: str) -> str:
    return "'\\t'" if delimiter == "\t" else repr(delimiter)


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


def is_table_path(path: str | Path) -> bool:
    name = Path(path).name.lower()
    return name.endswith(TABLE_SUFFIXES)


def _open_text_sample(path: Path) -> str:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as handle:
            raw = handle.read(_SNIFF_BYTES)
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot read the file: {exc}") from None
    text = raw.decode("utf-8-sig", errors="replace")
    if len(raw) == _SNIFF_BYTES and "\n" in text:
        text = text[: text.rindex("\n")]  # drop a line cut in the middle
    return text


def sniff_delimiter(path: Path, sample: str) -> str:
    """The delimiter that splits every sampled line into the same number (> 1) of fields."""
    lines = [line for line in sample.splitlines()[:_SNIFF_LINES] if line.strip()]
    best: tuple[int, str] | None = None
    for delimiter in DELIMITERS:
        try:
            widths = {len(row) for row in csv.reader(lines, delimiter=delimiter)}
        except csv.Error:
            continue
        if len(widths) == 1 and (width := widths.pop()) > 1 and (best is None or width > best[0]):
            best = (width, delimiter)
    if best is None:
        tried = ", ".join(_show(d) for d in DELIMITERS)
        raise DataError(
            f"{path}: cannot tell the delimiter from the first {len(lines)} line(s): tried "
            f"{tried}, and none splits every line into the same number of fields (more than "
            "one); set data.delimiter"
        )
    return best[1]


def _check_names(path: Path, names: Sequence[str]) -> None:
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


def _text_column(name: str, codes: np.ndarray, levels: np.ndarray, na: np.ndarray) -> Column:
    """Strip the levels, turn missing markers into -1 and merge levels equal after stripping."""
    levels = np.char.strip(levels.astype(str)) if len(levels) else levels.astype(str)
    is_na = np.isin(levels, na)
    unique, inverse = np.unique(levels, return_inverse=True)
    keep = ~np.isin(unique, na)
    renumber = np.cumsum(keep) - 1
    mapping = np.where(is_na, -1, renumber[inverse]).astype(np.int32)
    mapping = np.append(mapping, np.int32(-1))  # code -1 stays missing
    return Column(name, mapping[codes], unique[keep])


def _promote(column: Column, keep_text: bool) -> Column:
    """A text column whose levels all parse as numbers becomes numeric (the inference rule)."""
    if column.levels is None or keep_text:
        return column
    if len(column.levels) == 0:
        return Column(column.name, np.full(len(column.values), np.nan))
    try:
        numbers = column.levels.astype(np.float64)
    except ValueError:
        return column
    values = np.append(numbers, np.nan)[column.values]
    return Column(column.name, values, None, bool(np.all(numbers == np.round(numbers))))


def _finish(
    path: Path,
    names: Sequence[str],
    columns: dict[str, Column],
    n_rows: int,
    text_columns: Collection[str],
    delimiter: str | None,
) -> Table:
    if n_rows == 0:
        raise DataError(f"{path}: 0 samples: the file has no data rows")
    out: dict[str, Column] = {}
    for name in names:
        column = _promote(columns[name], name in text_columns)
        if not column.is_text:
            bad = np.isinf(column.values)
            if bad.any():
                row = int(np.flatnonzero(bad)[0]) + 1
                raise DataError(
                    f"{path}: column {name!r} has {int(bad.sum())} infinite value(s) (first at "
                    f"data row {row}); fix or remove them"
                )
        out[name] = column
    return Table(out, n_rows, str(path), delimiter)


def _read_stdlib(
    path: Path, delimiter: str, header: bool, na: np.ndarray, text_columns: Collection[str]
) -> Table:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as handle:
            text = handle.read().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: is not valid UTF-8 text ({exc.reason}); save it as UTF-8") from None
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot read the file: {exc}") from None
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        rows = [row for row in reader if row]
    except csv.Error as exc:
        raise DataError(f"{path}: line {reader.line_num}: cannot parse: {exc}") from None
    if not rows:
        raise DataError(f"{path}: the file is empty")
    names = [n.strip() for n in rows[0]] if header else [f"c{j}" for j in range(len(rows[0]))]
    _check_names(path, names)
    body = rows[1:] if header else rows
    for number, row in enumerate(body, start=1):
        if len(row) != len(names):
            raise DataError(
                f"{path}: data row {number} has {len(row)} fields, but the file has "
                f"{len(names)} columns; every row needs one value per column"
            )
    cells = np.array(body, dtype=str).reshape(len(body), len(names))
    columns = {}
    for j, name in enumerate(names):
        levels, codes = np.unique(cells[:, j], return_inverse=True)
        columns[name] = _text_column(name, codes.astype(np.int32), levels, na)
    return _finish(path, names, columns, len(body), text_columns, delimiter)


def _arrow_columns(batches, names: Sequence[str], na: np.ndarray) -> tuple[dict[str, Column], int]:
    """Typed numpy columns from record batches: numbers to float64, everything else to codes."""
    import pyarrow as pa
    import pyarrow.compute as pc

    numbers: dict[str, list[np.ndarray]] = {n: [] for n in names}
    integer = dict.fromkeys(names, True)
    codes: dict[str, list[np.ndarray]] = {n: [] for n in names}
    levels: dict[str, list[np.ndarray]] = {n: [] for n in names}
    kinds: dict[str, str] = {}
    n_rows = 0
    for batch in batches:
        n_rows += batch.num_rows
        for name, array in zip(names, batch.columns, strict=True):
            kind = array.type
            if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_null(kind):
                kinds.setdefault(name, "numeric")
                integer[name] &= not pa.types.is_floating(kind)
                as_float = pc.fill_null(array.cast(pa.float64()), np.nan)
                numbers[name].append(as_float.to_numpy(zero_copy_only=False))
                continue
            kinds[name] = "text"
            if not pa.types.is_dictionary(kind):
                array = pc.dictionary_encode(array.cast(pa.string()))
            dictionary = array.dictionary.cast(pa.string())
            offset = sum(len(level) for level in levels[name])
            index = pc.fill_null(array.indices.cast(pa.int64()), -1).to_numpy(zero_copy_only=False)
            codes[name].append(np.where(index < 0, -1, index + offset))
            levels[name].append(np.asarray(dictionary.to_numpy(zero_copy_only=False), dtype=str))
    columns: dict[str, Column] = {}
    for name in names:
        if kinds.get(name, "numeric") == "numeric" or not codes[name]:
            values = np.concatenate(numbers[name]) if numbers[name] else np.empty(0)
            columns[name] = Column(name, values, None, integer[name])
            continue
        all_levels = np.concatenate(levels[name])
        all_codes = np.concatenate(codes[name])
        total = len(all_levels)
        all_codes = np.where(all_codes < 0, total, all_codes)
        columns[name] = _text_column(name, all_codes, all_levels, na)
    return columns, n_rows


def _read_arrow_csv(
    path: Path, delimiter: str, header: bool, na: Sequence[str], text_columns: Collection[str]
) -> Table:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    sample = _open_text_sample(path)
    first = next(csv.reader(sample.splitlines()[:1], delimiter=delimiter), [])
    names = [n.strip() for n in first] if header else [f"c{j}" for j in range(len(first))]
    _check_names(path, names)
    forced: dict[str, pa.DataType] = {
        n: pa.dictionary(pa.int32(), pa.string()) for n in text_columns if n in names
    }
    # Each column that the first block typed wrongly (a number column with a word further down)
    # is read again one step up: null/int -> float -> text. At most two restarts per column.
    for _attempt in range(2 * len(names) + 1):
        read = pacsv.ReadOptions(
            block_size=_BLOCK_BYTES,
            column_names=names,
            skip_rows=1 if header else 0,
        )
        parse = pacsv.ParseOptions(delimiter=delimiter)
        convert = pacsv.ConvertOptions(
            null_values=list(na),
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
            column_types=forced,
            auto_dict_encode=True,
            auto_dict_max_cardinality=2**31 - 1,
            true_values=["\x00true"],  # never infer booleans: they are categories here
            false_values=["\x00false"],
        )
        try:
            reader = pacsv.open_csv(
                path, read_options=read, parse_options=parse, convert_options=convert
            )
            columns, n_rows = _arrow_columns(reader, names, np.asarray(na, dtype=str))
        except pa.ArrowInvalid as exc:
            message = str(exc).splitlines()[0]
            column = _column_in_error(message, names)
            if column is None or column in text_columns:
                raise DataError(f"{path}: cannot read the table: {message}") from None
            now = forced.get(column)
            forced[column] = (
                pa.float64() if now is None else pa.dictionary(pa.int32(), pa.string())
            )
            continue
        except (OSError, EOFError) as exc:
            raise DataError(f"{path}: cannot read the file: {exc}") from None
        return _finish(path, names, columns, n_rows, text_columns, delimiter)
    raise DataError(f"{path}: cannot settle the column types")  # unreachable in practice


def _column_in_error(message: str, names: Sequence[str]) -> str | None:
    """The column a pyarrow conversion error names ('In CSV column #3: ...')."""
    marker = "column #"
    if "conversion error" not in message or marker not in message:
        return None
    digits = message.split(marker, 1)[1].split(":", 1)[0]
    return names[int(digits)] if digits.isdigit() and int(digits) < len(names) else None


def _read_parquet(path: Path, na: Sequence[str], text_columns: Collection[str]) -> Table:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError(
            f"{path}: reading Parquet needs pyarrow; install it with pip install 'mlptrain[tables]'"
        ) from None
    try:
        handle = pq.ParquetFile(path)
        names = list(handle.schema_arrow.names)
        _check_names(path, names)

        def batches():
            for batch in handle.iter_batches(batch_size=65536):
                arrays = []
                for name, array in zip(names, batch.columns, strict=True):
                    if name in text_columns or not (
                        pa.types.is_integer(array.type)
                        or pa.types.is_floating(array.type)
                        or pa.types.is_dictionary(array.type)
                        or pa.types.is_string(array.type)
                        or pa.types.is_large_string(array.type)
                    ):
                        array = array.cast(pa.string())
                    arrays.append(array)
                yield pa.RecordBatch.from_arrays(arrays, names=names)

        columns, n_rows = _arrow_columns(batches(), names, np.asarray(na, dtype=str))
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"{path}: not a readable Parquet file: {str(exc).splitlines()[0]}") from None
    return _finish(path, names, columns, n_rows, text_columns, None)


def have_pyarrow() -> bool:
    try:
        import pyarrow.csv  # noqa: F401
    except ImportError:
        return False
    return True


def load_table(
    path: str | Path,
    *,
    delimiter: str = "auto",
    header: bool = True,
    na_values: Sequence[str] = ("", "NA", "N/A", "NaN", "nan", "null", "NULL", "?"),
    text_columns: Collection[str] = (),
    engine: str = "auto",
) -> Table:
    """A CSV/TSV (optionally .gz) or Parquet file as typed columns.

    ``delimiter``: one of ``DELIMITERS`` or ``"auto"`` (sniffed from the first lines);
    ``header``: False names the columns c0, c1, ...; ``na_values``: cells that mean missing
    (compared after stripping spaces); ``text_columns``: names read as text even when they
    hold numbers; ``engine``: ``"auto"`` (pyarrow if installed), ``"pyarrow"`` or ``"python"``.
    """
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path}: is a directory, not a file")
    if not path.exists():
        raise DataError(f"{path}: file not found")
    if not is_table_path(path):
        raise DataError(
            f"{path}: unsupported file type; tables are {quote_list(TABLE_SUFFIXES)}"
        )
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty")
    if path.name.lower().endswith(".parquet"):
        return _read_parquet(path, na_values, text_columns)
    if delimiter == "\\t":
        delimiter = "\t"
    if delimiter == "auto":
        delimiter = sniff_delimiter(path, _open_text_sample(path))
    elif delimiter not in DELIMITERS:
        raise DataError(
            f"delimiter {delimiter!r} is not allowed; allowed: auto, "
            + ", ".join(_show(d) for d in DELIMITERS)
        )
    use_arrow = have_pyarrow() if engine == "auto" else engine == "pyarrow"
    if use_arrow:
        return _read_arrow_csv(path, delimiter, header, na_values, text_columns)
    return _read_stdlib(path, delimiter, header, np.asarray(na_values, dtype=str), text_columns)


def table_from_mapping(
    data: Any,
    *,
    names: Sequence[str],
    text_columns: Collection[str],
    na_values: Sequence[str],
    source: str,
) -> Table:
    """A Table from in-memory columns: a dict of 1-D arrays, a DataFrame, or a 2-D array whose
    columns are ``names`` in order. None, NaN and ``na_values`` cells are missing."""
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
        cells = np.asarray(values)
        if cells.ndim != 1:
            raise DataError(f"{source}: column {name!r} has shape {cells.shape}; columns are 1-D")
        if n_rows is not None and len(cells) != n_rows:
            raise DataError(f"{source}: column {name!r} has {len(cells)} rows, others {n_rows}")
        n_rows = len(cells)
        if cells.dtype.kind in "biuf" and name not in text_columns:
            values64 = cells.astype(np.float64)
            integer = cells.dtype.kind in "biu"
            columns[name] = Column(name, values64, None, integer)
            continue
        objects = cells.astype(object)
        # elementwise comparisons, not a loop: None cells, and NaN (the one value != itself)
        gaps = (objects == None) | (objects != objects)  # noqa: E711
        text = np.where(gaps, "", objects).astype(str)
        levels, codes = np.unique(text, return_inverse=True)
        codes = np.where(gaps, len(levels), codes).astype(np.int64)
        column = _text_column(name, codes, levels, na)
        columns[name] = _promote(column, name in text_columns)
    return Table(columns, n_rows or 0, source)
