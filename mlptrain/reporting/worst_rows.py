"""The test rows a model got most confidently wrong, or furthest off: the report's ``worst``.

One collector serves both kinds of run. An in-memory run gives it the whole test split at
once (``worst_rows``); a streamed run (``data.stream: true``) gives it each record batch's
test rows in file order, and it keeps only the ``WORST_ROWS`` worst seen so far, so the
memory does not grow with the rows. Rows are ranked by the probability a classifier gave its
wrong answer (right answers are never listed) or by a regression's absolute error on the
first target; ties go to the row seen first, so both kinds of run list the same rows in the
same order for the same predictions (tested).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlptrain.data import Split
from mlptrain.data.coded import in_chunks
from mlptrain.reporting.metrics import decide, probabilities
from mlptrain.reporting.scored_rows import ScoredRows

# The report lists this many of the test split's worst-predicted rows.
WORST_ROWS = 10


@dataclass
class WorstRows:
    """``add_*`` batches of rows, then ``rows()``: the report's entries, worst first.

    ``classes`` are the class names (None: a regression); ``threshold`` a binary model's
    decision threshold, as its ``predict`` applies it."""

    classes: list[str] | None
    threshold: float | None = None
    _held: list[tuple[float, int, dict[str, Any]]] = field(default_factory=list)
    _seen: int = 0  # rows offered so far: a row's rank among equal scores

    def add_probabilities(
        self, proba: np.ndarray, y: np.ndarray, rows: np.ndarray, ids: dict[str, np.ndarray]
    ) -> None:
        """A batch of a classifier's probabilities, with the batch's class indices ``y``, each
        row's position in the data as read and its id columns' text."""
        assert self.classes is not None
        predicted = decide(proba, self.threshold)  # as model.predict does
        confidence = proba[np.arange(len(predicted)), predicted]
        wrong = np.flatnonzero(predicted != y)
        order = wrong[np.argsort(-confidence[wrong], kind="stable")][:WORST_ROWS]
        self._offer(order, -confidence, rows, ids, lambda i: {
            "true": self.classes[int(y[i])],  # type: ignore[index]
            "predicted": self.classes[int(predicted[i])],  # type: ignore[index]
            "probability": float(confidence[i]),
        })  # fmt: skip
        self._seen += len(y)

    def add_values(
        self, values: np.ndarray, truth: np.ndarray, rows: np.ndarray, ids: dict[str, np.ndarray]
    ) -> None:
        """A batch of a regression's predictions and targets (targets' units)."""
        values = np.asarray(values, dtype=np.float64).reshape(len(truth), -1)
        truth = np.asarray(truth, dtype=np.float64).reshape(len(truth), -1)
        error = np.abs(values[:, 0] - truth[:, 0])
        order = np.argsort(-error, kind="stable")[:WORST_ROWS]
        self._offer(order, -error, rows, ids, lambda i: {
            "true": float(truth[i, 0]), "predicted": float(values[i, 0]), "error": float(error[i]),
        })  # fmt: skip
        self._seen += len(truth)

    def offer(self, rows: ScoredRows) -> None:
        """A streamed batch as the report pass scores it (``RowCollector``)."""
        if self.classes is not None:
            proba = probabilities(rows.out)
            self.add_probabilities(proba, rows.targets, rows.positions, rows.ids)
        else:
            self.add_values(rows.out, rows.targets, rows.positions, rows.ids)

    def rows(self) -> list[dict[str, Any]]:
        return [entry for _, _, entry in self._held]

    def _offer(self, order: np.ndarray, key: np.ndarray, rows: np.ndarray,
               ids: dict[str, np.ndarray], describe: Any) -> None:  # fmt: skip
        fresh = [(float(key[i]), self._seen + int(i), {
            "row": int(rows[i]), "ids": {k: str(v[i]) for k, v in ids.items()}, **describe(i),
        }) for i in order]  # fmt: skip
        merged = sorted(self._held + fresh, key=lambda held: held[:2])
        self._held = merged[:WORST_ROWS]


def worst_rows(model: Any, split: Split, classes: list[str] | None) -> list[dict[str, Any]]:
    """The held split's worst rows for ``model`` (a ``TrainedModel``: predictions in the
    targets' units): each with its row of the data as read (0-based), a table's id columns,
    the truth, the prediction and that probability or error."""
    worst = WorstRows(classes, getattr(model, "threshold", None))
    rows = split.rows if split.rows is not None else np.arange(len(split.y))
    if classes is not None:
        worst.add_probabilities(in_chunks(model.predict_proba, split.X), split.y, rows,
                                split.ids or {})  # fmt: skip
    else:
        worst.add_values(in_chunks(model.predict, split.X), split.y, rows, split.ids or {})
    return worst.rows()
