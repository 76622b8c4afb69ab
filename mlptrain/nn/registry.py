"""The layer vocabulary: one entry per layer type a config can name, declared once.

An entry says everything the rest of the package needs to know about a layer type:

- ``name``: the config name (``{type: leaky_relu}``) and its ``options`` with default and
  bounds (the config schema is generated from them: mlptrain.config.schema);
- ``module`` and ``make``: the nn class and how to build it from the options;
- ``role``, ``init`` and ``lint``: what the builder, ``init: auto`` and ``mlptrain validate``
  need to know (the initialisation the linear layer before an activation gets; facts such as
  "ReLU family" or "squashes to (0, 1)");
- ``export`` and ``export_values``: the operation the exported NumPy script applies for it,
  and the scalar attributes it needs besides the module's params and buffers; ``onnx``: the
  same as ONNX operators (mlptrain.nn.onnx_ops).

Adding an activation is one entry here plus its module (docs/architecture.md walks through
an example). nn stays free of the rest of the package: this file holds plain data, and
mlptrain.config turns the options into pydantic models.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

import mlptrain.nn.onnx_ops as onnx_ops
from mlptrain.nn.activations import GELU, Identity, LeakyReLU, ReLU, Sigmoid, Tanh
from mlptrain.nn.batchnorm import BatchNorm1d
from mlptrain.nn.dropout import Dropout
from mlptrain.nn.ensemble import EnsembleInput, EnsembleLinear, EnsembleMean
from mlptrain.nn.linear import Linear
from mlptrain.nn.module import Module

# "ensemble": opens (ensemble) or closes (ensemble_mean) a stack's ensemble of members.
Role = Literal["linear", "activation", "dropout", "normalization", "ensemble"]

# Lint facts an entry may carry (read by mlptrain.training.validate):
NONLINEAR = "nonlinear"  # breaks the composition of two linear layers
RELU_FAMILY = "relu_family"  # He initialisation suits it
SQUASHING = "squashing"  # bounded output: Glorot initialisation suits it
PROBABILITY = "probability"  # squashes to (0, 1), as the classification losses do themselves
RANDOM_MASK = "random_mask"  # changes activations at random in training only
BATCH_STATISTICS = "batch_statistics"  # normalises with statistics of the batch
ACTIVE_MASK = "active_mask"  # inspect_cache gives {"active": mask of units > 0} (diagnostics)


@dataclass(frozen=True)
class BuildContext:
    """What building a module may need besides its options."""

    rng: np.random.Generator
    dtype: np.dtype
    width: int  # the number of features the layer receives
    members: int = 1  # k inside an ensemble (between ensemble and ensemble_mean), else 1


@dataclass(frozen=True)
class Option:
    """One config key of a layer: its Python type, default, bounds and a description."""

    type: Any
    default: Any
    bounds: Mapping[str, float] = field(default_factory=dict)  # pydantic ge / gt / le / lt
    description: str | None = None


@dataclass(frozen=True)
class LayerType:
    name: str
    module: type[Module]
    make: Callable[[Mapping[str, Any], BuildContext], Module]
    role: Role = "activation"
    options: Mapping[str, Option] = field(default_factory=dict)
    init: str | None = None  # activations: the scheme "init: auto" gives the linear before
    lint: frozenset[str] = frozenset()
    export: str | None = None  # op name in the exported script; None: not exportable
    export_values: tuple[str, ...] = ()
    onnx: Callable[..., str] | None = None  # its ONNX operators (mlptrain.nn.onnx_ops)
    doc: str = ""


def _plain(module: type[Module]) -> Callable[[Mapping[str, Any], BuildContext], Module]:
    return lambda options, ctx: module()


def _linear(options: Mapping[str, Any], ctx: BuildContext) -> Module:
    # units and the initialisation scheme are resolved by the builder (mlptrain.nn.build)
    return Linear(ctx.width, options["units"], rng=ctx.rng, dtype=ctx.dtype, init=options["init"])


def _ensemble_linear(options: Mapping[str, Any], ctx: BuildContext) -> Module:
    return EnsembleLinear(
        ctx.members,
        ctx.width,
        options["units"],
        rng=ctx.rng,
        dtype=ctx.dtype,
        init=options["init"],
    )


_ENTRIES = (
    LayerType(
        "linear",
        Linear,
        _linear,
        role="linear",
        options={
            "units": Option(
                int | None,
                None,
                {"ge": 1},
            )
        },
        export="linear",
        onnx=onnx_ops.linear,
        doc='``y = x W + b``; ``units: null`` (the output layer only) means "as many as the data needs".',
    ),
    LayerType(
        "relu",
        ReLU,
        _plain(ReLU),
        init="he",
        lint=frozenset({NONLINEAR, RELU_FAMILY, ACTIVE_MASK}),
        export="relu",
        onnx=onnx_ops.unary("Relu"),
    ),
    LayerType(
        "leaky_relu",
        LeakyReLU,
        lambda options, ctx: LeakyReLU(options["negative_slope"]),
        options={"negative_slope": Option(float, 0.01, {"ge": 0})},
        init="he",
        lint=frozenset({NONLINEAR, RELU_FAMILY}),
        export="leaky_relu",
        onnx=onnx_ops.leaky_relu,
        export_values=("negative_slope",),
    ),
    LayerType(
        "sigmoid",
        Sigmoid,
        _plain(Sigmoid),
        init="glorot",
        lint=frozenset({NONLINEAR, SQUASHING, PROBABILITY}),
        export="sigmoid",
        onnx=onnx_ops.unary("Sigmoid"),
    ),
    LayerType(
        "tanh",
        Tanh,
        _plain(Tanh),
        init="glorot",
        lint=frozenset({NONLINEAR, SQUASHING}),
        export="tanh",
        onnx=onnx_ops.unary("Tanh"),
    ),
    LayerType(
        "gelu",
        GELU,
        _plain(GELU),
        init="he",
        lint=frozenset({NONLINEAR}),
        export="gelu",
        onnx=onnx_ops.gelu,
    ),
    LayerType(
        "identity",
        Identity,
        _plain(Identity),
        init="glorot",
        export="identity",
        onnx=onnx_ops.identity,
    ),
    LayerType(
        "dropout",
        Dropout,
        # Each dropout layer gets its own Generator, so its masks are seeded and its state can
        # be saved and restored for an exact resume.
        lambda options, ctx: Dropout(options["p"], rng=ctx.rng.spawn(1)[0]),
        role="dropout",
        options={"p": Option(float, 0.5, {"ge": 0, "lt": 1})},
        lint=frozenset({RANDOM_MASK}),
        export="identity",  # inverted dropout is the identity at inference
        onnx=onnx_ops.identity,
    ),
    LayerType(
        "batchnorm",
        BatchNorm1d,
        lambda options, ctx: BatchNorm1d(
            ctx.width, momentum=options["momentum"], eps=options["eps"], dtype=ctx.dtype
        ),
        role="normalization",
        options={
            "momentum": Option(float, 0.1, {"gt": 0, "le": 1}),
            "eps": Option(float, 1e-5, {"gt": 0}),
        },
        lint=frozenset({BATCH_STATISTICS}),
        export="batchnorm",
        onnx=onnx_ops.batchnorm,
        export_values=("eps",),
    ),
    LayerType(
        "ensemble",
        EnsembleInput,
        lambda options, ctx: EnsembleInput(options["k"], ctx.width, rng=ctx.rng, dtype=ctx.dtype),
        role="ensemble",
        options={"k": Option(int, 8, {"ge": 2}, "members of the ensemble")},
        export="ensemble",
        onnx=onnx_ops.ensemble_input,
        doc="opens an ensemble of k members: each row once per member, scaled by the member's "
        "learned vector (random signs at first); closed by ensemble_mean",
    ),
    LayerType(
        "ensemble_linear",
        EnsembleLinear,
        _ensemble_linear,
        role="linear",
        options={"units": Option(int | None, None, {"ge": 1})},
        export="ensemble_linear",
        onnx=onnx_ops.ensemble_linear,
        doc="inside an ensemble: a linear layer of each member's own (a linear layer there is "
        "shared by the members)",
    ),
    LayerType(
        "ensemble_mean",
        EnsembleMean,
        lambda options, ctx: EnsembleMean(ctx.members),
        role="ensemble",
        export="ensemble_mean",
        onnx=onnx_ops.ensemble_mean,
        export_values=("k",),
        doc="closes the ensemble: the members' losses are averaged in training, their outputs "
        "in evaluation",
    ),
)

LAYERS: dict[str, LayerType] = {entry.name: entry for entry in _ENTRIES}


def layer_of(module: Module) -> LayerType | None:
    """The entry whose class ``module`` is (exactly), or None."""
    for entry in _ENTRIES:
        if type(module) is entry.module:
            return entry
    return None


def is_linear(module: Module) -> bool:
    """Whether ``module`` is a linear layer (role "linear": a weight ``W`` and a bias ``b``;
    ``linear`` and ``ensemble_linear``), the layers weight decay and diagnostics look at."""
    entry = layer_of(module)
    return entry is not None and entry.role == "linear"


def auto_scheme(next_activation: str | None) -> str:
    """What ``init: auto`` picks for a linear layer, by the activation that follows it:
    He before ReLU-family activations, Glorot otherwise (including the output layer)."""
    entry = LAYERS.get(next_activation or "identity")
    return entry.init if entry is not None and entry.init is not None else "glorot"
