"""Saving and restoring a run's state: what a checkpoint holds and how it becomes a run again.

``checkpoint_tensors`` and ``run_metadata`` are what a checkpoint stores; ``restore`` puts a
run back exactly where a checkpoint left it; ``setup_from_checkpoint`` rebuilds a run's data
and model from one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mlptrain import __version__
from mlptrain.config import Config, config_to_dict, parse_config_dict
from mlptrain.errors import CheckpointError
from mlptrain.nn.sequential import Sequential, StateDictError
from mlptrain.store.run_meta import RunCheckpoint, RunMeta
from mlptrain.training.setup import Setup, build
from mlptrain.training.trainer import TrainState


def load_model_state(model: Sequential, state: dict[str, np.ndarray], *, source: str) -> None:
    """``model.load_state_dict`` for a state read from a file: a misfit is a CheckpointError."""
    try:
        model.load_state_dict(state, source=source)
    except StateDictError as exc:
        raise CheckpointError(str(exc)) from None


def run_metadata(setup: Setup, state: TrainState) -> RunMeta:
    """What a checkpoint's metadata holds besides the tensors."""
    data = setup.data
    return RunMeta(
        mlptrain_version=__version__,
        config=config_to_dict(setup.config),
        task=data.task,
        head=setup.model.head,
        n_features=data.n_features,
        feature_names=data.feature_names,
        classes=data.encoder.to_list() if data.encoder is not None else None,
        scale=setup.config.data.scale,
        # a table's fitted preprocessing (fills, statistics, categories, column order): plain
        # JSON inside the metadata, so the checkpoint's SHA-256 covers it
        table=data.table.state if data.table is not None else None,
        data_fingerprint=data.fingerprint,
        epoch=state.epoch,
        step=state.step,
        seconds=state.seconds,
        metrics=state.history[-1] if state.history else {},
        batch=state.batch,
        epoch_loss=float(state.epoch_loss),
        epoch_hits=float(state.epoch_hits),
        # the position in the epoch's rows (a streamed run replays its stream to it: the
        # shuffle buffer's contents there follow from the rows and rng.shuffle)
        epoch_rows=state.epoch_rows,
        rng={
            # Mid-epoch, the state from before the epoch's permutation: resume redraws it.
            "shuffle": state.epoch_rng_state
            if state.batch and state.epoch_rng_state is not None
            else setup.shuffle_rng.bit_generator.state,
            # the Generators that draw the random masks, by layer index
            "masks": {
                k: g.bit_generator.state for k, g in setup.model.dropout_generators().items()
            },
        },
        optimizer=setup.optimizer.state_meta(),
        schedule=setup.schedule.state(),
        early_stopping=setup.stopper.state() if setup.stopper else None,
        stopped_early=state.stopped_early,
    )


def model_tensors(tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The ``model.*`` tensors of a checkpoint, named as ``Sequential.state_dict`` names them."""
    return {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}


def checkpoint_tensors(setup: Setup, *, with_optimizer: bool = True) -> dict[str, np.ndarray]:
    """Model weights, optimizer moments and scaler under readable names."""
    tensors = {f"model.{k}": v for k, v in setup.model.state_dict().items()}
    if with_optimizer:
        for buffer_name, flat in setup.optimizer.state_arrays().items():
            for name, view in setup.model.views_of(flat).items():
                tensors[f"optim.{buffer_name}.{name}"] = view
    tensors.update(setup.data.scaler.state_dict())
    if setup.data.target_scaler is not None:
        for key, value in setup.data.target_scaler.state_dict().items():
            tensors[key.replace("scaler.", "target.")] = value
    return tensors


def restore(
    setup: Setup,
    state: TrainState,
    tensors: dict[str, np.ndarray],
    meta: RunMeta,
    *,
    source: str,
    remedy: str = "use another checkpoint or train again",
) -> None:
    """Put a run back exactly where a checkpoint left it (the inverse of the two above).

    What ``RunMeta`` leaves to its owners (the optimizer's, the schedule's and the random
    streams' states, the optimizer's tensors) is checked as it is restored: a damaged one is
    one CheckpointError naming ``source``."""
    try:
        _restore_state(setup, state, tensors, meta)
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(
            f"{source}: the run state in the checkpoint is incomplete or damaged ({exc!r}); "
            f"{remedy}"
        ) from None


def _restore_state(
    setup: Setup, state: TrainState, tensors: dict[str, np.ndarray], meta: RunMeta
) -> None:
    load_model_state(setup.model, model_tensors(tensors), source="checkpoint")
    for buffer_name, flat in setup.optimizer.state_arrays().items():
        for name, view in setup.model.views_of(flat).items():
            view[...] = tensors[f"optim.{buffer_name}.{name}"]
    setup.optimizer.load_state_meta(meta.optimizer)
    setup.schedule.load_state(meta.schedule)
    if setup.stopper is not None and meta.early_stopping is not None:
        setup.stopper.load_state(meta.early_stopping)
    setup.shuffle_rng.bit_generator.state = meta.rng["shuffle"]
    masks: dict[str, Any] = meta.rng.get("masks") or {}
    if not masks and setup.model.dropout_generators():
        raise CheckpointError(
            "the checkpoint holds no mask generator states (rng.masks): it was written by an "
            "earlier mlptrain 0.1.0 development version and cannot be resumed bit for bit; "
            "train again, or start from its weights with «init_from»"
        )
    for key, generator in setup.model.dropout_generators().items():
        generator.bit_generator.state = masks[key]
    state.epoch = meta.epoch
    state.step = meta.step
    state.seconds = float(meta.seconds)
    state.stopped_early = meta.stopped_early
    state.batch = meta.batch
    state.epoch_loss = float(meta.epoch_loss)
    state.epoch_hits = float(meta.epoch_hits)
    state.epoch_rows = meta.epoch_rows


def config_from_checkpoint(ckpt: RunCheckpoint) -> Config:
    return parse_config_dict(ckpt.meta.config, source=f"{ckpt.path} (stored config)")


def setup_from_checkpoint(ckpt: RunCheckpoint) -> Setup:
    """Rebuild the run's data and model from a checkpoint, with the checkpoint's weights."""
    from mlptrain.data.fingerprint import check_same_data

    cfg = config_from_checkpoint(ckpt)
    setup = build(cfg)
    check_same_data(
        ckpt.meta.data_fingerprint,
        setup.data.fingerprint or {},
        source=setup.data.source,
        run=str(ckpt.path),
        remedy="evaluate the run on the data it was trained on, or score another labelled "
        "file as a whole with «data_path» FILE",
    )
    load_model_state(setup.model, model_tensors(ckpt.tensors), source=str(ckpt.path))
    return setup
