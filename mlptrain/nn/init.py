"""Weight initialisation from an explicit, seeded ``numpy.random.Generator``.

He (Kaiming) keeps the variance of activations constant through ReLU-family layers, which
zero half their input: Var(W) = 2 / fan_in. Glorot balances forward and backward variance for
symmetric activations (tanh, sigmoid, identity): U(-a, a) with a = sqrt(6 / (fan_in + fan_out)).
Weights are drawn in float64 and cast, so a float32 and a float64 run start from the same values.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

InitFn = Callable[[np.random.Generator, int, int, np.dtype], np.ndarray]


def he_normal(rng: np.random.Generator, fan_in: int, fan_out: int, dtype: np.dtype) -> np.ndarray:
    """W ~ N(0, 2 / fan_in), shape (fan_in, fan_out)."""
    std = np.sqrt(2.0 / fan_in)
    return (rng.standard_normal((fan_in, fan_out)) * std).astype(dtype, copy=False)


def glorot_uniform(
    rng: np.random.Generator, fan_in: int, fan_out: int, dtype: np.dtype
) -> np.ndarray:
    """W ~ U(-a, a), a = sqrt(6 / (fan_in + fan_out)), shape (fan_in, fan_out)."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=(fan_in, fan_out)).astype(dtype, copy=False)


INITIALIZERS: dict[str, InitFn] = {"he": he_normal, "glorot": glorot_uniform}
