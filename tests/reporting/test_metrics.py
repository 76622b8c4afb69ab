"""Metrics against scikit-learn and against small examples worked by hand."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from sklearn import metrics as skm

from mlptrain.reporting.metrics import (
    HEADLINE,
    classification_metrics,
    epoch_metric,
    regression_metrics,
)


def test_headline_metrics():
    assert HEADLINE == {"classification": "accuracy", "regression": "r2"}


def test_epoch_accuracy_by_hand_and_against_sklearn():
    predicted = np.array([0, 1, 2, 2, 1, 0, 0, 1])
    labels = np.array([0, 1, 1, 2, 1, 2, 0, 0])
    assert epoch_metric("classification", predicted, labels) == 5 / 8
    rng = np.random.default_rng(0)
    predicted, labels = rng.integers(0, 4, 200), rng.integers(0, 4, 200)
    assert epoch_metric("classification", predicted, labels) == pytest.approx(
        skm.accuracy_score(labels, predicted), rel=1e-15
    )


def test_epoch_r2_by_hand_and_against_sklearn():
    targets = np.array([[1.0], [2.0], [3.0], [4.0]])
    predictions = np.array([[1.5], [2.0], [2.5], [4.0]])
    # residual 0.25 + 0 + 0.25 + 0 = 0.5; total 2.25 + 0.25 + 0.25 + 2.25 = 5
    assert epoch_metric("regression", predictions, targets) == pytest.approx(0.9, rel=1e-15)
    rng = np.random.default_rng(1)
    targets = rng.standard_normal((50, 1)) * 3 + 1
    predictions = targets + rng.standard_normal((50, 1))
    assert epoch_metric("regression", predictions, targets) == pytest.approx(
        skm.r2_score(targets, predictions), rel=1e-13
    )


def test_epoch_r2_several_targets_is_the_uniform_average_as_in_reports():
    rng = np.random.default_rng(2)
    targets = rng.standard_normal((40, 3)) * np.array([1.0, 5.0, 0.2])
    predictions = targets + rng.standard_normal((40, 3)) * 0.5
    assert epoch_metric("regression", predictions, targets) == pytest.approx(
        skm.r2_score(targets, predictions), rel=1e-13
    )
    assert epoch_metric("regression", predictions, targets) == pytest.approx(
        regression_metrics(targets, predictions)["r2"], rel=1e-13
    )


def test_epoch_r2_is_negative_for_predictions_worse_than_the_mean():
    targets = np.array([[0.0], [1.0]])
    assert epoch_metric("regression", np.array([[1.0], [0.0]]), targets) == pytest.approx(-3.0)


def test_epoch_r2_constant_targets_gives_zero():
    targets = np.full((4, 1), 2.0)
    assert epoch_metric("regression", targets + 1, targets) == 0.0


def test_classification_metrics_by_hand():
    labels = np.array([0, 0, 1, 1])
    proba = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.3, 0.7]])
    result = classification_metrics(labels, np.log(proba), ["no", "yes"])
    assert result["accuracy"] == 0.75
    # class 0: precision 1/1, recall 1/2; class 1: precision 2/3, recall 2/2
    assert result["balanced_accuracy"] == pytest.approx(0.75)
    assert result["precision_macro"] == pytest.approx((1 + 2 / 3) / 2)
    assert result["recall_macro"] == pytest.approx(0.75)
    f1_0, f1_1 = 2 / 3, 0.8
    assert result["f1_macro"] == pytest.approx((f1_0 + f1_1) / 2)
    assert result["f1_weighted"] == pytest.approx((f1_0 + f1_1) / 2)  # equal supports
    expected_log_loss = -(math.log(0.9) + math.log(0.4) + math.log(0.8) + math.log(0.7)) / 4
    assert result["log_loss"] == pytest.approx(expected_log_loss, rel=1e-12)
    assert result["confusion_matrix"] == [[1, 1], [0, 2]]
    assert result["labels"] == ["no", "yes"]
    assert result["per_class"] == [
        {"label": "no", "precision": 1.0, "recall": 0.5, "f1": pytest.approx(f1_0), "support": 2},
        {"label": "yes", "precision": pytest.approx(2 / 3), "recall": 1.0, "f1": 0.8, "support": 2},
    ]


def test_classification_metrics_against_sklearn():
    rng = np.random.default_rng(3)
    n, k = 300, 4
    labels = rng.integers(0, k, n)
    logits = rng.standard_normal((n, k)) + 1.5 * np.eye(k)[labels]
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    predicted = proba.argmax(axis=1)
    result = classification_metrics(labels, np.log(proba), list("abcd"))
    assert result["accuracy"] == pytest.approx(skm.accuracy_score(labels, predicted))
    assert result["balanced_accuracy"] == pytest.approx(
        skm.balanced_accuracy_score(labels, predicted)
    )
    assert result["log_loss"] == pytest.approx(skm.log_loss(labels, proba), rel=1e-6)
    for average in ("macro", "weighted"):
        p, r, f, _ = skm.precision_recall_fscore_support(labels, predicted, average=average)
        assert result[f"precision_{average}"] == pytest.approx(p)
        assert result[f"recall_{average}"] == pytest.approx(r)
        assert result[f"f1_{average}"] == pytest.approx(f)
    p, r, f, s = skm.precision_recall_fscore_support(labels, predicted)
    for i, row in enumerate(result["per_class"]):
        assert row == {
            "label": "abcd"[i],
            "precision": pytest.approx(p[i]),
            "recall": pytest.approx(r[i]),
            "f1": pytest.approx(f[i]),
            "support": int(s[i]),
        }
    assert result["confusion_matrix"] == skm.confusion_matrix(labels, predicted).tolist()


def test_classification_metrics_keep_classes_absent_from_the_split():
    """A class never seen nor predicted counts as 0 (not 1, not a warning) in the averages."""
    labels = np.array([0, 0, 1])
    proba = np.array([[0.8, 0.1, 0.1], [0.7, 0.2, 0.1], [0.1, 0.8, 0.1]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = classification_metrics(labels, np.log(proba), ["a", "b", "c"])
    for metric in ("precision", "recall", "f1"):
        assert result[f"{metric}_macro"] == pytest.approx(2 / 3)  # (1 + 1 + 0) / 3
        assert result[f"{metric}_weighted"] == pytest.approx(1.0)  # supports 2, 1, 0
    assert result["confusion_matrix"] == [[2, 0, 0], [0, 1, 0], [0, 0, 0]]
    assert result["per_class"][2] == {
        "label": "c",
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "support": 0,
    }
    assert result["log_loss"] == pytest.approx(-(math.log(0.8) + math.log(0.7) + math.log(0.8)) / 3)


def test_regression_metrics_by_hand():
    targets = np.array([1.0, 2.0, 3.0, 4.0])
    predictions = np.array([[2.0], [2.0], [2.0], [6.0]])
    result = regression_metrics(targets, predictions)
    # errors 1, 0, -1, 2: mse 6/4, mae 4/4; total sum of squares 5; absolute errors sorted
    # 0, 1, 1, 2 (median 1); relative errors 1/1, 0/2, 1/3, 2/4
    assert result == {
        "mse": pytest.approx(1.5),
        "rmse": pytest.approx(math.sqrt(1.5)),
        "mae": pytest.approx(1.0),
        "r2": pytest.approx(1 - 6 / 5),
        "median_absolute_error": pytest.approx(1.0),
        "mape": pytest.approx((1 + 0 + 1 / 3 + 1 / 2) / 4),
    }


def test_regression_metrics_against_sklearn_several_targets():
    rng = np.random.default_rng(4)
    targets = rng.standard_normal((30, 2)) * np.array([1.0, 10.0])
    predictions = (targets + rng.standard_normal((30, 2))).astype(np.float32)
    result = regression_metrics(targets, predictions)
    p64 = predictions.astype(np.float64)
    assert result["mse"] == pytest.approx(skm.mean_squared_error(targets, p64), rel=1e-12)
    assert result["rmse"] == pytest.approx(math.sqrt(skm.mean_squared_error(targets, p64)))
    assert result["mae"] == pytest.approx(skm.mean_absolute_error(targets, p64), rel=1e-12)
    assert result["r2"] == pytest.approx(skm.r2_score(targets, p64), rel=1e-12)


def test_epoch_r2_sums_float32_terms_in_float64():
    """Float32 outputs: the squared errors are summed in float64 (math.fsum as reference),
    so the per-epoch R² carries no float32 round-off from the reduction."""
    rng = np.random.default_rng(7)
    targets = rng.standard_normal((20000, 1)).astype(np.float32)
    predictions = (targets + rng.standard_normal((20000, 1)) * 0.3).astype(np.float32)
    residual = math.fsum(((targets - predictions) ** 2).astype(np.float64).ravel())
    centred = targets - targets.mean(axis=0)
    total = math.fsum((centred**2).astype(np.float64).ravel())
    assert epoch_metric("regression", predictions, targets) == pytest.approx(
        1 - residual / total, rel=1e-12, abs=0
    )


def _random_model(n_rows: int, n_classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels and log-probabilities that are informative but imperfect."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, n_rows)
    logits = rng.standard_normal((n_rows, n_classes)) + 1.5 * np.eye(n_classes)[labels]
    log_proba = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return labels, log_proba


def test_binary_ranking_metrics_against_sklearn():
    labels, log_proba = _random_model(300, 2, seed=5)
    p1 = np.exp(log_proba[:, 1])
    result = classification_metrics(labels, log_proba, ["no", "yes"])
    assert result["roc_auc"] == pytest.approx(skm.roc_auc_score(labels, p1), rel=1e-12)
    assert result["average_precision"] == pytest.approx(
        skm.average_precision_score(labels, p1), rel=1e-12
    )
    assert result["brier"] == pytest.approx(skm.brier_score_loss(labels, p1), rel=1e-12)
    predicted = log_proba.argmax(axis=1)
    assert result["mcc"] == pytest.approx(skm.matthews_corrcoef(labels, predicted), rel=1e-12)
    assert result["balanced_accuracy"] == pytest.approx(
        skm.balanced_accuracy_score(labels, predicted), rel=1e-12
    )
    assert result["log_loss"] == pytest.approx(skm.log_loss(labels, np.exp(log_proba)), rel=1e-9)
    assert result["positive_class"] == "yes"
    assert result["threshold"] == 0.5


def test_multiclass_ranking_metrics_are_one_vs_rest_macro_as_sklearn():
    labels, log_proba = _random_model(400, 4, seed=6)
    proba = np.exp(log_proba)
    result = classification_metrics(labels, log_proba, ["a", "b", "c", "d"])
    assert result["roc_auc"] == pytest.approx(
        skm.roc_auc_score(labels, proba, multi_class="ovr", average="macro"), rel=1e-12
    )
    # average precision per class against the rest, then the plain mean
    per_class = [skm.average_precision_score(labels == k, proba[:, k]) for k in range(4)]
    assert result["average_precision"] == pytest.approx(np.mean(per_class), rel=1e-12)
    assert result["mcc"] == pytest.approx(
        skm.matthews_corrcoef(labels, proba.argmax(axis=1)), rel=1e-12
    )
    assert "brier" not in result and "threshold" not in result


def test_ranking_metrics_are_undefined_when_a_class_has_no_row():
    labels, log_proba = _random_model(50, 3, seed=7)
    labels[labels == 2] = 0
    result = classification_metrics(labels, log_proba, ["a", "b", "c"])
    assert result["roc_auc"] is None and result["average_precision"] is None
    assert result["accuracy"] == pytest.approx(skm.accuracy_score(labels, log_proba.argmax(axis=1)))


def test_a_threshold_decides_binary_classes_and_every_decision_metric_follows():
    labels, log_proba = _random_model(300, 2, seed=8)
    p1 = np.exp(log_proba[:, 1])
    result = classification_metrics(labels, log_proba, ["no", "yes"], threshold=0.3)
    predicted = (p1 >= 0.3).astype(int)
    assert predicted.sum() > log_proba.argmax(axis=1).sum()  # the threshold changed decisions
    assert result["threshold"] == 0.3
    assert result["accuracy"] == pytest.approx(skm.accuracy_score(labels, predicted))
    assert result["f1_macro"] == pytest.approx(skm.f1_score(labels, predicted, average="macro"))
    assert result["mcc"] == pytest.approx(skm.matthews_corrcoef(labels, predicted))
    assert result["confusion_matrix"] == skm.confusion_matrix(labels, predicted).tolist()
    # the ranking metrics do not depend on the threshold
    assert result["roc_auc"] == pytest.approx(skm.roc_auc_score(labels, p1))


def test_regression_extra_metrics_against_sklearn():
    rng = np.random.default_rng(9)
    targets = rng.uniform(1, 5, (60, 2))
    predictions = targets + rng.standard_normal((60, 2)) * 0.3
    result = regression_metrics(targets, predictions)
    assert result["median_absolute_error"] == pytest.approx(
        skm.median_absolute_error(targets, predictions), rel=1e-12
    )
    assert result["mape"] == pytest.approx(
        skm.mean_absolute_percentage_error(targets, predictions), rel=1e-12
    )
    assert "notes" not in result
    # all-negative targets keep a meaningful percentage
    assert regression_metrics(-targets, -predictions)["mape"] == pytest.approx(result["mape"])


@pytest.mark.parametrize("targets", [[0.0, 1.0, 2.0], [-1.0, 1.0, 2.0]])
def test_mape_is_refused_with_a_note_where_targets_cross_zero(targets):
    y = np.array(targets)
    result = regression_metrics(y, (y + 0.5).reshape(-1, 1))
    assert result["mape"] is None
    assert result["notes"] == [
        "mape is not reported: the targets include zero or change sign, so a percentage of "
        "the target is undefined or meaningless there"
    ]
