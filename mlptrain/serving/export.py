"""Export a trained model for use without mlptrain: NumPy (a standalone script) or ONNX.

``export_numpy`` writes a folder with ``weights.npz`` (layers, scaler, labels; plain arrays
only, labels as a string array, so ``np.load(allow_pickle=False)`` reads it) and a standalone
``predict.py`` that needs only NumPy and reproduces ``Predictor.predict`` exactly: the same
scaling (computed in float64, cast to the model's dtype), the same forward in the same dtype,
the same head. ``export_onnx`` needs the optional extra ``mlptrain[onnx]``; its graph takes raw
features and outputs class probabilities (classifiers) or predictions (regression).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from mlptrain.errors import UserInputError
from mlptrain.nn.activations import GELU, Identity, LeakyReLU, ReLU, Sigmoid, Tanh
from mlptrain.nn.batchnorm import BatchNorm1d
from mlptrain.nn.dropout import Dropout
from mlptrain.nn.linear import Linear

FORMATS = ("numpy", "onnx")
EXPORT_FORMAT_VERSION = 1

_SIMPLE = {ReLU: "relu", Sigmoid: "sigmoid", Tanh: "tanh", GELU: "gelu", Identity: "identity"}


def _layer_arrays(model: Any) -> tuple[list[str], dict[str, np.ndarray]]:
    """Layer kinds in order, and their arrays under ``layer<i>.<name>``."""
    kinds: list[str] = []
    arrays: dict[str, np.ndarray] = {}
    for index, module in enumerate(model.modules):
        key = f"layer{index}."
        if isinstance(module, Linear):
            kinds.append("linear")
            arrays[key + "W"] = module.params["W"].copy()
            arrays[key + "b"] = module.params["b"].copy()
        elif isinstance(module, LeakyReLU):
            kinds.append("leaky_relu")
            arrays[key + "negative_slope"] = np.array(module.negative_slope, dtype=np.float64)
        elif isinstance(module, Dropout):
            kinds.append("identity")  # inverted dropout is the identity at inference
        elif isinstance(module, BatchNorm1d):
            kinds.append("batchnorm")
            for name in ("gamma", "beta"):
                arrays[key + name] = module.params[name].copy()
            for name in ("running_mean", "running_var"):
                arrays[key + name] = module.buffers[name].copy()
            arrays[key + "eps"] = np.array(module.eps, dtype=np.float64)
        elif type(module) in _SIMPLE:
            kinds.append(_SIMPLE[type(module)])
        else:
            raise UserInputError(f"layer {index} {module!r}: cannot be exported")
    return kinds, arrays


def input_scaling(predictor: Any) -> tuple[np.ndarray, np.ndarray]:
    """(shift, scale) of the inputs, ``x' = (x - shift) / scale``. A model trained on a table
    of numeric columns folds its scaler into these (within float rounding); gaps and
    categorical columns are not exported yet."""
    table = getattr(predictor, "table", None)
    if table is None:
        shift, scale = predictor.scaler.shift, predictor.scaler.scale
        return np.asarray(shift, dtype=np.float64), np.asarray(scale, dtype=np.float64)
    if table.categorical or table.indicators:
        # the standalone script encodes the raw columns itself (table_arrays): identity here
        width = table.width
        return np.zeros(width), np.ones(width)
    # ((x - s) / c) * m + a  ==  (x - (s - a * c / m)) / (c / m)
    s, c, m, a = (np.array([col[k] for col in table.numeric], dtype=np.float64)
                  for k in ("shift", "scale", "mul", "add"))  # fmt: skip
    return s - a * c / m, c / m


def export_arrays(predictor: Any) -> dict[str, np.ndarray]:
    """Everything the standalone script needs, as plain (non-object) arrays."""
    model = predictor.model
    kinds, arrays = _layer_arrays(model)
    arrays["format_version"] = np.array(EXPORT_FORMAT_VERSION)
    arrays["layer_types"] = np.array(kinds, dtype=str)
    arrays["head"] = np.array(model.head, dtype=str)
    arrays["dtype"] = np.array(str(model.dtype), dtype=str)
    shift, scale = input_scaling(predictor)
    arrays["scaler_shift"], arrays["scaler_scale"] = shift, scale
    names = predictor.feature_names or [f"x{j}" for j in range(int(predictor.meta["n_features"]))]
    arrays["feature_names"] = np.array(names, dtype=str)
    if predictor.encoder is not None:
        arrays["classes"] = np.array([str(c) for c in predictor.encoder.to_list()], dtype=str)
    if getattr(predictor, "table", None) is not None:
        from mlptrain.serving.table_export import table_arrays

        arrays.update(table_arrays(predictor))
    if model.output_scale is not None and model.output_shift is not None:
        arrays["output_scale"] = model.output_scale.copy()
        arrays["output_shift"] = model.output_shift.copy()
    return arrays


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _prepare_out(out: Path, files: list[str], *, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise UserInputError(f"--out {out}: exists and is not a directory")
    taken = [name for name in files if (out / name).exists()]
    if taken and not force:
        raise UserInputError(
            f"--out {out}: already holds {', '.join(taken)}; choose another folder or pass --force"
        )
    out.mkdir(parents=True, exist_ok=True)


def export_numpy(model_path: str | Path, out: str | Path, *, force: bool = False) -> list[Path]:
    """Write ``weights.npz`` and ``predict.py`` into ``out``; return the paths written."""
    from mlptrain.api import load
    from mlptrain.store.atomic import atomic_write_bytes, atomic_write_text

    predictor = load(model_path)
    arrays = export_arrays(predictor)
    out = Path(out)
    _prepare_out(out, ["weights.npz", "predict.py"], force=force)
    atomic_write_bytes(out / "weights.npz", _npz_bytes(arrays))
    atomic_write_text(out / "predict.py", STANDALONE_SCRIPT)
    return [out / "weights.npz", out / "predict.py"]


def onnx_available() -> bool:
    try:
        import onnx  # noqa: F401
    except ImportError:
        return False
    return True


def export_onnx(model_path: str | Path, out: str | Path, *, force: bool = False) -> list[Path]:
    """Write ``model.onnx`` (raw features in; probabilities or predictions out) into ``out``."""
    if not onnx_available():
        raise UserInputError(
            "--format onnx needs the onnx package: install mlptrain[onnx] "
            "(pip install 'mlptrain[onnx]')"
        )
    from mlptrain.api import load
    from mlptrain.store.atomic import atomic_write_bytes

    predictor = load(model_path)
    graph_model = build_onnx(predictor)
    out = Path(out)
    _prepare_out(out, ["model.onnx"], force=force)
    atomic_write_bytes(out / "model.onnx", graph_model.SerializeToString())
    return [out / "model.onnx"]


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
    kinds, arrays = _layer_arrays(model)
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
        # identity (and dropout at inference): nothing to do
    if model.head == "softmax":
        x = node("Softmax", [x], axis=1)
    elif model.head == "sigmoid":
        p = node("Sigmoid", [x])
        x = node("Concat", [node("Sub", [const("one", 1.0), p]), p], axis=1)
    elif model.output_scale is not None and model.output_shift is not None:
        x = node("Mul", [x, const("output_scale", model.output_scale)])
        x = node("Add", [x, const("output_shift", model.output_shift)])
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


STANDALONE_SCRIPT = '''\
"""Predictions of an mlptrain model exported with `mlptrain export --format numpy`.

