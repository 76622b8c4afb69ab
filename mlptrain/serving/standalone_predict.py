"""Predictions of an mlptrain model exported with `mlptrain export --format numpy`.

Needs only NumPy. Reads raw (unscaled) features from a CSV file with a header or an NPZ file
with an array X, and writes one prediction per row (original class labels) as CSV:

    python predict.py data.csv                      # to stdout
    python predict.py data.npz --proba --output predictions.csv

The weights, the scaler and the labels are in weights.npz beside this file.
"""

from __future__ import annotations

import argparse
import codecs
import csv
import datetime
import io
import os
import re
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def fail(message):
    """One line on stderr and exit code 2, as `mlptrain predict` does for bad input."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def load_weights(path=HERE / "weights.npz"):
    with np.load(path, allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def read_features(path, feature_names):
    """(n, n_features) float64; CSV columns by header name when all are present, else by position."""
    path = Path(path)
    n_features = len(feature_names)
    if path.suffix.lower() == ".npz":
        X = read_npz_features(path)
    else:
        rows = [row for row in csv.reader(read_text(path).splitlines()) if row]
        if not rows:
            fail(f"{path}: the file is empty; expected a header row, then one row per sample")
        header, body = [h.strip() for h in rows[0]], rows[1:]
        if all(name in header for name in feature_names):
            columns = [header.index(name) for name in feature_names]
        else:
            columns = list(range(len(header)))
        try:  # an empty cell is a missing value, refused below like NaN
            X = np.array(
                [[float(row[j]) if row[j].strip() else np.nan for j in columns] for row in body],
                dtype=np.float64,
            )
        except (ValueError, IndexError) as exc:
            fail(f"{path}: every feature must be a number in every row ({exc})")
    if X.ndim != 2 or X.shape[1] != n_features:
        fail(f"{path}: X has shape {X.shape}, but the model expects {n_features} features")
    check_finite(path, X, feature_names)
    return X


def check_finite(path, X, names):
    """NaN, inf or empty features: one line naming the columns and the first row, exit 2
    (the message of `mlptrain predict`)."""
    bad = ~np.isfinite(X)
    count = int(bad.sum())
    if count == 0:
        return
    per_column = bad.sum(axis=0)
    columns = [f"{names[j]!r} ({int(per_column[j])})" for j in np.flatnonzero(per_column)]
    listed = columns[0] if len(columns) == 1 else ", ".join(columns[:-1]) + " and " + columns[-1]
    first = int(np.flatnonzero(bad.any(axis=1))[0])
    noun = "value" if count == 1 else "values"
    fail(
        f"{path}: {count} missing or non-finite {noun} (NaN, inf or empty) in features, in "
        f"column{'s' if len(columns) > 1 else ''} {listed}; first at row index {first}; "
        "mlptrain does not impute: drop or fill those rows"
    )


def read_text(path, encoding="utf-8"):
    python = "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding
    try:
        with open(path, newline="", encoding=python) as handle:
            return handle.read()
    except UnicodeDecodeError as exc:
        fail(
            f"{path}: not {encoding} text ({exc.reason} at byte {exc.start}); save it as {encoding}"
        )


def parse_numbers(cells, weights):
    """Cells as float64, written as the training file wrote its numbers: a decimal comma,
    a thousands separator grouping digits by three (mlptrain.data.numbers)."""
    decimal = str(weights["table_decimal"]) if "table_decimal" in weights else "."
    thousands = str(weights["table_thousands"]) if "table_thousands" in weights else "auto"
    if decimal == ".":
        try:
            return cells.astype(np.float64)
        except ValueError:
            pass
    if thousands == "auto":
        thousands = "." if decimal == "," else ","
    whole = r"\d+"
    if thousands != "none":
        whole = r"(?:\d{1,3}(?:" + re.escape(thousands) + r"\d{3})+|\d+)"
    d = re.escape(decimal)
    pattern = re.compile(r"[+-]?(?:" + whole + r"(?:" + d + r"\d*)?|" + d + r"\d+)")
    if not all(pattern.fullmatch(c) for c in cells if c != "nan"):
        raise ValueError("not numbers")
    if thousands != "none":
        cells = np.char.replace(cells, thousands, "")
    return np.char.replace(cells, decimal, ".").astype(np.float64)


def read_parquet_columns(path):
    """A Parquet table's columns as str arrays (missing cells as ''); needs pyarrow."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        fail(f"{path}: reading Parquet needs pyarrow (pip install pyarrow); or give a CSV")
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow's errors differ by version; one line either way
        fail(f"{path}: not a readable Parquet file ({exc})")
    return {
        name: np.array(["" if v is None else str(v) for v in table.column(name).to_pylist()])
        for name in table.column_names
    }


