"""How a classifier's probabilities rank and how far they can be trusted: ROC and
precision-recall curves, the reliability diagram, and (binary) the scores against the threshold.

All four read the (label, probabilities) sample that report.json keeps of the test split (val
without one). The curves are computed here in NumPy, as ``sklearn.metrics``' ``roc_curve``
and ``precision_recall_curve`` compute them (tests/reporting/test_ranking_figures.py checks
they agree): importing scikit-learn would cost a figure worker more than drawing. A binary model
draws its positive class; up to ``MAX_CURVE_CLASSES`` classes draw one curve per class
against the rest; more would be a tangle, so those figures are left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mlptrain.reporting.figures.series import short
from mlptrain.reporting.figures.style import (
    BEST_COLOUR,
    NEUTRAL_COLOUR,
    TRAIN_COLOUR,
    VAL_COLOUR,
    panels,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.typing import LegendLocType

MAX_CURVE_CLASSES = 10
# Reliability diagram: equal-width bins of predicted probability.
CALIBRATION_BINS = 10


@dataclass(frozen=True)
class Scores:
    """The kept sample: true class indices, probabilities (rows, classes), class names."""

    labels: np.ndarray
    proba: np.ndarray
    classes: list[str]
    split: str
    n_rows: int  # rows of the split; the sample may hold fewer
    threshold: float

    @property
    def binary(self) -> bool:
        return len(self.classes) == 2

    def where(self) -> str:
        kept = len(self.labels)
        sample = f", {kept:,} of {self.n_rows:,} rows" if kept < self.n_rows else ""
        return f"{self.split} split{sample}"

    def one_vs_rest(self) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """(name, is-this-class, its probability) per curve drawn."""
        if self.binary:
            return [(self.classes[1], self.labels == 1, self.proba[:, 1])]
        return [
            (name, self.labels == k, self.proba[:, k])
            for k, name in enumerate(self.classes)
            if (self.labels == k).any() and (self.labels != k).any()
        ]


def scores_of(report: dict[str, Any]) -> Scores | None:
    if report["task"] != "classification":
        return None
    kept = report.get("predictions") or {}
    for split, sample in kept.items():
        try:
            labels = np.asarray(sample.get("y_true", []), dtype=np.int64)
            proba = np.asarray(sample.get("proba", []), dtype=np.float64)
        except (TypeError, ValueError):  # ragged or non-numeric lists: nothing to draw
            return None
        classes = [str(c) for c in sample.get("classes") or []]
        if proba.ndim != 2 or len(labels) != len(proba) or proba.shape[1] != len(classes):
            return None
        if len(labels) == 0 or not 2 <= len(classes) <= MAX_CURVE_CLASSES:
            return None
        if labels.min() < 0 or labels.max() >= len(classes) or not np.isfinite(proba).all():
            return None
        metrics = (report.get("metrics") or {}).get(split) or {}
        return Scores(
            labels,
            proba,
            classes,
            split,
            int(sample.get("n_rows", len(labels))),
            float(metrics.get("threshold") or 0.5),
        )
    return None


def _colours(n: int) -> list[Any]:
    from matplotlib import colormaps

    if n == 1:
        return [TRAIN_COLOUR]
    return [colormaps["tab10"](i) for i in range(n)]


def _legend(ax: Axes, n_curves: int, loc: LegendLocType) -> None:
    ax.legend(loc=loc, fontsize=8 if n_curves > 5 else 9)


def roc(report: dict[str, Any]) -> Figure | None:
    """ROC curve: true-positive against false-positive rate, with the area under it."""

    def draw(ax: Axes, name: str, positive: np.ndarray, p: np.ndarray, colour: Any) -> None:
        fpr, tpr = roc_points(positive, p)
        ax.plot(fpr, tpr, color=colour, label=f"{short(name)} (AUC {np.trapezoid(tpr, fpr):.3f})")

    fig = _curves_figure(scores_of(report), "ROC", draw)
    if fig is not None:
        ax = fig.axes[0]
        ax.plot([0, 1], [0, 1], color=NEUTRAL_COLOUR, linestyle="--", linewidth=1.2,
                label="chance")  # fmt: skip
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
        _legend(ax, len(ax.lines), "lower right")
    return fig


def pr(report: dict[str, Any]) -> Figure | None:
    """Precision against recall, with the average precision and (binary) the share of
    positives: what a model that ranks at random achieves."""

    def draw(ax: Axes, name: str, positive: np.ndarray, p: np.ndarray, colour: Any) -> None:
        precision, recall, _ = pr_points(positive, p)
        ap = float(np.sum(np.diff(recall, prepend=0.0) * precision))
        ax.step(np.r_[0.0, recall], np.r_[1.0, precision], where="pre", color=colour,
                label=f"{short(name)} (AP {ap:.3f})")  # fmt: skip

    scores = scores_of(report)
    fig = _curves_figure(scores, "precision-recall", draw)
    if fig is not None and scores is not None:
        ax = fig.axes[0]
        if scores.binary:
            rate = float((scores.labels == 1).mean())
            ax.axhline(rate, color=NEUTRAL_COLOUR, linestyle="--", linewidth=1.2,
                       label=f"share of positives {rate:.3f}")  # fmt: skip
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
        _legend(ax, len(ax.lines), "lower left")
    return fig


def _curves_figure(scores: Scores | None, title: str, draw: Any) -> Figure | None:
    """One square panel with a curve per class against the rest (one for a binary model),
    each drawn by ``draw(ax, name, is_positive, p, colour)``; None when there is nothing."""
    curves = [] if scores is None else scores.one_vs_rest()
    if scores is None or not curves:
        return None
    fig, axes = panels(5.8, 5.4, left=0.8, top=0.45)
    ax = axes[0, 0]
    for (name, positive, p), colour in zip(curves, _colours(len(curves)), strict=True):
        draw(ax, name, positive, p, colour)
    _square(ax)
    against = "" if scores.binary else ", each class against the rest"
    ax.set_title(f"{title} ({scores.where()}{against})", fontsize=10)
    return fig


def calibration(report: dict[str, Any]) -> Figure | None:
    """Reliability diagram: in each bin of predicted probability, the share of rows that were
    right, against the mean prediction; below, how many rows fall in each bin. Binary: the
    positive class's probability; more classes: the top class's probability (confidence)."""
    scores = scores_of(report)
    if scores is None:
        return None
    if scores.binary:
        predicted, hit = scores.proba[:, 1], scores.labels == 1
        what = f"p({short(scores.classes[1])})"
    else:
        predicted = scores.proba.max(axis=1)
        hit = scores.proba.argmax(axis=1) == scores.labels
        what = "top-class probability"
    edges = np.linspace(0.0, 1.0, CALIBRATION_BINS + 1)
    bins = np.clip(np.digitize(predicted, edges[1:-1]), 0, CALIBRATION_BINS - 1)
    counts = np.bincount(bins, minlength=CALIBRATION_BINS)
    filled = counts > 0
    mean_predicted = np.bincount(bins, predicted, CALIBRATION_BINS)[filled] / counts[filled]
    observed = np.bincount(bins, hit.astype(np.float64), CALIBRATION_BINS)[filled] / counts[filled]
    fig = _two_rows(6.0, 6.6)
    ax, ax_hist = fig.axes
    ax.plot([0, 1], [0, 1], color=NEUTRAL_COLOUR, linestyle="--", linewidth=1.2,
            label="perfectly calibrated")  # fmt: skip
    ax.plot(mean_predicted, observed, color=TRAIN_COLOUR, marker="o", label="model")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of positives" if scores.binary else "share correct")
    ax.set_title(f"calibration ({scores.where()})", fontsize=10)
    ax.legend(loc="upper left")
    ax.tick_params(labelbottom=False)
    ax_hist.bar(edges[:-1], counts, width=1 / CALIBRATION_BINS, align="edge",
                color=TRAIN_COLOUR, edgecolor="white", linewidth=0.5)  # fmt: skip
    ax_hist.set_xlim(0, 1)
    ax_hist.set_xlabel(what)
    ax_hist.set_ylabel("rows")
    ax_hist.grid(axis="x", visible=False)
    return fig


def threshold(report: dict[str, Any]) -> Figure | None:
    """Binary only: precision, recall and F1 of the positive class at every threshold, with
    the threshold the model's decisions use."""
    scores = scores_of(report)
    if scores is None or not scores.binary or not scores.one_vs_rest():
        return None
    _, positive, p = scores.one_vs_rest()[0]
    precision, recall, cuts = pr_points(positive, p)
    denominator = precision + recall
    f1 = np.divide(2 * precision * recall, denominator, out=np.zeros_like(denominator),
                   where=denominator > 0)  # fmt: skip
    fig, axes = panels(7.2, 4.6, left=0.8, top=0.45)
    ax = axes[0, 0]
    ax.plot(cuts, precision, color=TRAIN_COLOUR, label="precision")
    ax.plot(cuts, recall, color=VAL_COLOUR, label="recall")
    ax.plot(cuts, f1, color=BEST_COLOUR, label="F1")
    ax.axvline(scores.threshold, color=NEUTRAL_COLOUR, linestyle="--", linewidth=1.2,
               label=f"threshold in use ({scores.threshold:g})")  # fmt: skip
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(f"threshold on p({short(scores.classes[1])})")
    ax.set_ylabel("score")
    ax.set_title(f"scores against the threshold ({scores.where()})", fontsize=10)
    ax.legend(loc="lower left")
    return fig


