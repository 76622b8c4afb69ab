"""Continuing a run from its last checkpoint, and starting a run from another run's weights.

Resume (``mlptrain fit --resume RUN_DIR``) rebuilds the run from the config stored in the
checkpoint and puts back everything the next step depends on: weights and batch-norm
statistics, optimizer moments and step count, schedule and early-stopping state, the epoch,
step and mid-epoch batch cursor, the shuffle and dropout Generators, and the best weights
(from ``best.safetensors``). The permutation of an interrupted epoch is redrawn from the
shuffle state saved before it was drawn and the batches already done are skipped, so the final
weights equal those of an uninterrupted run, bit for bit. ``metrics.jsonl`` is cut back to the
checkpoint's epoch, so a resumed run never logs an epoch twice.

Init-from (``--init-from CHECKPOINT``) is a new run with its own config that starts from
another run's model weights (fine-tuning); every tensor that does not fit is named.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlptrain.config import Config, config_to_dict, config_to_yaml, diff_configs, parse_config_dict
from mlptrain.errors import CheckpointError, ConfigError, DataError
from mlptrain.session.directory import resolve_checkpoint
from mlptrain.session.training import Run, train_in
from mlptrain.store.atomic import atomic_write_text, check_writable, clean_temp_files
from mlptrain.store.checkpoint import expect_tensors
from mlptrain.store.jsonl import truncate_jsonl
from mlptrain.store.layout import (
    BEST_CHECKPOINT,
    CHECKPOINT_DIR,
    CONFIG_FILE,
    LAST_CHECKPOINT,
    METRICS_FILE,
)
from mlptrain.store.lock import RunLock
from mlptrain.store.run_meta import RunCheckpoint, load_run_checkpoint
from mlptrain.tracking import with_trackers
from mlptrain.training.run_state import checkpoint_tensors, load_model_state, model_tensors, restore
from mlptrain.training.setup import Setup, build
from mlptrain.training.trainer import Callbacks, Trainer

# Keys a resume may change: more (or fewer) epochs, how often checkpoints are written, and
# the trackers (track.*), none of which changes the weights.
RESUMABLE_KEYS = ("train.epochs", "checkpoint.every", "checkpoint.every_steps", "track.*")


def _resumable(key: str) -> bool:
    return key in RESUMABLE_KEYS or key == "track" or key.startswith("track.")


def locate(path: str | Path) -> tuple[Path, Path]:
    """(run directory, checkpoint file) for ``--resume PATH``: a run directory or its
    ``checkpoints/<name>.safetensors``."""
    path = Path(path)
    if path.is_dir():
        checkpoint = path / CHECKPOINT_DIR / LAST_CHECKPOINT
        if not checkpoint.exists():
            raise CheckpointError(
                f"«resume» {path}: no checkpoint to resume from ({CHECKPOINT_DIR}/"
                f"{LAST_CHECKPOINT} is missing); the run stopped before its first checkpoint: "
                "start it again with its config"
            )
        return path, checkpoint
    if not path.exists():
        raise CheckpointError(f"«resume» {path}: no such run directory or checkpoint file")
    if path.parent.name != CHECKPOINT_DIR:
        raise CheckpointError(
            f"«resume» {path}: a checkpoint to resume must lie in a run directory's "
            f"{CHECKPOINT_DIR}/ folder (the run continues in that directory)"
        )
    return path.parent.parent, path


def resumed_config(ckpt: RunCheckpoint, overrides: Sequence[str] = ()) -> Config:
    """The checkpoint's stored config with ``overrides``; refuses any change but RESUMABLE_KEYS."""
    stored = ckpt.meta.config
    source = f"{ckpt.path} (stored config)"
    cfg = parse_config_dict(stored, source=source)
    if not overrides:
        return cfg
    changed_cfg = parse_config_dict(stored, source=source, overrides=overrides)
    changed = diff_configs(config_to_dict(cfg), config_to_dict(changed_cfg))
    refused = [key for key in changed if not _resumable(key)]
    if refused:
        raise ConfigError(
            f"«resume»: cannot change {', '.join(refused)} of a run being resumed (a resumed run "
            f"keeps the config it started with; allowed: {', '.join(RESUMABLE_KEYS)}); to train "
            "with a changed config, start a new run with «init_from» "
            f"{ckpt.path.parent.parent} instead"
        )
    done = ckpt.meta.epoch
    if changed_cfg.train.epochs < done:
        raise ConfigError(
            f"«overrides» train.epochs={changed_cfg.train.epochs}: the checkpoint has already "
            f"completed {done} epochs; allowed: train.epochs >= {done}"
        )
    return changed_cfg


