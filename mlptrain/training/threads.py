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

# Below this many multiply-adds per forward pass, one BLAS thread is faster. Measured on the
# 2-core benchmark machine when idle: W1 (3.3M) runs 10-15% faster on 2 threads, so only
# smaller products (iris, wine: under 0.1M) go single-threaded. On a machine shared with other
# jobs one thread wins by far more (W1 1.5-4x, docs/performance.md): set OPENBLAS_NUM_THREADS=1.
SINGLE_THREAD_MACS = 1_000_000

_controller: Any = None


def _blas_controller() -> Any:
    global _controller
    if _controller is None:
        from threadpoolctl import ThreadpoolController  # a declared dependency

        _controller = ThreadpoolController()
    return _controller


@contextlib.contextmanager
def blas_threads_for(n_params: int, batch_size: int, core_lent: bool = False) -> Iterator[None]:
    """Limit BLAS to one thread inside the block when the per-batch work is small, or when
    ``core_lent``: another process of the same fit (the figure worker) has a core to itself,
    and a second BLAS thread would only fight it for that core."""
    if batch_size * n_params >= SINGLE_THREAD_MACS and not core_lent:
        yield
        return
    with _blas_controller().limit(limits=1, user_api="blas"):
        yield
