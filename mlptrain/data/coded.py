"""An encoded table kept small: its one-hot columns as integer codes, expanded rows at a time.

``TableEncoder.encode`` returns a ``CodedMatrix``: the numeric block (scaled numeric columns,
date parts) dense in the training dtype, each categorical column as the one-hot position of
its row's category (``uint8``/``uint16``/``int32`` by the column's width; the width itself
stands for "no column", an unseen category with infrequent folding off), and the gap
indicators as booleans. For the 1M-row, 31-column benchmark table that is about 110 MB where
the dense float32 matrix is about 1.4 GB (benchmarks/tables.py).

Rows are expanded to exactly the dense matrix ``TableEncoder.transform`` returns (the same
values written the same way: numeric cells rounded once from float64, ones and zeros), so a
mini-batch, and the first layer's output on it, are the same to the last bit
(tests/data/test_coded.py). Whole-split predictions go through ``in_chunks``: one call on the
whole dense split when it takes at most ``CHUNK_BYTES`` (the matrix product then sees exactly
the matrix it saw before), else chunks of that size, so that nothing holds a large table's
dense matrix. A BLAS matrix product's rows are not independent of the number of rows it is
given (its kernels and threads split M differently), so predictions on a split above that size
may differ from a single product in the last bit; each is still the same from run to run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

# A whole-split prediction expands at most this many bytes of the dense matrix at a time.
CHUNK_BYTES = 64 * 2**20


def code_dtype(width: int) -> np.dtype:
    """The smallest unsigned (or int32) dtype holding the codes 0..width (width: no column)."""
    for dtype in (np.uint8, np.uint16):
        if width <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    return np.dtype(np.int32)


@dataclass
class CodedMatrix:
    """``numeric`` (n, k) in the training dtype; ``codes[j]`` (n,) the one-hot position of
    categorical column j within its ``widths[j]`` columns (``widths[j]``: none);
    ``indicators`` (n, p) bool. The dense matrix is numeric | one-hot blocks | indicators."""

    numeric: np.ndarray
    codes: list[np.ndarray]
    widths: list[int]
    indicators: np.ndarray

    ndim = 2

    @property
    def dtype(self) -> np.dtype:
        return self.numeric.dtype

    @property
    def shape(self) -> tuple[int, int]:
        return (
            len(self.numeric),
            self.numeric.shape[1] + sum(self.widths) + self.indicators.shape[1],
        )

    def __len__(self) -> int:
        return len(self.numeric)

    @property
    def nbytes(self) -> int:
        """Bytes held (not those of the dense matrix)."""
        return self.numeric.nbytes + sum(c.nbytes for c in self.codes) + self.indicators.nbytes

    def rows(self, index: np.ndarray | slice | None, out: np.ndarray | None = None) -> np.ndarray:
        """The dense encoded rows ``index`` (row indices, a slice, or None: every row), written
        into ``out`` when given (C-contiguous, shape (rows, width), the matrix's dtype)."""
        every = slice(None) if index is None else index
        numeric = self.numeric[every]
        if out is None:
            out = np.empty((len(numeric), self.shape[1]), dtype=self.dtype)
        k, width = self.numeric.shape[1], out.shape[1]
        end = k + sum(self.widths)
        out[:, :k] = numeric
        out[:, k:end] = 0
        if self.codes:
            # every categorical column's one at once: its position in the row, where the
            # code names a column (a code equal to the width names none)
            codes = np.stack([c[every] for c in self.codes], axis=1).astype(np.intp)
            starts, sizes = self._layout()
            hot = codes < sizes
            rows = np.arange(0, out.size, width, dtype=np.intp)[:, None]
            out.reshape(-1)[(rows + starts + codes)[hot]] = 1  # a view: ``out`` is C-contiguous
        out[:, end:] = self.indicators[every]
        return out

    def _layout(self) -> tuple[np.ndarray, np.ndarray]:
        """Each categorical column's first position in a dense row, and its width."""
        sizes = np.asarray(self.widths, dtype=np.intp)
        starts = self.numeric.shape[1] + np.cumsum(sizes) - sizes
        return starts, sizes

    def __getitem__(self, key: Any) -> np.ndarray:
        """Dense rows: ``X[rows]``, ``X[:n]``, as an array's rows."""
        if isinstance(key, slice):
            return self.rows(np.arange(len(self))[key])
        index = np.asarray(key)
        if index.dtype == bool:
            index = np.flatnonzero(index)
        return self.rows(index.astype(np.intp, copy=False).reshape(-1))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        dense = self.rows(None)
        return dense if dtype is None else dense.astype(dtype, copy=False)

    def chunk_rows(self) -> int:
        """Rows per chunk of ``in_chunks``: as many as fit in ``CHUNK_BYTES`` of dense rows."""
        row_bytes = max(self.shape[1], 1) * self.dtype.itemsize
        return max(1, CHUNK_BYTES // row_bytes)

    def chunks(self) -> Iterator[np.ndarray]:
        """The dense matrix, ``chunk_rows`` rows at a time, in order, each written into the same
        buffer: use a chunk before asking for the next."""
        size = min(self.chunk_rows(), len(self))
        buffer = np.empty((size, self.shape[1]), dtype=self.dtype)
        for start in range(0, len(self), size):
            stop = min(start + size, len(self))
            yield self.rows(slice(start, stop), buffer[: stop - start])


def take_rows(X: Any, index: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Rows ``index`` of ``X`` (an array or a ``CodedMatrix``) into ``out``; ``index`` holds
    valid non-negative row numbers (a batch of a permutation)."""
    if isinstance(X, CodedMatrix):
        return X.rows(index, out)
    # mode="clip": with the default "raise", take copies through a temporary buffer when
    # given ``out`` (its documentation says so): 512 rows of 784 float32, 340 -> 120 us.
    return np.take(X, index, axis=0, out=out, mode="clip")


def in_chunks(fn: Callable[[np.ndarray], np.ndarray], X: Any) -> np.ndarray:
    """``fn`` (a row-wise prediction) of ``X``: an array is passed as it is, a ``CodedMatrix``
    in dense chunks of at most ``CHUNK_BYTES`` whose results are stacked in order."""
    if not isinstance(X, CodedMatrix):
        return fn(X)
    if len(X) <= X.chunk_rows():
        return fn(X.rows(None))
    parts = []
    for chunk in X.chunks():
        part = fn(chunk)
        # the chunks share one buffer: a result that is (a view of) it is copied out
        parts.append(part.copy() if np.may_share_memory(part, chunk) else part)
    return np.concatenate(parts, axis=0)
