"""Permutation importance per input column: how much the validation score drops when the
column is shuffled, with its spread over the shuffles (report.json's ``importance``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from mlptrain.reporting.figures.classification import CHAR_INCHES
from mlptrain.reporting.figures.series import is_number, short
from mlptrain.reporting.figures.style import NEUTRAL_COLOUR, TRAIN_COLOUR, panels

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# The figure shows the columns that matter most; report.json and the tables hold them all.
SHOWN = 20


def importance(report: dict[str, Any]) -> Figure | None:
    """Horizontal bars, most important on top, with ± one standard deviation."""
    entry = report.get("importance") or {}
    rows = [r for r in entry.get("columns") or [] if is_number(r.get("mean"))][:SHOWN]
    if not rows:
        return None
    names = [short(r["column"], 28) for r in rows]
    means = np.array([r["mean"] for r in rows])
    spreads = np.array([r["std"] if is_number(r.get("std")) else 0.0 for r in rows])
    left = 0.3 + CHAR_INCHES * max(len(n) for n in names)
    fig, axes = panels(7.5, 1.2 + 0.28 * len(rows), left=left, top=0.45, bottom=0.6)
    ax = axes[0, 0]
    positions = np.arange(len(rows))[::-1]
    ax.barh(positions, means, xerr=spreads, color=TRAIN_COLOUR, height=0.6,
            error_kw={"ecolor": NEUTRAL_COLOUR, "capsize": 2, "linewidth": 1})  # fmt: skip
    ax.axvline(0, color=NEUTRAL_COLOUR, linewidth=1)
    ax.set_yticks(positions, names)
    ax.grid(axis="y", visible=False)
    more = len(entry["columns"]) - len(rows)
    ax.set_xlabel(
        f"drop in {entry.get('metric', 'score')} when the column is shuffled "
        f"(mean ± sd of {entry.get('repeats', '?')})"
    )
    shown = f"; {more} more in report.json" if more > 0 else ""
    ax.set_title(f"permutation importance ({entry.get('split', 'val')} split{shown})", fontsize=10)
    return fig
