"""Splits a table brings with it: a column naming each row's split, or a column of groups whose
rows must stay on one side of every split (``data.split_column``, ``data.group_column``)."""

from __future__ import annotations

import numpy as np

from mlptrain.data._text import did_you_mean, quote_list
from mlptrain.data.frame import Table
from mlptrain.errors import DataError

SPLIT_VALUES = ("train", "val", "test")


def _cells_as_text(table: Table, name: str) -> np.ndarray:
    """The column's cells as stripped strings, "" for a missing cell."""
    column = table.columns[name]
    if column.levels is not None:
        levels = np.append(np.asarray(column.levels, dtype=str), "")
        return levels[column.values]  # code -1 (missing) picks the appended ""
    values = column.values
    return np.where(np.isnan(values), "", values.astype(str))


def pop_column(table: Table, name: str, option: str) -> np.ndarray:
    """Take the column ``name`` out of ``table`` (it is then no feature) and return its cells."""
    if name not in table.columns:
        raise DataError(
            f"{table.source}: data.{option}: column {name!r} not found; the columns are "
            f"{quote_list(table.names, 20)}{did_you_mean(name, table.names)}"
        )
    cells = _cells_as_text(table, name)
    del table.columns[name]
    return cells


def split_from_column(table: Table, name: str) -> np.ndarray:
    """One of train/val/test per row, from the column ``name`` (removed from the table)."""
    cells = pop_column(table, name, "split_column")
    where = f"{table.source}: data.split_column {name!r}"
    missing = int(np.count_nonzero(cells == ""))
    if missing:
        raise DataError(
            f"{where}: {missing} row(s) have no value; each row needs train, val or test"
        )
    unknown = sorted(set(np.unique(cells).tolist()) - set(SPLIT_VALUES))
    if unknown:
        raise DataError(
            f"{where} holds {quote_list(unknown, 5)}; allowed values: {', '.join(SPLIT_VALUES)}"
        )
    for needed in ("train", "test"):
        if not np.any(cells == needed):
            raise DataError(f"{where}: no row is marked {needed!r}; at least one is needed")
    return cells.astype("<U5")


def group_split(
    groups: np.ndarray, *, test_size: float, val_size: float, seed: int, where: str
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Seeded (train, val, test) row indices in which every group's rows fall in one part.

    scikit-learn's ``GroupShuffleSplit``: ``test_size`` (then ``val_size`` of the rest) is a
    share of the groups, not of the rows. Rows without a group value form one group.
    """
    from sklearn.model_selection import GroupShuffleSplit

    n_groups = len(np.unique(groups))
    parts = ["train", *(n for n, size in (("validation", val_size), ("test", test_size)) if size)]
    if n_groups < len(parts):
        raise DataError(
            f"{where}: {n_groups} group(s); a group split into {'/'.join(parts)} needs at "
            f"least {len(parts)}"
        )
    indices = np.arange(len(groups), dtype=np.int64)

    def cut(rows: np.ndarray, size: float) -> tuple[np.ndarray, np.ndarray]:
        splitter = GroupShuffleSplit(n_splits=1, test_size=size, random_state=seed)
        try:
            keep, held = next(splitter.split(rows, groups=groups[rows]))
        except ValueError as exc:
            raise DataError(f"{where}: cannot split the groups: {exc}") from None
        return rows[keep], rows[held]

    rest, test = cut(indices, test_size) if test_size > 0 else (indices, None)
    val: np.ndarray | None = None
    train = rest
    if val_size > 0:
        if len(np.unique(groups[rest])) < 2:
            raise DataError(
                f"{where}: one group is left after taking the test groups; the validation "
                "split needs at least 2; lower data.test_size or set data.val_size: 0"
            )
        train, val = cut(rest, val_size)
        val = np.sort(val)
    return np.sort(train), val, None if test is None else np.sort(test)
