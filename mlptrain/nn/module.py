"""The protocol every layer follows.

A module maps a batch ``x`` of shape (n_samples, in_features) to ``y`` in ``forward`` and maps
the gradient of the loss with respect to ``y`` back to the gradient with respect to ``x`` in
``backward``, writing the gradients of its own parameters into ``grads`` on the way.
See docs/derivations.md for the math of each module.
"""

from __future__ import annotations

import numpy as np


class Module:
    """Base class: ``params``/``grads`` dicts with matching keys, train/eval modes, a cache.

    Contract (docs/architecture.md): ``backward`` *writes* each gradient into the existing
    ``grads`` array in place and never rebinds it, and parameters are only updated in place,
    so that ``Sequential`` can make all of them views into one flat buffer.
    """

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}
        self.training = True
        # Whether forward keeps what backward needs. On in training mode; eval mode caches
        # nothing unless a caller asks for gradients explicitly (gradcheck in eval mode).
        self.caching = True
        # Opt-in (``reuse_outputs``): training-mode outputs written into buffers reused per
        # batch shape, so successive forwards return the same array. Off by default.
        self.reuses_outputs = False
        # Layers with weights on their input (linear, ensemble_linear) set it: False skips
        # dL/dx, for the first layer, whose input is the data. None: no such switch.
        self.needs_input_grad: bool | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad_out: np.ndarray) -> np.ndarray | None:
        """dL/dx, or None where ``needs_input_grad`` is False (nothing before wants it)."""
        raise NotImplementedError

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)

    def train(self) -> Module:
        """Training mode: dropout and batch statistics on, forward caches for backward."""
        self.training = True
        self.caching = True
        return self

    def eval(self) -> Module:
        """Evaluation mode: deterministic forward, nothing cached."""
        self.training = False
        self.caching = False
        self.clear_cache()
        return self

    def requires_grad(self, flag: bool = True) -> Module:
        """Keep (or stop keeping) the forward cache in eval mode, to differentiate it."""
        self.caching = flag or self.training
        return self

    def reuse_outputs(self, flag: bool = True) -> Module:
        """Opt in to (or out of) output buffers reused between training-mode calls.

        With reuse on, the array a training-mode ``forward`` (or ``backward``) returns is
        overwritten by the next call of the same shape: the caller must be done with it by
        then, and a ``backward`` may write its result into the gradient it was given (ReLU
        does), which the caller must not need afterwards. The training loop is (it consumes
        each output before the next step) and saves an allocation per layer per step;
        everything else gets fresh arrays.
        """
        self.reuses_outputs = flag
        return self

    def clear_cache(self) -> None:
        """Drop cached activations; subclasses set their cache attributes to None."""

    def inspect_cache(self) -> dict[str, np.ndarray]:
        """Read-only views of what the last caching forward kept, for diagnostics.

        The public hook through which tools look inside a module without touching its private
        cache: ReLU gives ``{"active": mask [x > 0]}``, Sigmoid and Tanh ``{"output": y}``;
        modules with nothing to show (or nothing cached) give ``{}``.
        """
        return {}

    def _buffer(self, key: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """A scratch array owned by this module, allocated once per (key, shape, dtype).

        Only with ``reuse_outputs`` on: then training-mode forwards and backwards write their
        outputs here instead of allocating fresh arrays every batch, and such an output stays
        valid until the module's next forward (or backward) of the same shape. Otherwise (the
        default) every call gets a fresh array.
        """
        if not self.reuses_outputs:
            return np.empty(shape, dtype=dtype)
        cache = self.__dict__.setdefault("_buffers", {})
        ident = (key, shape, dtype)
        buf = cache.get(ident)
        if buf is None:
            if len(cache) >= 16:  # many shapes (gradcheck, odd batches): start over
                cache.clear()
            buf = cache[ident] = np.empty(shape, dtype=dtype)
        return buf

    def _missing_cache(self) -> RuntimeError:
        return RuntimeError(
            f"{type(self).__name__}.backward() called before forward(): run forward in "
            "training mode (or after .requires_grad()) first"
        )

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"


def read_only(array: np.ndarray) -> np.ndarray:
    """A view of ``array`` that cannot be written through (for ``inspect_cache``)."""
    view = array.view()
    view.flags.writeable = False
    return view


def check_input(module: Module, x: np.ndarray, in_features: int | None = None) -> None:
    """Reject what would otherwise fail deep inside a matmul with a cryptic message."""
    if not isinstance(x, np.ndarray) or x.ndim != 2:
        got = getattr(x, "shape", type(x).__name__)
        raise ValueError(f"{module!r} expects a 2-D array (n_samples, features), got {got}")
    if in_features is not None and x.shape[1] != in_features:
        raise ValueError(
            f"{module!r} expects {in_features} input features, got an array of shape {x.shape}"
        )
