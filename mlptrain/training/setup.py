"""Building a run from a config: data, model, loss, optimizer, schedule and stopper.

Randomness: one root ``Generator(seed)`` spawns the initialisation stream (which in turn
spawns one stream per dropout layer) and the shuffling stream; the splits use ``seed`` as
scikit-learn's ``random_state``. Nothing reads the global ``np.random``, so the same config
and seed give the same weights, bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlptrain.config import Config, check_against_data
from mlptrain.data import Prepared
from mlptrain.data.row_hash import Placement
from mlptrain.data.stream_plan import class_counts
from mlptrain.data.stream_prepared import prepare_stream
from mlptrain.nn.build import build_model
from mlptrain.nn.losses import LOSS_TYPES, Loss
from mlptrain.nn.sequential import Head, Sequential
from mlptrain.timings import phase
from mlptrain.training.optim import Optimizer, make_optimizer
from mlptrain.training.schedule import Schedule, make_schedule
from mlptrain.training.stopping import EarlyStopping
from mlptrain.training.threads import one_blas_thread
from mlptrain.training.trained import TrainedModel

DTYPES = {"float32": np.float32, "float64": np.float64}


@dataclass
class Setup:
    """Everything a run needs, built from a config: data, model, loss, optimizer, schedule."""

    config: Config
    data: Prepared
    model: Sequential
    loss: Loss
    optimizer: Optimizer
    schedule: Schedule
    stopper: EarlyStopping | None
    shuffle_rng: np.random.Generator
    dtype: np.dtype

    @property
    def trained(self) -> TrainedModel:
        """The model with its predictions mapped back to the targets' units."""
        scaler = self.data.target_scaler
        return TrainedModel.from_target_state(
            self.model, None if scaler is None else scaler.state_dict()
        )

    def loss_targets(self, y: np.ndarray) -> np.ndarray:
        """Targets as the loss sees them: standardised for regression, labels otherwise."""
        scaler = self.data.target_scaler
        return y if scaler is None else scaler.transform(y, self.dtype)


def head_for(loss_name: str) -> Head:
    return LOSS_TYPES[loss_name].head  # type: ignore[return-value]


def output_units(loss_name: str, data: Prepared) -> int:
    """Units of the output layer when the config leaves them out."""
    return 1 if LOSS_TYPES[loss_name].one_logit else data.n_outputs_hint


def class_weights(cfg: Config, data: Prepared) -> np.ndarray | None:
    """Per-class weights for the loss: "balanced" is n / (k · count), as scikit-learn does."""
    spec = cfg.train.class_weight
    if spec is None or data.encoder is None:
        return None
    n_classes = len(data.encoder.classes)
    if spec == "balanced":
        if data.stream is not None:  # the first pass counted every training row's class
            counts = class_counts(data.stream)
        else:
            counts = np.bincount(data.train.y, minlength=n_classes).astype(np.float64)
        return counts.sum() / (n_classes * np.maximum(counts, 1))
    weights = np.ones(n_classes)
    labels = [str(c) for c in data.encoder.classes]
    for label, weight in spec.items():
        weights[labels.index(str(label))] = float(weight)
    return weights


def make_loss(cfg: Config, data: Prepared) -> Loss:
    return LOSS_TYPES[str(cfg.model.loss)].make(class_weights(cfg, data))


def build_stack(
    cfg: Config, *, n_inputs: int, n_outputs: int, rng: np.random.Generator
) -> Sequential:
    """The configured layer stack (no data needed): what ``build`` trains and what
    ``mlptrain.serving.loading.load`` fills with a checkpoint's weights."""
    return build_model(
        cfg.model.layers,
        n_inputs=n_inputs,
        n_outputs=n_outputs,
        rng=rng,
        dtype=DTYPES[cfg.train.dtype],
        init=cfg.model.init,
        head=head_for(cfg.model.settled_loss),
    )


def prepare_data(cfg: Config, placement: Placement | None = None) -> Prepared:
    """The config's data in its training dtype: held in memory (``prepare``), or a streamed
    table's first pass (``prepare_stream``, ``data.stream: true``), whose rows stay unread;
    ``placement``: a streamed cross-validation fold's parts (default: the config's).

    On one BLAS thread: preparing data makes few matrix products, and small ones (a
    generator's), which OpenBLAS's second thread only slows down once another process (the
    MLflow tracker's imports, say) holds the other core. W2's data, 5 alternating pairs: 2.18
    against 2.26 s alone, 2.28 against 2.50 s beside the tracker's process; scikit-learn's
    generators give the same values bit for bit (docs/performance.md#blas-threads).
    """
    from mlptrain.data import prepare  # looked up per call: tests count the preparations

    dtype = np.dtype(DTYPES[cfg.train.dtype])
    with one_blas_thread():
        if cfg.data.stream:
            return prepare_stream(cfg.data, seed=cfg.seed, dtype=dtype, placement=placement)
        return prepare(cfg.data, seed=cfg.seed, dtype=dtype)


def build(cfg: Config, data: Prepared | None = None) -> Setup:
    """Data, model and optimizer for ``cfg``; ``data`` may be passed when already prepared.

    ``Setup.config`` is ``cfg`` as the data's task settles it (``Config.for_task``).
    """
    if data is None:
        with phase("data"):
            data = prepare_data(cfg)
    cfg = cfg.for_task(data.task)
    check_against_data(
        cfg,
        task=data.task,
        n_classes=None if data.encoder is None else len(data.encoder.classes),
        classes=None if data.encoder is None else list(data.encoder.classes),
        n_targets=data.n_outputs_hint if data.encoder is None else None,
    )
    init_rng, shuffle_rng = np.random.default_rng(cfg.seed).spawn(2)
    model = build_stack(
        cfg,
        n_inputs=data.n_features,
        n_outputs=output_units(cfg.model.settled_loss, data),
        rng=init_rng,
    )
    # The first layer's input is the data: its gradient is never needed.
    first = model.modules[0]
    if getattr(first, "needs_input_grad", None) is not None:  # linear, ensemble
        first.needs_input_grad = False
    optimizer = make_optimizer(cfg.train.optimizer, model)
    schedule = make_schedule(cfg.train.schedule, base_lr=optimizer.lr, epochs=cfg.train.epochs)
    es = cfg.train.early_stopping
    stopper = EarlyStopping(es.monitor, es.patience, es.min_delta) if es is not None else None
    return Setup(
        config=cfg,
        data=data,
        model=model,
        loss=make_loss(cfg, data),
        optimizer=optimizer,
        schedule=schedule,
        stopper=stopper,
        shuffle_rng=shuffle_rng,
        dtype=np.dtype(DTYPES[cfg.train.dtype]),
    )
