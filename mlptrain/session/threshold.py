"""A binary classifier's decision threshold, kept beside its checkpoints in threshold.json.

``mlptrain evaluate RUN --threshold 0.3`` or ``--threshold-for f1`` writes it; every loader of
the run (``predict``, ``serve``, ``evaluate``, the exports, ``mlptrain.load``) applies it, so
a row is predicted positive when p(positive class) >= the threshold. The file names the
checkpoint it was chosen for by its SHA-256: a threshold chosen for one model is not applied
to another (a resumed run's new best, or last.safetensors), and the loader says so.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mlptrain.errors import CheckpointError
from mlptrain.store.atomic import atomic_write_text
from mlptrain.store.layout import CHECKPOINT_DIR, THRESHOLD_FILE
from mlptrain.store.run_meta import RunCheckpoint
from mlptrain.training.trained import TrainedModel


@dataclass(frozen=True)
class Threshold:
    """A chosen threshold: its value, the class it is on, how it was chosen (``given`` or a
    rule such as ``f1``), the rule's metric on the split it was chosen on, and the
    checkpoint it belongs to."""

    value: float
    positive_class: str
    rule: str
    split: str | None
    score: float | None
    checkpoint: str
    checkpoint_sha256: str

    def describe(self) -> str:
        if self.split is None:
            return f"threshold {self.value:g} on p({self.positive_class}), given"
        return (
            f"threshold {self.value:.6g} on p({self.positive_class}), chosen for {self.rule} "
            f"on the {self.split} split ({self.rule.partition('=')[0]} {self.score:.4f} there)"
        )


def threshold_path(checkpoint: Path) -> Path:
    """Where a checkpoint's run keeps its threshold: the run directory for a checkpoint in
    ``checkpoints/``, else beside the checkpoint file."""
    folder = checkpoint.parent
    run_dir = folder.parent if folder.name == CHECKPOINT_DIR else folder
    return run_dir / THRESHOLD_FILE


def write_threshold(threshold: Threshold, checkpoint: Path) -> Path:
    path = threshold_path(checkpoint)
    atomic_write_text(path, json.dumps(asdict(threshold), indent=2) + "\n")
    return path


def read_threshold(ckpt: RunCheckpoint) -> tuple[Threshold | None, str | None]:
    """(the threshold chosen for ``ckpt``, None) when there is one; (None, a note) when the
    run's threshold belongs to another checkpoint; (None, None) when there is none. A
    damaged file is a CheckpointError naming it."""
    path = threshold_path(ckpt.path)
    if not path.exists():
        return None, None
    threshold = _parse(path)
    classes = ckpt.meta.classes or []
    if len(classes) != 2 or str(classes[1]) != threshold.positive_class:
        raise CheckpointError(
            f"{path}: the threshold is on class {threshold.positive_class!r}, but the model's "
            f"classes are {[str(c) for c in classes]}; delete the file or choose again "
            "(mlptrain evaluate RUN --threshold-for f1)"
        )
    if threshold.checkpoint_sha256 != ckpt.sha256:
        return None, (
            f"{path.name} holds a threshold chosen for another checkpoint "
            f"({threshold.checkpoint}); this one decides by the most probable class (0.5). "
            "Choose again for it: mlptrain evaluate RUN --threshold-for f1"
        )
    return threshold, None


def _parse(path: Path) -> Threshold:
    try:
        raw: Any = json.loads(path.read_text(encoding="utf-8"))
        threshold = Threshold(**raw)
    except (OSError, ValueError, TypeError) as exc:
        raise CheckpointError(f"{path}: not a threshold file mlptrain wrote ({exc})") from None
    value = threshold.value
    texts = (threshold.positive_class, threshold.checkpoint_sha256)
    if not all(isinstance(t, str) for t in texts) or type(value) not in (int, float):
        raise CheckpointError(f"{path}: not a threshold file mlptrain wrote (wrong types)")
    if not 0 < value < 1:
        raise CheckpointError(f"{path}: threshold {value!r} is not strictly between 0 and 1")
    return threshold


def apply_threshold(
    trained: TrainedModel, ckpt: RunCheckpoint
) -> tuple[Threshold | None, str | None]:
    """Give ``trained`` (the model of ``ckpt``) its run's threshold, if one was chosen for it;
    returns what ``read_threshold`` found."""
    threshold, note = read_threshold(ckpt)
    trained.threshold = None if threshold is None else float(threshold.value)
    return threshold, note
