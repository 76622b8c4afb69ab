"""From the layer list of a config to a ``Sequential``: the lookup table of layer names.

A layer spec is anything with a ``type`` and that layer's fields, as attributes (the pydantic
config models) or as mapping keys (plain dicts in tests and notebooks).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlptrain.nn.activations import GELU, Identity, LeakyReLU, ReLU, Sigmoid, Tanh
from mlptrain.nn.batchnorm import BatchNorm1d
from mlptrain.nn.dropout import Dropout
from mlptrain.nn.init import auto_scheme
from mlptrain.nn.linear import Linear
from mlptrain.nn.module import Module
from mlptrain.nn.sequential import Head, Sequential

ACTIVATIONS: dict[str, Callable[..., Module]] = {
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "gelu": GELU,
    "identity": Identity,
}


def _field(spec: Any, name: str, default: Any = None) -> Any:
    if isinstance(spec, str):
        return default
    if isinstance(spec, Mapping):
        return spec.get(name, default)
    return getattr(spec, name, default)


def layer_type(spec: Any) -> str:
    return spec if isinstance(spec, str) else str(_field(spec, "type"))


@dataclass
class BuildContext:
    rng: np.random.Generator
    dtype: np.dtype
    init: str  # "auto" | "he" | "glorot"


def _next_activation(specs: Sequence[Any], index: int) -> str | None:
    """The first activation after layer ``index``, skipping dropout and batch norm."""
    for spec in specs[index + 1 :]:
        kind = layer_type(spec)
        if kind in ACTIVATIONS:
            return kind
        if kind == "linear":
            return None
    return None


def build_model(
    specs: Sequence[Any],
    *,
    n_inputs: int,
    n_outputs: int,
    rng: np.random.Generator,
    dtype: np.dtype | type = np.float32,
    init: str = "auto",
    head: Head = "softmax",
) -> Sequential:
    """Build the stack; a linear layer with ``units`` unset gets ``n_outputs``.

    Each dropout layer gets its own Generator spawned from ``rng``, so its masks are seeded
    and its state can be saved and restored for an exact resume.
    """
    ctx = BuildContext(rng=rng, dtype=np.dtype(dtype), init=init)
    modules: list[Module] = []
    width = n_inputs
    for index, spec in enumerate(specs):
        kind = layer_type(spec)
        if kind == "linear":
            units = _field(spec, "units") or n_outputs
            scheme = auto_scheme(_next_activation(specs, index)) if init == "auto" else init
            modules.append(Linear(width, units, rng=ctx.rng, dtype=ctx.dtype, init=scheme))
            width = units
        elif kind == "dropout":
            modules.append(Dropout(_field(spec, "p", 0.5), rng=ctx.rng.spawn(1)[0]))
        elif kind == "batchnorm":
            modules.append(
                BatchNorm1d(
                    width,
                    momentum=_field(spec, "momentum", 0.1),
                    eps=_field(spec, "eps", 1e-5),
                    dtype=ctx.dtype,
                )
            )
        elif kind == "leaky_relu":
            modules.append(LeakyReLU(_field(spec, "negative_slope", 0.01)))
        elif kind in ACTIVATIONS:
            modules.append(ACTIVATIONS[kind]())
        else:
            known = ", ".join(sorted([*ACTIVATIONS, "linear", "dropout", "batchnorm"]))
            raise ValueError(f"unknown layer type {kind!r}; known: {known}")
    return Sequential(modules, head=head)


def output_shapes(model: Sequential, n_inputs: int) -> list[int]:
    """The width after each module (for summaries)."""
    widths = []
    width = n_inputs
    for module in model.modules:
        width = getattr(module, "out_features", width)
        widths.append(width)
    return widths
