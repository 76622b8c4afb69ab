"""The median of non-negative numbers seen batch by batch, to a stated relative accuracy.

A streamed split is never held whole, so its median absolute error cannot be sorted out of
the rows. This is the sketch of DDSketch (Masson, Rim and Lee, "DDSketch: a fast and
fully-mergeable quantile sketch with relative-error guarantees", VLDB 2019): a value
``x > 0`` is counted in bucket ``i = ceil(log(x) / log(gamma))`` with
``gamma = (1 + a) / (1 - a)``, so the bucket holds the values in ``(gamma^(i-1), gamma^i]``;
its representative ``2 gamma^i / (gamma + 1)`` lies within a relative ``a`` of every one of
them. The median read from the counts is therefore within ``a`` (relative) of the exact
median, and the memory is one count per occupied bucket: at most ``log(max / min) /
log(gamma)`` of them (about 23,000 for values spanning 1e-10 to 1e10 at ``a = 0.001``),
whatever the number of rows. Zeros are counted apart and are exact.
"""

from __future__ import annotations

import math

import numpy as np

ACCURACY = 1e-3  # relative: the streamed median absolute error is within 0.1% of the exact one


class MedianSketch:
    """``add`` non-negative values, then ``median()`` within ``accuracy`` (relative)."""

    def __init__(self, accuracy: float = ACCURACY) -> None:
        self.accuracy = accuracy
        self.gamma = (1 + accuracy) / (1 - accuracy)
        self._log_gamma = math.log(self.gamma)
        self.zeros = 0
        self.buckets: dict[int, int] = {}

    @property
    def n(self) -> int:
        return self.zeros + sum(self.buckets.values())

    def add(self, values: np.ndarray) -> None:
        values = np.asarray(values, dtype=np.float64).ravel()
        positive = values[values > 0]
        self.zeros += len(values) - len(positive)
        index = np.ceil(np.log(positive) / self._log_gamma).astype(np.int64)
        for i, count in zip(*np.unique(index, return_counts=True), strict=True):
            self.buckets[int(i)] = self.buckets.get(int(i), 0) + int(count)

    def median(self) -> float:
        """As ``numpy.median``: the middle value, or the mean of the two middle values."""
        n = self.n
        if n == 0:
            return math.nan
        low, high = self._value_at((n - 1) // 2), self._value_at(n // 2)
        return (low + high) / 2  # each within `accuracy`, so is their mean

    def _value_at(self, rank: int) -> float:
        """The representative of the value at 0-based ``rank`` in sorted order."""
        if rank < self.zeros:
            return 0.0
        seen = self.zeros
        for i in sorted(self.buckets):
            seen += self.buckets[i]
            if rank < seen:
                return 2 * self.gamma**i / (self.gamma + 1)
        raise AssertionError("rank beyond the counted values")  # unreachable: rank < n
