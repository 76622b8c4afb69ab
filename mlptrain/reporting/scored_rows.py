"""What a streamed run's report pass hands each row collector, batch by batch.

A streamed table (``data.stream: true``) is never held whole, so the parts of its report that
need rows, not sums (the worst rows, the prediction sample, the rows permutation importance
shuffles), are gathered by collectors as the report pass scores each batch
(``training.batches.stream_split_tallies``). Each collector is offered one ``ScoredRows`` per
batch and part, in the order the stream reads the rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class ScoredRows:
    """One part's rows of one batch: encoded features, targets (class indices, or values in
    the targets' units), the model's log-probabilities (a classifier) or predictions (a
    regression), and each row's position in the stream as read (0-based)."""

    X: np.ndarray
    targets: np.ndarray
    out: np.ndarray
    positions: np.ndarray
    read_ids: Callable[[], dict[str, np.ndarray]] = field(default=dict, repr=False)

    @cached_property
    def ids(self) -> dict[str, np.ndarray]:
        """The rows' id columns as text, read only if a collector asks."""
        return self.read_ids()


class RowCollector(Protocol):
    def offer(self, rows: ScoredRows) -> None: ...
