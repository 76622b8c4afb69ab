"""Scoring a labelled file with a trained run: ``mlptrain evaluate RUN --data FILE``.

Every row of the file is the evaluation set; nothing is split or refitted. The features go
through the run's saved scaler and the labels through its saved label mapping, by the same
``Predictor.labelled`` that ``predict`` uses for features, so a file is preprocessed exactly as
the training data was. A label the model never saw is an error that names it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlptrain.errors import DataError, UserInputError

SUFFIXES = (".csv", ".npz")


def score_file(model_path: str | Path, data_path: str | Path) -> dict[str, Any]:
    """Metrics of a run's best model (or a checkpoint's) on all rows of a labelled file."""
    from mlptrain.data import read_table
    from mlptrain.data.features import feature_columns
    from mlptrain.reporting.report import split_metrics
    from mlptrain.serving.loading import load
    from mlptrain.session.directory import resolve_checkpoint

    suffix = Path(data_path).suffix.lower()
    if suffix not in SUFFIXES:
        raise UserInputError(
            f"--data {data_path}: unsupported file type {suffix or '(none)'!r}; allowed: "
            + ", ".join(SUFFIXES)
        )
    checkpoint = resolve_checkpoint(model_path)
    predictor = load(checkpoint)
    target = ((predictor.meta.get("config") or {}).get("data") or {}).get("target")
    raw = read_table(data_path, target=target)
    # The feature columns as predict takes them: by name when the file has every training name.
    X = raw.X[:, feature_columns(raw.feature_names, predictor.feature_names, target=None)]
    try:
        split = predictor.labelled(X, raw.y)
    except DataError as exc:
        raise DataError(f"{data_path}: {exc}") from None
    classes = None if predictor.classes is None else [str(c) for c in predictor.classes]
    return {
        "checkpoint": str(checkpoint),
        "split": "data",
        "data": str(data_path),
        "task": predictor.task,
        "n_samples": len(split.y),
        "metrics": split_metrics(predictor.trained, predictor.task, split, classes),
    }
