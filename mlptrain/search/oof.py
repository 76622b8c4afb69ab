"""Out-of-fold predictions of a cross-validation: each row outside the test split predicted by
the one fold's model that never saw it (oof.csv, with the row's fold), and every metric of the
report computed on all of them at once (cv.json's ``out_of_fold``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mlptrain.reporting.metrics import classification_metrics, regression_metrics
from mlptrain.reporting.report import finite_or_none

OOF_FILE = "oof.csv"


@dataclass(frozen=True)
class OutOfFold:
    csv_text: str
    metrics: dict[str, Any]


def out_of_fold(folds: Any, results: list[dict[str, Any]]) -> OutOfFold:
    """From ``make_folds``'s folds and ``run_fold``'s results (each with its ``held_out``)."""
    from mlptrain.serving.predict import csv_cell, to_csv

    raw = folds.raw
    rows = np.concatenate([np.asarray(r["held_out"]["rows"], dtype=np.int64) for r in results])
    fold = np.concatenate([np.full(len(r["held_out"]["rows"]), r["fold"]) for r in results])
    order = np.argsort(rows, kind="stable")
    rows, fold = rows[order], fold[order]
    ids = _id_columns(raw, rows)
    header = ["row", "fold", *ids]
    columns: list[np.ndarray] = [rows, fold, *ids.values()]
    if "classes" in results[0]["held_out"]:
        classes, log_proba = _aligned(results)
        log_proba = log_proba[order]
        index = {name: k for k, name in enumerate(classes)}
        truth = np.array([index[str(label)] for label in raw.y[rows]])
        metrics = classification_metrics(truth, log_proba, classes)
        probabilities = np.exp(log_proba)
        header += ["true", "predicted", *[f"proba_{c}" for c in classes]]
        columns += [np.asarray(classes, dtype=object)[truth],
                    np.asarray(classes, dtype=object)[log_proba.argmax(axis=1)],
                    *probabilities.T]  # fmt: skip
    else:
        values = np.concatenate([np.asarray(r["held_out"]["values"]) for r in results])[order]
        truth = np.asarray(raw.y, dtype=np.float64).reshape(len(raw.y), -1)[rows]
        metrics = regression_metrics(truth, values)
        names = [""] if values.shape[1] == 1 else [f"_{j}" for j in range(values.shape[1])]
        header += [f"true{n}" for n in names] + [f"predicted{n}" for n in names]
        columns += [*truth.T, *values.T]
    table = [[csv_cell(column[i]) for column in columns] for i in range(len(rows))]
    return OutOfFold(to_csv(header, table), finite_or_none(metrics))


def _aligned(results: list[dict[str, Any]]) -> tuple[list[str], np.ndarray]:
    """Every fold's log probabilities in one class order (the classes in the order the folds
    name them; a class a fold never trained on has probability 0 there)."""
    classes: list[str] = []
    for result in results:
        classes += [c for c in result["held_out"]["classes"] if c not in classes]
    parts = []
    for result in results:
        fold_proba = np.asarray(result["held_out"]["log_proba"], dtype=np.float64)
        part = np.full((len(fold_proba), len(classes)), -np.inf)
        for j, name in enumerate(result["held_out"]["classes"]):
            part[:, classes.index(name)] = fold_proba[:, j]
        parts.append(part)
    return classes, np.concatenate(parts)


def _id_columns(raw: Any, rows: np.ndarray) -> dict[str, np.ndarray]:
    """A table's id columns' cells for ``rows``, as read: how a user joins oof.csv back."""
    if raw.table is None:
        return {}
    names = [c.name for c in raw.columns or [] if c.kind == "id" and c.name in raw.table.columns]
    return {name: raw.table.columns[name].strings()[rows] for name in names}
