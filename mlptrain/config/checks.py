"""Checks that span sections, or need the loaded data (the detected task, the classes)."""

from __future__ import annotations

from collections.abc import Sequence

from mlptrain.config.messages import config_error, suggest
from mlptrain.config.monitors import split_of
from mlptrain.config.schema import Config, PlateauSchedule, show_value
from mlptrain.config.vocabulary import (
    CLASSIFICATION_LOSSES,
    CLASSIFICATION_MONITORS,
    MONITORS,
    REGRESSION_MONITORS,
)
from mlptrain.config.yamlsafe import KeyPath
from mlptrain.nn.losses import LOSS_TYPES, losses_for


def _task_of_loss(loss: str) -> str:
    return LOSS_TYPES[loss].task


def _allowed_losses(task: str) -> str:
    return ", ".join(losses_for(task))


def _monitor_problems(config: Config, task: str, why: str) -> list[tuple[KeyPath, str]]:
    """Monitors that cannot be computed for ``task`` (accuracy on regression, r2 on classes)."""
    wrong = REGRESSION_MONITORS if task == "classification" else CLASSIFICATION_MONITORS
    problems = []
    for path, monitor in _monitors(config):
        if monitor in wrong:
            allowed = [m for m in MONITORS if m not in wrong]
            problems.append(
                (
                    path,
                    f"{monitor!r} is not allowed for {task} ({why}); allowed: "
                    + ", ".join(allowed),
                )
            )
    return problems


def _monitors(config: Config) -> list[tuple[KeyPath, str]]:
    found: list[tuple[KeyPath, str]] = []
    if config.train.early_stopping is not None:
        found.append((("train", "early_stopping", "monitor"), config.train.early_stopping.monitor))
    if isinstance(config.train.schedule, PlateauSchedule):
        found.append((("train", "schedule", "monitor"), config.train.schedule.monitor))
    return found


def cross_section_problems(config: Config) -> list[tuple[KeyPath, str]]:
    """Checks that relate sections to each other; run once every section is valid.

    A loss left out of a file's config (None) is settled by the data: the checks that need
    it wait for :func:`check_against_data`.
    """
    problems: list[tuple[KeyPath, str]] = []
    loss, task = config.model.loss, config.data.task
    if loss is not None and task != "auto" and _task_of_loss(loss) != task:
        problems.append(
            (
                ("model", "loss"),
                f"{loss!r} is not allowed with data.task {task!r}; allowed: "
                + _allowed_losses(task),
            )
        )
    if config.train.class_weight is not None and loss not in (*CLASSIFICATION_LOSSES, None):
        problems.append(
            (
                ("train", "class_weight"),
                f"{show_value(config.train.class_weight)} is not allowed "
                f"with loss {loss!r}; class weights need a classification loss "
                f"({_allowed_losses('classification')}); allowed here: null",
            )
        )
    if loss is not None:
        problems += _monitor_problems(config, _task_of_loss(loss), f"model.loss is {loss!r}")
    if config.data.val_size == 0:
        problems += _validation_split_problems(config)
    return problems


def _validation_split_problems(config: Config) -> list[tuple[KeyPath, str]]:
    """Monitors that read the validation split, when there is none (data.val_size is 0)."""
    return [
        (
            path,
            f"{monitor!r} is not allowed while data.val_size is 0 (there is no validation "
            "split); allowed: train_loss, or set data.val_size > 0",
        )
        for path, monitor in _monitors(config)
        if split_of(monitor) == "val"
    ]


def _output_units_problems(
    cfg: Config, n_classes: int | None, n_targets: int | None
) -> list[tuple[KeyPath, str]]:
    """A written ``units`` of the output layer that the data cannot fill."""
    last = cfg.model.output_index
    units = getattr(cfg.model.layers[last], "units", None)
    loss = cfg.model.loss
    entry = LOSS_TYPES.get(str(loss))
    if entry is None:
        return []
    if entry.one_logit:
        needed, what = 1, f"{loss} reads one logit per row"
    elif entry.task == "classification" and n_classes is not None:
        needed, what = n_classes, f"the data has {n_classes} classes ({loss})"
    elif entry.task == "regression" and n_targets is not None:
        noun = "target column" if n_targets == 1 else "target columns"
        needed, what = n_targets, f"the data has {n_targets} {noun} ({loss})"
    else:
        return []
    if units is None or units == needed:
        return []
    return [
        (
            ("model", "layers", last, "units"),
            f"{units} is not allowed: {what}; must be {needed} (or leave units out)",
        )
    ]


def check_against_data(
    cfg: Config,
    *,
    task: str,
    n_classes: int | None,
    classes: Sequence[object] | None = None,
    n_targets: int | None = None,
) -> None:
    """Checks that need the loaded data; raises ConfigError citing the config's lines.

    ``task`` is the detected task ("classification" or "regression"), ``n_classes`` the
    number of classes (None for regression). ``classes`` optionally gives the class labels as
    the data has them; class-weight keys are matched against their ``str()``. Without it the
    labels are taken to be 0 .. n_classes-1. ``n_targets`` (regression: target columns) lets a
    written output ``units`` be checked. ``cfg`` has been through ``Config.for_task``.
    """
    if task not in ("classification", "regression"):
        raise ValueError(f"task must be 'classification' or 'regression', got {task!r}")
    problems: list[tuple[KeyPath, str]] = []
    loss = cfg.model.loss
    if loss is None:
        raise ValueError("check_against_data needs cfg.for_task(task): the loss is not set")
    data_is = f"the data is {task} (dataset {cfg.data.dataset!r})"
    if _task_of_loss(loss) != task:
        problems.append(
            (
                ("model", "loss"),
                f"{loss!r} is not allowed: {data_is}; allowed: {_allowed_losses(task)}",
            )
        )
    if task == "classification" and LOSS_TYPES[loss].one_logit and n_classes != 2:
        others = [name for name in losses_for(task) if not LOSS_TYPES[name].one_logit]
        problems.append(
            (
                ("model", "loss"),
                f"{loss!r} needs exactly 2 classes but the data has "
                f"{n_classes}; allowed: {', '.join(others)}",
            )
        )
    weights = cfg.train.class_weight
    if weights is not None and task == "regression":
        problems.append(
            (
                ("train", "class_weight"),
                f"{show_value(weights)} is not allowed: {data_is}; allowed: null",
            )
        )
    elif isinstance(weights, dict):
        labels = (
            [str(c) for c in classes]
            if classes is not None
            else [str(i) for i in range(n_classes or 0)]
        )
        for label in weights:
            if label not in labels:
                problems.append(
                    (
                        ("train", "class_weight", label),
                        f"{label!r} is not a class of the data; "
                        + suggest(label, labels, " labels"),
                    )
                )
    problems += _monitor_problems(cfg, task, data_is)
    if not problems:
        problems += _output_units_problems(cfg, n_classes, n_targets)
    if problems:
        raise config_error(problems, cfg._origin)
