"""Running count, mean and summed squared deviations of targets, batch by batch.

Chan, Golub and LeVeque's pairwise update: each batch's own mean and sum of squared
deviations are merged into the running ones, so a streamed table's targets are scaled (and
its regression metrics' R² computed) from one pass without holding the rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlptrain.data.preprocess import Scaler


@dataclass
class TargetMoments:
    """Count, mean and summed squared deviations of the training targets (Chan et al.)."""

    n: int = 0
    mean: np.ndarray | None = None
    m2: np.ndarray | None = None

    def add(self, y: np.ndarray) -> None:
        y = y.reshape(len(y), -1).astype(np.float64)
        if not len(y):
            return
        n_b, mean_b = len(y), y.mean(axis=0)
        m2_b = ((y - mean_b) ** 2).sum(axis=0)
        if self.mean is None or self.m2 is None:
            self.n, self.mean, self.m2 = n_b, mean_b, m2_b
            return
        n = self.n + n_b
        delta = mean_b - self.mean
        self.mean = self.mean + delta * n_b / n
        self.m2 = self.m2 + m2_b + delta**2 * self.n * n_b / n
        self.n = n

    def scaler(self) -> Scaler:
        assert self.mean is not None and self.m2 is not None
        std = np.sqrt(self.m2 / max(self.n, 1))
        scale = np.where(std > 0, std, 1.0)
        return Scaler.from_state("standard", {"scaler.shift": self.mean, "scaler.scale": scale})
