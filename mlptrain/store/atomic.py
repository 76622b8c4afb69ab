"""Crash-safe file writes: every file mlptrain writes goes through here.

A whole-file write goes to a temporary file in the same directory, is fsynced, then renamed over
the target (``os.replace`` is atomic within one file system), then the directory is fsynced so
the rename itself survives a power cut. A reader therefore sees either the old file or the new
one, never a mixture. Metrics are appended one line per ``os.write`` on an ``O_APPEND`` fd, so a
crash leaves at most one partial final line, which ``read_jsonl`` ignores.

The low-level calls go through the module-level names ``_os_open``, ``_os_write``, ``_os_fsync``
and ``_os_replace`` so tests can inject faults (ENOSPC, EIO, EACCES) with ``monkeypatch``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from mlptrain.errors import RunError

StrPath = str | os.PathLike[str]

# Indirections for fault injection in tests; always look them up at call time.
_os_open = os.open
_os_write = os.write
_os_fsync = os.fsync
_os_replace = os.replace

TEMP_MARKER = ".tmp-"
LOCK_NAME = ".lock"

# Directory fsync is not supported everywhere (some network and FUSE file systems, Windows
# shares); there the rename is as durable as the file system allows and we carry on.
_DIR_FSYNC_UNSUPPORTED = {errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EBADF, errno.EISDIR}

_HINTS = {
    errno.ENOSPC: "the disk is full; free some space and run again",
    errno.EDQUOT: "the disk quota is exhausted; free some space and run again",
    errno.EACCES: "check the permissions of the output directory",
    errno.EPERM: "check the permissions of the output directory",
    errno.EROFS: "the file system is read-only; choose another output directory",
    errno.EIO: "the storage device reported an I/O error; check the disk",
}


def _cause(exc: OSError) -> str:
    """``os.strerror`` of the error number, falling back to the text of errno-less errors."""
    return os.strerror(exc.errno) if exc.errno else str(exc)


def _hint(exc: OSError) -> str:
    return _HINTS.get(exc.errno or 0, "check the disk and the output directory")


def temp_path_for(path: StrPath) -> Path:
    """The temporary sibling ``.<name>.tmp-<pid>-<random>`` a write of ``path`` goes through.

    Same directory as the target so ``os.replace`` never crosses file systems; pid and random
    suffix so two writers (or a leftover from a crashed run) never collide.
    """
    target = Path(path)
    return target.with_name(f".{target.name}{TEMP_MARKER}{os.getpid()}-{secrets.token_hex(4)}")


def _write_all(fd: int, data: bytes | memoryview) -> None:
    """Write every byte: ``os.write`` may write less than asked (signals, pipes, quotas)."""
    view = memoryview(data)
    while view:
        written = _os_write(fd, view)
        if written <= 0:  # a regular file never does this; refuse to spin forever if it does
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        view = view[written:]


def fsync_directory(directory: StrPath) -> None:
    """Make a rename or file creation in ``directory`` durable; ignored where unsupported."""
    try:
        fd = _os_open(os.fspath(directory), os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError as exc:
        if exc.errno in _DIR_FSYNC_UNSUPPORTED:
            return
        raise
    try:
        _os_fsync(fd)
    except OSError as exc:
        if exc.errno not in _DIR_FSYNC_UNSUPPORTED:
            raise
    finally:
        os.close(fd)


def atomic_write_bytes(path: StrPath, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves either the old or the new file.

    Raises ``RunError`` (exit 1) naming the path and the cause on any I/O failure; the previous
    file is then left byte-identical and the temporary file is removed.
    """
    target = Path(path)
    temp = temp_path_for(target)
    stage = "creating a temporary file for"
    fd: int | None = None
    try:
        fd = _os_open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        stage = "writing"
        _write_all(fd, data)
        stage = "flushing (fsync)"
        _os_fsync(fd)
        os.close(fd)
        fd = None
        stage = "renaming the temporary file over"
        _os_replace(temp, target)
    except OSError as exc:
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise RunError(
            f"could not write {target}: {_cause(exc)} (while {stage} it); {_hint(exc)}; "
            "the previous file, if any, is unchanged"
        ) from exc
    try:
        fsync_directory(target.parent)
    except OSError as exc:
        raise RunError(
            f"could not write {target}: {_cause(exc)} (while flushing its directory); "
            f"the new file may not survive a power cut; {_hint(exc)}"
        ) from exc


