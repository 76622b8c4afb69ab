"""BLAS threads per training step: one for small products, or while a core is lent out."""

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
    ("macs", "core_lent", "inside"),
    [
        (SINGLE_THREAD_MACS - 1, False, {1}),  # small products: one thread
        (SINGLE_THREAD_MACS, False, {2}),  # large ones keep every thread
        (SINGLE_THREAD_MACS * 100, True, {1}),  # the figure worker has the other core
    ],
)
def test_threads_inside_and_after_the_block(
    two_threads: None, macs: int, core_lent: bool, inside: set[int]
) -> None:
    with blas_threads_for(macs, 1, core_lent):
        assert _blas_threads() == inside
    assert _blas_threads() == {2}
