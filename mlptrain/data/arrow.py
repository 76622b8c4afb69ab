"""The pyarrow readers: CSV streamed block by block, and Parquet batch by batch.

Streaming keeps the peak memory near that of the typed columns: the text of the file and
pyarrow's own tables never exist whole (docs/tables.md has the measurement).
"""

from __future__ import annotations

import csv
from collections.abc import Collection, Sequence
from pathlib import Path

import numpy as np

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
from mlptrain.data.memory import MemoryFile, Source, read_raw
from mlptrain.data.numbers import PLAIN, NumberFormat
from mlptrain.errors import DataError

BLOCK_BYTES = (
    4 * 2**20
)  # pyarrow's streaming block: small enough to stay lean, big enough to be fast


# Each pyarrow compute call costs ~20 µs whatever the array's size, a large share of a one-row
# read (a served request): the casts and fills below are skipped where they would change nothing.


def _floats(array):  # type: ignore[no-untyped-def]
    """A numeric (or all-null) arrow array as float64 numpy, NaN where null."""
    import pyarrow as pa

    if not pa.types.is_float64(array.type):
        # unsafe: a whole number beyond 2**53 rounds to the nearest float, as float(int) does
        # (a safe cast refuses it, and the file could not be read at all)
        array = array.cast(pa.float64(), safe=False)
    # pyarrow turns a float array's nulls into NaN itself (no fill_null pass over the column)
    return array.to_numpy(zero_copy_only=False)


def _indices(indices) -> np.ndarray:  # type: ignore[no-untyped-def]
    """A dictionary array's indices as int64 numpy, -1 where null."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if indices.null_count:
        indices = pc.fill_null(indices.cast(pa.int64()), -1)
    return indices.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)


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
                numbers[name].append(_floats(array))
                continue
            kinds[name] = "text"
            if not pa.types.is_dictionary(kind):
                array = pc.dictionary_encode(array.cast(pa.string()))
            dictionary = array.dictionary
            if not pa.types.is_string(dictionary.type):
                dictionary = dictionary.cast(pa.string())
            index = _indices(array.indices)
            # a file's dictionary may list levels this batch's rows never use: the column
            # gets only the used ones, the levels encoding the batch's own strings gives
            dictionary, index = _used_levels(dictionary, index)
            offset = sum(len(level) for level in levels[name])
            codes[name].append(np.where(index < 0, -1, index + offset).astype(np.int32))
            levels[name].append(np.asarray(dictionary.to_numpy(zero_copy_only=False), dtype=str))
    # each column's blocks are joined and dropped one column at a time, so the peak holds the
    # typed columns plus one column's blocks, not two copies of everything
    columns: dict[str, Column] = {}
    for name in names:
        blocks, code_blocks = numbers.pop(name), codes.pop(name)
        if kinds.get(name, "numeric") == "numeric" or not code_blocks:
            values = np.concatenate(blocks) if blocks else np.empty(0)
            columns[name] = Column(name, values, None, integer[name])
            continue
        all_levels = np.concatenate(levels.pop(name))
        all_codes = np.concatenate(code_blocks)
        del code_blocks
        all_codes[all_codes < 0] = len(all_levels)
        columns[name] = text_column(name, all_codes, all_levels, na)
    pa.default_memory_pool().release_unused()  # hand the read-ahead buffers back
    return columns, n_rows


def read_arrow_csv(
    path: Source,
    delimiter: str,
    header: bool,
    na: Sequence[str],
    text_columns: Collection[str],
    encoding: str = "utf-8",
    numbers: NumberFormat = PLAIN,
) -> Table:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    sample = open_text_sample(path, encoding)
    first = next(csv.reader(sample.splitlines()[:1], delimiter=delimiter), [])
    names = [n.strip() for n in first] if header else [f"c{j}" for j in range(len(first))]
    check_names(path, names)
    forced: dict[str, pa.DataType] = {
        n: pa.dictionary(pa.int32(), pa.string()) for n in text_columns if n in names
    }
    # Each column that the first block typed wrongly (a number column with a word further down)
    # is read again one step up: null/int -> float -> text. At most two restarts per column.
    for _attempt in range(2 * len(names) + 1):
        read = pacsv.ReadOptions(
            block_size=BLOCK_BYTES,
            column_names=names,
            skip_rows=1 if header else 0,
            # pyarrow reads UTF-8 (and skips a byte-order mark) natively; others transcode
            encoding="utf8" if python_encoding(encoding) == "utf-8-sig" else encoding,
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
            # a decimal comma: pyarrow reads "3,5" itself, and "1.234" (grouped) is left to
            # mlptrain.data.numbers instead of becoming 1.234
            decimal_point=numbers.decimal,
        )
        try:
            reader = pacsv.open_csv(
                pa.BufferReader(path.data) if isinstance(path, MemoryFile) else path,
                read_options=read,
                parse_options=parse,
                convert_options=convert,
            )
            columns, n_rows = _arrow_columns(reader, names, np.asarray(na, dtype=str))
        except UnicodeDecodeError:  # transcoding from another encoding
            raise _encoding_error(path, encoding) from None
        except pa.ArrowInvalid as exc:
            message = str(exc).splitlines()[0]
            if "UTF8" in message or "UTF-8" in message:
                raise _encoding_error(path, encoding) from None
            column = column_in_error(message, names)
            if column is None or column in text_columns:
                raise DataError(f"{path}: cannot read the table: {message}") from None
            now = forced.get(column)
            forced[column] = pa.float64() if now is None else pa.dictionary(pa.int32(), pa.string())
            continue
        except (OSError, EOFError) as exc:
            raise DataError(f"{path}: cannot read the file: {exc}") from None
        return finish_table(path, names, columns, n_rows, text_columns, delimiter, numbers)
    raise DataError(f"{path}: cannot settle the column types")  # unreachable in practice


def _encoding_error(path: Source, encoding: str) -> DataError:
    """Where the file stops being text in ``encoding`` (read again only on this error path)."""
    raw = read_raw(path)
    try:
        raw.decode(python_encoding(encoding))
    except UnicodeDecodeError as exc:
        return not_in_encoding(path, encoding, raw, exc)
    return DataError(f"{path}: is not {encoding} text; set data.encoding to the file's encoding")


def column_in_error(message: str, names: Sequence[str]) -> str | None:
    """The column a pyarrow conversion error names ('In CSV column #3: ...')."""
    marker = "column #"
    if "conversion error" not in message or marker not in message:
        return None
    digits = message.split(marker, 1)[1].split(":", 1)[0]
    return names[int(digits)] if digits.isdigit() and int(digits) < len(names) else None


def parquet_files(path: Path) -> list[Path]:
    """The data files of a Parquet dataset folder, sorted (so their rows come in one order):
    every ``*.parquet`` below it, hive partition folders (``key=value/``) included, without the
    ``_SUCCESS``, ``_metadata`` and hidden files that Spark, Dask and pyarrow write beside them."""
    files = sorted(
        p
        for p in path.rglob("*.parquet")
        if p.is_file()
        and not any(part.startswith((".", "_")) for part in p.relative_to(path).parts)
    )
    if not files:
        raise DataError(
            f"{path}: a folder without .parquet files; data.path names a table file "
            "or a Parquet dataset folder (*.parquet files, hive partitions allowed)"
        )
    return files


def parquet_dataset(path: Path):  # type: ignore[no-untyped-def]
    """A pyarrow dataset of one Parquet file or of a dataset folder: the folder's files in
    sorted order, hive partition keys (``year=2024/``) as columns."""
    try:
        import pyarrow as pa
        import pyarrow.dataset as ds
    except ImportError:
        raise DataError(
            f"{path}: reading Parquet needs pyarrow; install it with pip install 'mlptrain[tables]'"
        ) from None
    files = [str(p) for p in parquet_files(path)] if path.is_dir() else [str(path)]
    hive = {"partitioning": "hive", "partition_base_dir": str(path)} if path.is_dir() else {}
    schema = ds.dataset(files, format="parquet", **hive).schema
    # string columns read as dictionaries, as Parquet mostly stores them: no per-row strings
    text = [f.name for f in schema if f.type in (pa.string(), pa.large_string())]
    read = ds.ParquetFileFormat(read_options=ds.ParquetReadOptions(dictionary_columns=text))
    return ds.dataset(files, format=read, **hive)


def _used_levels(dictionary, index: np.ndarray):  # type: ignore[no-untyped-def]
    """A dictionary array's levels that ``index`` (-1: null) uses, and ``index`` renumbered
    to them (in the dictionary's order)."""
    import pyarrow as pa

    used = np.bincount(index + 1, minlength=len(dictionary) + 1)[1:] > 0
    if used.all():
        return dictionary, index
    renumber = np.append(np.cumsum(used) - 1, -1)  # index -1 (null) stays -1
    return dictionary.filter(pa.array(used)), renumber[index]


def _is_text_array(kind) -> bool:  # type: ignore[no-untyped-def]
    """Strings, or a dictionary of strings (as Parquet's dictionary pages are read)."""
    import pyarrow as pa

    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind))


