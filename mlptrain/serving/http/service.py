"""A loaded model answering requests: rows in, predictions out, through ``predict_rows``
(a CSV body) or ``predict_cells`` (a JSON body's cells).

One ``Service`` per server process. A CSV body goes to ``predict_rows`` as a ``MemoryFile``
named ``request``: read as a file of them would be, without a temporary file. A JSON body's
cells are typed as that file's would be and join the same path, named ``request`` too.
Its ``Predictor`` keeps per-call state (the unseen categories of the last call), so predictions
are made one request at a time under a lock; more cores are used with more worker processes
(``workers``).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlptrain.data.memory import MemoryFile
from mlptrain.errors import MlptrainError, UserInputError
from mlptrain.serving.http.protocol import RequestError, Rows
from mlptrain.serving.loading import Predictor, load
from mlptrain.serving.predict import predict_cells, predict_rows

# the name a request's rows go by in messages, where predict names its input file
REQUEST = "request"


@dataclass(frozen=True)
class Limits:
    """What one request may hold."""

    max_rows: int = 10_000
    max_bytes: int = 16 * 2**20


class Service:
    """A verified model and the answers to the protocol's questions about it."""

    def __init__(self, predictor: Predictor, checkpoint: Path, sha256: str, limits: Limits):
        self.predictor = predictor
        self.checkpoint = checkpoint
        self.sha256 = sha256
        self.limits = limits
        self._lock = threading.Lock()

    @classmethod
    def load(cls, path: str | Path, limits: Limits) -> Service:
        """The model of a run directory or checkpoint, loaded and SHA-256 verified."""
        from mlptrain.session.directory import resolve_checkpoint
        from mlptrain.store.checkpoint import inspect_checkpoint

        checkpoint = resolve_checkpoint(path)
        predictor = load(checkpoint)
        return cls(predictor, checkpoint, str(inspect_checkpoint(checkpoint)["sha256"]), limits)

    @property
    def input_names(self) -> list[str]:
        """The columns rows given as lists of values are read as, in order."""
        if self.predictor.table is not None:
            return list(self.predictor.table.features)
        n_features = self.predictor.meta.n_features
        return self.predictor.feature_names or [f"x{j}" for j in range(n_features)]

    def predict(self, rows: Rows, *, proba: bool, keep: Sequence[str]) -> dict[str, Any]:
        """The response to rows: predictions, and probabilities, echoed columns, unseen
        categories and notes when there are any. Bad rows are a RequestError with the
        message ``mlptrain predict`` gives for a file of them, the file named ``request``."""
        if proba and self.predictor.encoder is None:
            raise RequestError("proba=true needs a classifier; this model does regression")
        if keep and self.predictor.table is None:
            raise RequestError("keep needs a model trained on a table")
        notes: list[str] = []
        try:
            with self._lock:
                if rows.text is None:
                    result = predict_cells(
                        self.predictor,
                        rows.names,
                        rows.columns,
                        source=REQUEST,
                        proba=proba,
                        keep=keep,
                        notes=notes,
                    )
                else:
                    result = predict_rows(
                        self.predictor,
                        MemoryFile(REQUEST, rows.text.encode("utf-8")),
                        proba=proba,
                        keep=keep,
                        notes=notes,
                    )
        except UserInputError as exc:
            raise RequestError(str(exc)) from None
        except MlptrainError as exc:
            raise RequestError(str(exc), status=500) from None
        answer: dict[str, Any] = {"predictions": result.predicted.tolist()}
        if result.probabilities is not None:
            answer["classes"] = [_plain(c) for c in result.classes or []]
            answer["probabilities"] = result.probabilities.tolist()
        if result.echoed:
            answer["columns"] = {k: v.tolist() for k, v in result.echoed.items()}
        if self.predictor.table is not None:
            answer["unseen"] = result.unseen
        if notes:
            answer["notes"] = notes
        return answer

    def metadata(self) -> dict[str, Any]:
        """What a client needs to build a request and judge the model."""
        from mlptrain import __version__

        meta = self.predictor.meta
        classes = self.predictor.classes
        return {
            "task": self.predictor.task,
            "inputs": self._inputs(),
            "ids": list(self.predictor.table.ids) if self.predictor.table is not None else [],
            "classes": None if classes is None else [_plain(c) for c in classes],
            "metrics": meta.metrics,
            "fingerprint": meta.data_fingerprint,
            "checkpoint": {"path": str(self.checkpoint), "sha256": self.sha256},
            "epoch": meta.epoch,
            "trained_with": meta.mlptrain_version,
            "mlptrain_version": __version__,
            "limits": {"max_rows": self.limits.max_rows, "max_bytes": self.limits.max_bytes},
            # a binary model's decision threshold from the run's threshold.json, if applied
            "threshold": None
            if self.predictor.threshold is None
            else {
                "value": self.predictor.threshold.value,
                "positive_class": self.predictor.threshold.positive_class,
                "rule": self.predictor.threshold.rule,
            },
        }

    def _inputs(self) -> list[dict[str, Any]]:
        table = self.predictor.table
        if table is None:
            return [{"name": name, "type": "number"} for name in self.input_names]
        kinds: dict[str, dict[str, Any]] = {c["name"]: {"type": "number"} for c in table.numeric}
        for c in table.categorical:
            kinds[c["name"]] = {"type": "category", "categories": list(c["categories"])}
        return [{"name": name, **kinds.get(name, {"type": "number"})} for name in table.features]


def _plain(value: Any) -> Any:
    """A NumPy scalar as the Python value JSON writes."""
    return value.item() if hasattr(value, "item") else value
