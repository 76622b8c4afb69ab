"""A table read as a stream of record batches (``data.stream: true``): a Parquet file or
dataset folder through pyarrow's dataset API, one file after another, a CSV through
pyarrow's streaming CSV reader. Each batch becomes a typed ``Table`` by the same conversion
the whole-file readers use (``mlptrain.data.arrow.batches_table``); only one batch is held at
a time.

A stream types its columns once and keeps them: a Parquet column is what its schema says, a
CSV column what a first typing pass over the file settles (numbers that meet a word further
down become text, as in memory); text never turns into numbers batch by batch, so a row is
read, hashed and encoded the same in every pass.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlptrain.data.arrow import (
    BLOCK_BYTES,
    batches_table,
    column_in_error,
    parquet_dataset,
    plain_batch,
)
from mlptrain.data.frame import Table, check_names, open_text_sample
from mlptrain.data.tables import DELIMITERS, show_delimiter, sniff_delimiter
from mlptrain.errors import DataError

BATCH_ROWS = 65536  # rows per record batch of a Parquet scan
STREAM_EXTRA = "data.stream: true needs pyarrow; install it with pip install 'mlptrain[tables]'"


def _is_text(kind: Any) -> bool:
    import pyarrow as pa

    return not (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_null(kind))


@contextlib.contextmanager
def _system_pool() -> Iterator[None]:
    """pyarrow's default pool (mimalloc) keeps the pages of the batches decoded and dropped, so
    a stream's resident memory grew with the rows read (1.18 GB at 5M rows against 0.97 GB at
    1M, benchmarks/streaming.py); the system allocator hands them back (1.01 GB at 5M). While
    a stream is read, the system pool is pyarrow's default (unless ARROW_DEFAULT_MEMORY_POOL
    chose one); the caller's pool comes back when the reading ends, so a library user's own
    pyarrow work afterwards is not moved to another allocator."""
    import os

    import pyarrow as pa

    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        yield
        return
    previous = pa.default_memory_pool()
    pa.set_memory_pool(pa.system_memory_pool())
    try:
        yield
    finally:
        pa.set_memory_pool(previous)


def _parquet_batches(path: Path, columns: Sequence[str] | None) -> Iterator[Any]:
    """A Parquet file's or dataset folder's record batches, one file after another.

    Each file is scanned on its own, one batch ahead. A scan of the whole dataset, even with
    one batch and one file of read-ahead, kept decoding ahead of a slow reader: behind a
    consumer that took 50 ms per batch, 377 MiB of decoded batches waited in pyarrow's pool
    at 5M rows (20 files), against 52 MiB file by file; at 1M rows (4 files) it ran out of
    files to read ahead, which is why a stream's peak grew with its rows. Each file is read
    with the dataset's schema, so hive partition keys are columns as before."""
    dataset = parquet_dataset(path)
    wanted = None if columns is None else list(columns)
    for fragment in dataset.get_fragments():
        yield from fragment.to_batches(
            schema=dataset.schema, columns=wanted, batch_size=BATCH_ROWS, batch_readahead=1
        )


