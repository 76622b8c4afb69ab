"""The PNG figures of a run, drawn from the report dict alone (like report.md).

``make_figures`` picks the figures that apply to the report (learning curves, learning rate,
confusion matrix and per-class scores, predicted-vs-true and residuals, layer diagnostics)
and writes each one atomically.

Figures are built with matplotlib's object-oriented ``Figure`` and rendered by Agg through
``savefig(format="png")``, never through pyplot. pyplot keeps process-wide state: a registry
of open figures (the classic leak) and the current backend. Calling ``matplotlib.use("Agg")``
from ``api.fit`` in a notebook would switch the user's backend and close their open figures.
A bare ``Figure`` is never registered with pyplot, so nothing can leak or be switched, and
the PNG renderer is chosen by format, whatever the backend. matplotlib is imported only
inside functions so ``mlptrain --help`` does not pay for it.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mlptrain.errors import RunError
from mlptrain.reporting.metrics import HEADLINE
from mlptrain.store.atomic import atomic_write_bytes

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

DPI = 110
# One colour per role, the same in every figure: train is always blue, validation orange.
TRAIN_COLOUR = "#2563eb"
VAL_COLOUR = "#ea580c"
BEST_COLOUR = "#16a34a"
LR_COLOUR = "#7c3aed"
NEUTRAL_COLOUR = "#6b7280"
CLASS_SCORE_COLOURS = {"precision": "#2563eb", "recall": "#ea580c", "f1": "#16a34a"}
HEATMAP = "Blues"

# An update/weight ratio near 1e-3 per step is the usual sign of a well-chosen learning rate
# (much lower: barely learning; much higher: unstable); half a decade either side is shaded.
HEALTHY_UPDATE_RATIO = 1e-3
HEALTHY_BAND = (10**-3.5, 10**-2.5)

# Quantities a history record may carry per layer: (key, panel title, log scale).
LAYER_QUANTITIES: tuple[tuple[str, str, bool], ...] = (
    ("grad_norm", "gradient norm", True),
    ("weight_norm", "weight norm", False),
    ("update_ratio", "update / weight ratio", True),
    ("dead_fraction", "dead ReLU units", False),
    ("saturated_fraction", "saturated units (tanh / sigmoid)", False),
)
_FRACTIONS = {"dead_fraction", "saturated_fraction"}

_HEADLINE_LABELS = {"accuracy": "accuracy", "r2": "R²"}
_MAX_TICK_LABEL = 18

_STYLE: dict[str, Any] = {
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.labelsize": 10,
    "axes.labelcolor": "#374151",
    "axes.edgecolor": "#9ca3af",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#d1d5db",
    "grid.linewidth": 0.6,
    "grid.alpha": 0.7,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "xtick.color": "#4b5563",
    "ytick.color": "#4b5563",
    "legend.frameon": False,
    "legend.fontsize": 9,
    "lines.linewidth": 1.8,
    "figure.titlesize": 12,
    "figure.titleweight": "bold",
}


def make_figures(report: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    """Write the figures that apply to ``report`` into ``out_dir`` (created if needed).

    Returns figure name -> PNG path, in display order; names are the file stems
    (``curves``, ``lr``, ``confusion``, ``per_class``, ``pred_vs_true``, ``residuals``,
    ``diagnostics``). Each file is written atomically: old or new, never partial.
    """
    from matplotlib import rc_context

    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunError(f"could not create the figure directory {out_dir}: {exc}") from exc
    written: dict[str, Path] = {}
    with rc_context(_STYLE):
        for name, draw in FIGURES.items():
            fig = draw(report)
            if fig is None:
                continue
            path = out_dir / f"{name}.png"
            atomic_write_bytes(path, _png_bytes(fig))
            written[name] = path
    return written


def _png_bytes(fig: Figure) -> bytes:
    """Render to memory first so the file on disk is replaced in one atomic step."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    # Drop the artists now rather than at the next garbage collection (large scatters).
    fig.clear()
    return buffer.getvalue()


