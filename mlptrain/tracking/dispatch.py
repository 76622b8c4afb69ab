"""Off-thread delivery of tracking events: one daemon thread and one bounded queue per tracker.

The training thread only ever calls :meth:`Dispatcher.send`, which never blocks: when the
queue is full the tracker is too slow, so it is switched off (one warning) instead of making
training wait. The first exception a tracker raises switches it off the same way; the run
itself never sees it. :meth:`Dispatcher.close` waits a bounded time for the queue to drain.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

QUEUE_SIZE = 256  # events (about one per epoch, plus histograms): far behind means stalled
CLOSE_SECONDS = 60.0  # how long the end of a run waits for a tracker to deliver what is queued

_STOP = object()


class RemoteError(Exception):
    """An error a tracker raised in its own process (mlptrain.tracking.remote); ``str`` is
    its one line already."""


def one_line(exc: BaseException) -> str:
    """An exception as one short line: its type and the first line of its message (a
    tracker's process sends its error as that line already)."""
    if isinstance(exc, RemoteError):
        return str(exc)
    text = str(exc).strip().splitlines()
    message = text[0] if text else ""
    if len(message) > 300:
        message = message[:297] + "..."
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _close(sink: Any) -> None:
    """End a tracker that holds a process (``RemoteTracker``); others have nothing to end."""
    close = getattr(sink, "close", None)
    if close is not None:
        with contextlib.suppress(Exception):
            close()


class Dispatcher:
    """Calls ``sink.<method>(*args)`` in a background thread, in the order sent.

    ``name`` names the tracker in the warning; ``warn`` receives that one line.
    """

    def __init__(
        self,
        name: str,
        sink: Any,
        warn: Callable[[str], None],
        *,
        maxsize: int = QUEUE_SIZE,
    ) -> None:
        self.name = name
        self.sink = sink
        self.warn = warn
        self.error: str | None = None
        self.dropped = 0
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=maxsize)
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._work, name=f"mlptrain-{name}", daemon=True)
        self._thread.start()

    @property
    def ok(self) -> bool:
        return self.error is None

    def send(self, method: str, *args: Any) -> None:
        """Queue one call; never blocks and never raises."""
        if self.error is not None:
            self.dropped += 1
            return
        try:
            self._queue.put_nowait((method, args))
        except queue.Full:
            self.dropped += 1
            self._fail(f"too slow: {self._queue.maxsize} events waiting; the rest are dropped")

    def drain(self, timeout: float) -> bool:
        """Wait until every queued event is handled (or ``timeout`` s); True when drained."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and self._thread.is_alive():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    def close(self, timeout: float = CLOSE_SECONDS) -> None:
        """Deliver what is queued (at most ``timeout`` s), then stop the thread."""
        deadline = time.monotonic() + timeout
        with contextlib.suppress(queue.Full):
            self._queue.put((_STOP, ()), timeout=timeout)
        self._thread.join(max(0.0, deadline - time.monotonic()))
        if self._thread.is_alive() and self.error is None:
            self._fail(f"still sending after {timeout:g} s; gave up on the rest")

    def _fail(self, cause: str) -> None:
        with self._lock:
            if self.error is not None:
                return
            self.error = cause
        self.warn(f"{self.name} tracking stopped ({cause}); the run goes on without it")

    def _work(self) -> None:
        while True:
            method, args = self._queue.get()
            try:
                if method is _STOP:
                    _close(self.sink)
                    return
                if self.error is None:
                    getattr(self.sink, method)(*args)
            except Exception as exc:  # a tracker's failure must never reach training
                self._fail(one_line(exc))
            finally:
                self._queue.task_done()
