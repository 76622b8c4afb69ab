"""The report's metrics accumulated batch by batch, for a split that is never held whole
(``data.stream: true``).

Every metric that is a function of sums over rows is exact: the confusion matrix gives
accuracy, balanced accuracy, precision/recall/F1 (macro and weighted), MCC and the per-class
table by scikit-learn's formulas; log loss and Brier are means of per-row terms; MSE, MAE and
MAPE are means and R² merges per-batch means and squared deviations (Chan et al.).

ROC AUC and average precision rank every row of the split against every other: they are
computed from a histogram of each class's probability (``RANK_BINS`` equal bins on [0, 1],
rows of the class and rows of the others counted apart; memory ``2 x classes x RANK_BINS``
counts, whatever the rows). Rows in one bin count as tied: the AUC is exact unless a positive
and a negative row share a bin, and off by at most half the share of such pairs
(``auc_bound``, given in the report's notes); average precision is exact when no bin holds two
different probabilities. For three classes and more both are one class against the rest,
averaged over the classes (macro), as in memory; more than ``RANK_CLASSES`` classes: None.
The median absolute error comes from a quantile sketch of each target's absolute errors
(``quantile_sketch.MedianSketch``): within a relative 0.1% of the exact median, said in the
report's notes.
Tests check all of them against scikit-learn on the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlptrain.data.moments import TargetMoments
from mlptrain.reporting.metrics import MAPE_UNDEFINED, decide, probabilities
from mlptrain.reporting.quantile_sketch import ACCURACY, MedianSketch

RANK_BINS = 4096
RANK_CLASSES = 256  # more classes: the histograms' memory (2 x classes x bins) is not spent
SKETCHED = (
    f"median_absolute_error of a streamed table (data.stream: true) comes from a quantile "
    f"sketch: within {ACCURACY:.1%} (relative) of the exact value"
)


@dataclass
class ClassificationTally:
    """Sums over the rows of one split for the classification metrics."""

    n_classes: int
    confusion: np.ndarray = field(init=False)
    log_loss_sum: float = 0.0
    brier_sum: float = 0.0
    n: int = 0

    ranked: RankHistograms | None = field(init=False)

    def __post_init__(self) -> None:
        self.confusion = np.zeros((self.n_classes, self.n_classes), dtype=np.int64)
        self.ranked = RankHistograms(self.n_classes) if self.n_classes <= RANK_CLASSES else None

    def add(self, labels: np.ndarray, log_proba: np.ndarray, threshold: float | None) -> None:
        proba = probabilities(log_proba)
        predicted = decide(proba, threshold)
        np.add.at(self.confusion, (labels, predicted), 1)
        if self.ranked is not None:
            self.ranked.add(labels, proba)
        self.log_loss_sum += float(
            -np.sum(log_proba[np.arange(len(labels)), labels], dtype=np.float64)
        )
        if self.n_classes == 2:
            self.brier_sum += float(np.sum((proba[:, 1] - (labels == 1)) ** 2))
        self.n += len(labels)

    def metrics(self, class_names: list[str], threshold: float | None) -> dict[str, Any]:
        c = self.confusion.astype(np.float64)
        true, predicted, correct = c.sum(axis=1), c.sum(axis=0), np.diag(c)
        n = max(self.n, 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            precision = np.where(predicted > 0, correct / predicted, 0.0)
            recall = np.where(true > 0, correct / true, 0.0)
            f1 = np.where(
                precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0
            )
        # scikit-learn's multiclass MCC, from the confusion matrix
        cov_tp = correct.sum() * n - true @ predicted
        cov_pp, cov_tt = n * n - predicted @ predicted, n * n - true @ true
        mcc = 0.0 if cov_pp * cov_tt == 0 else float(cov_tp / np.sqrt(cov_tt * cov_pp))
        present = true > 0
        result: dict[str, Any] = {
            "accuracy": float(correct.sum() / n),
            "balanced_accuracy": float(recall[present].mean()) if present.any() else 0.0,
            "log_loss": self.log_loss_sum / n,
            "mcc": mcc,
            "roc_auc": None,
            "average_precision": None,
        }
        notes = []
        if self.ranked is None:
            notes.append(f"roc_auc and average_precision are not computed for more than "
                         f"{RANK_CLASSES} classes on a streamed table")  # fmt: skip
        elif (true > 0).all():
            auc, ap, bound = self.ranked.metrics()
            result["roc_auc"], result["average_precision"] = auc, ap
            notes.append(
                f"roc_auc and average_precision from {RANK_BINS}-bin histograms of the "
                f"probabilities (streamed): roc_auc within {bound:.2g} of the exact value"
            )
        if self.n_classes == 2:
            result["brier"] = self.brier_sum / n
            result["positive_class"] = class_names[1]
            result["threshold"] = 0.5 if threshold is None else float(threshold)
        support = true
        for average in ("macro", "weighted"):
            weights = np.ones_like(support) if average == "macro" else support
            total = weights.sum()
            for key, values in (("precision", precision), ("recall", recall), ("f1", f1)):
                result[f"{key}_{average}"] = float(values @ weights / total) if total else 0.0
        result["per_class"] = [
            {"label": name, "precision": float(precision[i]), "recall": float(recall[i]),
             "f1": float(f1[i]), "support": int(support[i])}
            for i, name in enumerate(class_names)
        ]  # fmt: skip
        result["confusion_matrix"] = self.confusion.tolist()
        result["labels"] = list(class_names)
        result["notes"] = notes
        return result


@dataclass
class RankHistograms:
    """Per class, the rows of the class and the rows of the others counted by bin of the
    class's probability: ROC AUC and average precision in bounded memory."""

    n_classes: int
    positive: np.ndarray = field(init=False)
    negative: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        shape = (1 if self.n_classes == 2 else self.n_classes, RANK_BINS)
        self.positive = np.zeros(shape, dtype=np.int64)
        self.negative = np.zeros(shape, dtype=np.int64)

    def add(self, labels: np.ndarray, proba: np.ndarray) -> None:
        classes = [1] if self.n_classes == 2 else range(self.n_classes)
        for row, k in enumerate(classes):
            bins = np.minimum((proba[:, k] * RANK_BINS).astype(np.int64), RANK_BINS - 1)
            bins = np.maximum(bins, 0)
            mine = labels == k
            self.positive[row] += np.bincount(bins[mine], minlength=RANK_BINS)
            self.negative[row] += np.bincount(bins[~mine], minlength=RANK_BINS)

    def metrics(self) -> tuple[float, float, float]:
        """(ROC AUC, average precision, the AUC's bound), averaged over the classes."""
        aucs, aps, bounds = [], [], []
        for pos, neg in zip(self.positive.astype(np.float64),
                            self.negative.astype(np.float64), strict=True):  # fmt: skip
            n_pos, n_neg = pos.sum(), neg.sum()
            below = np.cumsum(neg) - neg  # negatives in lower bins
            aucs.append(float((pos @ (below + 0.5 * neg)) / (n_pos * n_neg)))
            bounds.append(float(0.5 * (pos @ neg) / (n_pos * n_neg)))
            # thresholds from the top bin down, as scikit-learn's from the top score down
            tp, fp = np.cumsum(pos[::-1]), np.cumsum(neg[::-1])
            step = pos[::-1] > 0
            aps.append(float(np.sum(pos[::-1][step] / n_pos * tp[step] / (tp[step] + fp[step]))))
        return float(np.mean(aucs)), float(np.mean(aps)), float(np.mean(bounds))


