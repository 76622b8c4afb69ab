"""Validation and test rows from files of their own (``data.val_path``, ``data.test_path``): each
file is read by the same reader as the training file, checked to have the same columns, and
the tables are joined, with the split each row came from."""

from __future__ import annotations

from collections.abc import Callable, Collection
from pathlib import Path

import numpy as np

from mlptrain.data._text import quote_list
from mlptrain.data.frame import Column, Table
from mlptrain.errors import DataError

Reader = Callable[[Path, Collection[str]], Table]

# rows of the training file: split at random into what the other files do not provide
POOL = "pool"


def _check_same_columns(first: Table, other: Table, option: str, path: Path) -> None:
    missing = [name for name in first.names if name not in other.columns]
    extra = [name for name in other.names if name not in first.columns]
    if missing or extra:
        said = [f"missing {quote_list(missing, 5)}"] if missing else []
        said += [f"not in the training file: {quote_list(extra, 5)}"] if extra else []
        raise DataError(
            f"{path}: data.{option} must have the training file's columns; {'; '.join(said)}"
        )


def _join(parts: list[Column]) -> Column:
    name = parts[0].name
    if parts[0].levels is None:
        values = np.concatenate([p.values for p in parts])
        return Column(name, values, None, all(p.integer for p in parts))
    levels = np.unique(np.concatenate([p.levels for p in parts if p.levels is not None]))
    codes = []
    for part in parts:
        if part.levels is None:  # read_with_split_files reads a column as text in all or none
            raise ValueError(f"column {name!r} is text in one file and not in another")
        # code -1 (missing) stays -1 through the appended entry
        renumber = np.append(np.searchsorted(levels, part.levels), -1).astype(np.int32)
        codes.append(renumber[part.values])
    return Column(name, np.concatenate(codes), levels)


def read_with_split_files(
    read: Reader,
    path: Path,
    text_columns: Collection[str],
    *,
    val_path: Path | None = None,
    test_path: Path | None = None,
) -> tuple[Table, np.ndarray | None]:
    """The training file's table, joined with the val/test files' rows when given, and each
    row's split: "val"/"test" for those files' rows, ``POOL`` for the training file's (None
    without extra files)."""
    files = [(POOL, path)]
    for label, extra in (("val", val_path), ("test", test_path)):
        if extra is not None:
            if not Path(extra).is_file():
                raise DataError(f"data.{label}_path: {extra}: file not found")
            files.append((label, Path(extra)))
    tables = [read(file, text_columns) for _, file in files]
    if len(tables) == 1:
        return tables[0], None
    first = tables[0]
    for (label, file), table in zip(files[1:], tables[1:], strict=True):
        _check_same_columns(first, table, f"{label}_path", file)
    text = {name for t in tables for name, column in t.columns.items() if column.is_text}
    if any(t.columns[name].is_text != (name in text) for t in tables for name in first.names):
        # a column with a word in one file is text in all of them, as in one file
        tables = [read(file, {*text_columns, *text}) for _, file in files]
    columns = {name: _join([t.columns[name] for t in tables]) for name in first.names}
    table = Table(
        columns, sum(t.n_rows for t in tables), first.source, first.delimiter,
        [note for t in tables for note in t.notes],
    )  # fmt: skip
    split = np.concatenate(
        [np.full(t.n_rows, label) for (label, _), t in zip(files, tables, strict=True)]
    )
    return table, split.astype("<U5")
