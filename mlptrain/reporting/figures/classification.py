"""Test-split figures of a classifier: the confusion matrix and per-class scores."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from mlptrain.reporting.figures.series import is_number, short
from mlptrain.reporting.figures.style import (
    CLASS_SCORE_COLOURS,
    HEATMAP,
    NEUTRAL_COLOUR,
    panels,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# Width of one character of a 9-point tick label, in inches (DejaVu Sans averages ~0.55 em):
# the fixed layout sizes its margins from the longest label.
CHAR_INCHES = 0.075


def _test_metrics(report: dict[str, Any]) -> dict[str, Any]:
    if report["task"] != "classification":
        return {}
    return report.get("metrics", {}).get("test") or {}


def _label_room(ticks: list[str], rotate: bool) -> tuple[float, float]:
    """(width, height) in inches that the tick labels of a y and an x axis take."""
    longest = max((len(t) for t in ticks), default=1) * CHAR_INCHES
    return longest + 0.1, (0.72 * longest + 0.15 if rotate else 0.25)


def confusion(report: dict[str, Any]) -> Figure | None:
    """Test confusion matrix in one panel: each cell's count, coloured by its share of the
    true class (so the diagonal reads as each class's recall, and a small class's mistakes
    are as visible as a large one's). Empty cells stay blank, so the eye goes to the
    mistakes that did happen."""
    test = _test_metrics(report)
    matrix = test.get("confusion_matrix")
    if not matrix:
        return None
    counts = np.asarray(matrix, dtype=np.float64)
    n_classes = counts.shape[0]
    labels = list(test.get("labels") or [])
    if len(labels) != n_classes:
        labels = list(range(n_classes))
    ticks = [short(label) for label in labels]
    row_totals = counts.sum(axis=1, keepdims=True)
    # A class absent from the test split has an all-zero row: zeros, not NaN.
    shares = np.divide(counts, row_totals, out=np.zeros_like(counts), where=row_totals > 0)
    rotate = n_classes > 6 or max(len(t) for t in ticks) > 6
    label_w, label_h = _label_room(ticks, rotate)
    left, bottom = 0.45 + label_w, 0.45 + label_h
    # The matrix grows with the classes, up to most of a page's width; the colour bar takes
    # its right edge.
    panel = min(max(0.42 * n_classes + 2.2, 3.8), 9.0)
    # Right of the matrix: its colour bar, the bar's tick labels and its label.
    right = 1.1
    fig, axes = panels(
        panel + left + right, panel + bottom + 0.6, left=left, right=right, bottom=bottom, top=0.6
    )
    ax = axes[0, 0]
    image = ax.imshow(shares, cmap=HEATMAP, vmin=0, vmax=1)
    # The bar in the right margin, so the matrix keeps its size (and its cells stay square).
    box = ax.get_position()
    bar_axes = fig.add_axes((box.x1 + 0.2 / fig.get_figwidth(), box.y0 + 0.1 * box.height,
                             0.18 / fig.get_figwidth(), 0.8 * box.height))  # fmt: skip
    colour_bar = fig.colorbar(image, cax=bar_axes)
    colour_bar.set_label("share of the true class (row)")
    ax.set_xticks(
        range(n_classes),
        ticks,
        rotation=45 if rotate else 0,
        ha="right" if rotate else "center",
        rotation_mode="anchor",
    )
    ax.set_yticks(range(n_classes), ticks)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title("confusion matrix (test split)")
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if n_classes <= 20:
        font = 10 if n_classes <= 8 else 8 if n_classes <= 14 else 6.5
        for row, col in zip(*np.nonzero(counts), strict=True):
            # White text on dark cells, dark text on light ones.
            ax.text(
                col,
                row,
                f"{counts[row, col]:.0f}",
                ha="center",
                va="center",
                fontsize=font,
                color="white" if shares[row, col] > 0.55 else "#111827",
            )
    return fig


def per_class(report: dict[str, Any]) -> Figure | None:
    """Grouped bars of precision, recall and F1 per class on the test split."""
    rows = _test_metrics(report).get("per_class")
    if not rows:
        return None
    n_classes = len(rows)
    # Support under each label says how much to trust a bar; it costs width on many classes.
    with_support = n_classes <= 12
    ticks = [_tick(r, with_support) for r in rows]
    rotate = n_classes > 8 or max(len(str(r["label"])) for r in rows) > 10
    lines = [line for tick in ticks for line in tick.split("\n")]
    _, label_h = _label_room(lines, rotate)
    # Below the axes: tick labels (a second line with the support), the axis label, the legend.
    bottom = label_h + (0.25 if with_support else 0.0) + 0.35 + 0.45
    fig, axes = panels(
        min(max(0.8 * n_classes + 3.0, 7.5), 13.0), 4.0 + bottom, bottom=bottom, top=0.45
    )
    ax = axes[0, 0]
    positions = np.arange(n_classes)
    width = 0.26
    for offset, (key, colour) in enumerate(CLASS_SCORE_COLOURS.items()):
        scores = [r[key] if is_number(r.get(key)) else 0.0 for r in rows]
        ax.bar(
            positions + (offset - 1) * width,
            scores,
            width,
            color=colour,
            label="F1" if key == "f1" else key,
        )
    macro = _test_metrics(report).get("f1_macro")
    if is_number(macro):
        ax.axhline(
            macro,
            color=NEUTRAL_COLOUR,
            linestyle="--",
            linewidth=1,
            label=f"macro F1 ({macro:.3f})",
        )
    ax.set_xticks(
        positions,
        ticks,
        rotation=45 if rotate else 0,
        ha="right" if rotate else "center",
        rotation_mode="anchor",
    )
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("score")
    ax.set_xlabel("class")
    ax.grid(axis="x", visible=False)
    ax.set_title("precision, recall and F1 per class (test split)")
    # Below the axes: inside, the legend would hide bars that reach 1.0.
    fig.legend(loc="lower center", ncols=4, bbox_to_anchor=(0.5, 0.01))
    return fig


def _tick(row: dict[str, Any], with_support: bool) -> str:
    return short(row["label"]) + (f"\n(n={row['support']})" if with_support else "")