def _new_figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    # Constrained layout also makes room for colour bars and figure-level legends,
    # which tight_layout does not.
    return Figure(figsize=(width, height), layout="constrained")


def _plain(text: object) -> str:
    """User text (labels, names) shown literally: an unescaped ``$`` would start mathtext,
    and a malformed formula in a class name would make ``savefig`` raise."""
    return str(text).replace("$", r"\$")


def _short(text: object, limit: int = _MAX_TICK_LABEL) -> str:
    """Long labels would squeeze the plot area to nothing; the HTML tables show them whole."""
    value = str(text)
    return _plain(value if len(value) <= limit else value[: limit - 1] + "…")


def _is_number(value: object) -> bool:
    # bool is an int subclass but never a measurement; None is how non-finite values are stored.
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _series(history: list[dict[str, Any]], key: str) -> tuple[np.ndarray, np.ndarray]:
    """(epochs, values) of one history key, skipping epochs where it is missing or null."""
    epochs: list[float] = []
    values: list[float] = []
    for position, record in enumerate(history):
        value = record.get(key)
        if _is_number(value):
            epochs.append(float(record.get("epoch", position + 1)))
            values.append(float(value))
    return np.asarray(epochs), np.asarray(values)


def _integer_epochs(ax: Axes) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _marker(n_points: int) -> str | None:
    # Markers show individual epochs on short runs; on long runs they only add clutter.
    return "o" if n_points <= 30 else None


def _wide_range(values: np.ndarray, ratio: float) -> bool:
    """True when all values are positive and span more than ``ratio`` (log scale reads better)."""
    return bool(values.size and values.min() > 0 and values.max() / values.min() > ratio)


def _curves(report: dict[str, Any]) -> Figure | None:
    """Loss (left) and the headline metric (right) per epoch, train and validation."""
    training = report["training"]
    history = training["history"]
    headline = HEADLINE[report["task"]]
    panels = [
        ("loss", "loss", {s: _series(history, f"{s}_loss") for s in ("train", "val")}),
        (
            headline,
            _HEADLINE_LABELS.get(headline, headline),
            {s: _series(history, f"{s}_{headline}") for s in ("train", "val")},
        ),
    ]
    if not any(len(values) for _, _, series in panels for _, values in series.values()):
        return None
    best = training.get("best_epoch")
    fig = _new_figure(11, 4.2)
    axes = fig.subplots(1, 2)
    for ax, (key, label, series) in zip(axes, panels, strict=True):
        for split, colour in (("train", TRAIN_COLOUR), ("val", VAL_COLOUR)):
            epochs, values = series[split]
            if len(values):
                ax.plot(
                    epochs,
                    values,
                    color=colour,
                    marker=_marker(len(values)),
                    markersize=3.5,
                    label="train" if split == "train" else "validation",
                )
        title = label
        all_values = np.concatenate([values for _, values in series.values()])
        if key == "loss" and _wide_range(all_values, 30):
            ax.set_yscale("log")
            title += " (log scale)"
        if key == "r2" and all_values.size and all_values.min() < -1:
            # Early epochs of a regression can have R² of -100; that would flatten the
            # part of the curve anyone cares about.
            ax.set_ylim(bottom=-1, top=max(1.0, float(all_values.max())) + 0.05)
            title += " (axis clipped at −1)"
        if _is_number(best):
            ax.axvline(
                best, color=BEST_COLOUR, linestyle="--", linewidth=1.2, label=f"best epoch ({best})"
            )
            # Dot the monitored curve (validation if there is one) at the best epoch.
            epochs, values = series["val"] if len(series["val"][1]) else series["train"]
            hit = np.flatnonzero(epochs == best)
            if hit.size:
                ax.plot(
                    best,
                    values[hit[0]],
                    marker="o",
                    markersize=7,
                    color=BEST_COLOUR,
                    markeredgecolor="white",
                    zorder=5,
                )
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        _integer_epochs(ax)
        ax.legend(loc="best")
    fig.suptitle(f"{_plain(report['name'])}: learning curves")
    return fig


