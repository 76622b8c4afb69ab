"""The stable part of report.json as types: what ``mlptrain compare`` and ``mlptrain report``
read of a run's report, checked once when the file is read (``Report.from_json``).

``build_report`` writes the dict that becomes report.json (its bytes do not change); this
model is the contract for readers of that file. The sections that only the report's own
renderers read (``columns``, ``baseline``, ``predictions``, ``worst``, ``importance``,
``input_weights``, ``tracking``, ``environment``) are not part of it: unknown keys are ignored.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from mlptrain.errors import UserInputError
from mlptrain.reporting.metrics import HEADLINE


class _Section(BaseModel):
    # strict: a string is not a number; extra keys belong to sections the model leaves out
    model_config = ConfigDict(frozen=True, strict=True, extra="ignore")


class ReportData(_Section):
    source: str
    task: str
    n_features: int
    n_train: int
    n_val: int
    n_test: int
    classes: list[Any] | None = None
    notes: list[str] = []
    fingerprint: dict[str, Any] | None = None


class ReportModel(_Section):
    layers: list[dict[str, Any]]  # one row per layer: "layer", "output", "params", ...
    total_params: int
    loss: str | None = None  # None: the default that follows the task
    init: str


class ReportTraining(_Section):
    epochs_run: int
    epochs_configured: int
    best_epoch: int | None = None
    stopped_early: bool = False
    seconds: float
    batch_size: int
    dtype: str
    seed: int
    history: list[dict[str, Any]] = []  # the per-epoch records, as metrics.jsonl holds them


class Report(_Section):
    name: str
    status: str  # "completed", "failed", "interrupted", "pruned"
    error: str | None = None
    mlptrain_version: str = ""
    task: str
    data: ReportData
    model: ReportModel
    optimizer: dict[str, Any]  # the config's train.optimizer section ("type", "lr", ...)
    schedule: dict[str, Any]
    training: ReportTraining
    metrics: dict[str, dict[str, Any]]  # split -> metric name -> value
    config: dict[str, Any]
    warnings: list[str] = []

    @field_validator("task")
    @classmethod
    def _known_task(cls, task: str) -> str:
        if task not in HEADLINE:
            raise ValueError(f"{task!r} is not one of {', '.join(HEADLINE)}")
        return task

    @property
    def layer_names(self) -> str:
        """``Linear(64 -> 256) ReLU Dropout Linear(256 -> 10)`` in a compact form."""
        names = []
        for row in self.model.layers:
            layer = str(row.get("layer", "?"))
            names.append(layer if layer.startswith("Linear") else layer.split("(")[0])
        return " ".join(names)

    @classmethod
    def from_json(cls, report: Any, source: str) -> Report:
        """``report`` (report.json's parsed content) checked; the first problem is one
        ``UserInputError`` naming the key (``training.seconds``) and what it must be."""
        if not isinstance(report, dict):
            raise UserInputError(f"{source}: not an mlptrain report (not a JSON object)")
        try:
            return cls.model_validate(report)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            message = first["msg"].removeprefix("Value error, ")
            problem = f"no {where}" if first["type"] == "missing" else f"{where}: {message}"
            raise UserInputError(f"{source}: not an mlptrain report: {problem}") from None
