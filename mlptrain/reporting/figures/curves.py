"""Learning curves (loss and headline metric per epoch) and the learning rate per epoch."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from mlptrain.reporting.figures.series import is_number, plain, series, wide_range
from mlptrain.reporting.figures.style import (
    BEST_COLOUR,
    LR_COLOUR,
    TRAIN_COLOUR,
    VAL_COLOUR,
    integer_epochs,
    log_y,
    marker,
    panels,
)
from mlptrain.reporting.metrics import HEADLINE

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_HEADLINE_LABELS = {"accuracy": "accuracy", "r2": "R²"}


def curves(report: dict[str, Any]) -> Figure | None:
    """Loss (left) and the headline metric (right) per epoch, train and validation."""
    training = report["training"]
    history = training["history"]
    headline = HEADLINE[report["task"]]
    rows = [
        ("loss", "loss", {s: series(history, f"{s}_loss") for s in ("train", "val")}),
        (
            headline,
            _HEADLINE_LABELS.get(headline, headline),
            {s: series(history, f"{s}_{headline}") for s in ("train", "val")},
        ),
    ]
    if not any(len(values) for _, _, found in rows for _, values in found.values()):
        return None
    best = training.get("best_epoch")
    fig, axes = panels(11, 4.2, 1, 2, top=0.7)
    for ax, (key, label, found) in zip(axes.ravel(), rows, strict=True):
        for split, colour in (("train", TRAIN_COLOUR), ("val", VAL_COLOUR)):
            epochs, values = found[split]
            if len(values):
                ax.plot(
                    epochs,
                    values,
                    color=colour,
                    marker=marker(len(values)),
                    markersize=3.5,
                    label="train" if split == "train" else "validation",
                )
        title = label
        all_values = np.concatenate([values for _, values in found.values()])
        if key == "loss" and wide_range(all_values, 30):
            log_y(ax)
            title += " (log scale)"
        if key == "r2" and all_values.size and all_values.min() < -1:
            # Early epochs of a regression can have R² of -100; that would flatten the
            # part of the curve anyone cares about.
            ax.set_ylim(bottom=-1, top=max(1.0, float(all_values.max())) + 0.05)
            title += " (axis clipped at −1)"
        if is_number(best):
            ax.axvline(
                best, color=BEST_COLOUR, linestyle="--", linewidth=1.2, label=f"best epoch ({best})"
            )
            # Dot the monitored curve (validation if there is one) at the best epoch.
            epochs, values = found["val"] if len(found["val"][1]) else found["train"]
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
        integer_epochs(ax)
        ax.legend(loc="best")
    fig.suptitle(f"{plain(report['name'])}: learning curves")
    return fig


def learning_rate(report: dict[str, Any]) -> Figure | None:
    """Learning rate per epoch, log scale when the schedule spans more than a decade; no
    figure when the rate never changed (a flat line says nothing)."""
    epochs, rates = series(report["training"]["history"], "lr")
    if not len(rates) or min(rates) == max(rates):
        return None
    fig, axes = panels(7.5, 3.6, left=1.0, top=0.45)
    ax = axes[0, 0]
    ax.plot(epochs, rates, color=LR_COLOUR, marker=marker(len(rates)), markersize=3.5)
    if wide_range(rates, 10):
        log_y(ax)
    else:
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 4))
    schedule = report.get("schedule", {}).get("type", "")
    ax.set_title("learning rate" + (f" (schedule: {plain(schedule)})" if schedule else ""))
    ax.set_xlabel("epoch")
    ax.set_ylabel("learning rate")
    integer_epochs(ax)
    return fig
