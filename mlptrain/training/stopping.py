"""Early stopping on a monitored metric, with the state a checkpoint needs to resume it."""

from __future__ import annotations

from typing import Any

from mlptrain.config import monitor_mode


class EarlyStopping:
    """Stop after ``patience`` epochs whose monitored value did not improve on the best by more
    than ``min_delta``; remember the best epoch (1-based)."""

    def __init__(self, monitor: str, patience: int, min_delta: float = 0.0) -> None:
        self.monitor = monitor
        self.mode = monitor_mode(monitor)
        self.patience = patience
        self.min_delta = min_delta
        self.best: float | None = None
        self.best_epoch = 0
        self.bad_epochs = 0

    def improved(self, value: float) -> bool:
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def update(self, epoch: int, value: float) -> bool:
        """Record one epoch's value; return True if it is the new best."""
        if self.improved(value):
            self.best, self.best_epoch, self.bad_epochs = value, epoch, 0
            return True
        self.bad_epochs += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.bad_epochs >= self.patience

    def state(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "bad_epochs": self.bad_epochs}

    def load_state(self, state: dict[str, Any]) -> None:
        self.best = None if state["best"] is None else float(state["best"])
        self.best_epoch = int(state["best_epoch"])
        self.bad_epochs = int(state["bad_epochs"])