def _learning_rate(report: dict[str, Any]) -> Figure | None:
    """Learning rate per epoch, log scale when the schedule spans more than a decade."""
    epochs, rates = _series(report["training"]["history"], "lr")
    if not len(rates):
        return None
    fig = _new_figure(7.5, 3.6)
    ax = fig.subplots()
    ax.plot(epochs, rates, color=LR_COLOUR, marker=_marker(len(rates)), markersize=3.5)
    if _wide_range(rates, 10):
        ax.set_yscale("log")
    else:
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 4))
    schedule = report.get("schedule", {}).get("type", "")
    ax.set_title("learning rate" + (f" (schedule: {_plain(schedule)})" if schedule else ""))
    ax.set_xlabel("epoch")
    ax.set_ylabel("learning rate")
    _integer_epochs(ax)
    return fig


def _test_metrics(report: dict[str, Any]) -> dict[str, Any]:
    if report["task"] != "classification":
        return {}
    return report.get("metrics", {}).get("test") or {}


def _confusion(report: dict[str, Any]) -> Figure | None:
    """Test confusion matrix: raw counts and normalised by true class (each row = recall)."""
    from matplotlib.ticker import MaxNLocator

    test = _test_metrics(report)
    matrix = test.get("confusion_matrix")
    if not matrix:
        return None
    counts = np.asarray(matrix, dtype=np.float64)
    n_classes = counts.shape[0]
    labels = list(test.get("labels") or [])
    if len(labels) != n_classes:
        labels = list(range(n_classes))
    ticks = [_short(label) for label in labels]
    row_totals = counts.sum(axis=1, keepdims=True)
    # A class absent from the test split has an all-zero row: show zeros, not NaN.
    normalised = np.divide(counts, row_totals, out=np.zeros_like(counts), where=row_totals > 0)
    # Side by side up to 12 classes; beyond that the panels are stacked so each can use the
    # full page width and its tick labels stay legible when the browser scales the image down.
    stacked = n_classes > 12
    if stacked:
        panel = min(0.3 * n_classes + 3.0, 10.0)
        fig = _new_figure(panel + 1.2, 2 * panel + 0.8)
    else:
        panel = min(max(0.42 * n_classes + 2.8, 4.4), 5.8)
        fig = _new_figure(2 * panel + 1.4, panel + 0.5)
    grid = (2, 1) if stacked else (1, 2)
    rotate = n_classes > 6 or max(len(t) for t in ticks) > 6
    font = 10 if n_classes <= 8 else 8 if n_classes <= 14 else 6.5
    for ax, values, title, vmax, fmt in (
        (fig.add_subplot(*grid, 1), counts, "counts", max(counts.max(), 1.0), "{:.0f}"),
        (fig.add_subplot(*grid, 2), normalised, "share of each true class", 1.0, "{:.2f}"),
    ):
        image = ax.imshow(values, cmap=HEATMAP, vmin=0, vmax=vmax)
        bar = fig.colorbar(image, ax=ax, shrink=0.82)
        if values is counts:
            bar.locator = MaxNLocator(integer=True)
            bar.update_ticks()
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
        ax.set_title(title)
        ax.grid(False)
        for spine in ax.spines.values():
            spine.set_visible(False)
        if n_classes <= 20:
            for row in range(n_classes):
                for col in range(n_classes):
                    value = values[row, col]
                    # White text on dark cells, dark text on light ones; empty cells are
                    # greyed so the eye goes to the mistakes that did happen.
                    colour = "white" if value > 0.55 * vmax else "#111827"
                    if value == 0:
                        colour = "#9ca3af"
                    ax.text(
                        col,
                        row,
                        "0" if value == 0 else fmt.format(value),
                        ha="center",
                        va="center",
                        fontsize=font,
                        color=colour,
                    )
    fig.suptitle("confusion matrix (test split; rows: true class, columns: predicted)")
    return fig


