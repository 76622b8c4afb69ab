"""The split names and the direction of every monitored metric, declared once.

A monitor is ``<split>_<metric>`` (``val_loss``, ``val_accuracy``, ``test_r2``). Whether it
improves downwards depends only on the metric: losses and errors are minimised, every other
metric (accuracy, F1, R²) is maximised. Config validation, early stopping, the plateau schedule
and the sweep leaderboard all read it from here.
"""

from __future__ import annotations

from typing import Literal

SPLITS: tuple[str, ...] = ("train", "val", "test")

# Metrics where lower is better; every other metric improves upwards.
MINIMISED_METRICS: tuple[str, ...] = ("loss", "log_loss", "mse", "rmse", "mae")


def metric_goal(monitor: str) -> Literal["min", "max"]:
    """ "min" for ``<split>_<metric>`` monitors whose metric is a loss or an error, else "max"."""
    return "min" if monitor.partition("_")[2] in MINIMISED_METRICS else "max"
