"""The vocabulary of splits and monitored metrics, declared once.

A monitor is ``<split>_<metric>`` (``val_loss``, ``val_accuracy``, ``test_r2``). Its direction
comes from the metric: losses and errors improve downwards, scores upwards. Model selection
(early stopping, the plateau schedule, sweep ranking) may read only ``SELECTION_SPLITS``: the
test split is for the final estimate and never chooses anything.
"""

from __future__ import annotations

from typing import Literal

SPLITS = ("train", "val", "test")
# Splits a choice may be made on; the test split is deliberately not among them.
SELECTION_SPLITS = ("train", "val")
# Metrics that improve downwards; every other metric (accuracy, f1, r2, ...) improves upwards.
MINIMISED_METRICS = (
    "loss", "log_loss", "brier", "mse", "rmse", "mae", "median_absolute_error", "mape"
)  # fmt: skip


# A stopping monitor that the data's task settles: its headline validation score.
AUTO_MONITOR = "auto"


def split_of(monitor: str) -> str:
    """The split a monitor reads: ``val`` for ``val_loss`` (and for ``auto``)."""
    return "val" if monitor == AUTO_MONITOR else monitor.partition("_")[0]


def direction(monitor: str) -> Literal["min", "max"]:
    """Whether ``<split>_<metric>`` improves downwards (losses, errors) or upwards (scores)."""
    return "min" if monitor.partition("_")[2] in MINIMISED_METRICS else "max"
