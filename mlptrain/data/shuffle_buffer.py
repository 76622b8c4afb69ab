"""A bounded shuffle buffer: rows arrive in file order, batches leave in a random order.

The buffer is one array of ``capacity`` rows per part of a row (features and targets, or a
compact encoded row's parts), allocated once. Until it is full, arriving rows
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

Rows = tuple[np.ndarray, ...]  # arrays of the same rows: (X, y), or a coded row's parts


class ShuffleBuffer:
    """``add(*arrays)`` and ``finish()`` yield tuples of ``batch_size`` rows of each array
    (``add(X, y)`` yields ``(X_batch, y_batch)``). The arrays are the parts of one row: a
    streamed run passes the compact encoded rows (numeric block, category codes, gap
    indicators, targets; ``mlptrain.data.coded``), about a tenth of the dense row's bytes, so
    that copying rows in and out moves little memory; they are expanded a batch at a time."""

    def __init__(self, capacity: int, batch_size: int, rng: np.random.Generator | None) -> None:
        self.capacity = max(capacity, batch_size)  # a buffer smaller than a batch mixes nothing
        self.batch_size = batch_size
        self.rng = rng  # None: rows leave in file order (train.shuffle: false)
        self._held: list[np.ndarray] | None = None
        self.held = 0  # rows in the buffer (then ``capacity`` once it filled)
        self._tail: Rows | None = None  # rows that left but do not fill a batch yet

    def _emit(self, rows: Rows, final: bool) -> Iterator[Rows]:
        if self._tail is not None:
            # the tail and the first rows that complete its batch are joined, not the whole
            # block (a copy of every leaving row took a quarter of a streamed epoch's buffer time)
            tail = self._tail
            self._tail = None
            need = self.batch_size - len(tail[0])
            if len(rows[0]) < need and not final:
                self._tail = tuple(np.concatenate([t, a]) for t, a in zip(tail, rows, strict=True))
                return
            yield tuple(np.concatenate([t, a[:need]]) for t, a in zip(tail, rows, strict=True))
            rows = tuple(a[need:] for a in rows)
        n = len(rows[0])
        full = n if final else n // self.batch_size * self.batch_size
        for start in range(0, full, self.batch_size):
            yield tuple(a[start : start + self.batch_size] for a in rows)
        if full < n:
            self._tail = tuple(a[full:] for a in rows)

    def add(self, *arrays: np.ndarray) -> Iterator[Rows]:
        if self.rng is None:  # no shuffling: the rows leave as they came
            yield from self._emit(arrays, final=False)
            return
        if self._held is None:
            self._held = [np.empty((self.capacity, *a.shape[1:]), a.dtype) for a in arrays]
        held = self._held
        fill = min(self.capacity - self.held, len(arrays[0]))
        for h, a in zip(held, arrays, strict=True):
            h[self.held : self.held + fill] = a[:fill]
        self.held += fill
        arrays = tuple(a[fill:] for a in arrays)
        while len(arrays[0]):  # the buffer is full: each arriving row replaces one drawn at random
            m = min(len(arrays[0]), self.capacity)
            slots = self.rng.permutation(self.capacity)[:m]
            leaving = tuple(h[slots] for h in held)
            for h, a in zip(held, arrays, strict=True):
                h[slots] = a[:m]
            arrays = tuple(a[m:] for a in arrays)
            yield from self._emit(leaving, final=False)

    def finish(self) -> Iterator[Rows]:
        if self.rng is None or self._held is None:
            if self._tail is not None:
                yield from self._emit(tuple(t[:0] for t in self._tail), final=True)
            return
        order = self.rng.permutation(self.held)
        rows = tuple(h[: self.held][order] for h in self._held)
        self._held = None
        self.held = 0
        yield from self._emit(rows, final=True)
