"""The layer-diagnostics figure: one panel per per-layer quantity, one line per layer."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from mlptrain.reporting.figures.series import layer_series, short
from mlptrain.reporting.figures.style import (
    BEST_COLOUR,
    integer_epochs,
    log_y,
    marker,
    panels,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

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


def diagnostics(report: dict[str, Any]) -> Figure | None:
    """One panel per per-layer quantity, one line per layer over epochs."""
    from matplotlib import colormaps
    from matplotlib.lines import Line2D

    found, layer_order = layer_series(report["training"]["history"])
    if not found:
        return None
    known = [q for q in LAYER_QUANTITIES if q[0] in found]
    # Quantities added later by the training loop still get drawn, on a linear scale.
    known_keys = {key for key, _, _ in LAYER_QUANTITIES}
    extra = [(q, q.replace("_", " "), False) for q in found if q not in known_keys]
    quantities = known + extra
    layers = [layer for layer in layer_order if any(layer in s for s in found.values())]
    palette = colormaps["tab10" if len(layers) <= 10 else "tab20"]
    colours = {layer: palette(i % palette.N) for i, layer in enumerate(layers)}
    # Three columns from five panels on, so the figure stays about as tall as a laptop screen.
    n_cols = 1 if len(quantities) == 1 else 2 if len(quantities) in (2, 4) else 3
    n_rows = math.ceil(len(quantities) / n_cols)
    spare_cells = n_rows * n_cols - len(quantities)
    # The legend goes in an empty grid cell when there is one; else below the panels.
    legend_below = not (spare_cells and len(layers) <= 12)
    legend_rows = math.ceil(len(layers) / min(4, len(layers))) if legend_below else 0
    bottom = 0.6 + (0.45 + 0.22 * legend_rows if legend_below else 0.0)
    fig, axes = panels(
        {1: 7.5, 2: 11.0, 3: 13.0}[n_cols],
        3.2 * n_rows + 0.2 + bottom,
        n_rows,
        n_cols,
        bottom=bottom,
        top=0.8,
        hgap=0.9,
    )
    cells = axes.ravel()
    for ax, (quantity, title, log) in zip(cells, quantities, strict=False):
        _panel(ax, found[quantity], quantity, title, log, colours)
    handles = [Line2D([], [], color=colours[layer], linewidth=2) for layer in layers]
    names = [short(layer, 32) for layer in layers]
    spare = cells[len(quantities) :]
    for ax in spare:
        ax.set_axis_off()
    if not legend_below:
        # An empty grid cell is the one place a legend costs no room.
        spare[0].legend(handles, names, loc="center", title="layer", fontsize=9)
    else:
        fig.legend(
            handles,
            names,
            loc="lower center",
            bbox_to_anchor=(0.5, 0.01),
            ncols=min(4, len(layers)),
            title="layer",
        )
    fig.suptitle("layer diagnostics per epoch")
    return fig


def _panel(
    ax: Any,
    by_layer: dict[str, tuple[list[float], list[float]]],
    quantity: str,
    title: str,
    log: bool,
    colours: dict[str, Any],
) -> None:
    from matplotlib.ticker import PercentFormatter

    all_values: list[float] = []
    for layer, (epochs, values) in by_layer.items():
        points = [(e, v) for e, v in zip(epochs, values, strict=True) if v > 0 or not log]
        if not points:  # zero gradients cannot go on a log axis
            continue
        xs, ys = zip(*points, strict=True)
        ax.plot(xs, ys, color=colours[layer], marker=marker(len(xs)), markersize=3)
        all_values += ys
    if log:
        log_y(ax)
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
    integer_epochs(ax)