def atomic_write_text(path: StrPath, text: str) -> None:
    """``atomic_write_bytes`` of ``text`` as UTF-8, newlines written as given (no translation)."""
    atomic_write_bytes(path, text.encode("utf-8"))


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
        fd = _os_open(target, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o666)
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            _drop_partial_tail(fd, size)
        # One write call: a short write here would be a partial line, which readers tolerate.
        _write_all(fd, payload)
        _os_fsync(fd)
        if created:
            fsync_directory(target.parent)
    except OSError as exc:
        raise RunError(f"could not append to {target}: {_cause(exc)}; {_hint(exc)}") from exc
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
        raise RunError(f"could not read {path}: {_cause(exc)}") from exc


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


def is_temp_file_name(name: str) -> bool:
    """True for names of our temporary files (``.<name>.tmp-<pid>-<random>``)."""
    return name.startswith(".") and TEMP_MARKER in name


def clean_temp_files(directory: StrPath) -> list[Path]:
    """Remove temporary files left by crashed writes in ``directory``; returns what was removed.

    Call it while holding the directory's ``RunLock``: a live writer's temporary file would
    otherwise be pulled from under it.
    """
    root = Path(directory)
    removed: list[Path] = []
    try:
        entries = list(os.scandir(root))
    except FileNotFoundError:
        return removed
    except OSError as exc:
        raise RunError(f"could not list {root}: {_cause(exc)}") from exc
    for entry in entries:
        if not is_temp_file_name(entry.name) or not entry.is_file(follow_symlinks=False):
            continue
        try:
            os.unlink(entry.path)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise RunError(
                f"could not remove the leftover temporary file {entry.path}: {_cause(exc)}"
            ) from exc
        removed.append(root / entry.name)
    return removed


def check_writable(directory: StrPath) -> None:
    """Create ``directory`` if needed and prove we can write there, before any training starts.

    Writes and removes a probe file (the permission bits alone do not tell: root, ACLs,
    read-only mounts, full disks). Raises ``RunError`` naming the directory and the cause.
    """
    root = Path(directory)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:
        raise RunError(
            f"output directory {root} cannot be used: it exists and is not a directory"
        ) from exc
    except OSError as exc:
        raise RunError(
            f"output directory {root} cannot be created: {_cause(exc)}; choose another "
            "output directory"
        ) from exc
    probe = temp_path_for(root / ".mlptrain-probe")
    fd: int | None = None
    try:
        fd = _os_open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        _write_all(fd, b"mlptrain write probe\n")
        _os_fsync(fd)
    except OSError as exc:
        raise RunError(
            f"output directory {root} is not writable: {_cause(exc)}; {_hint(exc)} or choose "
            "another output directory"
        ) from exc
    finally:
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(probe)


class RunLock:
    """Exclusive lock on a run directory (``<dir>/.lock``), held for the life of a run.

    ``fcntl.flock`` belongs to the open file, so the kernel releases it when the process dies,
    even by SIGKILL: a crashed run never leaves its directory locked. The lock file itself is
    never deleted (deleting it would let two processes lock two different inodes); it holds
    the pid of the last holder, shown to anyone who is refused.
    """

    def __init__(self, directory: StrPath) -> None:
        self.directory = Path(directory)
        self.path = self.directory / LOCK_NAME
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> RunLock:
        if self._fd is not None:
            raise RuntimeError(f"{self.path} is already held by this RunLock")
        try:
            fd = _os_open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise RunError(
                f"could not create the lock file {self.path}: {_cause(exc)}; {_hint(exc)}"
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _read_pid(fd)
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise RunError(
                    f"run directory {self.directory} is in use by another mlptrain process "
                    f"(pid {holder}); wait for it to finish, stop it, or choose another output "
                    "directory"
                ) from exc
            raise RunError(
                f"could not lock the run directory {self.directory}: {_cause(exc)}"
            ) from exc
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        except OSError as exc:
            os.close(fd)
            raise RunError(
                f"could not write the lock file {self.path}: {_cause(exc)}; {_hint(exc)}"
            ) from exc
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        # Closing the fd releases the flock; unlocking first makes the order explicit.
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"RunLock({str(self.directory)!r}, held={self.held})"


def _read_pid(fd: int) -> str:
    """The pid the holder wrote into the lock file, or "unknown" (it may not have written yet)."""
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return "unknown"
    return text if text.isdigit() else "unknown"
