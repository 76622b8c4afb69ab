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
    labels: np.ndarray,
    log_proba: np.ndarray,
    class_names: list[str],
    threshold: float | None = None,
) -> dict[str, Any]:
    """Every classification metric of the report, for integer labels and the model's log
    class probabilities (``predict_log_proba``).

    ``log_loss`` is the mean of -log p(true class) computed from those exactly, not from
    clipped probabilities: it is the unweighted training loss (cross-entropy or binary
    cross-entropy) on the same rows, so ``val_log_loss`` and ``val_loss`` agree however large
    the logits grow. The ranking metrics (``roc_auc``, ``average_precision``) read the
    probabilities; a binary model's decisions are p(positive) >= ``threshold`` when one was
    chosen (``evaluate --threshold``), the most probable class otherwise.
    """
    from sklearn import metrics

    n_classes = len(class_names)
    labels = np.asarray(labels)
    proba = probabilities(log_proba)
    predicted = decide(proba, threshold)
    indices = list(range(n_classes))
    precision, recall, f1, support = metrics.precision_recall_fscore_support(
        labels, predicted, labels=indices, zero_division=0
    )
    result: dict[str, Any] = {
        "accuracy": float(metrics.accuracy_score(labels, predicted)),
        "balanced_accuracy": _balanced_accuracy(labels, predicted),
        "log_loss": float(-np.mean(log_proba[np.arange(len(labels)), labels])),
        "mcc": float(metrics.matthews_corrcoef(labels, predicted)),
        **ranking_metrics(labels, proba),
    }
    if n_classes == 2:
        result["positive_class"] = class_names[1]
        result["threshold"] = 0.5 if threshold is None else float(threshold)
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


def probabilities(log_proba: np.ndarray) -> np.ndarray:
    """Class probabilities in float64, each row summing to 1 (scikit-learn checks the sum)."""
    proba = np.exp(np.asarray(log_proba, dtype=np.float64))
    return proba / proba.sum(axis=1, keepdims=True)


def decide(proba: np.ndarray, threshold: float | None = None) -> np.ndarray:
    """Class indices: the most probable class, or for two classes with a ``threshold``,
    class 1 where p(class 1) >= threshold."""
    if threshold is None or proba.shape[1] != 2:
        return proba.argmax(axis=1)
    return (proba[:, 1] >= threshold).astype(np.int64)


def ranking_metrics(labels: np.ndarray, proba: np.ndarray) -> dict[str, float | None]:
    """``roc_auc``, ``average_precision`` and (binary) ``brier`` from the probabilities, as
    scikit-learn computes them: for two classes of class 1's probability; for more, one class
    against the rest, averaged over the classes (macro). Undefined (None) when a class has no
    row, since a curve needs positives and negatives."""
    from sklearn import metrics

    n_classes = proba.shape[1]
    present = np.bincount(labels, minlength=n_classes) > 0
    result: dict[str, float | None] = {"roc_auc": None, "average_precision": None}
    if n_classes == 2:
        result["brier"] = float(metrics.brier_score_loss(labels, proba[:, 1], pos_label=1))
    if not present.all():
        return result
    if n_classes == 2:
        result["roc_auc"] = float(metrics.roc_auc_score(labels, proba[:, 1]))
        result["average_precision"] = float(metrics.average_precision_score(labels, proba[:, 1]))
        return result
    one_hot = np.eye(n_classes, dtype=np.int64)[labels]
    result["roc_auc"] = float(
        metrics.roc_auc_score(labels, proba, multi_class="ovr", average="macro")
    )
    result["average_precision"] = float(
        metrics.average_precision_score(one_hot, proba, average="macro")
    )
    return result


def regression_metrics(targets: np.ndarray, predictions: np.ndarray) -> dict[str, Any]:
    """r2, rmse, mae, mse, median absolute error and mape, averaged uniformly over targets
    when there are several. ``mape`` divides by the targets, so it is undefined (None, with a
    note in ``notes``) when they include zero or change sign."""
    from sklearn import metrics

    targets = np.asarray(targets, dtype=np.float64).reshape(predictions.shape)
    predictions = np.asarray(predictions, dtype=np.float64)
    mse = float(metrics.mean_squared_error(targets, predictions))
    result: dict[str, Any] = {
        "mse": mse,
        "rmse": float(np.sqrt(mse)),
        "mae": float(metrics.mean_absolute_error(targets, predictions)),
        "r2": float(metrics.r2_score(targets, predictions)),
        "median_absolute_error": float(metrics.median_absolute_error(targets, predictions)),
        "mape": None,
    }
    if targets.size and (targets.min() > 0 or targets.max() < 0):
        result["mape"] = float(metrics.mean_absolute_percentage_error(targets, predictions))
    elif targets.size:
        result["notes"] = [MAPE_UNDEFINED]
    return result


MAPE_UNDEFINED = (
    "mape is not reported: the targets include zero or change sign, so a percentage of the "
    "target is undefined or meaningless there"
)


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
        "mcc",
        "roc_auc",
        "average_precision",
        "log_loss",
        "brier",
    ],
    "regression": ["r2", "rmse", "mae", "median_absolute_error", "mape", "mse"],
}

# The test metrics ``mlptrain compare`` shows side by side for runs of one task: the headline,
# how well the model ranks, and how far off it is.
COMPARED_METRICS = {
    "classification": ["accuracy", "roc_auc", "log_loss"],
    "regression": ["r2", "rmse", "mae"],
}
