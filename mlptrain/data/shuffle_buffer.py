"""A bounded shuffle buffer: rows arrive in file order, batches leave in a random order.

Rows are appended as they are read; once the buffer holds ``capacity`` rows it is permuted
with the run's shuffle Generator and full batches leave from its front until fewer than half
of ``capacity`` rows remain (so every batch is drawn from at least half a buffer of rows
that came from far apart in the file). At the end of the stream the remainder is permuted
and leaves as batches too, the last one short. Memory: at most ``capacity`` rows plus one
record batch. The order depends only on the rows, their order, the record batches' sizes, the
capacity and the Generator's state: the same in every run of the same config and seed.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


class ShuffleBuffer:
    """``add(X, y)`` and ``finish()`` yield ``(X_batch, y_batch)`` of ``batch_size`` rows."""

    def __init__(self, capacity: int, batch_size: int, rng: np.random.Generator | None) -> None:
        self.capacity = max(capacity, batch_size)  # a buffer smaller than a batch mixes nothing
        self.batch_size = batch_size
        self.rng = rng  # None: rows leave in file order (train.shuffle: false)
        self._X: list[np.ndarray] = []
        self._y: list[np.ndarray] = []
        self.held = 0

    def _take(self) -> tuple[np.ndarray, np.ndarray]:
        X = self._X[0] if len(self._X) == 1 else np.concatenate(self._X)
        y = self._y[0] if len(self._y) == 1 else np.concatenate(self._y)
        if self.rng is not None:
            order = self.rng.permutation(len(X))
            X, y = X[order], y[order]
        return X, y

    def _batches(
        self, X: np.ndarray, y: np.ndarray, stop: int
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for start in range(0, stop, self.batch_size):
            end = min(start + self.batch_size, stop)
            yield X[start:end], y[start:end]

    def add(self, X: np.ndarray, y: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        if len(X):
            self._X.append(X)
            self._y.append(y)
            self.held += len(X)
        if self.held < self.capacity:
            return
        X_all, y_all = self._take()
        leave = (self.held - self.capacity // 2) // self.batch_size * self.batch_size
        yield from self._batches(X_all, y_all, leave)
        self._X, self._y = [X_all[leave:]], [y_all[leave:]]
        self.held -= leave

    def finish(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        if not self.held:
            return
        X_all, y_all = self._take()
        self._X, self._y, held = [], [], self.held
        self.held = 0
        yield from self._batches(X_all, y_all, held)
