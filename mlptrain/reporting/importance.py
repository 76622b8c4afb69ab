"""Permutation importance: how much a split's score drops when one input column is shuffled.

For each column, its values are shuffled across the rows ``repeats`` times and the headline
score (accuracy or R²) recomputed; the importance is the mean drop from the unshuffled score,
with its standard deviation over the repeats. This is scikit-learn's
``sklearn.inspection.permutation_importance``, drawing the same permutations for the same
``seed`` (tests/reporting/test_importance.py checks the two agree), extended to groups of
encoded columns: a table model's categorical column is one-hot encoded into several columns,
which are shuffled together, so the importance is that of the raw column as a whole. The rows
are the validation split's, at most ``MAX_ROWS`` of them (evenly spaced) to bound the time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from mlptrain.reporting.scored_rows import ScoredRows

REPEATS = 5
MAX_ROWS = 5000
SEED = 0


def score_of(task: str, labels_or_targets: np.ndarray, predicted: np.ndarray) -> float:
    """Accuracy or R² (uniform average over targets), the scores of scikit-learn's estimators,
    in NumPy (``epoch_metric``): sklearn.metrics' input checks cost more than the prediction."""
    from mlptrain.reporting.metrics import epoch_metric

    if task == "classification":
        return epoch_metric(task, np.asarray(predicted), np.asarray(labels_or_targets))
    targets = np.asarray(labels_or_targets, dtype=np.float64)
    targets = targets.reshape(len(targets), -1)
    return epoch_metric(task, np.asarray(predicted, np.float64).reshape(targets.shape), targets)


def permutation_importance(
    predict: Callable[[np.ndarray], np.ndarray],
    X: np.ndarray,
    y: np.ndarray,
    groups: Sequence[tuple[str, Sequence[int]]],
    task: str,
    *,
    repeats: int = REPEATS,
    seed: int = SEED,
) -> list[dict[str, Any]]:
    """Per group ``(name, column indices)`` of ``X``: the mean and standard deviation of the
    score's drop over ``repeats`` shuffles of those columns together, largest mean first."""
    baseline = score_of(task, y, predict(X))
    # as scikit-learn: one seed drawn from the random state, reused for every column
    column_seed = np.random.RandomState(seed).randint(np.iinfo(np.int32).max + 1)
    rows = []
    shuffled = X.copy()  # one copy; each group's columns are put back after its shuffles
    for name, indices in groups:
        columns = np.asarray(indices, dtype=np.intp)
        shuffler = np.random.RandomState(column_seed)
        order = np.arange(len(X))
        drops = np.empty(repeats)
        for repeat in range(repeats):
            shuffler.shuffle(order)
            # each shuffle applies to the last one's result, as scikit-learn's does
            shuffled[:, columns] = shuffled[order[:, None], columns]
            drops[repeat] = baseline - score_of(task, y, predict(shuffled))
        shuffled[:, columns] = X[:, columns]
        rows.append(
            {
                "column": name,
                "encoded_columns": len(columns),
                "mean": float(drops.mean()),
                "std": float(drops.std()),
            }
        )
    return sorted(rows, key=lambda row: -row["mean"])


def evenly_spaced(n_rows: int, limit: int = MAX_ROWS) -> np.ndarray:
    """Row indices: all of them, or ``limit`` spread evenly over them."""
    if n_rows <= limit:
        return np.arange(n_rows)
    return np.linspace(0, n_rows - 1, limit).round().astype(int)


class EvenlySpacedRows:
    """The rows ``evenly_spaced(n_rows, limit)`` chooses of a part the report pass scores batch
    by batch, in order (``RowCollector``), kept with their features, targets and the model's
    outputs: what the permutation importance and the prediction sample of a streamed table
    measure, the rows they would take of the part held whole."""

    def __init__(self, n_rows: int, limit: int = MAX_ROWS) -> None:
        self._wanted = evenly_spaced(n_rows, limit)
        self._seen = 0
        self._kept: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def offer(self, rows: ScoredRows) -> None:
        start, self._seen = self._seen, self._seen + len(rows.targets)
        picked = self._wanted[(self._wanted >= start) & (self._wanted < self._seen)] - start
        self._kept.append((rows.X[picked], rows.targets[picked], rows.out[picked]))

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(features, targets, outputs) of the kept rows, in order."""
        X, targets, out = zip(*self._kept, strict=True)
        return np.concatenate(X), np.concatenate(targets), np.concatenate(out)


def importance_entry(
    predict: Callable[[np.ndarray], np.ndarray],
    X: Any,
    y: np.ndarray,
    groups: Sequence[tuple[str, Sequence[int]]],
    task: str,
    split: str,
) -> dict[str, Any]:
    """report.json's ``importance``: where and how it was measured, and the columns. ``X``: an
    array or a table's ``CodedMatrix``, of which only the measured rows are made dense."""
    from mlptrain.reporting.metrics import HEADLINE

    rows = evenly_spaced(len(y))
    return {
        "split": split,
        "metric": HEADLINE[task],
        "repeats": REPEATS,
        "rows": len(rows),
        "columns": permutation_importance(predict, X[rows], y[rows], groups, task),
    }
