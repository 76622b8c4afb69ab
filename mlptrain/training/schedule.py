"""Learning-rate schedules, set once per epoch.

``lr_for(epoch)`` gives the rate for a (0-based) epoch before it starts; ``observe`` feeds the
monitored value after validation (only reduce-on-plateau uses it). Each schedule's state is a
small JSON-safe dict, saved in checkpoints so a resumed run continues the same curve.
"""

from __future__ import annotations

import math
from typing import Any

from mlptrain.config import optim_spec as spec_


class Schedule:
    def __init__(self, base_lr: float, epochs: int) -> None:
        self.base_lr = float(base_lr)
        self.epochs = int(epochs)

    def lr_for(self, epoch: int) -> float:
        return self.base_lr

    def observe(self, value: float) -> None:
        """Called after each epoch's validation with the monitored value."""

    def state(self) -> dict[str, Any]:
        return {}

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore what ``state`` returned."""


class Constant(Schedule):
    """lr is the optimizer's lr throughout."""


class StepDecay(Schedule):
    """lr = base · γ^(epoch // step_size)."""

    def __init__(self, base_lr: float, epochs: int, step_size: int, gamma: float) -> None:
        super().__init__(base_lr, epochs)
        self.step_size, self.gamma = step_size, gamma

    def lr_for(self, epoch: int) -> float:
        return self.base_lr * self.gamma ** (epoch // self.step_size)


class Cosine(Schedule):
    """Linear warm-up over ``warmup_epochs`` (base·(e+1)/(w+1)), then a half cosine from base
    down to ``min_lr`` at the last epoch."""

    def __init__(self, base_lr: float, epochs: int, warmup_epochs: int, min_lr: float) -> None:
        super().__init__(base_lr, epochs)
        self.warmup_epochs, self.min_lr = warmup_epochs, min_lr

    def lr_for(self, epoch: int) -> float:
        if epoch < self.warmup_epochs:
            return self.base_lr * (epoch + 1) / (self.warmup_epochs + 1)
        span = max(self.epochs - self.warmup_epochs - 1, 1)
        progress = min((epoch - self.warmup_epochs) / span, 1.0)
        return self.min_lr + 0.5 * (self.base_lr - self.min_lr) * (1 + math.cos(math.pi * progress))


class Plateau(Schedule):
    """Multiply lr by ``factor`` after ``patience`` epochs without improvement (min mode for
    losses, max mode for scores), never below ``min_lr``."""

    def __init__(
        self,
        base_lr: float,
        epochs: int,
        factor: float,
        patience: int,
        min_lr: float,
        mode: str = "min",
    ) -> None:
        super().__init__(base_lr, epochs)
        self.factor, self.patience, self.min_lr, self.mode = factor, patience, min_lr, mode
        self.current = self.base_lr
        self.best: float | None = None
        self.bad_epochs = 0

    def lr_for(self, epoch: int) -> float:
        return self.current

    def observe(self, value: float) -> None:
        better = (
            self.best is None
            or (self.mode == "min" and value < self.best)
            or (self.mode == "max" and value > self.best)
        )
        if better:
            self.best, self.bad_epochs = value, 0
            return
        self.bad_epochs += 1
        if self.bad_epochs > self.patience:
            self.current = max(self.current * self.factor, self.min_lr)
            self.bad_epochs = 0

    def state(self) -> dict[str, Any]:
        return {"current": self.current, "best": self.best, "bad_epochs": self.bad_epochs}

    def load_state(self, state: dict[str, Any]) -> None:
        self.current = float(state["current"])
        self.best = None if state["best"] is None else float(state["best"])
        self.bad_epochs = int(state["bad_epochs"])


def make_schedule(spec: spec_.Schedule, *, base_lr: float, epochs: int) -> Schedule:
    """Build the schedule a config's ``train.schedule`` section describes."""
    if isinstance(spec, spec_.StepSchedule):
        return StepDecay(base_lr, epochs, spec.step_size, spec.gamma)
    if isinstance(spec, spec_.CosineSchedule):
        return Cosine(base_lr, epochs, spec.warmup_epochs, spec.min_lr)
    if isinstance(spec, spec_.PlateauSchedule):
        from mlptrain.config import monitor_mode

        monitor = spec.monitor
        return Plateau(
            base_lr, epochs, spec.factor, spec.patience, spec.min_lr, mode=monitor_mode(monitor)
        )
    return Constant(base_lr, epochs)
