"""Optimizers written on the flat parameter buffer of a ``Sequential``.

Every parameter and gradient of the model is a view into ``model.flat_params`` and
``model.flat_grads``, so a step is a handful of in-place vectorised passes over two arrays
instead of one small operation per tensor. Scratch space is allocated once.

The passes run block by block (``CHUNK`` elements of every array at a time): all of a
step's passes over one block are done while it is still in the core's cache, instead of
streaming the whole model through memory once per pass. Each element still sees the same
float operations in the same order, so the result is bit for bit that of whole-array passes
(docs/performance.md#the-engine; tests/training/test_optim_exact.py).

Weight decay applies to the weight matrices of linear layers only (the registry's "linear"
role: ``linear`` and ``ensemble_linear``; not to biases, batch-norm parameters or ensemble
adapters), as scikit-learn's ``alpha`` does.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mlptrain.config import optim_spec as spec_
from mlptrain.nn.registry import is_linear
from mlptrain.nn.sequential import Sequential

# Elements per block: 64K float32 = 256 KiB per array, so parameters, gradient, the two Adam
# moments and the scratch block (1.25 MiB) stay in a 2 MiB L2 cache. Adam on W3's 1.86M
# parameters: 5.3 ms per step over whole arrays, 2.9 ms in blocks of 64K, 3.4 ms in 16K
# (more calls), 3.1 ms in 32K; W2's 200K: 0.37 -> 0.31 ms (idle machine, median of 7).
CHUNK = 65536


def blocks(*arrays: np.ndarray, size: int | None = None) -> list[tuple[np.ndarray, ...]]:
    """The same ``size``-element slice of each 1-D array, block after block (views)."""
    size = size or CHUNK
    n = arrays[0].size
    return [tuple(a[i : i + size] for a in arrays) for i in range(0, n, size)]


def _decayed_weights(model: Sequential) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(m.params["W"], m.grads["W"]) for m in model.modules if is_linear(m)]


def clip_grad_norm(model: Sequential, max_norm: float) -> float:
    """Scale all gradients so their joint L2 norm is at most ``max_norm``; return the norm
    before clipping (useful for diagnostics either way)."""
    grads = model.flat_grads
    norm = float(np.sqrt(np.dot(grads, grads)))
    if norm > max_norm:
        grads *= grads.dtype.type(max_norm / (norm + 1e-12))
    return norm


class Optimizer:
    """Base: holds the model, the learning rate and the step count; state for checkpoints."""

    def __init__(self, model: Sequential, lr: float, weight_decay: float = 0.0) -> None:
        self.model = model
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.step_count = 0
        self._decayed = _decayed_weights(model)
        # One block of scratch space, reused for every block of the step.
        self._scratch = np.empty(min(CHUNK, model.flat_params.size), model.flat_params.dtype)

    def step(self) -> None:
        raise NotImplementedError

    def _add_l2(self) -> None:
        """L2 regularisation as a gradient term: dL/dW += λ W."""
        if self.weight_decay:
            decay = self.model.dtype.type(self.weight_decay)
            for weight, grad in self._decayed:
                grad += decay * weight

    def state_arrays(self) -> dict[str, np.ndarray]:
        """The moment buffers, by name, for the checkpoint."""
        return {}

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Copy saved moment buffers (``state_arrays``' names) back in place."""
        for name, buffer in self.state_arrays().items():
            buffer[...] = arrays[name]

    def state_meta(self) -> dict[str, Any]:
        return {"step_count": self.step_count, "lr": self.lr}

    def load_state_meta(self, meta: dict[str, Any]) -> None:
        self.step_count = int(meta["step_count"])
        self.lr = float(meta["lr"])


