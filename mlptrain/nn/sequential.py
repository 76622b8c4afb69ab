"""A stack of modules applied in order, with all parameters in one flat buffer."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Literal

import numpy as np

from mlptrain.nn.activations import stable_sigmoid
from mlptrain.nn.dropout import Dropout
from mlptrain.nn.ensemble import EnsembleInput
from mlptrain.nn.losses import log_softmax, softmax
from mlptrain.nn.module import Module

Head = Literal["softmax", "sigmoid", "identity"]

# Rows per chunk in predict: bounds the memory of inference on large inputs.
PREDICT_CHUNK = 8192


class StateDictError(ValueError):
    """A state dict does not fit the model: its message names every missing or misshaped entry.

    Callers that read the state from a file turn it into their own error type (a checkpoint
    error), so that nn stays free of the rest of the package.
    """


class Sequential(Module):
    """y = f_L(… f_2(f_1(x))); backward applies each module's backward in reverse order.

    ``head`` says how outputs become predictions: "softmax" (class logits), "sigmoid" (one
    binary logit) or "identity" (regression values, in the units the model was trained on:
    mapping them back to the targets' units is the job of the caller who scaled the targets).

    Every parameter and gradient is a view into ``flat_params`` / ``flat_grads``, one
    contiguous array each, so an optimizer updates the whole model in a few vectorised passes.
    """

    def __init__(self, modules: Sequence[Module], *, head: Head = "softmax") -> None:
        super().__init__()
        if not modules:
            raise ValueError("Sequential needs at least one module")
        self.modules = list(modules)
        self.head: Head = head
        self._flatten()

    def _flatten(self) -> None:
        owned = [(f"{i}.{key}", m, key) for i, m in enumerate(self.modules) for key in m.params]
        dtypes = {m.params[key].dtype for _, m, key in owned}
        if len(dtypes) > 1:
            raise ValueError(
                f"all parameters must share one dtype, found {sorted(map(str, dtypes))}"
            )
        dtype = dtypes.pop() if dtypes else np.dtype(np.float32)
        size = sum(m.params[key].size for _, m, key in owned)
        self.flat_params = np.zeros(size, dtype=dtype)
        self.flat_grads = np.zeros(size, dtype=dtype)
        offset = 0
        for _, module, key in owned:
            value = module.params[key]
            end = offset + value.size
            view = self.flat_params[offset:end].reshape(value.shape)
            view[...] = value
            module.params[key] = view
            module.grads[key] = self.flat_grads[offset:end].reshape(value.shape)
            offset = end
        self.params = {name: m.params[key] for name, m, key in owned}
        self.grads = {name: m.grads[key] for name, m, key in owned}

    def views_of(self, flat: np.ndarray) -> dict[str, np.ndarray]:
        """Per-parameter views into ``flat``, an array laid out like ``flat_params``
        (optimizer moments), so they can be saved and restored under readable names."""
        views, offset = {}, 0
        for name, param in self.params.items():
            views[name] = flat[offset : offset + param.size].reshape(param.shape)
            offset += param.size
        return views

    @property
    def members(self) -> int:
        """k of an ensemble stack (1 otherwise). In training mode its output has k rows per
        input row, member 0's block first: the targets are repeated with :meth:`repeat`."""
        return next((m.k for m in self.modules if isinstance(m, EnsembleInput)), 1)

    def repeat(self, targets: np.ndarray) -> np.ndarray:
        """``targets`` (or sample weights) once per member, to match training-mode outputs."""
        k = self.members
        return targets if k == 1 else np.concatenate([targets] * k)

    @property
    def dtype(self) -> np.dtype:
        return self.flat_params.dtype

    def forward(self, x: np.ndarray) -> np.ndarray:
        for module in self.modules:
            x = module.forward(x)
        return x

    def backward(self, grad_out: np.ndarray) -> np.ndarray | None:
        grad: np.ndarray | None = grad_out
        for module in reversed(self.modules):
            if grad is None:  # a layer that skipped its input gradient: nothing flows further
                break
            grad = module.backward(grad)
        return grad

    def train(self) -> Sequential:
        super().train()
        for module in self.modules:
            module.train()
        return self

    def eval(self) -> Sequential:
        super().eval()
        for module in self.modules:
            module.eval()
        return self

    def requires_grad(self, flag: bool = True) -> Sequential:
        super().requires_grad(flag)
        for module in self.modules:
            module.requires_grad(flag)
        return self

    def reuse_outputs(self, flag: bool = True) -> Sequential:
        super().reuse_outputs(flag)
        for module in self.modules:
            module.reuse_outputs(flag)
        return self

    def clear_cache(self) -> None:
        for module in self.modules:
            module.clear_cache()

    def parameters(self) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
        """(name, param, grad) triples, names like "0.W"."""
        for name, param in self.params.items():
            yield name, param, self.grads[name]

    def dropout_generators(self) -> dict[str, np.random.Generator]:
        """The Generators that draw dropout masks, by module index (for exact resume)."""
        return {str(i): m.rng for i, m in enumerate(self.modules) if isinstance(m, Dropout)}

    def state_dict(self) -> dict[str, np.ndarray]:
        """Parameters and buffers (batch-norm running statistics) by name, as copies."""
        state = {name: p.copy() for name, p in self.params.items()}
        for i, module in enumerate(self.modules):
            for key, buf in module.buffers.items():
                state[f"{i}.{key}"] = buf.copy()
        return state

    def expected_state(self) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
        """Name -> (shape, dtype) of everything state_dict holds."""
        return {name: (arr.shape, arr.dtype) for name, arr in self._state_refs().items()}

    def _state_refs(self) -> dict[str, np.ndarray]:
        refs = dict(self.params)
        for i, module in enumerate(self.modules):
            for key, buf in module.buffers.items():
                refs[f"{i}.{key}"] = buf
        return refs

    def load_state_dict(self, state: dict[str, np.ndarray], *, source: str = "state") -> None:
        """Copy ``state`` into the model in place; ``StateDictError`` names every missing or
        misshaped entry."""
        refs = self._state_refs()
        problems = [f"{name}: missing" for name in refs if name not in state]
        problems += [f"{name}: not part of this model" for name in state if name not in refs]
        problems += [
            f"{name}: {source} has shape {tuple(state[name].shape)}, "
            f"model expects {tuple(ref.shape)}"
            for name, ref in refs.items()
            if name in state and state[name].shape != ref.shape
        ]
        if problems:
            raise StateDictError(f"{source} does not fit the model: " + "; ".join(problems))
        for name, ref in refs.items():
            ref[...] = state[name]

    def forward_eval(self, x: np.ndarray) -> np.ndarray:
        """Raw outputs (logits, or standardised regression values) in eval mode, in chunks of
        ``PREDICT_CHUNK`` rows; every module's mode is restored afterwards."""
        # The stack itself is restored too, or model.training would read False after predict.
        everything = [self, *self.modules]
        modes = [(m.training, m.caching) for m in everything]
        self.eval()
        try:
            x = np.asarray(x, dtype=self.dtype)
            chunks = [
                self.forward(x[i : i + PREDICT_CHUNK]) for i in range(0, len(x), PREDICT_CHUNK)
            ]
            return np.concatenate(chunks) if chunks else self.forward(x)
        finally:
            for module, (training, caching) in zip(everything, modes, strict=True):
                module.training, module.caching = training, caching

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities (n, classes) in eval mode; for a sigmoid head, [1 - p, p]."""
        out = self.forward_eval(x)
        if self.head == "softmax":
            return softmax(out)
        if self.head == "sigmoid":
            p = stable_sigmoid(out.reshape(-1))
            return np.stack([1 - p, p], axis=1)
        raise ValueError("predict_proba needs a classifier; this model has a regression head")

    def predict_log_proba(self, x: np.ndarray) -> np.ndarray:
        """log of :meth:`predict_proba`, in float64 from the logits (log-sum-exp, softplus):
        exact where the probabilities round to 0, so a log loss needs no clipping."""
        out = self.forward_eval(x).astype(np.float64)
        if self.head == "softmax":
            return log_softmax(out)
        if self.head == "sigmoid":
            z = out.reshape(-1)
            # log σ(z) = -log(1 + e^-z), log(1 - σ(z)) = -log(1 + e^z)
            return np.stack([-np.logaddexp(0.0, z), -np.logaddexp(0.0, -z)], axis=1)
        raise ValueError("predict_log_proba needs a classifier; this model has a regression head")

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Class indices (classifiers) or raw output values (regression), in eval mode."""
        if self.head == "identity":
            return self.forward_eval(x)
        return self.predict_proba(x).argmax(axis=1)

    def __repr__(self) -> str:
        lines = [f"  ({i}) {m!r}" for i, m in enumerate(self.modules)]
        n_params = self.flat_params.size
        return (
            f"Sequential(head={self.head}, params={n_params:,}, dtype={self.dtype})\n"
            + "\n".join(lines)
        )
