"""The Trainer's ``save``: checkpoints and metrics lines into a run directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from mlptrain.store.atomic import atomic_write_text
from mlptrain.store.checkpoint import save_checkpoint
from mlptrain.store.jsonl import append_line
from mlptrain.store.layout import CHECKPOINT_DIR, METRICS_FILE
from mlptrain.store.run_meta import RunMeta
from mlptrain.training.run_state import checkpoint_tensors, run_metadata
from mlptrain.training.setup import Setup
from mlptrain.training.trainer import Trainer


class Saver:
    """Writes checkpoints and metrics lines for the Trainer, and keeps the best weights.

    ``deferred`` (a sweep's trials): checkpoints and metrics lines are kept in memory and
    written once by ``flush`` when the run ends, however it ends. A trial killed midway leaves
    no partial files worth keeping (the sweep reruns it), and writing ``last`` every epoch
    would cost far more than training a small trial.
    """

    def __init__(self, setup: Setup, run_dir: Path, *, deferred: bool = False) -> None:
        self.setup = setup
        self.run_dir = run_dir
        self.trainer: Trainer | None = None
        self.best_state: dict[str, np.ndarray] | None = None
        self.written_epochs = 0
        self.saved: dict[str, tuple[int, int]] = {}  # checkpoint kind -> (epoch, step) on disk
        self.deferred = deferred
        self._pending: dict[str, tuple[dict[str, np.ndarray], RunMeta] | None] = {}

    def __call__(self, kind: str) -> None:
        assert self.trainer is not None
        if kind == "best":
            self.best_state = self.setup.model.state_dict()
        if self.deferred:
            # "last" is written from the state at flush time; "best" must be captured now.
            self._pending[kind] = self._snapshot(kind) if kind == "best" else None
            return
        self._flush_metrics(self.trainer.state.history)
        tensors, meta = self._snapshot(kind)
        self._write(kind, tensors, meta)

    def _write(self, kind: str, tensors: dict[str, np.ndarray], meta: RunMeta) -> None:
        path = self.run_dir / CHECKPOINT_DIR / f"{kind}.safetensors"
        save_checkpoint(path, tensors, meta.to_json())
        self.saved[kind] = (meta.epoch, meta.step)

    def _snapshot(self, kind: str) -> tuple[dict[str, np.ndarray], RunMeta]:
        assert self.trainer is not None
        meta = run_metadata(self.setup, self.trainer.state).with_(kind=kind)
        return checkpoint_tensors(self.setup, with_optimizer=kind == "last"), meta

    def flush(self) -> None:
        """Write what a deferred saver holds (nothing to do otherwise)."""
        if not self.deferred or self.trainer is None:
            return
        history = self.trainer.state.history
        if self.written_epochs == 0 and history:
            # One write for the whole file instead of an fsynced append per epoch.
            lines = "".join(json.dumps(r, allow_nan=False) + "\n" for r in history)
            atomic_write_text(self.run_dir / METRICS_FILE, lines)
            self.written_epochs = len(history)
        self._flush_metrics(history)
        for kind, held in self._pending.items():
            tensors, meta = held if held is not None else self._snapshot(kind)
            self._write(kind, tensors, meta)
        self._pending.clear()

    def kept(self) -> str:
        """Which checkpoints a failed run leaves on disk, for its error message."""
        if not self.saved:
            return "no checkpoint had been written yet"
        kept = [
            f"{CHECKPOINT_DIR}/{kind}.safetensors (epoch {epoch}, step {step})"
            for kind, (epoch, step) in sorted(self.saved.items(), reverse=True)
        ]
        return f"kept: {' and '.join(kept)}"

    def _flush_metrics(self, history: list[dict[str, Any]]) -> None:
        for record in history[self.written_epochs :]:
            append_line(self.run_dir / METRICS_FILE, json.dumps(record, allow_nan=False))
        self.written_epochs = len(history)
