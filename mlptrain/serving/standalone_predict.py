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
        sys.exit(
            f"error: {path}: X has shape {X.shape}, but the model expects {n_features} features"
        )
    return X


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
    parser.add_argument(
        "--proba", action="store_true", help="add one proba_<label> column per class"
    )
    args = parser.parse_args(argv)
    weights = load_weights()
    X = read_features(args.input, [str(n) for n in weights["feature_names"]])
    predicted, proba = predict(weights, X)
    if args.proba and proba is None:
        sys.exit("error: --proba needs a classifier; this model does regression")
    if predicted.ndim == 1:
        header, columns = ["prediction"], [predicted]
    else:
        header = [f"prediction_{j}" for j in range(predicted.shape[1])]
        columns = [predicted[:, j] for j in range(predicted.shape[1])]
    if args.proba:
        header += [f"proba_{label}" for label in weights["classes"]]
        columns += [proba[:, j] for j in range(proba.shape[1])]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
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
