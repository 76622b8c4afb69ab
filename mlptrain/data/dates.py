"""Dates and times in a table: recognised by their text, turned into numeric features.

A text column whose every non-missing value is a date in one format -- ISO 8601 (2021-03-04,
2021-03-04 17:30, 2021-03-04T17:30:00; what Parquet date and timestamp columns read as) or
one of ``FORMATS`` -- is a date column, unless ``data.columns`` lists it otherwise. A format
is only taken when it reads every value and no other format of the list does (03/04/2021 is
ambiguous until a day above 12 shows up, and stays text until then). Instead of a categorical
with a level per day, the model gets ``PARTS``: the year, the month, the day of the week
(Monday 0), the day of the year and the days since 1970-01-01 (with the time of day as a
fraction): numeric features, imputed and scaled like any other (docs/tables.md).
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from mlptrain.data.frame import Column, Table
from mlptrain.errors import DataError

ISO = "iso"
# the common formats besides ISO 8601, tried in this order (strptime directives)
FORMATS = ("%m/%d/%Y", "%d/%m/%Y", "%Y/%m/%d", "%d.%m.%Y", "%m/%d/%y", "%d/%m/%y", "%d-%m-%Y")
PARTS = ("year", "month", "weekday", "yearday", "days")
_DAY = np.timedelta64(1, "D")


def part_names(name: str) -> list[str]:
    """The numeric features a date column ``name`` becomes: ``name:year``, ..."""
    return [f"{name}:{part}" for part in PARTS]


def _iso(levels: np.ndarray) -> np.ndarray | None:
    if not all("-" in str(v) and str(v)[:1].isdigit() for v in levels):
        return None
    try:
        return np.array(levels, dtype="datetime64[s]")
    except ValueError:
        return None


def _strptime(levels: np.ndarray, fmt: str) -> np.ndarray | None:
    try:
        days = [dt.datetime.strptime(str(v), fmt) for v in levels]
    except ValueError:
        return None
    return np.array(days, dtype="datetime64[s]")


def parse(levels: np.ndarray, fmt: str) -> np.ndarray | None:
    """``levels`` as datetime64[s] in format ``fmt`` (ISO or a strptime format), or None when
    one of them is not such a date."""
    return _iso(levels) if fmt == ISO else _strptime(levels, fmt)


def detect_format(column: Column) -> str | None:
    """The one format that reads every level of a text column, or None (module docstring)."""
    levels = column.levels
    if levels is None or len(levels) == 0:
        return None
    if _iso(levels) is not None:
        return ISO
    fits = [fmt for fmt in FORMATS if _strptime(levels, fmt) is not None]
    return fits[0] if len(fits) == 1 else None


def date_parts(column: Column, fmt: str, source: str) -> dict[str, Column]:
    """The numeric columns of ``PARTS`` for a date column (NaN where a cell is missing)."""
    if column.levels is None:
        raise DataError(f"{source}: column {column.name!r} holds numbers, not dates")
    when = parse(column.levels, fmt)
    if when is None:
        bad = next(v for v in column.levels if parse(np.array([v]), fmt) is None)
        shown = "ISO 8601 (2021-03-04)" if fmt == ISO else fmt
        raise DataError(
            f"{source}: column {column.name!r} holds {str(bad)!r}, which is not a date in the "
            f"format the model was trained on ({shown})"
        )
    days = np.append((when - np.datetime64("1970-01-01", "s")) / _DAY, np.nan)
    day = np.append(when.astype("datetime64[D]"), np.datetime64("NaT"))
    year = day.astype("datetime64[Y]")
    month = day.astype("datetime64[M]")
    with np.errstate(invalid="ignore"):
        parts = {
            "year": year.astype(np.float64) + 1970,
            "month": (month - year).astype(np.float64) + 1,
            "weekday": ((day - np.datetime64("1970-01-05")).astype(np.float64)) % 7,
            "yearday": (day - year).astype(np.float64) + 1,
            "days": days,
        }
    codes = np.where(column.values < 0, len(when), column.values)
    out = {}
    for part, name in zip(PARTS, part_names(column.name), strict=True):
        values = np.where(np.isnat(day), np.nan, parts[part])[codes]
        out[name] = Column(name, values, None, part != "days")
    return out


def with_date_parts(table: Table, dates: dict[str, str]) -> Table:
    """``table`` with the numeric columns of each date column (name -> format) added."""
    if not dates:
        return table
    columns = dict(table.columns)
    for name, fmt in dates.items():
        if name not in columns:
            continue  # the caller's check of the input columns names it
        columns.update(date_parts(columns[name], fmt, table.source))
    return Table(columns, table.n_rows, table.source, table.delimiter, list(table.notes))