@dataclass
class RegressionTally:
    """Per-target sums over the rows of one split for the regression metrics."""

    # the targets' count, mean and summed squared deviations (R²'s denominator)
    moments: TargetMoments = field(default_factory=TargetMoments)
    squared_error: np.ndarray | None = None
    absolute_error: np.ndarray | None = None
    percentage_error: np.ndarray | None = None
    lowest: float = np.inf
    highest: float = -np.inf
    medians: list[MedianSketch] = field(default_factory=list)  # of |error|, one per target

    def add(self, targets: np.ndarray, predictions: np.ndarray) -> None:
        targets = np.asarray(targets, dtype=np.float64).reshape(len(targets), -1)
        predictions = np.asarray(predictions, dtype=np.float64).reshape(targets.shape)
        if not len(targets):
            return
        error = targets - predictions
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.abs(error) / np.maximum(np.abs(targets), np.finfo(np.float64).eps)
        sums = ((error**2).sum(axis=0), np.abs(error).sum(axis=0), ratio.sum(axis=0))
        if self.moments.mean is None:
            self.squared_error, self.absolute_error, self.percentage_error = sums
        else:
            self.squared_error = self.squared_error + sums[0]  # type: ignore[operator]
            self.absolute_error = self.absolute_error + sums[1]  # type: ignore[operator]
            self.percentage_error = self.percentage_error + sums[2]  # type: ignore[operator]
        if not self.medians:
            self.medians = [MedianSketch() for _ in range(targets.shape[1])]
        for sketch, column in zip(self.medians, np.abs(error).T, strict=True):
            sketch.add(column)
        self.lowest = min(self.lowest, float(targets.min()))
        self.highest = max(self.highest, float(targets.max()))
        self.moments.add(targets)

    def metrics(self) -> dict[str, Any]:
        n, m2 = max(self.moments.n, 1), self.moments.m2
        assert self.squared_error is not None and m2 is not None
        mse = self.squared_error / n
        # a constant target: 1 when predicted exactly, else 0 (scikit-learn's force_finite)
        safe = np.where(m2 > 0, m2, 1.0)
        r2 = np.where(m2 > 0, 1 - self.squared_error / safe,
                      np.where(self.squared_error == 0, 1.0, 0.0))  # fmt: skip
        result: dict[str, Any] = {
            "mse": float(mse.mean()),
            "rmse": float(np.sqrt(mse.mean())),
            "mae": float(np.mean(np.asarray(self.absolute_error) / n)),
            "r2": float(r2.mean()),
            # uniform average over targets, as scikit-learn's median_absolute_error
            "median_absolute_error": float(np.mean([m.median() for m in self.medians])),
            "mape": None,
        }
        notes = [SKETCHED]
        if self.lowest > 0 or self.highest < 0:
            result["mape"] = float(np.mean(np.asarray(self.percentage_error) / n))
        else:
            notes.append(MAPE_UNDEFINED)
        result["notes"] = notes
        return result
