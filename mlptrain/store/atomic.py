"""Crash-safe file writes: every file mlptrain writes goes through here.

A whole-file write goes to a temporary file in the same directory, is fsynced, then renamed over
the target (``os.replace`` is atomic within one file system), then the directory is fsynced so
the rename itself survives a power cut. A reader therefore sees either the old file or the new
one, never a mixture. The metrics log (mlptrain.store.jsonl) and the run lock
(mlptrain.store.lock) build on the helpers here.

The low-level calls go through the module-level names ``_os_open``, ``_os_write``, ``_os_fsync``
and ``_os_replace`` (also behind ``open_fd``, ``write_all`` and ``fsync_fd``, which the other
store modules use) so tests can inject faults (ENOSPC, EIO, EACCES) with ``monkeypatch``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from mlptrain.errors import RunError

StrPath = str | os.PathLike[str]
_T = TypeVar("_T")

# Indirections for fault injection in tests; always look them up at call time.
_os_open = os.open
_os_write = os.write
_os_fsync = os.fsync
_os_replace = os.replace

TEMP_MARKER = ".tmp-"

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


def os_error_cause(exc: OSError) -> str:
    """``os.strerror`` of the error number, falling back to the text of errno-less errors."""
    return os.strerror(exc.errno) if exc.errno else str(exc)


def os_error_hint(exc: OSError) -> str:
    """What the user can do about an OSError from writing."""
    return _HINTS.get(exc.errno or 0, "check the disk and the output directory")


def temp_path_for(path: StrPath) -> Path:
    """The temporary sibling ``.<name>.tmp-<pid>-<random>`` a write of ``path`` goes through.

    Same directory as the target so ``os.replace`` never crosses file systems; pid and random
    suffix so two writers (or a leftover from a crashed run) never collide.
    """
    target = Path(path)
    return target.with_name(f".{target.name}{TEMP_MARKER}{os.getpid()}-{secrets.token_hex(4)}")


def open_fd(path: StrPath, flags: int, mode: int = 0o666) -> int:
    """``os.open`` through the fault-injection indirection."""
    return _os_open(path, flags, mode)


def fsync_fd(fd: int) -> None:
    """``os.fsync`` through the fault-injection indirection."""
    _os_fsync(fd)


def write_all(fd: int, data: bytes | memoryview) -> None:
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
    with atomic_writer(path) as write:
        write(data)


@contextlib.contextmanager
def atomic_writer(path: StrPath) -> Iterator[Callable[[bytes], None]]:
    """``atomic_write_bytes`` of a file written piece by piece (one too large to hold, such as
    a streamed cross-validation's oof.csv): ``write`` each piece inside the block; the file
    replaces ``path`` only when the block ends without an error, else the temporary file is
    removed and the previous file is left as it was.

    Only this file's own creation, writes, flush and rename are reported as failures to write
    it (``RunError``); an OSError the block raises itself (reading another file, say) passes
    through unchanged, for the caller to name.
    """
    target = Path(path)
    temp = temp_path_for(target)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    fd: int | None = None
    replaced = False
    try:
        fd = _writing(target, "creating a temporary file for", _os_open, temp, flags, 0o666)
        opened = fd
        yield lambda data: _writing(target, "writing", write_all, opened, data)
        _writing(target, "flushing (fsync)", _os_fsync, fd)
        _writing(target, "flushing (fsync)", os.close, fd)
        fd = None
        _writing(target, "renaming the temporary file over", _os_replace, temp, target)
        replaced = True
    finally:
        if not replaced:
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(temp)
    try:
        fsync_directory(target.parent)
    except OSError as exc:
        raise RunError(
            f"could not write {target}: {os_error_cause(exc)} (while flushing its directory); "
            f"the new file may not survive a power cut; {os_error_hint(exc)}"
        ) from exc


def _writing(target: Path, stage: str, call: Callable[..., _T], *args: Any) -> _T:
    """``call(*args)``, one step of writing ``target``: its OSError as the RunError naming
    the file, the step and what to do."""
    try:
        return call(*args)
    except OSError as exc:
        raise RunError(
            f"could not write {target}: {os_error_cause(exc)} (while {stage} it); "
            f"{os_error_hint(exc)}; the previous file, if any, is unchanged"
        ) from exc


def atomic_write_text(path: StrPath, text: str) -> None:
    """``atomic_write_bytes`` of ``text`` as UTF-8, newlines written as given (no translation)."""
    atomic_write_bytes(path, text.encode("utf-8"))


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
        raise RunError(f"could not list {root}: {os_error_cause(exc)}") from exc
    for entry in entries:
        if not is_temp_file_name(entry.name) or not entry.is_file(follow_symlinks=False):
            continue
        try:
            os.unlink(entry.path)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise RunError(
                f"could not remove the leftover temporary file {entry.path}: {os_error_cause(exc)}"
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
            f"output directory {root} cannot be created: {os_error_cause(exc)}; choose another "
            "output directory"
        ) from exc
    probe = temp_path_for(root / ".mlptrain-probe")
    fd: int | None = None
    try:
        fd = _os_open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        write_all(fd, b"mlptrain write probe\n")
        _os_fsync(fd)
    except OSError as exc:
        raise RunError(
            f"output directory {root} is not writable: {os_error_cause(exc)}; {os_error_hint(exc)} or choose "
            "another output directory"
        ) from exc
    finally:
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(probe)
