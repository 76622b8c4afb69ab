"""Batch normalisation over the batch axis (docs/derivations.md#batchnorm)."""

from __future__ import annotations

import numpy as np

from mlptrain.nn.module import Module, check_input


class BatchNorm1d(Module):
    """y = γ · x̂ + β with x̂ = (x - μ) / √(σ² + ε), μ and σ² the batch mean and (biased) variance.

    Shapes: x (n, features) -> y (n, features); γ, β (features,).
    Backward (full, through μ and σ²):
    dL/dx = (1/n) · (1/√(σ²+ε)) · (n·g - Σg - x̂ · Σ(g · x̂)), where g = dL/dy · γ;
    dL/dγ = Σ dL/dy · x̂, dL/dβ = Σ dL/dy (sums over the batch).
    Eval mode normalises with the running statistics, so x̂ is affine in x and
    dL/dx = dL/dy · γ / √(running_var + ε).
    Running statistics: r ← (1 - momentum) r + momentum · batch statistic, with the unbiased
    variance n/(n-1)·σ² for running_var, as PyTorch does.
    """

    def __init__(
        self,
        num_features: int,
        momentum: float = 0.1,
        eps: float = 1e-5,
        *,
        dtype: np.dtype | type = np.float32,
    ) -> None:
        super().__init__()
        self.num_features = num_features
        self.momentum = momentum
        self.eps = eps
        self.dtype = np.dtype(dtype)
        self.params = {
            "gamma": np.ones(num_features, dtype=self.dtype),
            "beta": np.zeros(num_features, dtype=self.dtype),
        }
        self.grads = {name: np.zeros_like(p) for name, p in self.params.items()}
        self.buffers = {
            "running_mean": np.zeros(num_features, dtype=self.dtype),
            "running_var": np.ones(num_features, dtype=self.dtype),
        }
        self._x_hat: np.ndarray | None = None
        self._inv_std: np.ndarray | None = None
        # Whether the cached forward normalised with batch statistics: train() after an
        # eval-mode forward must not switch backward to the batch-statistics formula.
        self._batch_stats = False

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_input(self, x, self.num_features)
        eps = x.dtype.type(self.eps)
        if self.training:
            mean = x.mean(axis=0)
            var = x.var(axis=0)
            self._update_running(mean, var, x.shape[0])
        else:
            mean = self.buffers["running_mean"]
            var = self.buffers["running_var"]
        inv_std = 1 / np.sqrt(var + eps)
        x_hat = (x - mean) * inv_std
        y = x_hat * self.params["gamma"] + self.params["beta"]
        if self.caching:
            self._x_hat, self._inv_std = x_hat, inv_std
            self._batch_stats = self.training
        else:
            self._x_hat = self._inv_std = None
        return y

    def _update_running(self, mean: np.ndarray, var: np.ndarray, n: int) -> None:
        m = self.dtype.type(self.momentum)
        unbiased = var * self.dtype.type(n / (n - 1)) if n > 1 else var
        running_mean, running_var = self.buffers["running_mean"], self.buffers["running_var"]
        running_mean *= 1 - m
        running_mean += m * mean
        running_var *= 1 - m
        running_var += m * unbiased

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        if self._x_hat is None or self._inv_std is None:
            raise self._missing_cache()
        x_hat, inv_std = self._x_hat, self._inv_std
        np.sum(grad_out * x_hat, axis=0, out=self.grads["gamma"])
        np.sum(grad_out, axis=0, out=self.grads["beta"])
        g = grad_out * self.params["gamma"]
        if not self._batch_stats:
            return g * inv_std
        n = grad_out.shape[0]
        return (inv_std / n) * (n * g - g.sum(axis=0) - x_hat * (g * x_hat).sum(axis=0))

    def clear_cache(self) -> None:
        self._x_hat = self._inv_std = None

    def extra_repr(self) -> str:
        return f"{self.num_features}, momentum={self.momentum}, eps={self.eps}"
