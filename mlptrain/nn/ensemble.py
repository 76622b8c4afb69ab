"""An ensemble of k members in one stack, trained at once (docs/derivations.md#ensembles).

Three layers make a stack an ensemble, after BatchEnsemble and TabM (Gorishniy et al., 2025):

- ``EnsembleInput(k)`` copies each row once per member and scales the copy by that member's
  learned vector ``r_m`` (initialised to random signs, so members differ from the first step);
- between it and the mean, rows are *member rows*: k blocks of n rows, member 0's first. A
  ``Linear`` there is shared by all members (TabM-mini); an ``EnsembleLinear`` gives each
  member its own weights (k independent layers, computed as one batched product);
- ``EnsembleMean`` ends the ensemble. In training it passes the member rows through, so the
  loss is the mean of the members' losses (the trainer repeats the targets once per member)
  and each member learns on its own; in evaluation it averages the members' outputs, so
  everything after it (the head, metrics, exports) sees one prediction per row.

For classification the members' logits are averaged: softmax of the mean logit, the
normalised geometric mean of the members' probabilities.
"""

from __future__ import annotations

import numpy as np

from mlptrain.nn.init import INITIALIZERS
from mlptrain.nn.module import Module, check_input


def _members(module: Module, x: np.ndarray, k: int) -> int:
    """The rows per member of member-row input ``x``, checked."""
    if x.ndim != 2 or x.shape[0] % k:
        raise ValueError(
            f"{module!r} expects member rows (k * n_samples, features) with k = {k}, "
            f"got shape {x.shape}"
        )
    return x.shape[0] // k


class EnsembleInput(Module):
    """x (n, d) -> member rows (k n, d): row b of member m is ``r_m ⊙ x_b``.

    Backward: dL/dx_b = Σ_m r_m ⊙ g_{m,b};  dL/dr_m = Σ_b x_b ⊙ g_{m,b}.
    """

    def __init__(
        self,
        k: int,
        in_features: int,
        *,
        rng: np.random.Generator | None = None,
        dtype: np.dtype | type = np.float32,
    ) -> None:
        super().__init__()
        if k < 1 or in_features < 1:
            raise ValueError(
                f"EnsembleInput needs k >= 1 and in_features >= 1, got {k}, {in_features}"
            )
        self.k = k
        self.in_features = in_features
        self.out_features = in_features
        self.needs_input_grad = True
        rng = rng if rng is not None else np.random.default_rng(0)
        signs = np.where(rng.random((k, in_features)) < 0.5, -1.0, 1.0)
        self.params = {"r": signs.astype(dtype)}
        self.grads = {"r": np.zeros_like(self.params["r"])}
        self._x: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_input(self, x, self.in_features)
        r = self.params["r"]
        self._x = x if self.caching else None
        return (r[:, None, :] * x[None, :, :]).reshape(self.k * x.shape[0], self.in_features)

    def backward(self, grad_out: np.ndarray) -> np.ndarray | None:
        if self._x is None:
            raise self._missing_cache()
        x = self._x
        g = grad_out.reshape(self.k, x.shape[0], self.in_features)
        np.einsum("mbd,bd->md", g, x, out=self.grads["r"])
        if not self.needs_input_grad:
            return None
        return np.einsum("mbd,md->bd", g, self.params["r"])

    def clear_cache(self) -> None:
        self._x = None

    def extra_repr(self) -> str:
        return f"k={self.k}, features={self.in_features}"


class EnsembleLinear(Module):
    """Member m's rows x_m (n, in) -> y_m = x_m W_m + b_m (n, out); W (k, in, out), b (k, out).

    Backward, per member: dL/dx_m = g_m W_mᵀ, dL/dW_m = x_mᵀ g_m, dL/db_m = Σ_b g_{m,b}.
    Each member's W_m is drawn on its own with the named scheme (fan-in ``in``).
    """

    def __init__(
        self,
        k: int,
        in_features: int,
        out_features: int,
        *,
        rng: np.random.Generator | None = None,
        dtype: np.dtype | type = np.float32,
        init: str = "he",
    ) -> None:
        super().__init__()
        if k < 1 or in_features < 1 or out_features < 1:
            raise ValueError(
                f"EnsembleLinear needs positive sizes, got k={k}, in_features={in_features}, "
                f"out_features={out_features}"
            )
        self.k = k
        self.in_features = in_features
        self.out_features = out_features
        rng = rng if rng is not None else np.random.default_rng(0)
        draw = INITIALIZERS[init]
        W = np.stack([draw(rng, in_features, out_features, np.dtype(dtype)) for _ in range(k)])
        self.params = {"W": W, "b": np.zeros((k, out_features), dtype=dtype)}
        self.grads = {name: np.zeros_like(p) for name, p in self.params.items()}
        self._x: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_input(self, x, self.in_features)
        n = _members(self, x, self.k)
        xm = x.reshape(self.k, n, self.in_features)
        self._x = xm if self.caching else None
        y = np.matmul(xm, self.params["W"])
        y += self.params["b"][:, None, :]
        return y.reshape(self.k * n, self.out_features)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        if self._x is None:
            raise self._missing_cache()
        xm = self._x
        g = grad_out.reshape(self.k, xm.shape[1], self.out_features)
        np.matmul(xm.transpose(0, 2, 1), g, out=self.grads["W"])
        np.sum(g, axis=1, out=self.grads["b"])
        dx = np.matmul(g, self.params["W"].transpose(0, 2, 1))
        return dx.reshape(grad_out.shape[0], self.in_features)

    def clear_cache(self) -> None:
        self._x = None

    def extra_repr(self) -> str:
        return f"k={self.k}, {self.in_features} -> {self.out_features}"


class EnsembleMean(Module):
    """Training: member rows pass through unchanged (dL/dx = dL/dy).
    Evaluation: y_b = (1/k) Σ_m x_{m,b}, and dL/dx_{m,b} = g_b / k."""

    def __init__(self, k: int) -> None:
        super().__init__()
        if k < 1:
            raise ValueError(f"EnsembleMean needs k >= 1, got {k}")
        self.k = k
        self._averaged: bool | None = None  # what the last caching forward did

    def forward(self, x: np.ndarray) -> np.ndarray:
        n = _members(self, x, self.k)
        average = not self.training
        self._averaged = average if self.caching else None
        if not average:
            return x
        return x.reshape(self.k, n, x.shape[1]).mean(axis=0)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        if self._averaged is None:
            raise self._missing_cache()
        if not self._averaged:
            return grad_out
        spread = np.broadcast_to(grad_out / self.k, (self.k, *grad_out.shape))
        return spread.reshape(self.k * grad_out.shape[0], grad_out.shape[1])

    def clear_cache(self) -> None:
        self._averaged = None

    def extra_repr(self) -> str:
        return f"k={self.k}"
