"""The Trainer's ``save``: checkpoints and metrics lines into a run directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from mlptrain.store.checkpoint import CHECKPOINT_DIR, save_checkpoint
from mlptrain.store.jsonl import append_line
from mlptrain.training.run_state import checkpoint_tensors, run_metadata
from mlptrain.training.setup import Setup
from mlptrain.training.trainer import Trainer


class Saver:
    """Writes checkpoints and metrics lines for the Trainer, and keeps the best weights."""

    def __init__(self, setup: Setup, run_dir: Path) -> None:
        self.setup = setup
        self.run_dir = run_dir
        self.trainer: Trainer | None = None
        self.best_state: dict[str, np.ndarray] | None = None
        self.written_epochs = 0
        self.saved: dict[str, tuple[int, int]] = {}  # checkpoint kind -> (epoch, step) on disk

    def __call__(self, kind: str) -> None:
        assert self.trainer is not None
        state = self.trainer.state
        self._flush_metrics(state.history)
        meta = run_metadata(self.setup, state)
        meta["kind"] = kind
        save_checkpoint(
            self.run_dir / CHECKPOINT_DIR / f"{kind}.safetensors",
            checkpoint_tensors(self.setup, with_optimizer=kind == "last"),
            meta,
        )
        self.saved[kind] = (state.epoch, state.step)
        if kind == "best":
            self.best_state = self.setup.model.state_dict()

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
            append_line(self.run_dir / "metrics.jsonl", json.dumps(record, allow_nan=False))
        self.written_epochs = len(history)