def read_npz_features(path):
    try:
        with np.load(path, allow_pickle=False) as archive:
            if "X" not in archive.files:
                fail(f"{path}: no array 'X' (it holds: {', '.join(archive.files) or 'nothing'})")
            return np.asarray(archive["X"], dtype=np.float64)
    except (OSError, ValueError) as exc:
        fail(f"{path}: not a readable .npz file ({exc})")


def read_table(path, weights):
    """The raw columns of a CSV in the training file's format: name -> str array."""
    if str(path).lower().endswith(".parquet"):
        columns = read_parquet_columns(path)
        missing = [str(n) for n in weights["table_features"] if str(n) not in columns]
        if missing:
            fail(f"{path}: missing column(s) {', '.join(map(repr, missing))}")
        return {name: np.char.strip(values) for name, values in columns.items()}
    delimiter = str(weights["table_delimiter"])
    delimiter = "\t" if delimiter == "\\t" else delimiter
    encoding = str(weights["table_encoding"]) if "table_encoding" in weights else "utf-8"
    text = read_text(path, encoding)
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        fail(f"{path}: the file is empty; expected a header row, then one row per sample")
    if delimiter == "auto":
        delimiter = None
        for candidate in (",", ";", "\t", "|"):
            widths = {len(row) for row in csv.reader(lines[:50], delimiter=candidate)}
            if len(widths) == 1 and widths.pop() > 1:
                delimiter = candidate
                break
        if delimiter is None:
            fail(f"{path}: cannot tell the delimiter; tried ',', ';', '\\t', '|'")
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
        fail(f"{path}: missing column(s) {', '.join(map(repr, missing))}")
    if any(len(row) != len(header) for row in body):
        fail(f"{path}: every row needs {len(header)} fields")
    cells = np.array(body, dtype=str).reshape(len(body), len(header))
    return {name: np.char.strip(cells[:, j]) for j, name in enumerate(header)}


def add_date_parts(weights, columns):
    """Each date column's year, month, weekday, day of year and days since 1970, as the
    model's numeric inputs ``<name>:<part>`` (mlptrain.data.dates)."""
    names = weights.get("table_date_names", np.array([], dtype=str))
    for name, fmt in zip(names, weights.get("table_date_formats", names), strict=True):
        name, fmt = str(name), str(fmt)
        levels, codes = np.unique(columns[name], return_inverse=True)
        when = []
        for level in levels:
            if level in weights["table_na_values"]:
                when.append(np.datetime64("NaT", "s"))
                continue
            try:
                if fmt == "iso":
                    when.append(np.datetime64(level, "s"))
                else:
                    when.append(np.datetime64(datetime.datetime.strptime(level, fmt), "s"))
            except ValueError:
                fail(
                    f"column {name!r} holds {level!r}, which is not a date in the format the "
                    f"model was trained on ({'ISO 8601' if fmt == 'iso' else fmt})"
                )
        when = np.array(when, dtype="datetime64[s]")
        day = when.astype("datetime64[D]")
        year, month = day.astype("datetime64[Y]"), day.astype("datetime64[M]")
        with np.errstate(invalid="ignore"):
            parts = {
                "year": year.astype(np.float64) + 1970,
                "month": (month - year).astype(np.float64) + 1,
                "weekday": (day - np.datetime64("1970-01-05")).astype(np.float64) % 7,
                "yearday": (day - year).astype(np.float64) + 1,
                "days": (when - np.datetime64("1970-01-01", "s")) / np.timedelta64(1, "D"),
            }
        for part, values in parts.items():
            values = np.where(np.isnat(day), np.nan, values)[codes]
            columns[f"{name}:{part}"] = np.char.mod("%.17g", values)
    return columns


def encode_table(weights, columns):
    """Raw columns -> the encoded matrix, exactly as mlptrain's TableEncoder does it."""
    na = weights["table_na_values"]
    blocks = []
    for j, name in enumerate(weights["table_num_names"]):
        cells = columns[str(name)]
        gaps = np.isin(cells, na)
        try:
            x = parse_numbers(np.where(gaps, "nan", cells), weights)
        except ValueError:
            fail(f"column {str(name)!r} must hold numbers")
        if np.isnan(x).any():
            if np.isnan(weights["table_num_fill"][j]):
                fail(f"column {str(name)!r} has missing values; the model refuses gaps")
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
            fail(f"column {str(name)!r} has missing values; the model refuses gaps")
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