def plain_batch(batch, text_columns: Collection[str]):  # type: ignore[no-untyped-def]
    """A record batch with every column a number, a string or a dictionary of strings: other
    types (dates, booleans, decimals) and the ``text_columns`` become strings."""
    import pyarrow as pa

    arrays = []
    for name, array in zip(batch.schema.names, batch.columns, strict=True):
        # text already (a dictionary of strings too): kept, not decoded to plain strings
        # and encoded again (~18% of a streamed epoch's reading)
        if not _is_text_array(array.type) and (
            name in text_columns
            or not (
                pa.types.is_integer(array.type)
                or pa.types.is_floating(array.type)
                or pa.types.is_dictionary(array.type)
            )
        ):
            array = array.cast(pa.string())
        arrays.append(array)
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


def batches_table(
    source: Source,
    batches,  # type: ignore[no-untyped-def]
    names: Sequence[str],
    na: Sequence[str],
    text_columns: Collection[str],
    numbers: NumberFormat = PLAIN,
    delimiter: str | None = None,
) -> Table:
    """Record batches (numbers, strings, dictionaries) as one typed ``Table``: the one
    conversion every pyarrow reader shares, whole files and streamed batches alike."""
    columns, n_rows = _arrow_columns(batches, names, np.asarray(na, dtype=str))
    return finish_table(source, names, columns, n_rows, text_columns, delimiter, numbers)


def read_parquet(
    path: Path, na: Sequence[str], text_columns: Collection[str], numbers: NumberFormat = PLAIN
) -> Table:
    """A Parquet file or dataset folder (``parquet_dataset``), read batch by batch."""
    dataset = parquet_dataset(path)
    import pyarrow as pa

    try:
        names = list(dataset.schema.names)
        check_names(path, names)
        batches = (plain_batch(b, text_columns) for b in dataset.to_batches(batch_size=65536))
        columns, n_rows = _arrow_columns(batches, names, np.asarray(na, dtype=str))
    except (pa.ArrowException, OSError) as exc:
        raise DataError(
            f"{path}: not a readable Parquet file: {str(exc).splitlines()[0]}"
        ) from None
    return finish_table(path, names, columns, n_rows, text_columns, None, numbers)


def have_pyarrow() -> bool:
    try:
        import pyarrow.csv  # noqa: F401
    except ImportError:
        return False
    return True
