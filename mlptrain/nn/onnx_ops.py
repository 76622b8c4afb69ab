"""Each layer type as standard ONNX operators, for the registry's ``onnx`` entries.

nn imports no ONNX: an emitter receives a ``GraphBuilder`` (mlptrain.serving.onnx_graph makes
one) and the layer's exported arrays (``layer<i>.<name>``, as in weights.npz), adds its nodes
and returns the name of its output. The operators compute what the module's eval-mode
``forward`` does (docs/derivations.md), and the export tests check them against it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np

from mlptrain.nn.activations import GELU

Arrays = Mapping[str, np.ndarray]


class GraphBuilder(Protocol):
    def node(self, op: str, inputs: list[str], **attrs: Any) -> str: ...

    def const(self, name: str, value: Any) -> str: ...  # in the model's dtype

    def shape(self, name: str, dims: list[int]) -> str: ...  # int64


def unary(op: str):
    """An element-wise operator with no parameters (Relu, Sigmoid, Tanh)."""
    return lambda g, x, arrays, key: g.node(op, [x])


def identity(g: GraphBuilder, x: str, arrays: Arrays, key: str) -> str:
    return x  # identity, and dropout at inference


def linear(g: GraphBuilder, x: str, arrays: Arrays, key: str) -> str:
    x = g.node("MatMul", [x, g.const(key + "W", arrays[key + "W"])])
    return g.node("Add", [x, g.const(key + "b", arrays[key + "b"])])


def leaky_relu(g: GraphBuilder, x: str, arrays: Arrays, key: str) -> str:
    return g.node("LeakyRelu", [x], alpha=float(arrays[key + "negative_slope"]))


def gelu(g: GraphBuilder, x: str, arrays: Arrays, key: str) -> str:
    """y = ½ x (1 + tanh(c (x + k x³))), the approximation mlptrain uses."""
    cube = g.node("Mul", [g.node("Mul", [x, x]), x])
    inner = g.node("Add", [x, g.node("Mul", [cube, g.const(key + "k", GELU._K)])])
    t = g.node("Tanh", [g.node("Mul", [inner, g.const(key + "c", GELU._C)])])
    half_x = g.node("Mul", [x, g.const(key + "half", 0.5)])
    return g.node("Mul", [half_x, g.node("Add", [t, g.const(key + "one", 1.0)])])


def batchnorm(g: GraphBuilder, x: str, arrays: Arrays, key: str) -> str:
    """Evaluation: the running statistics, folded into one scale."""
    inv_std = 1.0 / np.sqrt(arrays[key + "running_var"] + arrays[key + "eps"])
    x = g.node("Sub", [x, g.const(key + "mean", arrays[key + "running_mean"])])
    x = g.node("Mul", [x, g.const(key + "inv_std", inv_std)])
    x = g.node("Mul", [x, g.const(key + "gamma", arrays[key + "gamma"])])
    return g.node("Add", [x, g.const(key + "beta", arrays[key + "beta"])])


def ensemble_input(g: GraphBuilder, x: str, arrays: Arrays, key: str) -> str:
    """(n, d) -> member rows (k n, d), member m's block scaled by r_m."""
    r = arrays[key + "r"]
    k, d = r.shape
    rows = g.node("Reshape", [x, g.shape(key + "rows", [1, -1, d])])
    x = g.node("Mul", [rows, g.const(key + "r", r.reshape(k, 1, d))])
    return g.node("Reshape", [x, g.shape(key + "flat", [-1, d])])


def ensemble_linear(g: GraphBuilder, x: str, arrays: Arrays, key: str) -> str:
    """Each member's block times its own W_m, plus its b_m."""
    W, b = arrays[key + "W"], arrays[key + "b"]
    k, d_in, d_out = W.shape
    x = g.node("Reshape", [x, g.shape(key + "members", [k, -1, d_in])])
    x = g.node("MatMul", [x, g.const(key + "W", W)])
    x = g.node("Add", [x, g.const(key + "b", b.reshape(k, 1, d_out))])
    return g.node("Reshape", [x, g.shape(key + "flat", [-1, d_out])])


def ensemble_mean(g: GraphBuilder, x: str, arrays: Arrays, key: str) -> str:
    """Evaluation: the mean over the k member blocks (k n, d) -> (n, d)."""
    width = g.node("Shape", [x], start=1)
    blocks = g.node(
        "Concat", [g.shape(key + "members", [int(arrays[key + "k"]), -1]), width], axis=0
    )
    return g.node("ReduceMean", [g.node("Reshape", [x, blocks])], axes=[0], keepdims=0)
