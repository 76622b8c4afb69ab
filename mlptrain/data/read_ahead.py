"""An iterator run in a thread of its own, a bounded number of items ahead of its consumer.

A streamed epoch reads, converts, places and encodes record batches and shuffles their rows
(pyarrow and NumPy's large operations release the GIL) while the training loop runs its steps
on the previous ones: on two cores the two overlap. The items arrive in the order the iterator
made them, and the iterator alone touches what it uses (the shuffle Generator included), so
what the consumer sees is exactly what a plain loop over the iterator gives: same batches,
same order, same Generator state when it ends. An exception in the thread is raised in the
consumer at the point it happened; a consumer that stops early (a stop signal mid-epoch)
stops the thread and waits for it, so nothing runs on behind its back.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")

_END = object()
_POLL = 0.1  # seconds: how often a blocked producer looks whether the consumer left


def read_ahead(items: Iterator[T], depth: int) -> Iterator[T]:
    """``items``, produced in a thread at most ``depth`` items ahead (depth >= 1)."""
    ready: queue.Queue[object] = queue.Queue(maxsize=max(depth, 1))
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            put(_Raised(exc))
            return
        finally:
            close = getattr(items, "close", None)
            if close is not None and stop.is_set():
                close()
        put(_END)

    worker = threading.Thread(target=produce, name="mlptrain-read-ahead", daemon=True)
    worker.start()
    try:
        while True:
            item = ready.get()
            if item is _END:
                break
            if isinstance(item, _Raised):
                raise item.exc
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        worker.join()


class _Raised:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc
