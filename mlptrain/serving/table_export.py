"""A table model's preprocessing for export: ONNX nodes (raw columns in, the encoded matrix
out) and plain arrays for the standalone NumPy script's ``encode_table``.

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


def table_arrays(predictor: Any) -> dict[str, np.ndarray]:
    """A table model's preprocessing state as plain arrays (ragged lists flattened with
    offsets), for the standalone script's ``encode_table``."""
    from mlptrain.data.frame import DEFAULT_NA_VALUES

    table = predictor.table
    data = predictor.meta.data_config

    def flat(lists: list[list[str]]) -> tuple[np.ndarray, np.ndarray]:
        offsets = np.cumsum([0, *(len(values) for values in lists)]).astype(np.int64)
        return np.array([v for values in lists for v in values], dtype=str), offsets

    arrays: dict[str, np.ndarray] = {
        "table_features": np.array(table.features, dtype=str),
        "table_ids": np.array(table.ids, dtype=str),
        "table_columns": np.array(table.state.get("table_columns") or [], dtype=str),
        "table_target": np.array(str(table.state.get("target") or ""), dtype=str),
        "table_header": np.array([bool(data.get("header", True))]),
        "table_delimiter": np.array(str(data.get("delimiter") or "auto"), dtype=str),
        "table_na_values": np.array(list(data.get("na_values") or DEFAULT_NA_VALUES), dtype=str),
        "table_encoding": np.array(str(data.get("encoding") or "utf-8"), dtype=str),
        "table_thousands": np.array(str(data.get("thousands") or "auto"), dtype=str),
        "table_decimal": np.array(str(data.get("decimal") or "."), dtype=str),
        "table_indicators": np.array(table.indicators, dtype=str),
        "table_date_names": np.array(list(table.dates), dtype=str),
        "table_date_formats": np.array(list(table.dates.values()), dtype=str),
        "table_num_names": np.array([c["name"] for c in table.numeric], dtype=str),
    }
    for key in ("shift", "scale", "mul", "add"):
        arrays[f"table_num_{key}"] = np.array([c[key] for c in table.numeric], dtype=np.float64)
    arrays["table_num_fill"] = np.array(
        [np.nan if c["fill"] is None else c["fill"] for c in table.numeric], dtype=np.float64
    )
    cats = table.categorical
    arrays["table_cat_names"] = np.array([c["name"] for c in cats], dtype=str)
    arrays["table_cat_values"], arrays["table_cat_offsets"] = flat([c["categories"] for c in cats])
    arrays["table_cat_rare"], arrays["table_cat_rare_offsets"] = flat(
        [c["infrequent"] or [] for c in cats]
    )
    arrays["table_cat_has_rare"] = np.array([c["infrequent"] is not None for c in cats], dtype=bool)
    arrays["table_cat_fill"] = np.array([c["fill"] or "" for c in cats], dtype=str)
    arrays["table_cat_has_fill"] = np.array([c["fill"] is not None for c in cats], dtype=bool)
    return arrays