@dataclass
class ResumePoint:
    """Where ``--resume PATH`` would start: the run, its cursor, and whether anything is left."""

    run_dir: Path
    epoch: int  # completed epochs
    step: int
    epochs: int  # train.epochs of the resumed config
    stopped_early: bool

    @property
    def finished(self) -> bool:
        return self.stopped_early or self.epoch >= self.epochs


def resume_point(path: str | Path, overrides: Sequence[str] = ()) -> ResumePoint:
    """The run and cursor a resume of ``path`` starts from; checks ``overrides`` and that the
    data is unchanged, so nothing is announced that ``resume`` then refuses."""
    from mlptrain.data.fingerprint import check_same_data
    from mlptrain.data.splits import fingerprint_for

    run_dir, checkpoint_path = locate(path)
    ckpt = load_run_checkpoint(checkpoint_path)
    cfg = resumed_config(ckpt, overrides)
    if ckpt.meta.data_fingerprint:
        check_same_data(
            ckpt.meta.data_fingerprint,
            fingerprint_for(cfg.data, seed=cfg.seed),
            source=str(cfg.data.path or cfg.data.dataset),
            run=str(run_dir),
            remedy="resume needs the same data",
        )
    return ResumePoint(
        run_dir,
        ckpt.meta.epoch,
        ckpt.meta.step,
        cfg.train.epochs,
        ckpt.meta.stopped_early,
    )


def resume(
    path: str | Path,
    *,
    overrides: Sequence[str] = (),
    callbacks: Callbacks | None = None,
    figures: bool = True,
    track: Sequence[str] = (),
    on_warning: Callable[[str], None] | None = None,
) -> Run:
    """Continue the run at ``path`` (a run directory or its checkpoint) to its last epoch.

    Its trackers continue too: the same MLflow run, the same TensorBoard log (``track`` adds
    trackers the run did not have)."""
    run_dir, checkpoint_path = locate(path)
    check_writable(run_dir / CHECKPOINT_DIR)
    with RunLock(run_dir):
        # Under the lock only: a live run's in-flight temporary files must not be removed.
        clean_temp_files(run_dir)
        clean_temp_files(run_dir / CHECKPOINT_DIR)
        ckpt = load_run_checkpoint(checkpoint_path)
        if ckpt.meta.kind != "last":
            raise CheckpointError(
                f"«resume» {checkpoint_path}: a {ckpt.meta.kind or 'foreign'!r} checkpoint "
                "holds no optimizer state; resume from the run directory (its last checkpoint)"
            )
        cfg = with_trackers(resumed_config(ckpt, overrides), track)
        setup = build(cfg)
        # Before anything is written: a refused resume leaves config.yaml as it was.
        _check_same_data(setup, ckpt)
        if overrides or track:
            atomic_write_text(run_dir / CONFIG_FILE, config_to_yaml(cfg))
        return train_in(
            setup,
            run_dir,
            callbacks,
            start=lambda trainer, saver: _restore(trainer, saver, ckpt),
            figures=figures,
            on_warning=on_warning,
        )