def _per_class(report: dict[str, Any]) -> Figure | None:
    """Grouped bars of precision, recall and F1 per class on the test split."""
    rows = _test_metrics(report).get("per_class")
    if not rows:
        return None
    n_classes = len(rows)
    fig = _new_figure(min(max(0.8 * n_classes + 3.0, 7.5), 13.0), 4.4)
    ax = fig.subplots()
    positions = np.arange(n_classes)
    width = 0.26
    for offset, (key, colour) in enumerate(CLASS_SCORE_COLOURS.items()):
        scores = [r[key] if _is_number(r.get(key)) else 0.0 for r in rows]
        ax.bar(
            positions + (offset - 1) * width,
            scores,
            width,
            color=colour,
            label="F1" if key == "f1" else key,
        )
    macro = _test_metrics(report).get("f1_macro")
    if _is_number(macro):
        ax.axhline(
            macro,
            color=NEUTRAL_COLOUR,
            linestyle="--",
            linewidth=1,
            label=f"macro F1 ({macro:.3f})",
        )
    # Support under each label says how much to trust a bar; it costs width on many classes.
    ticks = [
        _short(r["label"]) + (f"\n(n={r['support']})" if n_classes <= 12 else "") for r in rows
    ]
    rotate = n_classes > 8 or max(len(str(r["label"])) for r in rows) > 10
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
    # Outside the axes: inside, the legend would hide bars that reach 1.0.
    fig.legend(loc="outside lower center", ncols=4)
    return fig


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


def _pred_vs_true(report: dict[str, Any]) -> Figure | None:
    """Predicted against true values on the test split, with the y = x line of a perfect fit."""
    pairs = _predictions(report)
    if pairs is None:
        return None
    y_true, y_pred, n_targets = pairs
    fig = _new_figure(5.8, 5.4)
    ax = fig.subplots()
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
        if _is_number(test.get(key))
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


def _residuals(report: dict[str, Any]) -> Figure | None:
    """Histogram of residuals (left) and residuals against predictions (right), test split."""
    from matplotlib.ticker import MaxNLocator

    pairs = _predictions(report)
    if pairs is None:
        return None
    y_true, y_pred, _ = pairs
    residuals = y_pred - y_true
    fig = _new_figure(11, 4.2)
    ax_hist, ax_scatter = fig.subplots(1, 2)
    bins = int(min(60, max(10, math.sqrt(residuals.size))))
    ax_hist.hist(residuals, bins=bins, color=TRAIN_COLOUR, edgecolor="white", linewidth=0.5)
    ax_hist.axvline(0, color=NEUTRAL_COLOUR, linestyle="--", linewidth=1.2, label="zero")
    mean = float(residuals.mean())
    ax_hist.axvline(mean, color=VAL_COLOUR, linewidth=1.5, label=f"mean {mean:.3g}")
    ax_hist.set_title("distribution of residuals")
    ax_hist.set_xlabel("residual (predicted − true)")
    ax_hist.set_ylabel("count")
    ax_hist.grid(axis="x", visible=False)
    ax_hist.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax_hist.legend(loc="upper right")
    # A funnel or curve here means errors depend on the value: a pattern the histogram hides.
    ax_scatter.scatter(y_pred, residuals, color=TRAIN_COLOUR, **_scatter_style(residuals.size))
    ax_scatter.axhline(0, color=NEUTRAL_COLOUR, linestyle="--", linewidth=1.2)
    ax_scatter.set_title("residuals vs predicted value")
    ax_scatter.set_xlabel("predicted value")
    ax_scatter.set_ylabel("residual (predicted − true)")
    fig.suptitle("residuals on the test split")
    return fig


def _layer_series(
    history: list[dict[str, Any]],
) -> tuple[dict[str, dict[str, tuple[list[float], list[float]]]], list[str]]:
    """quantity -> layer -> (epochs, values); and the layers in model order (as recorded)."""
    series: dict[str, dict[str, tuple[list[float], list[float]]]] = {}
    order: dict[str, None] = {}
    for position, record in enumerate(history):
        layers = record.get("layers")
        if not isinstance(layers, dict):
            continue
        epoch = float(record.get("epoch", position + 1))
        for layer, stats in layers.items():
            if not isinstance(stats, dict):
                continue
            order[str(layer)] = None
            for quantity, value in stats.items():
                if _is_number(value):
                    epochs, values = series.setdefault(quantity, {}).setdefault(
                        str(layer), ([], [])
                    )
                    epochs.append(epoch)
                    values.append(float(value))
    return series, list(order)


