"""The streamed median absolute error's sketch against numpy's exact median."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlptrain.reporting.quantile_sketch import ACCURACY, MedianSketch


def sketched(values: np.ndarray, chunk: int) -> MedianSketch:
    sketch = MedianSketch()
    for start in range(0, len(values), chunk):
        sketch.add(values[start : start + chunk])
    return sketch


@pytest.mark.parametrize(
    "values",
    [
        np.abs(np.random.default_rng(0).normal(size=10_001)),  # odd count
        np.abs(np.random.default_rng(1).normal(size=10_000)),  # even: the mean of two middles
        np.random.default_rng(2).lognormal(0, 8, size=5_000),  # spans ~20 decades
        np.r_[np.zeros(600), np.random.default_rng(3).exponential(size=400)],  # median is 0
        np.r_[np.zeros(500), np.full(500, 7.0)],  # the mean of 0 and 7
        np.array([3.25]),
    ],
)
def test_median_within_the_stated_relative_accuracy(values: np.ndarray) -> None:
    exact = float(np.median(values))
    got = sketched(values, 97).median()
    assert abs(got - exact) <= ACCURACY * exact + 1e-300
    assert sketched(values, 97).n == len(values)


@given(st.lists(st.floats(0, 1e12, allow_nan=False), min_size=1, max_size=300))
def test_any_values_any_order(values: list[float]) -> None:
    array = np.array(values)
    exact = float(np.median(array))
    got = sketched(np.random.default_rng(0).permutation(array), 13).median()
    assert abs(got - exact) <= ACCURACY * exact * (1 + 1e-12)


def test_chunks_do_not_change_the_counts() -> None:
    values = np.random.default_rng(4).gamma(2.0, size=3000)
    assert sketched(values, 1).buckets == sketched(values, 3000).buckets


def test_nothing_counted_is_nan() -> None:
    assert math.isnan(MedianSketch().median())
