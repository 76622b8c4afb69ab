"""A bounded shuffle buffer: rows arrive in file order, batches leave in a random order.

The buffer is one array of ``capacity`` rows, allocated once. Until it is full, arriving rows
fill it. Then each arriving block of m rows takes the place of m rows drawn at random (without
replacement, by the run's shuffle Generator) from the buffer, and those m rows leave, in the
order drawn; they go out as batches of ``batch_size`` (a short tail waits for the next block).
At the end of the stream the rows held leave in a random order, the last batch short. A row
thus leaves after a random wait that reaches far back into the file (what tf.data's shuffle
buffer does), each row is copied in once and out once, and memory is ``capacity`` rows plus
one block. The order depends only on the rows, their order, the blocks' sizes, the capacity
and the Generator's state: the same in every run of the same config and seed.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

Pair = tuple[np.ndarray, np.ndarray]


class ShuffleBuffer:
    """``add(X, y)`` and ``finish()`` yield ``(X_batch, y_batch)`` of ``batch_size`` rows."""

    def __init__(self, capacity: int, batch_size: int, rng: np.random.Generator | None) -> None:
        self.capacity = max(capacity, batch_size)  # a buffer smaller than a batch mixes nothing
        self.batch_size = batch_size
        self.rng = rng  # None: rows leave in file order (train.shuffle: false)
        self._X: np.ndarray | None = None
        self._y: np.ndarray | None = None
        self.held = 0  # rows in the buffer (then ``capacity`` once it filled)
        self._tail: Pair | None = None  # rows that left but do not fill a batch yet

    def _emit(self, X: np.ndarray, y: np.ndarray, final: bool) -> Iterator[Pair]:
        if self._tail is not None:
            # the tail and the first rows that complete its batch are joined, not the whole
            # block (a copy of every leaving row took a quarter of a streamed epoch's buffer time)
            tail_X, tail_y = self._tail
            self._tail = None
            need = self.batch_size - len(tail_y)
            if len(y) < need and not final:
                self._tail = (np.concatenate([tail_X, X]), np.concatenate([tail_y, y]))
                return
            yield np.concatenate([tail_X, X[:need]]), np.concatenate([tail_y, y[:need]])
            X, y = X[need:], y[need:]
        full = len(X) if final else len(X) // self.batch_size * self.batch_size
        for start in range(0, full, self.batch_size):
            yield X[start : start + self.batch_size], y[start : start + self.batch_size]
        if full < len(X):
            self._tail = (X[full:], y[full:])

    def add(self, X: np.ndarray, y: np.ndarray) -> Iterator[Pair]:
        if self.rng is None:  # no shuffling: the rows leave as they came
            yield from self._emit(X, y, final=False)
            return
        if self._X is None:
            self._X = np.empty((self.capacity, *X.shape[1:]), X.dtype)
            self._y = np.empty((self.capacity, *y.shape[1:]), y.dtype)
        assert self._y is not None
        fill = min(self.capacity - self.held, len(X))
        self._X[self.held : self.held + fill] = X[:fill]
        self._y[self.held : self.held + fill] = y[:fill]
        self.held += fill
        X, y = X[fill:], y[fill:]
        while len(X):  # the buffer is full: each arriving row replaces one drawn at random
            m = min(len(X), self.capacity)
            slots = self.rng.permutation(self.capacity)[:m]
            leaving = self._X[slots], self._y[slots]
            self._X[slots], self._y[slots] = X[:m], y[:m]
            X, y = X[m:], y[m:]
            yield from self._emit(*leaving, final=False)

    def finish(self) -> Iterator[Pair]:
        if self.rng is None or self._X is None or self._y is None:
            if self._tail is not None:
                yield from self._emit(self._tail[0][:0], self._tail[1][:0], final=True)
            return
        order = self.rng.permutation(self.held)
        X, y = self._X[: self.held][order], self._y[: self.held][order]
        self._X = self._y = None
        self.held = 0
        yield from self._emit(X, y, final=True)