def _linear(x, weights, key):
    x = x @ weights[key + "W"]
    x += weights[key + "b"]
    return x


def _leaky_relu(x, weights, key):
    return np.where(x > 0, x, x * x.dtype.type(weights[key + "negative_slope"]))


def _gelu(x, weights, key):
    c, k = x.dtype.type(np.sqrt(2.0 / np.pi)), x.dtype.type(0.044715)
    return x.dtype.type(0.5) * x * (1 + np.tanh(c * (x + k * x * x * x)))


def _batchnorm(x, weights, key):
    eps = x.dtype.type(weights[key + "eps"])
    inv_std = 1 / np.sqrt(weights[key + "running_var"] + eps)
    x_hat = (x - weights[key + "running_mean"]) * inv_std
    return x_hat * weights[key + "gamma"] + weights[key + "beta"]


def _ensemble(x, weights, key):
    """Member rows: k blocks of n rows, each scaled by r_m."""
    r = weights[key + "r"]
    return (r[:, None, :] * x[None, :, :]).reshape(-1, x.shape[1])


def _ensemble_linear(x, weights, key):
    W = weights[key + "W"]
    x = np.matmul(x.reshape(W.shape[0], -1, W.shape[1]), W)
    return (x + weights[key + "b"][:, None, :]).reshape(-1, W.shape[2])


def _ensemble_mean(x, weights, key):
    return x.reshape(int(weights[key + "k"]), -1, x.shape[1]).mean(axis=0)


# Each layer type's inference forward: (x, weights, "layer<i>.") -> outputs.
LAYER_FORWARD = {
    "linear": _linear,
    "relu": lambda x, weights, key: np.maximum(x, 0),
    "leaky_relu": _leaky_relu,
    "sigmoid": lambda x, weights, key: stable_sigmoid(x),
    "tanh": lambda x, weights, key: np.tanh(x),
    "gelu": _gelu,
    "batchnorm": _batchnorm,
    "ensemble": _ensemble,
    "ensemble_linear": _ensemble_linear,
    "ensemble_mean": _ensemble_mean,
    "identity": lambda x, weights, key: x,
}


def forward(weights, X, encoded=False):
    """The model's outputs; ``encoded``: X comes from encode_table, already scaled."""
    dtype = np.dtype(str(weights["dtype"]))
    if encoded:
        x = X.astype(dtype)
    else:
        x = ((X - weights["scaler_shift"]) / weights["scaler_scale"]).astype(dtype)
    for index, kind in enumerate(weights["layer_types"]):
        layer = LAYER_FORWARD.get(str(kind))
        if layer is None:
            fail(f"unknown layer type {kind!r} in weights.npz")
        x = layer(x, weights, f"layer{index}.")
    return x


def predict(weights, X, encoded=False):
    """(labels or values, probabilities or None)."""
    out = forward(weights, X, encoded)
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
    if "threshold" in weights:  # the run's decision threshold on p(class 1)
        return weights["classes"][(proba[:, 1] >= float(weights["threshold"])).astype(int)], proba
    return weights["classes"][proba.argmax(axis=1)], proba


def main(argv=None):
    parser = argparse.ArgumentParser(description="Predict with an exported mlptrain model.")
    parser.add_argument(
        "input", help="CSV (with a header), Parquet (a table model) or NPZ (array X) of features"
    )
    parser.add_argument("--output", help="write the CSV here instead of stdout")
    parser.add_argument(
        "--proba", action="store_true", help="add one proba_<label> column per class"
    )
    args = parser.parse_args(argv)
    if not Path(args.input).is_file():
        fail(f"{args.input}: no such file; give a CSV (with a header) or an NPZ with an array X")
    weights = load_weights()
    encoded = "table_features" in weights and not args.input.lower().endswith(".npz")
    if encoded:  # raw table rows, encoded (and scaled) as mlptrain does
        columns = add_date_parts(weights, read_table(args.input, weights))
        X = encode_table(weights, columns)
        ids = [(str(n), columns[str(n)]) for n in weights["table_ids"] if str(n) in columns]
    else:
        X = read_features(args.input, [str(n) for n in weights["feature_names"]])
        ids = []
    predicted, proba = predict(weights, X, encoded)
    if args.proba and proba is None:
        fail("--proba needs a classifier; this model does regression")
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
