"""How many BLAS threads a training step should use (docs/performance.md#blas-threads).

Small matrix products (the digits MLP: 64 x 64 x 256) finish faster on one thread than the
time it takes to wake a second one and split the work; with 2 cores that are also shared,
OpenBLAS's spinning worker threads can make a small-batch epoch several times slower. Large
products (batch 256 and up on hundreds of units) do gain from every core. The switch is by the
multiply-adds of one forward pass: batch_size x number of parameters.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

# Below this many multiply-adds per forward pass, one BLAS thread. W1 (digits 64-256-128-10,
# batch 64: 3.3M) ran 10-15% faster on 2 threads on the idle 2-core machine, but next to a
# process using both cores OpenBLAS's second thread spins waiting for a core and an epoch
# took many times longer (docs/performance.md#blas-threads); W2 (128-512-256-10, batch 256:
# 51M) gains from every core. The count must not follow the machine's load instead: float32
# products on 1 and on 2 OpenBLAS threads differ in the last bits (its single-threaded small-
# matrix kernels), and the same config must give the same weights whatever else runs.
SINGLE_THREAD_MACS = 10_000_000

_controller: Any = None


def _blas_controller() -> Any:
    global _controller
    if _controller is None:
        from threadpoolctl import ThreadpoolController  # a declared dependency

        _controller = ThreadpoolController()
    return _controller


def on_every_core(n_params: int, batch_size: int) -> bool:
    """Whether training steps of this size run BLAS on every core (else on one thread)."""
    return batch_size * n_params >= SINGLE_THREAD_MACS


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """Every BLAS loaded so far on one thread inside the block. A controller of its own: the
    shared one (``_blas_controller``) is made when training starts, so that it knows the
    libraries that preparing the data loaded (scikit-learn brings SciPy's OpenBLAS)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


@contextlib.contextmanager
def blas_threads_for(n_params: int, batch_size: int) -> Iterator[None]:
    """Limit BLAS to one thread inside the block when the per-batch work is small."""
    if on_every_core(n_params, batch_size):
        yield
        return
    with _blas_controller().limit(limits=1, user_api="blas"):
        yield
