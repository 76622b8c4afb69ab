"""Evaluation metrics, computed with ``sklearn.metrics`` (imported here, not at CLI start-up).

Per-epoch monitoring inside the training loop uses the cheap numpy forms in ``epoch_metric``;
everything reported goes through scikit-learn so the numbers match what users know.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# The headline metric per task: printed each epoch and used in summaries.
HEADLINE = {"classification": "accuracy", "regression": "r2"}


def epoch_metric(task: str, predictions: np.ndarray, targets: np.ndarray) -> float:
    """Accuracy (predicted class indices vs labels) or R² (values vs targets), in numpy."""
    if task == "classification":
        return float(np.mean(predictions == targets))
    # Per target, then averaged uniformly, as sklearn's r2_score reports it; R² is unchanged
    # by an affine map of targets and predictions together, so loss-space targets give the
    # same value as the original units.
    targets = targets.reshape(len(targets), -1)
    predictions = predictions.reshape(targets.shape)
    residual = np.sum((targets - predictions) ** 2, axis=0, dtype=np.float64)
    total = np.sum((targets - targets.mean(axis=0)) ** 2, axis=0, dtype=np.float64)
    # A constant target: 1 when predicted exactly, else 0 (sklearn's force_finite convention).
    safe = np.where(total > 0, total, 1.0)
    per_target = np.where(total > 0, 1 - residual / safe, np.where(residual == 0, 1.0, 0.0))
    return float(per_target.mean())


def classification_metrics(
    labels: np.ndarray, log_proba: np.ndarray, class_names: list[str]
) -> dict[str, Any]:
    """Every classification metric of the report, for integer labels and the model's log
    class probabilities (``predict_log_proba``).

    ``log_loss`` is the mean of -log p(true class) computed from those exactly, not from
    clipped probabilities: it is the unweighted training loss (cross-entropy or binary
    cross-entropy) on the same rows, so ``val_log_loss`` and ``val_loss`` agree however large
    the logits grow.
    """
    from sklearn import metrics

    n_classes = len(class_names)
    labels = np.asarray(labels)
    predicted = log_proba.argmax(axis=1)
    indices = list(range(n_classes))
    precision, recall, f1, support = metrics.precision_recall_fscore_support(
        labels, predicted, labels=indices, zero_division=0
    )
    result: dict[str, Any] = {
        "accuracy": float(metrics.accuracy_score(labels, predicted)),
        "balanced_accuracy": _balanced_accuracy(labels, predicted),
        "log_loss": float(-np.mean(log_proba[np.arange(len(labels)), labels])),
    }
    for average in ("macro", "weighted"):
        p, r, f, _ = metrics.precision_recall_fscore_support(
            labels, predicted, labels=indices, average=average, zero_division=0
        )
        result[f"precision_{average}"] = float(p)
        result[f"recall_{average}"] = float(r)
        result[f"f1_{average}"] = float(f)
    result["per_class"] = [
        {
            "label": name,
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, name in enumerate(class_names)
    ]
    result["confusion_matrix"] = metrics.confusion_matrix(
        labels, predicted, labels=indices
    ).tolist()
    result["labels"] = list(class_names)
    return result


def regression_metrics(targets: np.ndarray, predictions: np.ndarray) -> dict[str, Any]:
    """mse, rmse, mae, r2 (averaged uniformly over targets when there are several)."""
    from sklearn import metrics

    targets = np.asarray(targets, dtype=np.float64).reshape(predictions.shape)
    predictions = np.asarray(predictions, dtype=np.float64)
    mse = float(metrics.mean_squared_error(targets, predictions))
    return {
        "mse": mse,
        "rmse": float(np.sqrt(mse)),
        "mae": float(metrics.mean_absolute_error(targets, predictions)),
        "r2": float(metrics.r2_score(targets, predictions)),
    }


def _balanced_accuracy(labels: np.ndarray, predicted: np.ndarray) -> float:
    """Mean recall over the classes present in ``labels`` (scikit-learn's definition). A file
    scored with ``evaluate --data`` may lack some classes; scikit-learn then warns that it
    averages over the present ones only, which is the definition, so the warning is dropped."""
    import warnings

    from sklearn import metrics

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
        return float(metrics.balanced_accuracy_score(labels, predicted))


# The scalar metrics report tables show, in order.
SCALAR_METRICS = {
    "classification": [
        "accuracy",
        "balanced_accuracy",
        "precision_macro",
        "recall_macro",
        "f1_macro",
        "f1_weighted",
        "log_loss",
    ],
    "regression": ["r2", "rmse", "mae", "mse"],
}
