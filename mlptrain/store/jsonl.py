"""The metrics log: a JSON-lines file appended one crash-safe line at a time.

Each record is appended with one ``os.write`` on an ``O_APPEND`` fd, then fsynced, so a crash
leaves at most one partial final line, which ``read_jsonl`` ignores (and the next append cuts).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlptrain.errors import RunError
from mlptrain.store.atomic import (
    StrPath,
    atomic_write_bytes,
    fsync_directory,
    fsync_fd,
    open_fd,
    os_error_cause,
    os_error_hint,
    write_all,
)


def append_line(path: StrPath, line: str) -> None:
    """Append one line (a JSON record, without its newline) to ``path`` crash-safely.

    The line and its newline go out in a single ``os.write`` on an ``O_APPEND`` fd, then fsync:
    a crash leaves at most a partial final line. If an earlier crash left such a fragment, it is
    cut off first; otherwise the new record would be glued to it and corrupt a middle line.
    """
    if "\n" in line or "\r" in line:
        raise ValueError("append_line takes a single line; it must not contain line breaks")
    target = Path(path)
    payload = (line + "\n").encode("utf-8")
    created = not target.exists()
    fd: int | None = None
    try:
        fd = open_fd(target, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o666)
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            _drop_partial_tail(fd, size)
        # One write call: a short write here would be a partial line, which readers tolerate.
        write_all(fd, payload)
        fsync_fd(fd)
        if created:
            fsync_directory(target.parent)
    except OSError as exc:
        raise RunError(
            f"could not append to {target}: {os_error_cause(exc)}; {os_error_hint(exc)}"
        ) from exc
    finally:
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)


def _drop_partial_tail(fd: int, size: int) -> None:
    """Truncate the file after its last newline (the fragment a crash mid-append leaves)."""
    block = 1 << 16
    end = size
    while end > 0:
        start = max(0, end - block)
        chunk = os.pread(fd, end - start, start)
        cut = chunk.rfind(b"\n")
        if cut >= 0:
            os.ftruncate(fd, start + cut + 1)
            return
        end = start
    os.ftruncate(fd, 0)


def _parse_jsonl(path: Path, data: bytes) -> list[tuple[bytes, dict[str, Any]]]:
    """Parse JSON-lines ``data`` into (raw line, record) pairs.

    A bad final line is the expected trace of a crash mid-append and is dropped; a bad line
    anywhere else means the file was damaged or edited, and is reported.
    """
    lines = data.split(b"\n")
    last_index = max((i for i, raw in enumerate(lines) if raw.strip()), default=-1)
    records: list[tuple[bytes, dict[str, Any]]] = []
    for index, raw in enumerate(lines):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            if index == last_index:
                break
            raise RunError(
                f"{path}:{index + 1}: corrupt line (not valid JSON: {exc}); the file was damaged "
                "or edited; fix or remove that line"
            ) from exc
        if not isinstance(record, dict):
            if index == last_index:
                break
            raise RunError(
                f"{path}:{index + 1}: corrupt line (a JSON {type(record).__name__}, expected an "
                "object); the file was damaged or edited; fix or remove that line"
            )
        records.append((raw, record))
    return records


def _read_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise RunError(f"could not read {path}: {os_error_cause(exc)}") from exc


def read_jsonl(path: StrPath) -> list[dict[str, Any]]:
    """The records of a JSON-lines file; ``[]`` if it does not exist.

    A partial or corrupt final line (a crash mid-append) is ignored; a corrupt line before it
    raises ``RunError`` naming the file and line number.
    """
    target = Path(path)
    data = _read_bytes(target)
    if data is None:
        return []
    return [record for _, record in _parse_jsonl(target, data)]


def truncate_jsonl(path: StrPath, keep: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
    """Atomically rewrite a JSON-lines file keeping only the records where ``keep`` is true.

    For resuming: drop the metrics of epochs after the checkpoint (and any partial final line).
    Kept lines are copied byte for byte. Returns the kept records; a missing file stays missing.
    """
    target = Path(path)
    data = _read_bytes(target)
    if data is None:
        return []
    kept = [(raw, record) for raw, record in _parse_jsonl(target, data) if keep(record)]
    atomic_write_bytes(target, b"".join(raw + b"\n" for raw, _ in kept))
    return [record for _, record in kept]
