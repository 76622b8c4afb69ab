"""The preprocessing of a table model as ONNX nodes: raw columns in, the encoded matrix out.

One graph input per feature column, shape (N, 1): numeric columns as float tensors (NaN for a
gap), categorical ones as string tensors (a gap is any of the run's missing markers, e.g. "").
Numeric: ``Where(IsNaN(x), fill, x)``, then the scaler's ``((x - shift) / scale) * mul + add``.
Categorical: ``ai.onnx.ml`` ``LabelEncoder`` maps each known category to its one-hot position,
infrequent ones and (by default) unseen ones to the 'infrequent' position when the column has
one, missing markers to the fill category's position; ``Equal`` against the positions 0..k-1
makes the one-hot row (an index of k, "none", matches nothing: all zeros). Indicators compare the same inputs with NaN / the missing markers.
``mlptrain/data/encoding.py`` is the reference these nodes are tested against.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

ML_DOMAIN = "ai.onnx.ml"


def table_graph(
    encoder: Any,
    dtype: np.dtype,
    na_values: list[str],
    node: Callable[..., str],
    inits: list[Any],
) -> tuple[list[Any], str]:
    """(graph inputs, name of the (N, width) encoded tensor) for ``encoder``'s columns."""
    from onnx import TensorProto, helper, numpy_helper

    elem = TensorProto.FLOAT if np.dtype(dtype) == np.float32 else TensorProto.DOUBLE

    def const(name: str, value: Any, kind: Any = None) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value, dtype=kind or dtype), name))
        return name

    numeric = {c["name"]: c for c in encoder.numeric}
    inputs = []
    for name in encoder.features:
        kind = elem if name in numeric else TensorProto.STRING
        inputs.append(helper.make_tensor_value_info(name, kind, [None, 1]))
    parts: list[str] = []
    for j, c in enumerate(encoder.numeric):
        x = c["name"]
        if c["fill"] is not None:
            x = node("Where", [node("IsNaN", [x]), const(f"num{j}.fill", c["fill"]), x])
        x = node("Sub", [x, const(f"num{j}.shift", c["shift"])])
        x = node("Div", [x, const(f"num{j}.scale", c["scale"])])
        x = node("Mul", [x, const(f"num{j}.mul", c["mul"])])
        parts.append(node("Add", [x, const(f"num{j}.add", c["add"])]))
    for j, c in enumerate(encoder.categorical):
        known = list(c["categories"])
        rare = list(c["infrequent"] or [])
        depth = len(known) + (c["infrequent"] is not None)
        position = {value: k for k, value in enumerate(known)}
        position.update(dict.fromkeys(rare, len(known)))
        fill = depth  # refuse: a gap encodes as zeros here (predict would stop with an error)
        if c["fill"] is not None:
            fill = position.get(c["fill"], len(known) if rare else depth)
        for marker in na_values:
            position.setdefault(marker, fill)
        index = node(
            "LabelEncoder",
            [c["name"]],
            domain=ML_DOMAIN,
            keys_strings=list(position),
            values_int64s=list(position.values()),
            default_int64=len(known) if c["infrequent"] is not None else depth,
        )
        # (N, 1) == (1, depth) broadcasts to the one-hot rows; index == depth matches nothing
        positions = const(f"cat{j}.positions", np.arange(depth).reshape(1, depth), np.int64)
        parts.append(node("Cast", [node("Equal", [index, positions])], to=elem))
    for name in encoder.indicators:
        if name in numeric:
            gap = node("IsNaN", [name])
        else:
            gap = node(
                "LabelEncoder",
                [name],
                domain=ML_DOMAIN,
                keys_strings=list(na_values),
                values_int64s=[1] * len(na_values),
                default_int64=0,
            )
        parts.append(node("Cast", [gap], to=elem))
    if len(parts) == 1:
        return inputs, parts[0]
    return inputs, node("Concat", parts, axis=1)
