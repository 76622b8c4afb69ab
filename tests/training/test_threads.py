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


def test_data_is_prepared_on_one_blas_thread_with_the_same_values(
    two_threads: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A generator's few small products gain nothing from a second OpenBLAS thread, which
    only waits for a core once another process (MLflow's tracker) holds it; the generated
    values do not depend on it (W2's generator, against scikit-learn's default threads)."""
    import numpy as np
    from sklearn.datasets import make_classification

    import mlptrain.data as data_module
    from mlptrain.config import parse_config_dict
    from mlptrain.training.setup import prepare_data

    seen: list[set[int]] = []
    real = data_module.prepare

    def watched(*args: object, **kwargs: object) -> object:
        result = real(*args, **kwargs)  # numpy's BLAS, and SciPy's if scikit-learn loaded it
        seen.append(_blas_threads())
        return result

    monkeypatch.setattr(data_module, "prepare", watched)
    params = {"n_samples": 2000, "n_features": 64, "n_informative": 32, "n_classes": 10}
    raw = {
        "data": {"dataset": "classification", "params": params, "scale": "none",
                 "test_size": 0.0, "val_size": 0.0},
        "model": {"layers": [{"type": "linear"}]},
        "train": {"dtype": "float64", "early_stopping": None},
    }  # fmt: skip
    prepared = prepare_data(parse_config_dict(raw, source="test"))
    assert seen == [{1}] and _blas_threads() == {2}
    X, _ = make_classification(random_state=0, **params)
    np.testing.assert_array_equal(np.sort(prepared.train.X, axis=0), np.sort(X, axis=0))
