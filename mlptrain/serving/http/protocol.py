"""MLflow's scoring protocol: request bodies → rows, and the limits on them.

A CSV body is kept as sent, for ``predict_rows`` to read as ``mlptrain predict`` reads a file.
A JSON body (``dataframe_split``, ``dataframe_records``, ``instances``, ``inputs``) becomes its
cells by column, for ``predict_cells`` to type as the same rows in a file would be typed
(mlptrain.data.cells): no CSV text in between, the same checks and predictions.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mlptrain.errors import UserInputError

# the keys of a JSON body, as MLflow's pyfunc scoring server reads them
JSON_FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
CSV_TYPES = ("text/csv",)
JSON_TYPES = ("application/json",)


def loads(body: bytes) -> Any:
    """The JSON value of a body (UTF-8, a byte-order mark allowed)."""
    return json.loads(_text(body))


class RequestError(UserInputError):
    """A request the server refuses, with the HTTP status that says why (4xx)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Rows:
    """A request's rows and how many they are: a CSV body's ``text`` as sent (in the training
    file's layout), or a JSON body's column ``names`` and ``columns`` of cells, one sequence of
    ``n_rows`` cells per name."""

    n_rows: int
    text: str | None = None
    names: Sequence[str] = ()
    columns: Sequence[Sequence[Any]] = ()


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
    return Rows(max(count - int(header), 0), text=text)


def _records(records: list[Any], key: str) -> tuple[list[str], list[Sequence[Any]]]:
    names: dict[str, None] = {}
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise RequestError(f"{key}[{i}] is not an object of column: value")
        names.update(dict.fromkeys(record))
    # a key missing from a record is a gap in its row, as a short record reads in a file
    return [str(n) for n in names], [[record.get(n) for record in records] for n in names]


def _positional(rows: list[Any], key: str, names: Sequence[str]) -> list[Sequence[Any]]:
    # checked with C-level passes (type, len); only a refused body looks for the row
    if set(map(type, rows)) - {list}:
        i = next(i for i, row in enumerate(rows) if not isinstance(row, list))
        raise RequestError(f"{key}[{i}] is not a list of values")
    if set(map(len, rows)) - {len(names)}:
        i, row = next((i, row) for i, row in enumerate(rows) if len(row) != len(names))
        raise RequestError(
            f"{key}[{i}] has {len(row)} values, but the model reads {len(names)} columns "
            f"({', '.join(names)}); give the values in that order or name the columns"
        )
    # by column: each a tuple of one cell per row (one row: one cell each)
    return list(zip(*rows, strict=True)) if rows else [() for _ in names]


def _columns(mapping: dict[str, Any], key: str) -> tuple[list[str], list[Sequence[Any]]]:
    lengths = {len(v) if isinstance(v, list) else -1 for v in mapping.values()}
    if -1 in lengths or len(lengths) > 1:
        raise RequestError(f"{key}: the columns must be lists of the same length")
    return [str(k) for k in mapping], list(mapping.values())


def _split(value: Any, names: Sequence[str]) -> tuple[list[str], list[Sequence[Any]]]:
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


def _table(key: str, value: Any, names: Sequence[str]) -> tuple[list[str], list[Sequence[Any]]]:
    """(column names, cells by column) of one JSON input."""
    if key == "dataframe_split":
        return _split(value, names)
    if isinstance(value, dict):
        return _columns(value, key)
    if not isinstance(value, list):
        raise RequestError(f"{key} must be a list of rows or an object of columns")
    if key == "dataframe_records" or (value and isinstance(value[0], dict)):
        return _records(value, key)
    return list(names), _positional(value, key, names)


def json_rows(body: bytes, *, names: Sequence[str]) -> Rows:
    """A JSON body in one of MLflow's formats as its cells by column. ``names``: the model's
    input columns, for rows given as lists of values in that order."""
    try:
        payload = loads(body)
    except ValueError as exc:  # JSONDecodeError, and an integer of more digits than allowed
        raise RequestError(f"malformed JSON: {exc}") from None
    keys = [k for k in JSON_FORMATS if isinstance(payload, dict) and k in payload]
    if len(keys) != 1:
        raise RequestError(
            "the JSON body must be an object with exactly one of " + ", ".join(JSON_FORMATS)
        )
    header, columns = _table(keys[0], payload[keys[0]], names)
    if not header:
        # an empty batch reads as a file of the model's header and no rows: predict's message
        header, columns = list(names), [() for _ in names]
    return Rows(len(columns[0]) if columns else 0, names=header, columns=columns)


def check_rows(rows: Rows, max_rows: int) -> None:
    if rows.n_rows > max_rows:
        raise RequestError(
            f"the request holds {rows.n_rows} rows; this server takes at most {max_rows} per "
            "request; split the batch",
            status=413,
        )
