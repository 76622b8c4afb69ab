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


def labelled_inputs(
    predictor: Any, data_path: str | Path, target: str | None = None
) -> tuple[Any, Any, list[str]]:
    """(features, labels, notes) of a labelled file, as ``predictor`` takes features.

    A table model (csv/parquet) reads raw rows as ``predict`` does (columns by name, gaps and
    categories through the saved preprocessing) with the target column taken out. Other models
    find the label column of a CSV by name (``target``, else the run's: ``data.target`` or
    ``"target"``) and match the other columns as ``predict`` does (``match_columns``); an NPZ
    holds its labels in ``y``.
    """
    from mlptrain.data import read_table
    from mlptrain.data.csv_reader import parse_csv
    from mlptrain.data.features import read_labelled_table
    from mlptrain.data.files import check_file
    from mlptrain.data.matching import check_label_column, match_columns, placeholder_names

    data = predictor.meta.data_config
    if predictor.table is not None and target is not None:
        raise UserInputError(
            f"«target» {target}: a model trained on a table reads its label from the column "
            f"it was trained to predict ({predictor.table.state.get('target')!r})"
        )
    if predictor.table is not None and not str(data_path).lower().endswith(".npz"):
        return read_labelled_table(data_path, encoder=predictor.table, data=data)
    label = target or predictor.target_name
    if not str(data_path).lower().endswith(".npz"):
        header = parse_csv(check_file(data_path))[0]
        check_label_column(header, label, asked=target is not None, source=str(data_path))
    raw = read_table(data_path, target=label)
    width = raw.X.shape[1]
    named = raw.feature_names != placeholder_names(width)
    match = match_columns(
        raw.feature_names if named else None,
        width,
        feature_names=predictor.input_names,
        n_features=len(predictor.input_names),
        source=str(data_path),
    )
    return raw.X[:, match.indices], raw.y, list(match.notes)


def score_file(
    model_path: str | Path,
    data_path: str | Path,
    notes: list[str] | None = None,
    target: str | None = None,
) -> dict[str, Any]:
    """Metrics of a run's best model (or a checkpoint's) on all rows of a labelled file; lines
    for the user (columns ignored, rows dropped, unseen categories) go to ``notes``.

    ``target`` names the label column of a CSV for a model not trained on a table (default:
    the run's ``data.target``, else ``"target"``)."""
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
            f"«data_path» {data_path}: unsupported file type {suffix or '(none)'!r}; allowed: "
            + ", ".join(allowed)
        )
    X, labels, read_notes = labelled_inputs(predictor, data_path, target)
    try:
        split = predictor.labelled(X, labels)
    except DataError as exc:
        raise DataError(f"{data_path}: {exc}") from None
    if notes is not None:
        notes.extend([*read_notes, *predictor.threshold_notes()])
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