Needs only NumPy. Reads raw (unscaled) features from a CSV file with a header or an NPZ file
with an array X, and writes one prediction per row (original class labels) as CSV:

    python predict.py data.csv                      # to stdout
    python predict.py data.npz --proba --output predictions.csv

The weights, the scaler and the labels are in weights.npz beside this file.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def load_weights(path=HERE / "weights.npz"):
    with np.load(path, allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def read_features(path, feature_names):
    """(n, n_features) float64; CSV columns by header name when all are present, else by position."""
    path = Path(path)
    n_features = len(feature_names)
    if path.suffix.lower() == ".npz":
        with np.load(path, allow_pickle=False) as archive:
            X = np.asarray(archive["X"], dtype=np.float64)
    else:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = [row for row in csv.reader(handle) if row]
        header, body = [h.strip() for h in rows[0]], rows[1:]
        if all(name in header for name in feature_names):
            columns = [header.index(name) for name in feature_names]
        else:
            columns = list(range(len(header)))
        try:
            X = np.array([[float(row[j]) for j in columns] for row in body], dtype=np.float64)
        except (ValueError, IndexError) as exc:
            sys.exit(f"error: {path}: every feature must be a number in every row ({exc})")
    if X.ndim != 2 or X.shape[1] != n_features:
        sys.exit(f"error: {path}: X has shape {X.shape}, but the model expects {n_features} features")
    return X


def read_table(path, weights):
    """The raw columns of a CSV in the training file's format: name -> str array."""
    delimiter = str(weights["table_delimiter"])
    delimiter = "\\t" if delimiter == "\\\\t" else delimiter
    with open(path, newline="", encoding="utf-8-sig") as handle:
        text = handle.read()
    lines = [line for line in text.splitlines() if line.strip()]
    if delimiter == "auto":
        delimiter = None
        for candidate in (",", ";", "\\t", "|"):
            widths = {len(row) for row in csv.reader(lines[:50], delimiter=candidate)}
            if len(widths) == 1 and widths.pop() > 1:
                delimiter = candidate
                break
        if delimiter is None:
            sys.exit(f"error: {path}: cannot tell the delimiter; tried ',', ';', '\\\\t', '|'")
    rows = list(csv.reader(lines, delimiter=delimiter))
    features = [str(n) for n in weights["table_features"]]
    if bool(weights["table_header"][0]):
        header, body = [h.strip() for h in rows[0]], rows[1:]
    else:  # by position, as in training, with or without the target column
        header, body = [str(n) for n in weights["table_columns"]], rows
        if len(rows[0]) == len(header) - 1:
            header = [n for n in header if n != str(weights["table_target"])]
    missing = [name for name in features if name not in header]
    if missing:
        sys.exit(f"error: {path}: missing column(s) {', '.join(map(repr, missing))}")
    if any(len(row) != len(header) for row in body):
        sys.exit(f"error: {path}: every row needs {len(header)} fields")
    cells = np.array(body, dtype=str).reshape(len(body), len(header))
    return {name: np.char.strip(cells[:, j]) for j, name in enumerate(header)}


def encode_table(weights, columns):
    """Raw columns -> the encoded matrix, exactly as mlptrain's TableEncoder does it."""
    na = weights["table_na_values"]
    blocks = []
    for j, name in enumerate(weights["table_num_names"]):
        cells = columns[str(name)]
        gaps = np.isin(cells, na)
        try:
            x = np.where(gaps, "nan", cells).astype(np.float64)
        except ValueError:
            sys.exit(f"error: column {str(name)!r} must hold numbers")
        if np.isnan(x).any():
            if np.isnan(weights["table_num_fill"][j]):
                sys.exit(f"error: column {str(name)!r} has missing values; the model refuses gaps")
            x = np.where(np.isnan(x), weights["table_num_fill"][j], x)
        x = (x - weights["table_num_shift"][j]) / weights["table_num_scale"][j]
        blocks.append((x * weights["table_num_mul"][j] + weights["table_num_add"][j])[:, None])
    offsets, rare_offsets = weights["table_cat_offsets"], weights["table_cat_rare_offsets"]
    for j, name in enumerate(weights["table_cat_names"]):
        cells = columns[str(name)]
        known = weights["table_cat_values"][offsets[j] : offsets[j + 1]]
        rare = weights["table_cat_rare"][rare_offsets[j] : rare_offsets[j + 1]]
        has_rare = bool(weights["table_cat_has_rare"][j])
        depth = len(known) + has_rare
        if bool(weights["table_cat_has_fill"][j]):
            cells = np.where(np.isin(cells, na), weights["table_cat_fill"][j], cells)
        elif np.isin(cells, na).any():
            sys.exit(f"error: column {str(name)!r} has missing values; the model refuses gaps")
        index = np.full(len(cells), len(known) if has_rare else depth)
        for k, value in enumerate(known):  # a loop over categories, not rows
            index[cells == value] = k
        index[np.isin(cells, rare)] = len(known)
        blocks.append((index[:, None] == np.arange(depth)[None, :]).astype(np.float64))
    for name in weights["table_indicators"]:
        cells = columns[str(name)]
        blocks.append(np.isin(cells, na).astype(np.float64)[:, None])
    return np.concatenate(blocks, axis=1)


def stable_sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def softmax(logits):
    shifted = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


def forward(weights, X):
    dtype = np.dtype(str(weights["dtype"]))
    x = ((X - weights["scaler_shift"]) / weights["scaler_scale"]).astype(dtype)
    for index, kind in enumerate(weights["layer_types"]):
        key = f"layer{index}."
        if kind == "linear":
            x = x @ weights[key + "W"]
            x += weights[key + "b"]
        elif kind == "relu":
            x = np.maximum(x, 0)
        elif kind == "leaky_relu":
            x = np.where(x > 0, x, x * x.dtype.type(weights[key + "negative_slope"]))
        elif kind == "sigmoid":
            x = stable_sigmoid(x)
        elif kind == "tanh":
            x = np.tanh(x)
        elif kind == "gelu":
            c, k = x.dtype.type(np.sqrt(2.0 / np.pi)), x.dtype.type(0.044715)
            x = x.dtype.type(0.5) * x * (1 + np.tanh(c * (x + k * x * x * x)))
        elif kind == "batchnorm":
            eps = x.dtype.type(weights[key + "eps"])
            inv_std = 1 / np.sqrt(weights[key + "running_var"] + eps)
            x_hat = (x - weights[key + "running_mean"]) * inv_std
            x = x_hat * weights[key + "gamma"] + weights[key + "beta"]
        elif kind != "identity":
            sys.exit(f"error: unknown layer type {kind!r} in weights.npz")
    return x


def predict(weights, X):
    """(labels or values, probabilities or None)."""
    out = forward(weights, X)
    head = str(weights["head"])
    if head == "softmax":
        proba = softmax(out)
    elif head == "sigmoid":
        p = stable_sigmoid(out.reshape(-1))
        proba = np.stack([1 - p, p], axis=1)
    else:
        if "output_scale" in weights:
            out = out * weights["output_scale"] + weights["output_shift"]
        return (out[:, 0] if out.shape[1] == 1 else out), None
    return weights["classes"][proba.argmax(axis=1)], proba


def main(argv=None):
    parser = argparse.ArgumentParser(description="Predict with an exported mlptrain model.")
    parser.add_argument("input", help="CSV (with a header) or NPZ (array X) of raw features")
    parser.add_argument("--output", help="write the CSV here instead of stdout")
    parser.add_argument("--proba", action="store_true", help="add one proba_<label> column per class")
    args = parser.parse_args(argv)
    weights = load_weights()
    if "table_features" in weights and not args.input.lower().endswith(".npz"):
        columns = read_table(args.input, weights)
        X = encode_table(weights, columns)
        ids = [(str(n), columns[str(n)]) for n in weights["table_ids"] if str(n) in columns]
    else:
        X = read_features(args.input, [str(n) for n in weights["feature_names"]])
        ids = []
    predicted, proba = predict(weights, X)
    if args.proba and proba is None:
        sys.exit("error: --proba needs a classifier; this model does regression")
    header, columns = [name for name, _ in ids], [values for _, values in ids]
    if predicted.ndim == 1:
        header, columns = header + ["prediction"], columns + [predicted]
    else:
        header += [f"prediction_{j}" for j in range(predicted.shape[1])]
        columns += [predicted[:, j] for j in range(predicted.shape[1])]
    if args.proba:
        header += [f"proba_{label}" for label in weights["classes"]]
        columns += [proba[:, j] for j in range(proba.shape[1])]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\\n")
    writer.writerow(header)
    for i in range(len(X)):
        writer.writerow([repr(float(c[i])) if c.dtype.kind == "f" else str(c[i]) for c in columns])
    if args.output:
        # written beside the target and renamed: readers see the old file or the new one
        target = Path(args.output)
        temporary = target.with_name(f".{target.name}.tmp")
        temporary.write_text(buffer.getvalue(), encoding="utf-8")
        os.replace(temporary, target)
    else:
        sys.stdout.write(buffer.getvalue())


if __name__ == "__main__":
    main()
'''
