"""A split's predictions, evenly subsampled: the report's ``predictions``.

``mlptrain report`` redraws the figures of split predictions (ROC, precision-recall,
calibration, threshold, predicted against true, residuals) from the report alone, so the
report keeps up to ``PREDICTION_SAMPLE`` of a split's rows, evenly spaced: the class indices
and probabilities (6 decimals) of a classifier, or the true and predicted values of the first
target of a regression. An in-memory run predicts the chosen rows of the held split
(``prediction_sample``); a streamed run (``data.stream: true``) knows the split's row count
from its first pass, so it knows which rows to keep before it reads them, and keeps them as
the report pass scores each batch (``importance.EvenlySpacedRows``, then ``sample_entry``): the
same rows of the split, in the order the stream reads it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mlptrain.data import Split
from mlptrain.reporting.importance import evenly_spaced
from mlptrain.reporting.metrics import probabilities

PREDICTION_SAMPLE = 2000


def prediction_sample(model: Any, split: Split, classes: list[str] | None = None) -> dict[str, Any]:
    """The held ``split``'s sample for ``model`` (a ``TrainedModel``: predictions in the
    targets' units)."""
    rows = evenly_spaced(len(split.y), PREDICTION_SAMPLE)
    X = split.X[rows]
    out = model.predict_log_proba(X) if classes is not None else model.predict(X)
    return sample_entry(split.y[rows], out, classes, len(split.y))


def sample_entry(
    true: np.ndarray, out: np.ndarray, classes: list[str] | None, n_rows: int
) -> dict[str, Any]:
    """The report's form of the sampled rows: ``out`` is a classifier's log-probabilities
    or a regression's predictions."""
    if classes is not None:
        return {
            "n_rows": n_rows,
            "classes": list(classes),
            "y_true": np.asarray(true, dtype=np.int64).tolist(),
            "proba": np.round(probabilities(out), 6).tolist(),
        }
    predicted = np.asarray(out, dtype=np.float64).reshape(len(true), -1)
    truth = np.asarray(true, dtype=np.float64).reshape(len(true), -1)
    return {"y_true": truth[:, 0].tolist(), "y_pred": predicted[:, 0].tolist()}
