"""The ONNX graph of a trained model: raw features in; labels and probabilities (classifiers)
or predictions (regression) out.

Needs the optional extra ``mlptrain[onnx]``. One small block of standard ONNX operators per
layer, emitted by the layer's export op (the registry's ``export``, as for weights.npz); the scaler in front, the head behind.
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import numpy as np

from mlptrain.errors import UserInputError
from mlptrain.nn.registry import layer_of
from mlptrain.serving.export_arrays import input_scaling, layer_arrays


def onnx_available() -> bool:
    try:
        import onnx  # noqa: F401
    except ImportError:
        return False
    return True


def build_onnx(predictor: Any) -> Any:
    """An ONNX ModelProto of the predictor: input ``features`` (raw; a table model: one input
    per raw column); outputs ``label`` (strings) and ``probabilities`` for a classifier, as
    scikit-learn models converted to ONNX give them, ``predictions`` for a regression."""
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

    n_features = predictor.meta.n_features
    dates = list(getattr(predictor.table, "dates", None) or [])
    if dates:
        raise UserInputError(
            f"the model reads date column(s) {', '.join(map(repr, dates))}, and ONNX has no "
            "operator that reads dates from text; export --format numpy (its predict.py reads "
            "them)"
        )
    if getattr(predictor, "table", None) is not None:
        # raw columns in: one (N, 1) input per feature column, the preprocessing as nodes
        from mlptrain.data.frame import DEFAULT_NA_VALUES
        from mlptrain.serving.table_export import table_graph

        data = predictor.meta.data_config
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

    builder = SimpleNamespace(node=node, const=const, shape=shape)
    kinds, arrays = layer_arrays(model)
    for index, module in enumerate(model.modules):
        entry = layer_of(module)
        if entry is None or entry.onnx is None:
            raise UserInputError(f"layer {index} {module!r}: has no ONNX form")
        x = entry.onnx(builder, x, arrays, f"layer{index}.")
    if model.head == "softmax":
        x = node("Softmax", [x], axis=1)
    elif model.head == "sigmoid":
        p = node("Sigmoid", [x])
        x = node("Concat", [node("Sub", [const("one", 1.0), p]), p], axis=1)
    elif predictor.trained.output_scale is not None and predictor.trained.output_shift is not None:
        x = node("Mul", [x, const("output_scale", predictor.trained.output_scale)])
        x = node("Add", [x, const("output_shift", predictor.trained.output_shift)])
    if predictor.encoder is None:
        nodes.append(helper.make_node("Identity", [x], ["predictions"]))
        outputs = [helper.make_tensor_value_info("predictions", elem, [None, None])]
    else:
        nodes.append(helper.make_node("Identity", [x], ["probabilities"]))
        label = _label_nodes(predictor, "probabilities", node, const, inits)
        nodes.append(helper.make_node("Identity", [label], ["label"]))
        outputs = [
            helper.make_tensor_value_info("label", TensorProto.STRING, [None]),
            helper.make_tensor_value_info("probabilities", elem, [None, None]),
        ]
    graph = helper.make_graph(nodes, "mlptrain", graph_inputs, outputs, initializer=inits)
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
            "outputs": json.dumps(
                ["label", "probabilities"] if predictor.encoder is not None else ["predictions"]
            ),
        },
    )
    onnx.checker.check_model(proto)
    return proto


def _label_nodes(predictor: Any, proba: str, node: Any, const: Any, inits: list[Any]) -> str:
    """Each row's class label (a string) from its probabilities, decided as ``predict`` decides:
    the most probable class, or with the run's threshold, class 1 where p(class 1) >= it."""
    from onnx import numpy_helper

    labels = np.array([str(c) for c in predictor.encoder.to_list()], dtype=object)
    inits.append(numpy_helper.from_array(labels, "class_labels"))
    threshold = predictor.trained.threshold
    if threshold is None:
        index = node("ArgMax", [proba], axis=1, keepdims=0)
    else:
        column = numpy_helper.from_array(np.array(1, dtype=np.int64), "positive_column")
        inits.append(column)
        p1 = node("Gather", [proba, "positive_column"], axis=1)
        index = node("Cast", [node("GreaterOrEqual", [p1, const("threshold", threshold)])], to=7)
    return node("Gather", ["class_labels", index], axis=0)
