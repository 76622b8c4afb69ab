"""The per-trial hook of a pruned sweep: report the monitored validation metric after every
epoch and end the run when the pruner says so.

The reporter is anything with Optuna's ``Trial.report(value, step)`` and ``should_prune()``;
the observer knows nothing else of Optuna. A pruned run ends after that epoch like any finished
run (checkpoints, metrics.jsonl, report.json with status ``pruned``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

from mlptrain.training.trainer import Callbacks, StopTraining

PRUNED = "pruned"


class Reporter(Protocol):
    def report(self, value: float, step: int) -> None: ...

    def should_prune(self) -> bool: ...


@dataclass
class PruningObserver:
    """Reports ``record[monitor]`` at each epoch end; raises StopTraining when pruned."""

    reporter: Reporter
    monitor: str
    minimise: bool
    pruned_at: int | None = None

    def on_epoch_end(self, record: dict[str, Any]) -> None:
        if self.monitor not in record:
            # The epoch record has val_loss and the headline; other metrics are not pruned on.
            raise KeyError(f"the epoch record has no {self.monitor!r} to report to the pruner")
        value = record[self.monitor]
        if value is None or not math.isfinite(value):
            # A diverging epoch is the worst value the direction allows, never NaN.
            value = math.inf if self.minimise else -math.inf
        self.reporter.report(float(value), int(record["epoch"]))
        if self.reporter.should_prune():
            self.pruned_at = int(record["epoch"])
            raise StopTraining(PRUNED)

    def callbacks(self) -> Callbacks:
        return Callbacks(on_epoch_end=self.on_epoch_end)
