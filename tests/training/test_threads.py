"""BLAS threads per training step: one for small products, every one for large ones."""

from __future__ import annotations

import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from mlptrain.training.threads import SINGLE_THREAD_MACS, blas_threads_for


def _blas_threads() -> set[int]:
    return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}


@pytest.fixture
def two_threads():
    if not _blas_threads():
        pytest.skip("numpy reports no BLAS thread pool here")
    with threadpool_limits(limits=2, user_api="blas"):
        if _blas_threads() != {2}:
            pytest.skip("this BLAS cannot run two threads here")
        yield


@pytest.mark.parametrize(
    ("n_params", "batch_size", "inside"),
    [
        (50_826, 64, {1}),  # W1, digits 64-256-128-10: 3.3M multiply-adds, one thread
        (SINGLE_THREAD_MACS - 1, 1, {1}),
        (SINGLE_THREAD_MACS, 1, {2}),
        (199_946, 256, {2}),  # W2, 128-512-256-10 at batch 256: 51M, every thread
    ],
)
def test_threads_inside_and_after_the_block(
    two_threads: None, n_params: int, batch_size: int, inside: set[int]
) -> None:
    with blas_threads_for(n_params, batch_size):
        assert _blas_threads() == inside
    assert _blas_threads() == {2}