def _diagnostics(report: dict[str, Any]) -> Figure | None:
    """One panel per per-layer quantity, one line per layer over epochs."""
    from matplotlib import colormaps
    from matplotlib.lines import Line2D
    from matplotlib.ticker import PercentFormatter

    series, layer_order = _layer_series(report["training"]["history"])
    if not series:
        return None
    known = [q for q in LAYER_QUANTITIES if q[0] in series]
    # Quantities added later by the training loop still get drawn, on a linear scale.
    known_keys = {key for key, _, _ in LAYER_QUANTITIES}
    extra = [(q, q.replace("_", " "), False) for q in series if q not in known_keys]
    panels = known + extra
    layers = [layer for layer in layer_order if any(layer in s for s in series.values())]
    palette = colormaps["tab10" if len(layers) <= 10 else "tab20"]
    colours = {layer: palette(i % palette.N) for i, layer in enumerate(layers)}
    # Three columns from five panels on, so the figure stays about as tall as a laptop screen.
    n_cols = 1 if len(panels) == 1 else 2 if len(panels) in (2, 4) else 3
    n_rows = math.ceil(len(panels) / n_cols)
    fig = _new_figure({1: 7.5, 2: 11.0, 3: 13.0}[n_cols], 3.2 * n_rows + 1.0)
    axes = fig.subplots(n_rows, n_cols, squeeze=False).ravel()
    for ax, (quantity, title, log) in zip(axes, panels, strict=False):
        all_values: list[float] = []
        for layer, (epochs, values) in series[quantity].items():
            points = [(e, v) for e, v in zip(epochs, values, strict=True) if v > 0 or not log]
            if not points:  # zero gradients cannot go on a log axis
                continue
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, color=colours[layer], marker=_marker(len(xs)), markersize=3)
            all_values += ys
        if log:
            ax.set_yscale("log")
        if quantity == "update_ratio":
            ax.axhspan(*HEALTHY_BAND, color=BEST_COLOUR, alpha=0.12, linewidth=0)
            ax.axhline(HEALTHY_UPDATE_RATIO, color=BEST_COLOUR, linestyle=":", linewidth=1.2)
            # Keep the band in view, so a ratio far from it reads as far.
            low, high = ax.get_ylim()
            ax.set_ylim(min(low, 5e-5), max(high, 2e-2))
            ax.text(
                0.99,
                HEALTHY_UPDATE_RATIO,
                "healthy ≈ 1e-3 ",
                color=BEST_COLOUR,
                fontsize=8,
                ha="right",
                va="bottom",
                transform=ax.get_yaxis_transform(),
            )
        if quantity in _FRACTIONS:
            ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
            ax.set_ylim(0, max(0.05, max(all_values, default=0.0) * 1.15))
        ax.set_title(title + (" (log scale)" if log else ""))
        ax.set_xlabel("epoch")
        _integer_epochs(ax)
    handles = [Line2D([], [], color=colours[layer], linewidth=2) for layer in layers]
    names = [_short(layer, 32) for layer in layers]
    spare = axes[len(panels) :]
    for ax in spare:
        ax.set_axis_off()
    if len(spare) and len(layers) <= 12:
        # An empty grid cell is the one place a legend costs no room.
        spare[0].legend(handles, names, loc="center", title="layer", fontsize=9)
    else:
        fig.legend(
            handles, names, loc="outside lower center", ncols=min(4, len(layers)), title="layer"
        )
    fig.suptitle("layer diagnostics per epoch")
    return fig


# Display order; make_figures writes these in this order and the HTML keeps it.
FIGURES: dict[str, Callable[[dict[str, Any]], Figure | None]] = {
    "curves": _curves,
    "lr": _learning_rate,
    "confusion": _confusion,
    "per_class": _per_class,
    "pred_vs_true": _pred_vs_true,
    "residuals": _residuals,
    "diagnostics": _diagnostics,
}
