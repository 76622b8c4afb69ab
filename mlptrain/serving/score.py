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


def labelled_inputs(predictor: Any, data_path: str | Path) -> tuple[Any, Any, list[str]]:
    """(features, labels, notes) of a labelled file, as ``predictor`` takes features.

    A table model (csv/parquet) reads raw rows as ``predict`` does (columns by name, gaps and
    categories through the saved preprocessing) with the target column taken out; other models
    take the file's feature columns by name (or position) as ``predict`` does.
    """
    from mlptrain.data import read_table
    from mlptrain.data.features import feature_columns, read_labelled_table

    data = (predictor.meta.get("config") or {}).get("data") or {}
    if predictor.table is not None and not str(data_path).lower().endswith(".npz"):
        return read_labelled_table(data_path, encoder=predictor.table, data=data)
    target = data.get("target")
    raw = read_table(data_path, target=target)
    # The feature columns as predict takes them: by name when the file has every training name.
    X = raw.X[:, feature_columns(raw.feature_names, predictor.feature_names, target=None)]
    return X, raw.y, []


def score_file(
    model_path: str | Path, data_path: str | Path, notes: list[str] | None = None
) -> dict[str, Any]:
    """Metrics of a run's best model (or a checkpoint's) on all rows of a labelled file; lines
    for the user (columns ignored, rows dropped, unseen categories) go to ``notes``."""
    from mlptrain.data.tables import TABLE_SUFFIXES
    from mlptrain.reporting.report import split_metrics
    from mlptrain.serving.loading import load
    from mlptrain.session.directory import resolve_checkpoint

    checkpoint = resolve_checkpoint(model_path)
    predictor = load(checkpoint)
    allowed = (*TABLE_SUFFIXES, ".npz") if predictor.table is not None else SUFFIXES
    if not Path(data_path).name.lower().endswith(allowed):
        suffix = Path(data_path).suffix.lower()
        raise UserInputError(
            f"--data {data_path}: unsupported file type {suffix or '(none)'!r}; allowed: "
            + ", ".join(allowed)
        )
    X, labels, read_notes = labelled_inputs(predictor, data_path)
    try:
        split = predictor.labelled(X, labels)
    except DataError as exc:
        raise DataError(f"{data_path}: {exc}") from None
    if notes is not None:
        notes.extend(read_notes)
        if predictor.unseen:
            from mlptrain.data.encoding import unseen_note

            notes.append(unseen_note(predictor.unseen))
    classes = None if predictor.classes is None else [str(c) for c in predictor.classes]
    return {
        "checkpoint": str(checkpoint),
        "split": "data",
        "data": str(data_path),
        "task": predictor.task,
        "n_samples": len(split.y),
        "metrics": split_metrics(predictor.trained, predictor.task, split, classes),
    }
