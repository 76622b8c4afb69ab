"""The config's words, declared once: datasets, losses, monitors, and what a task implies."""

from __future__ import annotations

from typing import Literal, get_args

from mlptrain.config.monitors import direction
from mlptrain.nn.losses import losses_for

DatasetName = Literal[
    "iris",
    "digits",
    "wine",
    "breast_cancer",
    "diabetes",
    "moons",
    "circles",
    "blobs",
    "classification",
    "regression",
    "csv",
    "npz",
    "parquet",
]
LossName = Literal["cross_entropy", "mse", "bce"]
MonitorName = Literal[
    "val_loss",
    "val_accuracy",
    "val_balanced_accuracy",
    "val_f1_macro",
    "val_mcc",
    "val_roc_auc",
    "val_average_precision",
    "val_r2",
    "val_mse",
    "val_rmse",
    "val_mae",
    "train_loss",
]

DATASETS: tuple[str, ...] = get_args(DatasetName)
LOSSES: tuple[str, ...] = get_args(LossName)
MONITORS: tuple[str, ...] = get_args(MonitorName)
FILE_DATASETS = ("csv", "npz", "parquet")
# datasets read as tables of named columns (typed, imputed and encoded by mlptrain.data)
TABLE_DATASETS = ("csv", "parquet")
# Built-in datasets whose task is known without loading them; used for the default loss.
REGRESSION_DATASETS = ("diabetes", "regression")
CLASSIFICATION_LOSSES = tuple(losses_for("classification"))
# The loss an omitted ``model.loss`` becomes once the task is known.
TASK_LOSSES: dict[str, LossName] = {"classification": "cross_entropy", "regression": "mse"}
# ``early_stopping.monitor: auto`` watches the task's headline validation score.
TASK_HEADLINE_MONITORS: dict[str, MonitorName] = {
    "classification": "val_accuracy",
    "regression": "val_r2",
}
StoppingMonitor = Literal["auto", MonitorName]
CLASSIFICATION_MONITORS = (
    "val_accuracy",
    "val_balanced_accuracy",
    "val_f1_macro",
    "val_mcc",
    "val_roc_auc",
    "val_average_precision",
)
REGRESSION_MONITORS = ("val_r2", "val_mse", "val_rmse", "val_mae")


def monitor_mode(name: str) -> Literal["min", "max"]:
    """Whether a monitored metric improves downwards (losses, errors) or upwards (scores)."""
    if name not in MONITORS:
        raise ValueError(f"unknown monitor {name!r}; allowed: {', '.join(MONITORS)}")
    return direction(name)
