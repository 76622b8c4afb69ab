"""Test-split figures of a regression: predicted against true, and the residuals."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from mlptrain.reporting.figures.series import is_number
from mlptrain.reporting.figures.style import NEUTRAL_COLOUR, TRAIN_COLOUR, VAL_COLOUR, panels

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _predictions(report: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, int] | None:
    """Finite (true, predicted) pairs of the test split, flattened; and the number of targets."""
    if report["task"] != "regression":
        return None
    test = (report.get("predictions") or {}).get("test") or {}
    try:
        # None (a non-finite prediction stored as null) becomes NaN and is masked below.
        y_true = np.asarray(test.get("y_true", []), dtype=np.float64)
        y_pred = np.asarray(test.get("y_pred", []), dtype=np.float64)
    except (TypeError, ValueError):  # ragged or non-numeric lists: nothing sensible to draw
        return None
    if y_true.size == 0 or y_true.size != y_pred.size:
        return None
    n_targets = y_pred.shape[1] if y_pred.ndim == 2 else 1
    y_true, y_pred = y_true.reshape(-1), y_pred.reshape(-1)
    finite = np.isfinite(y_true) & np.isfinite(y_pred)
    if not finite.any():
        return None
    return y_true[finite], y_pred[finite], n_targets


def _scatter_style(n_points: int) -> dict[str, Any]:
    # Many points: smaller and more transparent, so dense regions show as darker.
    return {
        "s": 16 if n_points < 1000 else 6,
        "alpha": float(min(0.8, max(0.15, 25 / math.sqrt(n_points)))),
        "edgecolors": "none",
    }


def pred_vs_true(report: dict[str, Any]) -> Figure | None:
    """Predicted against true values on the test split, with the y = x line of a perfect fit."""
    pairs = _predictions(report)
    if pairs is None:
        return None
    y_true, y_pred, n_targets = pairs
    fig, axes = panels(5.8, 5.4, left=0.9, top=0.45)
    ax = axes[0, 0]
    ax.scatter(y_true, y_pred, color=TRAIN_COLOUR, **_scatter_style(y_true.size))
    low = float(min(y_true.min(), y_pred.min()))
    high = float(max(y_true.max(), y_pred.max()))
    pad = 0.04 * (high - low or 1.0)
    low, high = low - pad, high + pad
    ax.plot(
        [low, high],
        [low, high],
        color=NEUTRAL_COLOUR,
        linestyle="--",
        linewidth=1.2,
        label="y = x (perfect)",
    )
    ax.set_xlim(low, high)
    ax.set_ylim(low, high)
    ax.set_aspect("equal")
    ax.set_xlabel("true value")
    ax.set_ylabel("predicted value")
    pooled = f", {n_targets} targets pooled" if n_targets > 1 else ""
    ax.set_title(f"predicted vs true (test split{pooled})")
    test = report.get("metrics", {}).get("test", {})
    lines = [f"n = {y_true.size:,}"]
    lines += [
        f"{name} = {test[key]:.3f}"
        for key, name in (("r2", "R²"), ("rmse", "RMSE"))
        if is_number(test.get(key))
    ]
    ax.text(
        0.03,
        0.97,
        "\n".join(lines),
        transform=ax.transAxes,
        va="top",
        fontsize=9,
        bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": "#d1d5db"},
    )
    ax.legend(loc="lower right")
    return fig


def residuals(report: dict[str, Any]) -> Figure | None:
    """Histogram of residuals (left) and residuals against predictions (right), test split."""
    from matplotlib.ticker import MaxNLocator

    pairs = _predictions(report)
    if pairs is None:
        return None
    y_true, y_pred, _ = pairs
    errors = y_pred - y_true
    fig, axes = panels(11, 4.2, 1, 2, left=0.9, top=0.8, wgap=1.0)
    ax_hist, ax_scatter = axes.ravel()
    bins = int(min(60, max(10, math.sqrt(errors.size))))
    ax_hist.hist(errors, bins=bins, color=TRAIN_COLOUR, edgecolor="white", linewidth=0.5)
    ax_hist.axvline(0, color=NEUTRAL_COLOUR, linestyle="--", linewidth=1.2, label="zero")
    mean = float(errors.mean())
    ax_hist.axvline(mean, color=VAL_COLOUR, linewidth=1.5, label=f"mean {mean:.3g}")
    ax_hist.set_title("distribution of residuals")
    ax_hist.set_xlabel("residual (predicted − true)")
    ax_hist.set_ylabel("count")
    ax_hist.grid(axis="x", visible=False)
    ax_hist.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax_hist.legend(loc="upper right")
    # A funnel or curve here means errors depend on the value: a pattern the histogram hides.
    ax_scatter.scatter(y_pred, errors, color=TRAIN_COLOUR, **_scatter_style(errors.size))
    ax_scatter.axhline(0, color=NEUTRAL_COLOUR, linestyle="--", linewidth=1.2)
    ax_scatter.set_title("residuals vs predicted value")
    ax_scatter.set_xlabel("predicted value")
    ax_scatter.set_ylabel("residual (predicted − true)")
    fig.suptitle("residuals on the test split")
    return fig
