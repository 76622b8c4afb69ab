"""Reading tables (CSV, TSV, gzip'd CSV, Parquet) into typed columns, without loops over rows.

The reader is pyarrow when it is installed (the ``tables`` extra): it streams the file in
blocks, so the peak memory is about that of the typed columns, not of the text or of one
Python object per cell (docs/tables.md has the measurement behind this choice). Without
pyarrow, .csv/.tsv/.csv.gz files are read with the standard ``csv`` module (the whole file as
text, fine for small tables) and Parquet asks for the extra.

The columns come out typed as ``mlptrain.data.frame`` describes (numeric or text codes).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Collection, Sequence
from pathlib import Path

import numpy as np

from mlptrain.data._text import quote_list
from mlptrain.data.arrow import have_pyarrow, parquet_files, read_arrow_csv, read_parquet
from mlptrain.data.cells import table_from_mapping
from mlptrain.data.frame import (
    Column,
    Table,
    check_names,
    finish_table,
    not_in_encoding,
    open_text_sample,
    python_encoding,
    text_column,
)
from mlptrain.data.memory import MemoryFile, Source, as_source, file_name, read_raw
from mlptrain.data.numbers import NumberFormat
from mlptrain.errors import DataError

__all__ = ["Column", "Table", "have_pyarrow", "load_table", "table_from_mapping"]

DELIMITERS = (",", ";", "\t", "|")
TABLE_SUFFIXES = (".csv", ".tsv", ".csv.gz", ".tsv.gz", ".parquet")
_SNIFF_LINES = 50


def show_delimiter(delimiter: str) -> str:
    return "'\\t'" if delimiter == "\t" else repr(delimiter)


def is_table_path(path: str | Path | MemoryFile) -> bool:
    return file_name(as_source(path)).endswith(TABLE_SUFFIXES)


def sniff_delimiter(path: Source, sample: str) -> str:
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
        tried = ", ".join(show_delimiter(d) for d in DELIMITERS)
        raise DataError(
            f"{path}: cannot tell the delimiter from the first {len(lines)} line(s): tried "
            f"{tried}, and none splits every line into the same number of fields (more than "
            "one); set data.delimiter"
        )
    return best[1]


def _read_stdlib(
    path: Source,
    delimiter: str,
    header: bool,
    na: np.ndarray,
    text_columns: Collection[str],
    encoding: str,
    numbers: NumberFormat,
) -> Table:
    try:
        raw = read_raw(path)
        text = raw.decode(python_encoding(encoding))
    except UnicodeDecodeError as exc:
        raise not_in_encoding(path, encoding, raw, exc) from None
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
    check_names(path, names)
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
        columns[name] = text_column(name, codes.astype(np.int32), levels, na)
    return finish_table(path, names, columns, len(body), text_columns, delimiter, numbers)


def _check_file(path: Source) -> None:
    """A file of a table type that holds something (rows in memory: that they are some)."""
    if isinstance(path, MemoryFile):
        if not path.data:
            raise DataError(f"{path}: the file is empty")
        return
    if path.is_dir():
        parquet_files(path)  # a Parquet dataset folder, or one line saying what it lacks
        return
    if not path.exists():
        raise DataError(f"{path}: file not found")
    if not is_table_path(path):
        raise DataError(f"{path}: unsupported file type; tables are {quote_list(TABLE_SUFFIXES)}")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty")


def load_table(
    path: str | Path | MemoryFile,
    *,
    delimiter: str = "auto",
    header: bool = True,
    na_values: Sequence[str] = ("", "NA", "N/A", "NaN", "nan", "null", "NULL", "?"),
    text_columns: Collection[str] = (),
    engine: str = "auto",
    encoding: str = "utf-8",
    thousands: str = "auto",
    decimal: str = ".",
) -> Table:
    """A CSV/TSV (optionally .gz) or Parquet file, or a Parquet dataset folder (files as
    Spark, Dask and pyarrow write them, hive partitions included), as typed columns.

    ``delimiter``: one of ``DELIMITERS`` or ``"auto"`` (sniffed from the first lines);
    ``header``: False names the columns c0, c1, ...; ``na_values``: cells that mean missing
    (compared after stripping spaces); ``text_columns``: names read as text even when they
    hold numbers; ``engine``: ``"auto"`` (pyarrow if installed), ``"pyarrow"`` or ``"python"``;
    ``encoding``: the text encoding of a CSV; ``thousands``/``decimal``: how numbers are
    written (mlptrain.data.numbers).
    """
    numbers = NumberFormat.from_options(thousands, decimal)
    path = as_source(path)
    _check_file(path)
    if isinstance(path, Path) and (path.name.lower().endswith(".parquet") or path.is_dir()):
        return read_parquet(path, na_values, text_columns, numbers)
    if delimiter == "\\t":
        delimiter = "\t"
    if delimiter == "auto":
        delimiter = sniff_delimiter(path, open_text_sample(path, encoding))
    elif delimiter not in DELIMITERS:
        raise DataError(
            f"delimiter {delimiter!r} is not allowed; allowed: auto, "
            + ", ".join(show_delimiter(d) for d in DELIMITERS)
        )
    use_arrow = have_pyarrow() if engine == "auto" else engine == "pyarrow"
    if use_arrow:
        return read_arrow_csv(path, delimiter, header, na_values, text_columns, encoding, numbers)
    na = np.asarray(na_values, dtype=str)
    return _read_stdlib(path, delimiter, header, na, text_columns, encoding, numbers)
