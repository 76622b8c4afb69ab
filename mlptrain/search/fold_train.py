"""One cross-validation fold's training, the same for a fold held in memory and a streamed
one: early stopping reads the fold's validation part, the kept (best) weights are loaded, and
the held-out part is scored once, by the caller's ``score``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def watches_validation(cfg: Any) -> bool:
    """Whether early stopping or the plateau schedule reads a validation metric."""
    from mlptrain.config.monitors import split_of

    early = cfg.train.early_stopping
    monitors = [early.monitor if early is not None else None]
    monitors.append(getattr(cfg.train.schedule, "monitor", None))
    return cfg.data.val_size > 0 and any(m and split_of(m) == "val" for m in monitors)


def train_prepared(
    cfg: Any,
    data: Any,
    score: Callable[[Any], dict[str, float]],
    track_in: tuple[Path, dict[str, Any]] | None = None,
) -> tuple[Any, dict[str, float]]:
    """Train ``cfg`` on prepared data (held, or a streamed fold's ``prepare_stream``); returns
    the Setup with the kept (best) weights loaded and ``score(setup)``, the held-out metrics.

    ``track_in``: (fold directory, tracking parent) when the config has a tracker on.
    """
    from mlptrain.tracking import open_tracking
    from mlptrain.training.setup import build
    from mlptrain.training.trainer import Trainer

    setup = build(cfg, data=data)
    best: dict[str, np.ndarray] = {}

    def save(kind: str) -> None:
        if kind == "best":
            best.update(setup.model.state_dict())

    trainer = Trainer(setup, save=save)
    tracking = None
    if track_in is not None:
        track_in[0].mkdir(parents=True, exist_ok=True)
        tracking = open_tracking(setup, track_in[0], parent=track_in[1])
    if tracking is not None:
        trainer.callbacks = tracking.callbacks()
    try:
        trainer.run()
        if setup.stopper is not None and best:
            # As in api.fit: early stopping keeps the best weights.
            setup.model.load_state_dict(best)
        metrics = score(setup)
    except BaseException:
        if tracking is not None:
            tracking.finish("failed", None)
        raise
    if tracking is not None:
        report = {"training": {"history": trainer.state.history}, "metrics": {"held_out": metrics}}
        tracking.finish("completed", report)
    return setup, metrics


def scalar_only(metrics: dict[str, Any]) -> dict[str, float]:
    """The scalar metrics of a split's metrics (the threshold is a setting, not a metric)."""
    return {
        k: float(v)
        for k, v in metrics.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and k != "threshold"
    }
