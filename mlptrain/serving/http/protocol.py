"""MLflow's scoring protocol: request bodies → a CSV of rows, and the limits on them.

Every body becomes CSV text that ``predict_rows`` reads as ``mlptrain predict`` reads a file,
so a served request and a file of the same rows take one path to the same predictions. A CSV
body is kept as sent; a JSON body (``dataframe_split``, ``dataframe_records``, ``instances``,
``inputs``) is written as a comma-separated file with a header, numbers as ``repr`` (which reads
back to the same float), ``null`` as a missing cell.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mlptrain.errors import UserInputError

# the keys of a JSON body, as MLflow's pyfunc scoring server reads them
JSON_FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
CSV_TYPES = ("text/csv",)
JSON_TYPES = ("application/json",)


class RequestError(UserInputError):
    """A request the server refuses, with the HTTP status that says why (4xx)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Rows:
    """A request's rows as CSV text, how many rows it holds, and whether it has the training
    file's layout (a CSV body) or the one the server wrote (a header, commas)."""

    text: str
    n_rows: int
    written: bool


def media_type(content_type: str | None) -> str:
    """``text/csv; charset=utf-8`` → ``text/csv``; refuses anything but JSON and CSV (415)."""
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind not in (*JSON_TYPES, *CSV_TYPES):
        raise RequestError(
            f"content type {kind or '(none)'!r} is not supported; send application/json "
            "or text/csv",
            status=415,
        )
    return kind


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RequestError(f"the body is not valid UTF-8 (byte {exc.start})") from None


def csv_rows(body: bytes, *, header: bool) -> Rows:
    """A CSV body as sent; its rows counted (blank lines skipped, as the readers do)."""
    text = _text(body)
    try:
        count = sum(1 for row in csv.reader(io.StringIO(text)) if row)
    except csv.Error as exc:
        raise RequestError(f"cannot parse the CSV body: {exc}") from None
    return Rows(text, max(count - int(header), 0), written=False)


def _cell(value: Any, na_token: str, where: Callable[[], str]) -> str:
    if value is None:
        return na_token
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        # repr reads back to the same float; nan and inf as the readers spell them
        return repr(value) if math.isfinite(value) else str(value)
    if isinstance(value, int | str):
        return str(value)
    kind = "a list" if isinstance(value, list) else "an object"
    raise RequestError(f"{where()} holds {kind}; a cell is a number, a string or null")


# cells csv.writer already writes as _cell does (floats by repr, None as ""): when every cell
# is one of these, the rows are written as they are, in one call (a 1,000-row body is 10,000
# cells), rather than converted one by one
_PLAIN = frozenset({str, int, float, type(None)})


def _all_plain(rows: list[list[Any]]) -> bool:
    return set(map(type, itertools.chain.from_iterable(rows))) <= _PLAIN


def _cells(row: list[Any], na_token: str, where: Callable[[int], str]) -> list[Any]:
    return [_cell(value, na_token, lambda j=j: where(j)) for j, value in enumerate(row)]


def _records(records: list[Any], key: str) -> tuple[list[str], list[list[Any]]]:
    names: dict[str, None] = {}
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise RequestError(f"{key}[{i}] is not an object of column: value")
        names.update(dict.fromkeys(str(k) for k in record))
    return list(names), [[record.get(name) for name in names] for record in records]


def _positional(rows: list[Any], key: str, names: Sequence[str]) -> list[list[Any]]:
    for i, row in enumerate(rows):
        if not isinstance(row, list):
            raise RequestError(f"{key}[{i}] is not a list of values")
        if len(row) != len(names):
            raise RequestError(
                f"{key}[{i}] has {len(row)} values, but the model reads {len(names)} columns "
                f"({', '.join(names)}); give the values in that order or name the columns"
            )
    return rows


def _columns(mapping: dict[str, Any], key: str) -> tuple[list[str], list[list[Any]]]:
    lengths = {len(v) if isinstance(v, list) else -1 for v in mapping.values()}
    if -1 in lengths or len(lengths) > 1:
        raise RequestError(f"{key}: the columns must be lists of the same length")
    names = [str(k) for k in mapping]
    return names, [list(row) for row in zip(*mapping.values(), strict=True)]


def _split(value: Any, names: Sequence[str]) -> tuple[list[str], list[list[Any]]]:
    if not isinstance(value, dict) or not isinstance(value.get("data"), list):
        raise RequestError('dataframe_split must be an object with "columns" and "data"')
    columns = value.get("columns")
    if columns is None:
        return list(names), _positional(value["data"], "dataframe_split.data", names)
    if not isinstance(columns, list):
        raise RequestError("dataframe_split.columns must be a list of column names")
    return [str(c) for c in columns], _positional(
        value["data"], "dataframe_split.data", [str(c) for c in columns]
    )


def _table(key: str, value: Any, names: Sequence[str]) -> tuple[list[str], list[list[Any]]]:
    """(column names, rows of cells) of one JSON input."""
    if key == "dataframe_split":
        return _split(value, names)
    if isinstance(value, dict):
        return _columns(value, key)
    if not isinstance(value, list):
        raise RequestError(f"{key} must be a list of rows or an object of columns")
    if key == "dataframe_records" or (value and isinstance(value[0], dict)):
        return _records(value, key)
    return list(names), _positional(value, key, names)


def json_rows(body: bytes, *, names: Sequence[str], na_token: str) -> Rows:
    """A JSON body in one of MLflow's formats as CSV text with a header. ``names``: the
    model's input columns, for rows given as lists of values in that order."""
    try:
        payload = json.loads(_text(body))
    except json.JSONDecodeError as exc:
        raise RequestError(f"malformed JSON: {exc}") from None
    keys = [k for k in JSON_FORMATS if isinstance(payload, dict) and k in payload]
    if len(keys) != 1:
        raise RequestError(
            "the JSON body must be an object with exactly one of " + ", ".join(JSON_FORMATS)
        )
    header, rows = _table(keys[0], payload[keys[0]], names)
    # an empty batch reads as a file of the model's header and no rows: predict's message
    header = header or list(names)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    if not na_token and _all_plain(rows):
        writer.writerows(rows)
        return Rows(buffer.getvalue(), len(rows), written=True)
    for i, row in enumerate(rows):
        writer.writerow(
            _cells(row, na_token, lambda j, i=i: f"{keys[0]} row {i} column {header[j]!r}")
        )
    return Rows(buffer.getvalue(), len(rows), written=True)


def check_rows(rows: Rows, max_rows: int) -> None:
    if rows.n_rows > max_rows:
        raise RequestError(
            f"the request holds {rows.n_rows} rows; this server takes at most {max_rows} per "
            "request; split the batch",
            status=413,
        )
