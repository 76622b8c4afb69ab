"""The run lock: one mlptrain process per run directory at a time."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from pathlib import Path
from types import TracebackType

from mlptrain.errors import RunError
from mlptrain.store.atomic import StrPath, open_fd, os_error_cause, os_error_hint

LOCK_NAME = ".lock"


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
            fd = open_fd(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise RunError(
                f"could not create the lock file {self.path}: {os_error_cause(exc)}; {os_error_hint(exc)}"
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
                f"could not lock the run directory {self.directory}: {os_error_cause(exc)}"
            ) from exc
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        except OSError as exc:
            os.close(fd)
            raise RunError(
                f"could not write the lock file {self.path}: {os_error_cause(exc)}; {os_error_hint(exc)}"
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
