"""Element-wise activations (docs/derivations.md#activations).

Where the derivative is a function of the output (sigmoid, tanh) the output is what we cache:
it is needed anyway and saves recomputing exponentials in backward.
"""

from __future__ import annotations

import numpy as np

from mlptrain.nn.module import Module, read_only


class Identity(Module):
    """y = x; dL/dx = dL/dy. Caches nothing (the derivative is 1 everywhere)."""

    def __init__(self) -> None:
        super().__init__()
        self._seen = False  # whether a caching forward ran, so backward may follow

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._seen = self.caching
        return x

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        if not self._seen:
            raise self._missing_cache()
        return grad_out

    def clear_cache(self) -> None:
        self._seen = False


class ReLU(Module):
    """y = max(0, x); dL/dx = dL/dy · [y > 0].

    The derivative at exactly 0 is undefined; we use 0 there (a subgradient), as the seed
    post's "0 otherwise" intends (docs/derivations.md#activations). The mask [x > 0] is cached for backward.
    """

    def __init__(self) -> None:
        super().__init__()
        self._mask: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        if not self.caching:
            self._mask = None
            return np.maximum(x, 0)
        # Output and mask live in buffers reused per batch shape; the input is not touched.
        y = np.maximum(x, 0, out=self._buffer("y", x.shape, x.dtype))
        self._mask = np.greater(x, 0, out=self._buffer("mask", x.shape, np.dtype(bool)))
        return y

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        if self._mask is None:
            raise self._missing_cache()
        # One pass: dL/dy · [x > 0]. In the training loop (reuse_outputs) the incoming
        # gradient is a buffer of the module after this one (or the loss's), consumed here
        # and by no one else, so it is overwritten in place: half the memory traffic of
        # writing a second buffer (512 x 1024 float32: 110 instead of 225 us). Otherwise the
        # caller's array is left alone.
        out = grad_out if self.reuses_outputs else np.empty_like(grad_out)
        return np.multiply(grad_out, self._mask, out=out)

    def clear_cache(self) -> None:
        self._mask = None

    def inspect_cache(self) -> dict[str, np.ndarray]:
        return {} if self._mask is None else {"active": read_only(self._mask)}


class LeakyReLU(Module):
    """y = x if x > 0 else a·x; dL/dx = dL/dy · (1 if x > 0 else a)."""

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        if negative_slope < 0:
            raise ValueError(f"negative_slope must be >= 0, got {negative_slope}")
        self.negative_slope = negative_slope
        self._positive: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        positive = x > 0
        y = np.where(positive, x, x * x.dtype.type(self.negative_slope))
        self._positive = positive if self.caching else None
        return y

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        if self._positive is None:
            raise self._missing_cache()
        slope = grad_out.dtype.type(self.negative_slope)
        return np.where(self._positive, grad_out, grad_out * slope)

    def clear_cache(self) -> None:
        self._positive = None

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


def stable_sigmoid(x: np.ndarray) -> np.ndarray:
    """σ(x) without overflow: exp is only ever taken of -|x| <= 0.

    For x >= 0, σ = 1 / (1 + e^{-x}); for x < 0 the same value is e^{x} / (1 + e^{x})
    (multiply top and bottom by e^{x}), which never exponentiates a large positive number.
    """
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


class Sigmoid(Module):
    """y = σ(x) = 1 / (1 + e^{-x}); dL/dx = dL/dy · y (1 - y)."""

    def __init__(self) -> None:
        super().__init__()
        self._y: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        y = stable_sigmoid(x)
        self._y = y if self.caching else None
        return y

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        if self._y is None:
            raise self._missing_cache()
        y = self._y
        return grad_out * y * (1 - y)

    def clear_cache(self) -> None:
        self._y = None

    def inspect_cache(self) -> dict[str, np.ndarray]:
        return {} if self._y is None else {"output": read_only(self._y)}


class Tanh(Module):
    """y = tanh(x) = (e^x - e^{-x}) / (e^x + e^{-x}); dL/dx = dL/dy · (1 - y²).

    The seed post defines tanh upside down (that is coth) and gives 1 + tan²; see docs/derivations.md#activations.
    """

    def __init__(self) -> None:
        super().__init__()
        self._y: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        y = np.tanh(x)
        self._y = y if self.caching else None
        return y

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        if self._y is None:
            raise self._missing_cache()
        y = self._y
        return grad_out * (1 - y * y)

    def clear_cache(self) -> None:
        self._y = None

    def inspect_cache(self) -> dict[str, np.ndarray]:
        return {} if self._y is None else {"output": read_only(self._y)}


class GELU(Module):
    """GELU, tanh approximation: y = ½ x (1 + tanh(u)), u = c (x + 0.044715 x³), c = √(2/π).

    dL/dx = dL/dy · [½ (1 + t) + ½ x (1 - t²) c (1 + 3·0.044715 x²)] with t = tanh(u)
    (docs/derivations.md#gelu).
    """

    _C = float(np.sqrt(2.0 / np.pi))
    _K = 0.044715

    def __init__(self) -> None:
        super().__init__()
        self._x: np.ndarray | None = None
        self._t: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        c, k = x.dtype.type(self._C), x.dtype.type(self._K)
        t = np.tanh(c * (x + k * x * x * x))
        y = x.dtype.type(0.5) * x * (1 + t)
        if self.caching:
            self._x, self._t = x, t
        else:
            self._x = self._t = None
        return y

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        if self._x is None or self._t is None:
            raise self._missing_cache()
        x, t = self._x, self._t
        dtype = x.dtype.type
        c, k, half = dtype(self._C), dtype(self._K), dtype(0.5)
        local = half * (1 + t) + half * x * (1 - t * t) * c * (1 + 3 * k * x * x)
        return grad_out * local

    def clear_cache(self) -> None:
        self._x = self._t = None
