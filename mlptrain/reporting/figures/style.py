"""The look shared by every figure: colours, rc settings, fixed-margin panels, log-axis labels.

Layout is fixed, not solved: each figure gives its margins in inches (room for its titles,
labels and tick labels) and the panels fill the rest. matplotlib's constrained layout measured
every text's extent twice per save and was half of the drawing time (docs/performance.md).
Log axes label their ticks as plain text (10⁻³) rather than mathtext, whose parser cost
~0.1 s per figure for a handful of labels.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.typing import RcKeyType

DPI = 110
# One colour per role, the same in every figure: train is always blue, validation orange.
TRAIN_COLOUR = "#2563eb"
VAL_COLOUR = "#ea580c"
BEST_COLOUR = "#16a34a"
LR_COLOUR = "#7c3aed"
NEUTRAL_COLOUR = "#6b7280"
CLASS_SCORE_COLOURS = {"precision": "#2563eb", "recall": "#ea580c", "f1": "#16a34a"}
HEATMAP = "Blues"
# zlib level of the PNGs: 1 encodes ~3x faster than the default 6 for ~10% larger files
# (flat-coloured plots compress well either way).
PNG_COMPRESS_LEVEL = 1

STYLE: dict[RcKeyType, Any] = {
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    # A fixed title position: left to matplotlib (titley None), every draw measures the
    # whole axes to keep the title clear of top tick labels, which no figure here has. That
    # measuring was ~40% of a two-panel figure's drawing time.
    "axes.titley": 1.0,
    "axes.titlepad": 6.0,
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

# Margins (inches) that fit a figure title, panel titles, axis labels and tick labels at the
# font sizes above.
LEFT, RIGHT, BOTTOM, TOP = 0.85, 0.25, 0.6, 0.75
# Between panels: room for the right panel's y tick labels and label, or the next row's title.
WGAP, HGAP = 0.85, 0.85


def panels(
    width: float,
    height: float,
    rows: int = 1,
    cols: int = 1,
    *,
    left: float = LEFT,
    right: float = RIGHT,
    bottom: float = BOTTOM,
    top: float = TOP,
    wgap: float = WGAP,
    hgap: float = HGAP,
) -> tuple[Figure, np.ndarray]:
    """A ``width`` × ``height`` inch figure with a ``rows`` × ``cols`` grid of axes
    (returned as a 2-D array), its margins and gaps given in inches."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    cell_w = max((width - left - right - (cols - 1) * wgap) / cols, 0.5)
    cell_h = max((height - top - bottom - (rows - 1) * hgap) / rows, 0.5)
    fig.subplots_adjust(
        left=left / width,
        right=1 - right / width,
        bottom=bottom / height,
        top=1 - top / height,
        wspace=wgap / cell_w,
        hspace=hgap / cell_h,
    )
    return fig, fig.subplots(rows, cols, squeeze=False)


def png_bytes(fig: Figure) -> bytes:
    """Render to memory first so the file on disk is replaced in one atomic step."""
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, pil_kwargs={"compress_level": PNG_COMPRESS_LEVEL})
    return buffer.getvalue()


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def power_label(value: float) -> str:
    """``1e-3`` as ``10⁻³``, ``3e-3`` as ``3×10⁻³``; plain between 0.01 and 1000."""
    if value == 0:
        return "0"
    sign = "−" if value < 0 else ""
    value = abs(value)
    if 0.01 <= value < 1000:
        return sign + f"{value:g}"
    exponent = math.floor(math.log10(value) + 1e-9)
    coefficient = round(value / 10**exponent)
    power = "10" + str(exponent).translate(_SUPERSCRIPT)
    return sign + (power if coefficient == 1 else f"{coefficient}×{power}")


def log_y(ax: Axes) -> None:
    """Log-scale y axis labelled as plain text (no mathtext)."""
    from matplotlib.ticker import LogFormatter, LogLocator

    class _PlainLog(LogFormatter):
        def _num_to_string(self, x: float, vmin: float, vmax: float) -> str:
            return power_label(x)

    ax.set_yscale("log")
    # Minor ticks at 2 and 5 of each decade, not all eight: every tick is a few artists to
    # lay out and draw, and 2-5-10 is what a reader interpolates from anyway.
    ax.yaxis.set_minor_locator(LogLocator(10, subs=(2.0, 5.0)))
    ax.yaxis.set_major_formatter(_PlainLog(10))
    ax.yaxis.set_minor_formatter(_PlainLog(10, labelOnlyBase=False))


def integer_epochs(ax: Axes) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def marker(n_points: int) -> str | None:
    # Markers show individual epochs on short runs; on long runs they only add clutter.
    return "o" if n_points <= 30 else None