class SGD(Optimizer):
    """v ← μ v + g;  θ ← θ − lr · (g + μ v if nesterov else v)  (plain SGD when μ = 0)."""

    def __init__(
        self,
        model: Sequential,
        lr: float = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(model, lr, weight_decay)
        self.momentum = float(momentum)
        self.nesterov = nesterov
        self.velocity = np.zeros_like(model.flat_params)
        self._blocks = [
            (*views, self._scratch[: len(views[0])])
            for views in blocks(model.flat_params, model.flat_grads, self.velocity)
        ]

    def step(self) -> None:
        self._add_l2()
        self.step_count += 1
        dtype = self.model.dtype.type
        lr, mu = dtype(self.lr), dtype(self.momentum)
        multiply = np.multiply
        for params, grad, velocity, scratch in self._blocks:
            if not self.momentum:
                multiply(grad, lr, out=scratch)
                params -= scratch
                continue
            velocity *= mu
            velocity += grad
            if self.nesterov:
                multiply(velocity, mu, out=scratch)
                scratch += grad
                scratch *= lr
            else:
                # lr · v straight into scratch: the same product as copying v and scaling
                # it, one pass over the parameters fewer.
                multiply(velocity, lr, out=scratch)
            params -= scratch

    def state_arrays(self) -> dict[str, np.ndarray]:
        return {"velocity": self.velocity} if self.momentum else {}


class Adam(Optimizer):
    """m ← β1 m + (1−β1) g;  v ← β2 v + (1−β2) g²;  θ ← θ − lr · m̂ / (√v̂ + ε),
    with the bias corrections m̂ = m / (1−β1^t), v̂ = v / (1−β2^t).

    ``weight_decay`` here is L2 added to the gradient (Adam); AdamW decouples it.
    """

    decoupled = False

    def __init__(
        self,
        model: Sequential,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(model, lr, weight_decay)
        self.beta1, self.beta2 = (float(b) for b in betas)
        self.eps = float(eps)
        self.m = np.zeros_like(model.flat_params)
        self.v = np.zeros_like(model.flat_params)
        self._blocks = [
            (*views, self._scratch[: len(views[0])])
            for views in blocks(model.flat_params, model.flat_grads, self.m, self.v)
        ]

    def step(self) -> None:
        if self.decoupled:
            self._decay_weights()
        else:
            self._add_l2()
        self.step_count += 1
        dtype = self.model.dtype.type
        b1, b2 = self.beta1, self.beta2
        # θ −= (lr/bc1) · m / (√v/√bc2 + ε): the bias corrections folded into two scalars,
        # so no corrected copies of m and v are ever made.
        bias1 = 1 - b1**self.step_count
        bias2 = 1 - b2**self.step_count
        beta1, beta2, keep1, keep2 = dtype(b1), dtype(b2), dtype(1 - b1), dtype(1 - b2)
        inv_root2, eps, rate = dtype(1 / np.sqrt(bias2)), dtype(self.eps), dtype(self.lr / bias1)
        multiply, add, sqrt, divide = np.multiply, np.add, np.sqrt, np.divide
        for params, grad, m, v, scratch in self._blocks:
            multiply(m, beta1, out=m)
            multiply(grad, keep1, out=scratch)
            add(m, scratch, out=m)
            multiply(v, beta2, out=v)
            multiply(grad, grad, out=scratch)
            multiply(scratch, keep2, out=scratch)
            add(v, scratch, out=v)
            sqrt(v, out=scratch)
            multiply(scratch, inv_root2, out=scratch)
            add(scratch, eps, out=scratch)
            divide(m, scratch, out=scratch)
            multiply(scratch, rate, out=scratch)
            np.subtract(params, scratch, out=params)

    def _decay_weights(self) -> None:
        """AdamW: θ ← θ − lr · λ θ, apart from the adaptive step."""
        if self.weight_decay:
            shrink = self.model.dtype.type(1 - self.lr * self.weight_decay)
            for weight, _ in self._decayed:
                weight *= shrink

    def state_arrays(self) -> dict[str, np.ndarray]:
        return {"m": self.m, "v": self.v}


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter)."""

    decoupled = True


def make_optimizer(spec: spec_.Optimizer, model: Sequential) -> Optimizer:
    """Build the optimizer a config's ``train.optimizer`` section describes."""
    if isinstance(spec, spec_.SGD):
        return SGD(
            model,
            lr=spec.lr,
            momentum=spec.momentum,
            nesterov=spec.nesterov,
            weight_decay=spec.weight_decay,
        )
    kind = AdamW if isinstance(spec, spec_.AdamW) else Adam
    return kind(
        model,
        lr=spec.lr,
        betas=(spec.betas[0], spec.betas[1]),
        eps=spec.eps,
        weight_decay=spec.weight_decay,
    )
