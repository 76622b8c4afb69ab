"""The contract between a run and its checkpoints: ``RunMeta``, the run state a checkpoint's
``meta`` JSON holds, checked once when the checkpoint is loaded (``load_run_checkpoint``).

``store.checkpoint`` stores any JSON-safe ``meta``; a run's checkpoints hold this one. Every
reader (resume, load, the exports, serve, the estimators) reads attributes of a ``RunMeta``,
never string keys of the JSON (only ``mlptrain inspect``, which shows a damaged file too, reads
the raw JSON through ``inspect_checkpoint``). What the fields
hold inside is owned elsewhere and checked there: ``config`` by the config schema
(``parse_config_dict``), ``table`` by ``TableEncoder.from_state``, ``rng``, ``optimizer``,
``schedule`` and ``early_stopping`` by what restores them, ``data_fingerprint`` by
``check_same_data``.

On disk nothing changes: ``to_json`` gives the same keys in the same order as checkpoints
have always had (``kind`` and ``estimator`` only when set), and an older checkpoint without
one of the optional fields loads with its default.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from mlptrain.errors import CheckpointError
from mlptrain.store.checkpoint import load_checkpoint


@dataclass(frozen=True, kw_only=True)
class RunMeta:
    """A run's state as a checkpoint stores it (the fields in their on-disk order)."""

    mlptrain_version: str = "unknown"
    config: dict[str, Any]  # the resolved config, as config_to_dict writes it
    task: str
    head: str | None = None  # how outputs become predictions ("softmax", "sigmoid", ...)
    n_features: int  # the model's input width (a table's encoded columns)
    feature_names: list[str] = field(default_factory=list)
    classes: list[Any] | None = None  # the labels in class-index order; None: regression
    scale: str | None = None
    table: dict[str, Any] | None = None  # a table's fitted preprocessing (TableEncoder state)
    data_fingerprint: dict[str, Any] | None = None
    epoch: int  # completed epochs
    step: int
    seconds: float = 0.0
    metrics: dict[str, Any] = field(default_factory=dict)  # the last epoch's record
    batch: int = 0  # the position inside an interrupted epoch
    epoch_loss: float = 0.0
    epoch_hits: float = 0.0
    epoch_rows: int = 0
    rng: dict[str, Any]  # "shuffle": the bit generator's state; "masks": by layer index
    optimizer: dict[str, Any]
    schedule: dict[str, Any]
    early_stopping: dict[str, Any] | None = None
    stopped_early: bool = False
    kind: str | None = None  # "last" or "best" for a run directory's checkpoints
    estimator: dict[str, Any] | None = None  # a scikit-learn estimator's class and params

    @property
    def data_config(self) -> dict[str, Any]:
        """The stored config's ``data`` section (``{}`` if it has none)."""
        data = self.config.get("data")
        return data if isinstance(data, dict) else {}

    def to_json(self) -> dict[str, Any]:
        """The JSON object a checkpoint stores, keys in the order checkpoints have always had."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        for optional in ("kind", "estimator"):
            if out[optional] is None:
                del out[optional]
        return out

    def with_(self, **changes: Any) -> RunMeta:
        """A copy with ``changes`` (``kind`` for the saver, ``estimator`` for the estimators)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_json(cls, meta: dict[str, Any], source: Path | str) -> RunMeta:
        """Check a checkpoint's parsed ``meta`` object; a missing or mistyped field is one
        ``CheckpointError`` naming it. Keys this mlptrain does not know are ignored."""
        values: dict[str, Any] = {}
        for spec in fields(cls):
            name = spec.name
            value = meta.get(name)
            required = spec.default is dataclasses.MISSING and (
                spec.default_factory is dataclasses.MISSING
            )
            if value is None:
                if required:
                    _malformed(source, f"has no {name!r}")
                continue  # absent or null: the field's default
            _check_type(source, name, value)
            values[name] = value
        return cls(**values)


# what each field must hold in JSON; the dataclass above says which may be left out
_TYPES: dict[str, type] = {
    "mlptrain_version": str,
    "config": dict,
    "task": str,
    "head": str,
    "n_features": int,
    "feature_names": list,
    "classes": list,
    "scale": str,
    "table": dict,
    "data_fingerprint": dict,
    "epoch": int,
    "step": int,
    "seconds": float,
    "metrics": dict,
    "batch": int,
    "epoch_loss": float,
    "epoch_hits": float,
    "epoch_rows": int,
    "rng": dict,
    "optimizer": dict,
    "schedule": dict,
    "early_stopping": dict,
    "stopped_early": bool,
    "kind": str,
    "estimator": dict,
}
_WORDS = {
    str: "a string",
    dict: "an object",
    list: "a list",
    int: "a non-negative integer",
    float: "a number",
    bool: "true or false",
}


def _check_type(source: Path | str, name: str, value: Any) -> None:
    want = _TYPES[name]
    if want is int:
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    elif want is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    else:
        ok = isinstance(value, want)
    if ok and name == "feature_names":
        ok = all(isinstance(item, str) for item in value)
        if not ok:
            _malformed(source, "'feature_names' must be a list of strings")
    if not ok:
        _malformed(source, f"{name!r} is {_json_type(value)}, expected {_WORDS[want]}")


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return "a string"
    return "an object" if isinstance(value, dict) else "a list"


def _malformed(source: Path | str, problem: str) -> NoReturn:
    raise CheckpointError(
        f"{source}: not a valid mlptrain checkpoint: its run state (__metadata__ meta) {problem}"
    )


@dataclass
class RunCheckpoint:
    """A loaded, verified checkpoint of a run: tensors by dotted name, the checked run state."""

    tensors: dict[str, np.ndarray]
    meta: RunMeta
    path: Path
    sha256: str = ""  # the verified digest of tensors and metadata


def load_run_checkpoint(path: str | os.PathLike[str]) -> RunCheckpoint:
    """``load_checkpoint`` (structure, caps, SHA-256), then the run state checked as ``RunMeta``:
    every problem is one line of ``CheckpointError``."""
    ckpt = load_checkpoint(path)
    meta = RunMeta.from_json(ckpt.meta, ckpt.path)
    return RunCheckpoint(tensors=ckpt.tensors, meta=meta, path=ckpt.path, sha256=ckpt.sha256)
