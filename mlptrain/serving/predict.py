"""Predictions for a file of raw features: CSV or NPZ in, CSV out (``mlptrain predict``).

The features go through the run's saved scaler (``mlptrain.api.load`` → ``Predictor``). A CSV
whose header holds every training feature name has those columns taken by name, in training
order (a target column or extra columns are ignored); otherwise the columns are taken by
position and their count must match. Classifiers write the original class labels, and with
``proba`` one ``proba_<label>`` column per class.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np

from mlptrain.errors import UserInputError

INPUT_SUFFIXES = (".csv", ".npz")


def _cell(value: Any) -> str:
    """A value as CSV text: labels as they are, floats so that they read back exactly."""
    if isinstance(value, float | np.floating):
        return repr(float(value))
    if isinstance(value, np.generic):
        return str(value.item())
    return str(value)


def predict_table(
    model_path: str | Path, input_path: str | Path, *, proba: bool = False
) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of predictions for every row of ``input_path``."""
    from mlptrain.data import read_features
    from mlptrain.serving.loading import load

    suffix = Path(input_path).suffix.lower()
    if suffix not in INPUT_SUFFIXES:
        raise UserInputError(
            f"{input_path}: unsupported input type {suffix or '(none)'!r}; allowed: "
            + ", ".join(INPUT_SUFFIXES)
        )
    predictor = load(model_path)
    n_features = int(predictor.meta["n_features"])
    names = predictor.feature_names or [f"x{j}" for j in range(n_features)]
    target = ((predictor.meta.get("config") or {}).get("data") or {}).get("target")
    X, _ = read_features(input_path, feature_names=names, target=target)
    if proba and predictor.encoder is None:
        raise UserInputError("--proba needs a classifier; this model does regression")
    predicted = predictor.predict(X)
    if predicted.ndim == 1:
        header = ["prediction"]
        columns = [predicted]
    else:
        header = [f"prediction_{j}" for j in range(predicted.shape[1])]
        columns = [predicted[:, j] for j in range(predicted.shape[1])]
    if proba:
        probabilities = predictor.predict_proba(X)
        labels = [_cell(c) for c in predictor.classes]  # type: ignore[union-attr]
        header += [f"proba_{label}" for label in labels]
        columns += [probabilities[:, j] for j in range(probabilities.shape[1])]
    rows = [[_cell(col[i]) for col in columns] for i in range(len(X))]
    return header, rows


def to_csv(header: list[str], rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def predict_file(
    model_path: str | Path,
    input_path: str | Path,
    *,
    output: str | Path | None = None,
    proba: bool = False,
) -> str:
    """The predictions as CSV text; also written atomically to ``output`` when given."""
    from mlptrain.store.atomic import atomic_write_text

    text = to_csv(*predict_table(model_path, input_path, proba=proba))
    if output is not None:
        output = Path(output)
        if output.is_dir():
            raise UserInputError(f"--output {output}: is a directory; give a file name")
        if not output.parent.is_dir():
            raise UserInputError(f"--output {output}: directory {output.parent} does not exist")
        atomic_write_text(output, text)
    return text