@dataclass
class RecordStream:
    """Where the rows come from and how each record batch is typed."""

    path: Path
    na_values: Sequence[str]
    delimiter: str | None = None  # None: Parquet
    header: bool = True
    encoding: str = "utf-8"
    decimal: str = "."
    names: list[str] = field(default_factory=list)
    text_columns: set[str] = field(default_factory=set)
    csv_types: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def open(cls, data_cfg: Any) -> RecordStream:
        """The stream of ``data_cfg.path`` (a ``data:`` section), its columns typed."""
        try:
            import pyarrow.csv  # noqa: F401
            import pyarrow.dataset  # noqa: F401
        except ImportError:
            raise DataError(STREAM_EXTRA) from None
        path = Path(data_cfg.path)
        stream = cls(path, list(data_cfg.na_values))
        if path.is_dir() or path.name.lower().endswith(".parquet"):
            schema = parquet_dataset(path).schema
            stream.names = list(schema.names)
            check_names(path, stream.names)
            stream.text_columns = {f.name for f in schema if _is_text(f.type)}
            return stream
        if not path.is_file():
            raise DataError(f"{path}: file not found")
        stream.header, stream.encoding = data_cfg.header, data_cfg.encoding
        stream.decimal = data_cfg.decimal
        delimiter = data_cfg.delimiter
        delimiter = "\t" if delimiter == "\\t" else delimiter
        sample = open_text_sample(path, stream.encoding)
        if delimiter == "auto":
            delimiter = sniff_delimiter(path, sample)
        elif delimiter not in DELIMITERS:  # the schema allows only these; kept for the API
            raise DataError(f"delimiter {show_delimiter(delimiter)} is not allowed")
        stream.delimiter = delimiter
        import csv

        first = next(csv.reader(sample.splitlines()[:1], delimiter=delimiter), [])
        names = (
            [n.strip() for n in first] if stream.header else [f"c{j}" for j in range(len(first))]
        )
        check_names(path, names)
        stream.names = names
        stream._settle_csv_types(
            [n for n, kind in (data_cfg.columns or {}).items() if kind in ("categorical", "id")]
        )
        return stream

    def _csv_reader(self):  # type: ignore[no-untyped-def]
        import pyarrow.csv as pacsv

        return pacsv.open_csv(
            self.path,
            read_options=pacsv.ReadOptions(
                block_size=BLOCK_BYTES,
                column_names=self.names,
                skip_rows=1 if self.header else 0,
                encoding="utf8"
                if self.encoding.lower().replace("-", "") == "utf8"
                else self.encoding,
            ),
            parse_options=pacsv.ParseOptions(delimiter=self.delimiter),
            convert_options=pacsv.ConvertOptions(
                null_values=list(self.na_values),
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
                column_types=self.csv_types,
                true_values=["\x00true"],  # booleans are categories here, as in memory
                false_values=["\x00false"],
                decimal_point=self.decimal,
            ),
        )

    def _settle_csv_types(self, text: Sequence[str]) -> None:
        """One pass of pyarrow's parser over the file: a column typed wrongly by the first
        block goes one step up (int -> float -> text) and the pass starts again."""
        import pyarrow as pa

        self.csv_types = {n: pa.string() for n in text if n in self.names}
        for _attempt in range(2 * len(self.names) + 1):
            try:
                reader = self._csv_reader()
                with _system_pool():
                    for _batch in reader:
                        pass
            except pa.ArrowInvalid as exc:
                message = str(exc).splitlines()[0]
                column = column_in_error(message, self.names)
                if column is None or self.csv_types.get(column) == pa.string():
                    raise DataError(f"{self.path}: cannot read the table: {message}") from None
                now = self.csv_types.get(column)
                self.csv_types[column] = pa.float64() if now is None else pa.string()
                continue
            except (OSError, UnicodeDecodeError) as exc:
                raise DataError(f"{self.path}: cannot read the file: {exc}") from None
            schema = reader.schema
            self.csv_types = {f.name: f.type for f in schema}
            self.text_columns = {f.name for f in schema if _is_text(f.type)}
            for f in schema:  # an all-empty column reads as null: numbers (NaN), as in memory
                if pa.types.is_null(f.type):
                    self.csv_types[f.name] = pa.float64()
            return
        raise DataError(f"{self.path}: cannot settle the column types")

    def record_batches(self, columns: Sequence[str] | None = None) -> Iterator[Any]:
        """The rows as pyarrow record batches of plain types, in one fixed order; with
        ``columns`` (names in file order), just those (a Parquet scan decodes no other)."""
        import pyarrow as pa

        try:
            with _system_pool():
                if self.delimiter is None:
                    scan = _parquet_batches(self.path, columns)
                else:
                    scan = self._csv_reader()
                for batch in scan:
                    if columns is not None and self.delimiter is not None:
                        batch = batch.select(list(columns))
                    if batch.num_rows:
                        yield plain_batch(batch, self.text_columns)
        except (pa.ArrowException, OSError) as exc:
            raise DataError(
                f"{self.path}: cannot read the table: {str(exc).splitlines()[0]}"
            ) from None

    def table_of(
        self, batches: Sequence[Any] | Iterator[Any], names: Sequence[str] | None = None
    ) -> Table:
        """Record batches as one typed ``Table`` (the whole-file readers' conversion); with
        ``names``, batches of just those columns."""
        return batches_table(
            self.path,
            batches,
            self.names if names is None else names,
            self.na_values,
            self.text_columns,
            delimiter=self.delimiter,
        )

    def tables(self) -> Iterator[tuple[Any, Table]]:
        """Each record batch with its typed ``Table``."""
        for batch in self.record_batches():
            yield batch, self.table_of([batch])
