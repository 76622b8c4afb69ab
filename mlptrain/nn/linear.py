"""Fully connected layer ``y = x W + b`` (docs/derivations.md#linear)."""

from __future__ import annotations

import numpy as np

from mlptrain.nn.init import INITIALIZERS
from mlptrain.nn.module import Module, check_input


class Linear(Module):
    """Affine map ``y = x W + b`` with W of shape (in, out), as in the seed post.

    Shapes: x (n, in) -> y (n, out).
    Backward: dL/dx = dL/dy · Wᵀ, dL/dW = xᵀ · dL/dy, dL/db = column sums of dL/dy.

    ``needs_input_grad = False`` skips dL/dx for the first layer, whose input is the data.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        rng: np.random.Generator | None = None,
        dtype: np.dtype | type = np.float32,
        init: str = "he",
    ) -> None:
        super().__init__()
        if in_features < 1 or out_features < 1:
            raise ValueError(
                f"Linear needs positive sizes, got in_features={in_features}, "
                f"out_features={out_features}"
            )
        self.in_features = in_features
        self.out_features = out_features
        self.dtype = np.dtype(dtype)
        self.needs_input_grad = True
        self.params = {
            "W": np.zeros((in_features, out_features), dtype=self.dtype),
            "b": np.zeros(out_features, dtype=self.dtype),
        }
        self.grads = {name: np.zeros_like(p) for name, p in self.params.items()}
        self._x: np.ndarray | None = None
        self.reset_parameters(rng if rng is not None else np.random.default_rng(0), init)

    def reset_parameters(self, rng: np.random.Generator, init: str = "he") -> None:
        """Draw W with the named scheme (he | glorot) and zero b, in place."""
        self.params["W"][...] = INITIALIZERS[init](
            rng, self.in_features, self.out_features, self.dtype
        )
        self.params["b"][...] = 0

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x (n, in) -> y = x W + b (n, out)."""
        check_input(self, x, self.in_features)
        W = self.params["W"]
        if self.caching:
            # Reused per batch shape: no page-faulting allocation of a fresh array per step.
            shape = (x.shape[0], self.out_features)
            y = np.matmul(x, W, out=self._buffer("y", shape, np.result_type(x, W)))
            self._x = x
        else:
            y = x @ W
            self._x = None
        y += self.params["b"]
        return y

    def backward(self, grad_out: np.ndarray) -> np.ndarray | None:
        """grad_out (n, out) -> dL/dx (n, in); writes grads W (in, out) and b (out,)."""
        if self._x is None:
            raise self._missing_cache()
        np.matmul(self._x.T, grad_out, out=self.grads["W"])
        np.sum(grad_out, axis=0, out=self.grads["b"])
        if not self.needs_input_grad:
            return None
        W = self.params["W"]
        shape = (grad_out.shape[0], self.in_features)
        return np.matmul(grad_out, W.T, out=self._buffer("dx", shape, np.result_type(grad_out, W)))

    def clear_cache(self) -> None:
        self._x = None

    def extra_repr(self) -> str:
        return f"{self.in_features} -> {self.out_features}"