def _restore(trainer: Trainer, saver: Any, ckpt: RunCheckpoint) -> None:
    """Put the Trainer and the saver where the checkpoint left the run."""
    setup = trainer.setup
    expected = {name: (a.shape, a.dtype) for name, a in checkpoint_tensors(setup).items()}
    expect_tensors(ckpt, expected)
    restore(
        setup,
        trainer.state,
        ckpt.tensors,
        ckpt.meta,
        source=str(ckpt.path),
        remedy="resume from another checkpoint or train again",
    )
    epoch = trainer.state.epoch
    history = truncate_jsonl(
        saver.run_dir / METRICS_FILE,
        lambda record: isinstance(record.get("epoch"), int) and record["epoch"] <= epoch,
    )
    trainer.state.history = history
    saver.written_epochs = len(history)
    saver.saved["last"] = (trainer.state.epoch, trainer.state.step)
    stopper = setup.stopper
    if stopper is not None and stopper.best_epoch > 0:
        saver.best_state = _best_weights(setup, saver.run_dir / CHECKPOINT_DIR / BEST_CHECKPOINT)


def _check_same_data(setup: Setup, ckpt: RunCheckpoint) -> None:
    """The stored data fingerprint, or for older checkpoints the scaler (fitted on the
    training split: if it changed, so did the data); a table's fitted preprocessing too."""
    from mlptrain.data.fingerprint import check_same_data

    table = setup.data.table
    if (table.state if table is not None else None) != ckpt.meta.table:
        raise DataError(
            f"{setup.data.source}: the data differs from the data {ckpt.path} was trained "
            "on (its fitted preprocessing changed); resume needs the same data"
        )
    if ckpt.meta.data_fingerprint:
        check_same_data(
            ckpt.meta.data_fingerprint,
            setup.data.fingerprint or {},
            source=setup.data.source,
            run=str(ckpt.path.parent.parent),
            remedy="resume needs the same data",
        )
        return
    for name, array in setup.data.scaler.state_dict().items():
        stored = ckpt.tensors.get(name)
        if stored is None or not np.array_equal(stored, array):
            raise DataError(
                f"{setup.data.source}: the data differs from the data {ckpt.path} was trained "
                "on (its scaling statistics changed); resume needs the same data"
            )


def _best_weights(setup: Setup, path: Path) -> dict[str, np.ndarray]:
    """Early stopping's best weights, from ``best.safetensors``, checked against the model."""
    if not path.exists():
        raise CheckpointError(
            f"{path}: missing; early stopping needs the best weights to resume "
            f"(best epoch {setup.stopper.best_epoch if setup.stopper else '?'})"
        )
    best = load_run_checkpoint(path)
    model_state = model_tensors(best.tensors)
    expected = {f"model.{k}": v for k, v in setup.model.expected_state().items()}
    expect_tensors(best, expected, prefix="model.")
    return model_state


def init_weights(setup: Setup, path: str | Path) -> Path:
    """Copy another run's model weights into ``setup.model`` (fine-tuning); returns the file.

    A run directory means its best checkpoint. Shapes must fit exactly; dtypes are converted
    (a float64 run may start from float32 weights). Optimizer, schedule and RNG state are not
    taken: this is a new run.
    """
    ckpt = load_run_checkpoint(resolve_checkpoint(path, "best"))
    dtype = setup.model.dtype
    expected = {
        f"model.{name}": (shape, ckpt.tensors[f"model.{name}"].dtype)
        if f"model.{name}" in ckpt.tensors
        else (shape, dtype)
        for name, (shape, _) in setup.model.expected_state().items()
    }
    try:
        expect_tensors(ckpt, expected, prefix="model.")
    except CheckpointError as exc:
        raise CheckpointError(f"«init_from»: {exc}") from None
    load_model_state(
        setup.model,
        {k: v.astype(dtype, copy=False) for k, v in model_tensors(ckpt.tensors).items()},
        source=str(ckpt.path),
    )
    return ckpt.path
