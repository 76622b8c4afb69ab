"""Inverted dropout (docs/derivations.md#dropout)."""

from __future__ import annotations

import numpy as np

from mlptrain.nn.module import Module


class Dropout(Module):
    """Train: y = x · m / (1 - p), m ~ Bernoulli(1 - p) per element; eval: y = x.

    dL/dx = dL/dy · m / (1 - p). Scaling at train time ("inverted") keeps the expected
    activation equal in both modes, so evaluation needs no rescaling.
    The mask comes from the module's own seeded Generator, whose state is checkpointed;
    restoring ``rng``'s state before a forward redraws the same mask (gradcheck does so).
    """

    def __init__(self, p: float = 0.5, *, rng: np.random.Generator | None = None) -> None:
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"dropout p must be in [0, 1), got {p}")
        self.p = p
        self.rng = rng if rng is not None else np.random.default_rng(0)
        self._scaled_mask: np.ndarray | None = None
        # A forward that passed its input through (eval mode, or p = 0) while caching:
        # backward is then the identity.
        self._passthrough = False

    def forward(self, x: np.ndarray) -> np.ndarray:
        if not self.training or self.p == 0:
            self._scaled_mask = None
            self._passthrough = self.caching
            return x
        keep = self.rng.random(x.shape, dtype=x.dtype) >= self.p
        self._scaled_mask = keep * x.dtype.type(1 / (1 - self.p))
        self._passthrough = False
        return x * self._scaled_mask

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        if self._scaled_mask is not None:
            return grad_out * self._scaled_mask
        if self._passthrough:
            return grad_out
        raise self._missing_cache()

    def clear_cache(self) -> None:
        self._scaled_mask = None
        self._passthrough = False

    def extra_repr(self) -> str:
        return f"p={self.p}"
