"""The ONNX graph of a trained model: raw features in, probabilities or predictions out.

Needs the optional extra ``mlptrain[onnx]``. One small block of standard ONNX operators per
layer, emitted by the layer's export op (the registry's ``export``, as for weights.npz); the scaler in front, the head behind.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from mlptrain.nn.activations import GELU
from mlptrain.serving.export_arrays import input_scaling, layer_arrays


def onnx_available() -> bool:
    try:
        import onnx  # noqa: F401
    except ImportError:
        return False
    return True


def build_onnx(predictor: Any) -> Any:
    """An ONNX ModelProto of the predictor: input ``features`` (raw), output ``output``."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = predictor.model
    dtype = model.dtype
    elem = TensorProto.FLOAT if dtype == np.float32 else TensorProto.DOUBLE
    nodes: list[Any] = []
    inits: list[Any] = []
    counter = [0]

    def const(name: str, value: Any) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def node(op: str, inputs: list[str], **attrs: Any) -> str:
        counter[0] += 1
        output = f"t{counter[0]}_{op.lower()}"
        nodes.append(helper.make_node(op, inputs, [output], **attrs))
        return output

    n_features = int(predictor.meta["n_features"])
    if getattr(predictor, "table", None) is not None:
        # raw columns in: one (N, 1) input per feature column, the preprocessing as nodes
        from mlptrain.data.frame import DEFAULT_NA_VALUES
        from mlptrain.serving.table_export import table_graph

        data = (predictor.meta.get("config") or {}).get("data") or {}
        na_values = list(data.get("na_values") or DEFAULT_NA_VALUES)
        graph_inputs, x = table_graph(predictor.table, dtype, na_values, node, inits)
    else:
        graph_inputs = [helper.make_tensor_value_info("features", elem, [None, n_features])]
        shift, scale = input_scaling(predictor)
        x = node("Sub", ["features", const("scaler_shift", shift)])
        x = node("Div", [x, const("scaler_scale", scale)])

    def shape(name: str, dims: list[int]) -> str:
        inits.append(numpy_helper.from_array(np.asarray(dims, dtype=np.int64), name))
        return name

    kinds, arrays = layer_arrays(model)
    for index, kind in enumerate(kinds):
        key = f"layer{index}."
        if kind == "linear":
            x = node("MatMul", [x, const(key + "W", arrays[key + "W"])])
            x = node("Add", [x, const(key + "b", arrays[key + "b"])])
        elif kind == "relu":
            x = node("Relu", [x])
        elif kind == "leaky_relu":
            x = node("LeakyRelu", [x], alpha=float(arrays[key + "negative_slope"]))
        elif kind == "sigmoid":
            x = node("Sigmoid", [x])
        elif kind == "tanh":
            x = node("Tanh", [x])
        elif kind == "gelu":
            # y = ½ x (1 + tanh(c (x + k x³))), the approximation mlptrain uses
            cube = node("Mul", [node("Mul", [x, x]), x])
            inner = node("Add", [x, node("Mul", [cube, const(key + "k", GELU._K)])])
            t = node("Tanh", [node("Mul", [inner, const(key + "c", GELU._C)])])
            half_x = node("Mul", [x, const(key + "half", 0.5)])
            x = node("Mul", [half_x, node("Add", [t, const(key + "one", 1.0)])])
        elif kind == "batchnorm":
            inv_std = 1.0 / np.sqrt(arrays[key + "running_var"] + arrays[key + "eps"])
            x = node("Sub", [x, const(key + "mean", arrays[key + "running_mean"])])
            x = node("Mul", [x, const(key + "inv_std", inv_std)])
            x = node("Mul", [x, const(key + "gamma", arrays[key + "gamma"])])
            x = node("Add", [x, const(key + "beta", arrays[key + "beta"])])
        elif kind == "ensemble":  # (n, d) -> member rows (k n, d), member m scaled by r_m
            r = arrays[key + "r"]
            k, d = r.shape
            rows = node("Reshape", [x, shape(key + "rows", [1, -1, d])])
            x = node("Mul", [rows, const(key + "r", r.reshape(k, 1, d))])
            x = node("Reshape", [x, shape(key + "flat", [-1, d])])
        elif kind == "ensemble_linear":  # each member's block times its own W_m
            W, b = arrays[key + "W"], arrays[key + "b"]
            k, d_in, d_out = W.shape
            x = node("Reshape", [x, shape(key + "members", [k, -1, d_in])])
            x = node("MatMul", [x, const(key + "W", W)])
            x = node("Add", [x, const(key + "b", b.reshape(k, 1, d_out))])
            x = node("Reshape", [x, shape(key + "flat", [-1, d_out])])
        elif kind == "ensemble_mean":  # evaluation: the mean over the k member blocks
            k = int(arrays[key + "k"])
            width = model.modules[index - 1].out_features  # the output layer's units
            x = node("Reshape", [x, shape(key + "members", [k, -1, width])])
            x = node("ReduceMean", [x], axes=[0], keepdims=0)
        # identity (and dropout at inference): nothing to do
    if model.head == "softmax":
        x = node("Softmax", [x], axis=1)
    elif model.head == "sigmoid":
        p = node("Sigmoid", [x])
        x = node("Concat", [node("Sub", [const("one", 1.0), p]), p], axis=1)
    elif predictor.trained.output_scale is not None and predictor.trained.output_shift is not None:
        x = node("Mul", [x, const("output_scale", predictor.trained.output_scale)])
        x = node("Add", [x, const("output_shift", predictor.trained.output_shift)])
    nodes.append(helper.make_node("Identity", [x], ["output"]))
    graph = helper.make_graph(
        nodes,
        "mlptrain",
        graph_inputs,
        [helper.make_tensor_value_info("output", elem, [None, None])],
        initializer=inits,
    )
    proto = helper.make_model(
        graph,
        producer_name="mlptrain",
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)],
    )
    proto.ir_version = min(proto.ir_version, 8)  # readable by older onnxruntime releases
    labels = predictor.encoder.to_list() if predictor.encoder is not None else None
    helper.set_model_props(
        proto,
        {
            "classes": json.dumps(labels),
            "feature_names": json.dumps(predictor.feature_names),
            "output": "probabilities" if predictor.encoder is not None else "predictions",
        },
    )
    onnx.checker.check_model(proto)
    return proto
