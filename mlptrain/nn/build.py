"""From the layer list of a config to a ``Sequential``, through the layer registry.

A layer spec is anything with a ``type`` and that layer's fields, as attributes (the pydantic
config models) or as mapping keys (plain dicts in tests and notebooks), or a bare name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mlptrain.nn.module import Module
from mlptrain.nn.registry import LAYERS, BuildContext, auto_scheme
from mlptrain.nn.sequential import Head, Sequential


def _field(spec: Any, name: str, default: Any = None) -> Any:
    if isinstance(spec, str):
        return default
    if isinstance(spec, Mapping):
        return spec.get(name, default)
    return getattr(spec, name, default)


def layer_type(spec: Any) -> str:
    return spec if isinstance(spec, str) else str(_field(spec, "type"))


def _next_activation(specs: Sequence[Any], index: int) -> str | None:
    """The first activation after layer ``index``, skipping dropout and batch norm."""
    for spec in specs[index + 1 :]:
        entry = LAYERS.get(layer_type(spec))
        if entry is None or entry.role == "linear":
            return None
        if entry.role == "activation":
            return entry.name
    return None


UNCLOSED_ENSEMBLE = "an ensemble layer needs an ensemble_mean layer after it, to close it"


def ensemble_problem(kind: str, members: int) -> str | None:
    """What is wrong with layer ``kind`` where ``members`` members are open (1: none)."""
    if kind == "ensemble" and members > 1:
        return "ensemble is not allowed inside an ensemble (before its ensemble_mean)"
    if kind in ("ensemble_linear", "ensemble_mean") and members == 1:
        return f"{kind} is only allowed after an ensemble layer (and before its ensemble_mean)"
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

    Options a spec leaves out take the registry's defaults. Layers that draw random numbers
    (initialisation, dropout masks) take them from ``rng``, in layer order.
    """
    modules: list[Module] = []
    width = n_inputs
    members = 1
    for index, spec in enumerate(specs):
        kind = layer_type(spec)
        entry = LAYERS.get(kind)
        if entry is None:
            raise ValueError(f"unknown layer type {kind!r}; known: {', '.join(sorted(LAYERS))}")
        options = {name: _field(spec, name, opt.default) for name, opt in entry.options.items()}
        if entry.role == "linear":
            options["units"] = options["units"] or n_outputs
            options["init"] = (
                auto_scheme(_next_activation(specs, index)) if init == "auto" else init
            )
        problem = ensemble_problem(kind, members)
        if problem:
            raise ValueError(problem)
        ctx = BuildContext(rng=rng, dtype=np.dtype(dtype), width=width, members=members)
        module = entry.make(options, ctx)
        modules.append(module)
        width = getattr(module, "out_features", width)
        if kind == "ensemble":
            members = int(options["k"])
        elif kind == "ensemble_mean":
            members = 1
    if members != 1:
        raise ValueError(UNCLOSED_ENSEMBLE)
    return Sequential(modules, head=head)
