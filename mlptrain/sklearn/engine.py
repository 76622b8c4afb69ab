"""The bridge from an estimator to mlptrain's engine: arrays to ``Prepared``, parameters to a
``Config``, then ``training.trainer.build`` and the ``Trainer`` loop, the same code path as
``mlptrain fit``. Nothing here knows about scikit-learn's estimator API.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from mlptrain.config import Config, parse_config_dict
from mlptrain.data import LabelEncoder, Prepared, RawData, Scaler, Split, prepare_rows
from mlptrain.data.splits import split_indices
from mlptrain.store.run_meta import RunMeta
from mlptrain.training.run_state import checkpoint_tensors, restore, run_metadata
from mlptrain.training.setup import Setup, build
from mlptrain.training.trainer import Callbacks, Trainer, TrainState


def make_config(raw: dict[str, Any], n_outputs: int) -> Config:
    """The validated config, with the output layer's units resolved."""
    cfg = parse_config_dict(raw, source="estimator parameters")
    return cfg.with_output_units(n_outputs)


def validation_rows(
    y: np.ndarray, *, task: str, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) row indices as scikit-learn's early stopping takes them: a seeded
    split, stratified for classification."""
    # split_indices takes its test part first: here that part is the validation rows.
    train, _, val = split_indices(
        y, task=task, test_size=fraction, val_size=0.0, seed=seed, where="X, y"
    )
    return train, val


def prepare_arrays(
    X: np.ndarray,
    y: np.ndarray,
    *,
    task: str,
    dtype: str,
    sample_weight: np.ndarray | None,
    classes: np.ndarray | None,
    val_rows: np.ndarray | None,
    feature_names: list[str],
) -> Prepared:
    """The rows of one fit as the engine takes them: all (or all but ``val_rows``) train."""
    raw = RawData(X, y, feature_names, task, "arrays passed to fit")
    every = np.arange(len(y))
    train = every if val_rows is None else np.setdiff1d(every, val_rows)
    return prepare_rows(
        raw,
        train,
        val_rows,
        np.array([], dtype=np.int64),
        scale="none",
        dtype=dtype,
        sample_weight=sample_weight,
        classes=classes,
    )


class BestWeights:
    """The Trainer's ``save`` hook: keeps a copy of the weights each time the monitored value
    improves (the "best" checkpoint of a run directory, here in memory)."""

    def __init__(self, setup: Setup) -> None:
        self.setup = setup
        self.state: dict[str, np.ndarray] | None = None

    def __call__(self, kind: str) -> None:
        if kind == "best":
            self.state = self.setup.model.state_dict()


def train(setup: Setup, callbacks: Callbacks | None, *, restore_best: bool) -> TrainState:
    """Run the Trainer on ``setup`` for ``setup.config.train.epochs`` epochs (or until early
    stopping); with ``restore_best`` the best epoch's weights are put back at the end."""
    best = BestWeights(setup)
    trainer = Trainer(setup, callbacks=callbacks, save=best)
    state = trainer.run()
    if restore_best and best.state is not None:
        setup.model.load_state_dict(best.state)
    return state


def one_epoch(setup: Setup, epoch: int) -> dict[str, Any]:
    """One pass over ``setup.data.train`` (``partial_fit``); ``epoch`` counts earlier passes so
    a schedule goes on where it was."""
    trainer = Trainer(setup)
    trainer.state.epoch = epoch
    return trainer.run_epoch()


def without_rows(data: Prepared) -> Prepared:
    """``data`` with its rows dropped: a fitted estimator keeps its scalers and labels, not a
    copy of the training set."""
    empty = Split(data.train.X[:0], data.train.y[:0])
    return replace(data, train=empty, val=None, test=empty)


def snapshot(setup: Setup, state: TrainState) -> tuple[dict[str, np.ndarray], RunMeta]:
    """Tensors and metadata of a checkpoint: weights, optimizer moments, random streams."""
    return checkpoint_tensors(setup), run_metadata(setup, state)


def shell_data(cfg: Config, meta: RunMeta, tensors: dict[str, np.ndarray]) -> Prepared:
    """A ``Prepared`` without rows: enough for ``build`` to make the model of a checkpoint."""
    dtype = np.dtype(cfg.train.dtype)
    n_features = meta.n_features
    encoder = LabelEncoder.from_list(meta.classes) if meta.classes else None
    target_scaler = None
    if "target.shift" in tensors:
        target_scaler = Scaler.from_state(
            "standard",
            {"scaler.shift": tensors["target.shift"], "scaler.scale": tensors["target.scale"]},
        )
    # a regression snapshot stores its target scaling, one shift per output
    n_outputs = encoder.n_classes if encoder is not None else len(tensors["target.shift"])
    empty = Split(np.empty((0, n_features), dtype), np.empty(0, np.int64))
    return Prepared(
        task=meta.task,
        train=empty,
        val=None,
        test=empty,
        encoder=encoder,
        scaler=Scaler.from_state(cfg.data.scale, tensors),
        feature_names=list(meta.feature_names),
        n_features=n_features,
        n_outputs_hint=n_outputs,
        source="checkpoint",
        target_scaler=target_scaler,
    )


def setup_from(
    tensors: dict[str, np.ndarray], meta: RunMeta, source: str = "estimator checkpoint"
) -> Setup:
    """The Setup a snapshot was taken of: model, optimizer state and random streams."""
    cfg = parse_config_dict(meta.config, source=f"{source} (stored config)")
    setup = build(cfg, shell_data(cfg, meta, tensors))
    restore(setup, TrainState(), tensors, meta, source=source)
    return setup