def _counts(positive: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, ...]:
    """(true positives, false positives, threshold) at each distinct score, highest first:
    the rows with score >= threshold are predicted positive."""
    order = np.argsort(-score, kind="mergesort")
    score, hit = score[order], positive[order].astype(np.float64)
    last = np.r_[np.flatnonzero(np.diff(score)), len(score) - 1]  # each distinct score's end
    true_pos = np.cumsum(hit)[last]
    return true_pos, last + 1 - true_pos, score[last]


def roc_points(positive: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(false positive rate, true positive rate) from (0, 0) up, as ``roc_curve`` with
    ``drop_intermediate=False``."""
    true_pos, false_pos, _ = _counts(positive, score)
    return np.r_[0.0, false_pos / false_pos[-1]], np.r_[0.0, true_pos / true_pos[-1]]


def pr_points(positive: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, ...]:
    """(precision, recall, threshold) at each distinct score, highest threshold first, as
    ``precision_recall_curve`` (which lists them lowest first and adds the point (1, 0))."""
    true_pos, false_pos, cuts = _counts(positive, score)
    return true_pos / (true_pos + false_pos), true_pos / true_pos[-1], cuts


def _square(ax: Axes) -> None:
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.02)
    ax.set_aspect("equal")


def _two_rows(width: float, height: float) -> Figure:
    """A tall panel over a short one sharing its x axis (the reliability diagram)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    left, right, top, bottom, gap = 0.85 / width, 0.3 / width, 0.45 / height, 0.6 / height, 0.15
    usable = 1 - top - bottom - gap / height
    fig.add_axes((left, bottom + usable * 0.28 + gap / height, 1 - left - right, usable * 0.72))
    fig.add_axes((left, bottom, 1 - left - right, usable * 0.28))
    return fig
