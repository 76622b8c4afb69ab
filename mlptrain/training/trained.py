"""A trained layer stack with the map of its outputs back to the targets' units.

Regression targets are standardised for training (``data.target_scaler``), so the stack's
raw outputs are in standardised units; ``TrainedModel.predict`` maps them back
(y = out · scale + shift, in the model's dtype). The stack itself knows nothing of the targets.
A binary classifier may carry a decision ``threshold`` on p(class 1), chosen after training
(``mlptrain evaluate --threshold-for``); without one it predicts the most probable class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mlptrain.data.coded import in_chunks
from mlptrain.nn.sequential import Sequential
from mlptrain.reporting.metrics import decide, probabilities


@dataclass
class TrainedModel:
    """``predict`` and ``predict_proba`` in the targets' terms; ``model`` is the raw stack."""

    model: Sequential
    output_shift: np.ndarray | None = None
    output_scale: np.ndarray | None = None
    threshold: float | None = None

    @classmethod
    def from_target_state(
        cls, model: Sequential, target_state: dict[str, np.ndarray] | None
    ) -> TrainedModel:
        """From the target scaler's ``{"scaler.shift", "scaler.scale"}`` (None: no scaling)."""
        if target_state is None:
            return cls(model)
        dtype = model.dtype
        return cls(
            model,
            output_shift=target_state["scaler.shift"].astype(dtype),
            output_scale=target_state["scaler.scale"].astype(dtype),
        )

    def predict(self, x: Any) -> np.ndarray:
        """Class indices (classifiers) or values in the targets' units (regression); ``x`` an
        array or a table's ``CodedMatrix`` (predicted in chunks, ``data.coded.in_chunks``)."""
        return in_chunks(self._predict, x)

    def _predict(self, x: np.ndarray) -> np.ndarray:
        if self.threshold is not None:
            # the probabilities the metrics decide on (float64, from the log-probabilities)
            return decide(probabilities(self.model.predict_log_proba(x)), self.threshold)
        out = self.model.predict(x)
        if self.output_scale is not None and self.output_shift is not None:
            out = out * self.output_scale + self.output_shift
        return out

    def predict_proba(self, x: Any) -> np.ndarray:
        return in_chunks(self.model.predict_proba, x)

    def predict_log_proba(self, x: Any) -> np.ndarray:
        return in_chunks(self.model.predict_log_proba, x)
