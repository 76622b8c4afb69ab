"""The training loop: one seeded run from a resolved config to checkpoints and a report.

Randomness: one root ``Generator(seed)`` spawns the initialisation stream (which in turn
spawns one stream per dropout layer) and the shuffling stream; the splits use ``seed`` as
scikit-learn's ``random_state``. Nothing reads the global ``np.random``, so the same config
and seed give the same weights, bit for bit.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlptrain import __version__
from mlptrain.config import Config, check_against_data, config_to_dict, monitor_mode
from mlptrain.data import Prepared, prepare
from mlptrain.errors import ConfigError, RunError
from mlptrain.nn.build import build_model
from mlptrain.nn.linear import Linear
from mlptrain.nn.losses import BCEWithLogits, Loss, MSELoss, SoftmaxCrossEntropy
from mlptrain.nn.sequential import Head, Sequential
from mlptrain.reporting.diagnostics import LayerDiagnostics
from mlptrain.reporting.metrics import HEADLINE, epoch_metric
from mlptrain.training.optim import Optimizer, clip_grad_norm, make_optimizer
from mlptrain.training.schedule import Schedule, make_schedule
from mlptrain.training.stopping import EarlyStopping
from mlptrain.training.threads import blas_threads_for

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

    def loss_targets(self, y: np.ndarray) -> np.ndarray:
        """Targets as the loss sees them: standardised for regression, labels otherwise."""
        scaler = self.data.target_scaler
        return y if scaler is None else scaler.transform(y, self.dtype)


def head_for(loss_name: str) -> Head:
    return {"cross_entropy": "softmax", "bce": "sigmoid", "mse": "identity"}[loss_name]  # type: ignore[return-value]


def output_units(loss_name: str, data: Prepared) -> int:
    """Units of the last linear layer when the config leaves them out."""
    return 1 if loss_name == "bce" else data.n_outputs_hint


def class_weights(cfg: Config, data: Prepared) -> np.ndarray | None:
    """Per-class weights for the loss: "balanced" is n / (k · count), as scikit-learn does."""
    spec = cfg.train.class_weight
    if spec is None or data.encoder is None:
        return None
    n_classes = len(data.encoder.classes)
    if spec == "balanced":
        counts = np.bincount(data.train.y, minlength=n_classes).astype(np.float64)
        return len(data.train.y) / (n_classes * np.maximum(counts, 1))
    weights = np.ones(n_classes)
    labels = [str(c) for c in data.encoder.classes]
    for label, weight in spec.items():
        weights[labels.index(str(label))] = float(weight)
    return weights


def make_loss(cfg: Config, data: Prepared) -> Loss:
    name = cfg.model.loss
    if name == "mse":
        return MSELoss()
    weights = class_weights(cfg, data)
    return BCEWithLogits(weights) if name == "bce" else SoftmaxCrossEntropy(weights)


def build(cfg: Config, data: Prepared | None = None) -> Setup:
    """Data, model and optimizer for ``cfg``; ``data`` may be passed when already prepared."""
    dtype = np.dtype(DTYPES[cfg.train.dtype])
    if data is None:
        data = prepare(cfg.data, seed=cfg.seed, dtype=dtype)
    check_against_data(
        cfg,
        task=data.task,
        n_classes=None if data.encoder is None else len(data.encoder.classes),
        classes=None if data.encoder is None else list(data.encoder.classes),
    )
    init_rng, shuffle_rng = np.random.default_rng(cfg.seed).spawn(2)
    model = build_model(
        cfg.model.layers,
        n_inputs=data.n_features,
        n_outputs=output_units(cfg.model.loss, data),
        rng=init_rng,
        dtype=dtype,
        init=cfg.model.init,
        head=head_for(cfg.model.loss),
    )
    if data.target_scaler is not None:
        set_output_transform(model, data.target_scaler.state_dict(), dtype)
    # The first layer's input is the data: its gradient is never needed.
    first = model.modules[0]
    if isinstance(first, Linear):
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
        dtype=dtype,
    )


def set_output_transform(
    model: Sequential, scaler_state: dict[str, np.ndarray], dtype: np.dtype
) -> None:
    """Map regression outputs back to the targets' units in predict."""
    model.output_shift = scaler_state["scaler.shift"].astype(dtype)
    model.output_scale = scaler_state["scaler.scale"].astype(dtype)


@dataclass
class Callbacks:
    """Hooks for progress display; every one is optional."""

    on_epoch_start: Callable[[int, int, int], None] | None = None  # (epoch, epochs, n_batches)
    on_batch: Callable[[float], None] | None = None  # (batch loss)
    on_epoch_end: Callable[[dict[str, Any]], None] | None = None  # (epoch record)

    @classmethod
    def chain(cls, *parts: Callbacks | None) -> Callbacks:
        """One Callbacks calling each part's hooks in order (progress, trackers, pruning...)."""

        def joined(name: str) -> Callable[..., None] | None:
            hooks = [getattr(p, name) for p in parts if p is not None and getattr(p, name)]
            if len(hooks) <= 1:
                return hooks[0] if hooks else None

            def call(*args: Any) -> None:
                for hook in hooks:
                    hook(*args)

            return call

        return cls(**{name: joined(name) for name in cls.__dataclass_fields__})


@dataclass
class TrainState:
    """Where a run is: the cursor a checkpoint must capture for an exact resume."""

    epoch: int = 0  # completed epochs
    step: int = 0  # optimizer steps taken
    history: list[dict[str, Any]] = field(default_factory=list)
    stopped_early: bool = False
    seconds: float = 0.0
    # Mid-epoch cursor: batches done in the current epoch, their running loss and hit sums,
    # and the shuffle Generator's state from before this epoch's permutation, so a resume
    # regenerates the same permutation and skips the batches already done.
    batch: int = 0
    epoch_loss: float = 0.0
    epoch_hits: float = 0.0
    epoch_rng_state: dict[str, Any] | None = None


def iterate_batches(
    n_samples: int, batch_size: int, rng: np.random.Generator, *, shuffle: bool = True
) -> list[np.ndarray]:
    """Index batches of a fresh permutation (or of the rows in order when ``shuffle`` is
    false): every sample once per epoch, no replacement."""
    order = rng.permutation(n_samples) if shuffle else np.arange(n_samples)
    return [order[i : i + batch_size] for i in range(0, n_samples, batch_size)]


def evaluate_split(
    model: Sequential, loss: Loss, x: np.ndarray, y: np.ndarray, task: str
) -> tuple[float, float]:
    """(loss, headline metric) of the model in eval mode on one split."""
    output = model.forward_eval(x)
    value = loss.forward(output, y)
    if task == "classification":
        predicted = output.argmax(axis=1) if output.shape[1] > 1 else (output[:, 0] > 0)
        return value, epoch_metric(task, predicted.astype(np.int64), y)
    return value, epoch_metric(task, output, y)


class Trainer:
    """Runs epochs on a ``Setup``; ``save`` is called with the checkpoint kind to write."""

    def __init__(
        self,
        setup: Setup,
        *,
        callbacks: Callbacks | None = None,
        save: Callable[[str], None] | None = None,
    ) -> None:
        self.setup = setup
        self.callbacks = callbacks or Callbacks()
        self.save = save or (lambda kind: None)
        self.state = TrainState()
        self._target_cache: dict[str, np.ndarray] = {}
        # Set (from a signal handler) to stop after the current step: see mlptrain.training.signals.
        self.stop_requested = False
        self.diagnostics = LayerDiagnostics(setup.model)

    @property
    def task(self) -> str:
        return self.setup.data.task

    def _targets(self, split: str) -> np.ndarray:
        """Loss-space targets of a split, computed once per run."""
        if split not in self._target_cache:
            self._target_cache[split] = self.setup.loss_targets(getattr(self.setup.data, split).y)
        return self._target_cache[split]

    def run(self) -> TrainState:
        cfg = self.setup.config
        while self.state.epoch < cfg.train.epochs and not self.state.stopped_early:
            if self.stop_requested:
                self.save("last")
                raise StopRequested(self.state.epoch, self.state.step)
            # Overflow on the way to a divergence is caught by the finite check of each step
            # (and an epoch's non-finite validation values are recorded as null), so numpy's
            # RuntimeWarnings would only repeat it, pointing into mlptrain's code.
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                record = self.run_epoch()
            self._after_epoch(record)
        return self.state

    def run_epoch(self) -> dict[str, Any]:
        s, state = self.setup, self.state
        cfg = s.config
        epoch = state.epoch
        lr = s.schedule.lr_for(epoch)
        s.optimizer.lr = lr
        train = s.data.train
        train_targets = self._targets("train")
        state.epoch_rng_state = s.shuffle_rng.bit_generator.state
        batches = iterate_batches(
            len(train.y), cfg.train.batch_size, s.shuffle_rng, shuffle=cfg.train.shuffle
        )
        if self.callbacks.on_epoch_start:
            self.callbacks.on_epoch_start(epoch + 1, cfg.train.epochs, len(batches))
        started = time.perf_counter()
        s.model.train()
        total_loss = state.epoch_loss
        hits = state.epoch_hits
        clip = cfg.train.clip_grad_norm
        classification = self.task == "classification"
        xb_buf = yb_buf = np.empty(0)
        weights = train.weight
        wb = None
        # Small per-batch products run faster on one BLAS thread (docs/performance.md).
        with blas_threads_for(s.model.flat_params.size, cfg.train.batch_size):
            for index in batches[state.batch :]:
                # Gather into buffers allocated once per batch size (no per-step allocation).
                if len(index) != len(xb_buf):
                    xb_buf = np.empty((len(index), *train.X.shape[1:]), train.X.dtype)
                    yb_buf = np.empty((len(index), *train_targets.shape[1:]), train_targets.dtype)
                xb = np.take(train.X, index, axis=0, out=xb_buf)
                yb = np.take(train_targets, index, axis=0, out=yb_buf)
                if weights is not None:
                    wb = weights[index]
                output = s.model.forward(xb)
                loss = s.loss.forward(output, yb, wb)
                s.model.backward(s.loss.backward())
                # One reduction over the flat gradient catches inf/nan in any layer.
                if not (math.isfinite(loss) and math.isfinite(float(s.model.flat_grads.sum()))):
                    self._diverged(loss, lr)
                self.diagnostics.observe()
                if clip is not None:
                    clip_grad_norm(s.model, clip)
                s.optimizer.step()
                state.step += 1
                total_loss += loss * (len(index) if wb is None else float(wb.sum()))
                if classification:
                    predicted = output.argmax(axis=1) if output.shape[1] > 1 else output[:, 0] > 0
                    correct = predicted == yb
                    hits += np.count_nonzero(correct) if wb is None else float(wb[correct].sum())
                if self.callbacks.on_batch:
                    self.callbacks.on_batch(loss)
                state.batch, state.epoch_loss, state.epoch_hits = state.batch + 1, total_loss, hits
                self._after_step()
        n = len(train.y) if weights is None else max(float(weights.sum()), 1e-300)
        headline = HEADLINE[self.task]
        record: dict[str, Any] = {"epoch": epoch + 1, "lr": lr, "train_loss": total_loss / n}
        if classification:
            record[f"train_{headline}"] = hits / n
        else:
            # Loss-space targets, like the outputs: R² is the same in both spaces.
            record[f"train_{headline}"] = evaluate_split(
                s.model, s.loss, train.X, train_targets, "regression"
            )[1]
        if s.data.val is not None:
            val_loss, val_metric = evaluate_split(
                s.model, s.loss, s.data.val.X, self._targets("val"), self.task
            )
            record["val_loss"] = val_loss
            record[f"val_{headline}"] = val_metric
        record["layers"] = self.diagnostics.end_epoch()
        record["seconds"] = time.perf_counter() - started
        # JSON (metrics.jsonl, checkpoint metadata) has no NaN or inf: a non-finite
        # validation value is recorded as null and never counts as an improvement.
        return {
            k: v if not isinstance(v, float) or math.isfinite(v) else None
            for k, v in record.items()
        }

    def _after_step(self) -> None:
        """Step checkpoints (checkpoint.every_steps) and a requested stop, between two steps."""
        state = self.state
        every_steps = self.setup.config.checkpoint.every_steps
        if self.stop_requested or (every_steps and state.step % every_steps == 0):
            self.save("last")
        if self.stop_requested:
            raise StopRequested(state.epoch, state.step)

    def _diverged(self, loss: float, lr: float) -> None:
        state = self.state
        what = "loss" if not math.isfinite(loss) else "gradient"
        raise DivergenceError(
            f"training diverged: non-finite {what} at epoch {state.epoch + 1}, step "
            f"{state.step + 1} (learning rate {lr:g})"
        )

    def monitored_value(self, record: dict[str, Any], monitor: str) -> float:
        if monitor not in record:
            record[monitor] = self._extra_metric(monitor)
        value = record[monitor]
        if value is None or not math.isfinite(value):
            return math.inf if monitor_mode(monitor) == "min" else -math.inf
        return float(value)

    def _extra_metric(self, monitor: str) -> float:
        """Validation metrics beyond loss and the headline, computed only when monitored."""
        from mlptrain.reporting.metrics import classification_metrics, regression_metrics

        s = self.setup
        split_name, metric = monitor.split("_", 1)
        split = s.data.val if split_name == "val" else s.data.train
        if split is None:
            raise ConfigError(f"cannot monitor {monitor!r}: there is no validation split")
        if self.task == "classification":
            proba = s.model.predict_proba(split.X)
            names = [str(c) for c in s.data.encoder.classes] if s.data.encoder else []
            return float(classification_metrics(split.y, proba, names)[metric])
        return float(regression_metrics(split.y, s.model.predict(split.X))[metric])

    def _after_epoch(self, record: dict[str, Any]) -> None:
        s, state = self.setup, self.state
        cfg = s.config
        state.epoch += 1
        state.seconds += record["seconds"]
        state.batch, state.epoch_loss, state.epoch_hits = 0, 0.0, 0.0
        # Appended first, so a "best" checkpoint written below records this epoch's metrics.
        state.history.append(record)
        if s.stopper is not None:
            value = self.monitored_value(record, s.stopper.monitor)
            if s.stopper.update(state.epoch, value):
                self.save("best")
            # Patience running out at the last epoch is no early stop: every epoch ran.
            state.stopped_early = s.stopper.should_stop and state.epoch < cfg.train.epochs
        plateau_monitor = getattr(cfg.train.schedule, "monitor", None)
        if plateau_monitor is not None:
            s.schedule.observe(self.monitored_value(record, plateau_monitor))
        last_epoch = state.epoch >= cfg.train.epochs or state.stopped_early
        if state.epoch % cfg.checkpoint.every == 0 or last_epoch:
            self.save("last")
        if self.callbacks.on_epoch_end:
            self.callbacks.on_epoch_end(record)


class DivergenceError(RunError):
    """Non-finite loss or gradients: training stopped at that step.

    ``kept`` says which checkpoint survives; the code that writes checkpoints fills it in.
    """

    def __init__(self, cause: str, kept: str = "no checkpoint had been written yet") -> None:
        super().__init__(cause)
        self.cause, self.kept = cause, kept

    def __str__(self) -> str:
        return (
            f"{self.cause}; {self.kept}. Try a smaller learning rate (train.optimizer.lr), "
            "train.clip_grad_norm, or check the data for extreme values"
        )


class StopRequested(Exception):  # noqa: N818  (a request, not an error)
    """Raised by the Trainer after it saved ``last`` because a stop was requested (a signal)."""

    def __init__(self, epoch: int, step: int) -> None:
        super().__init__(f"stopped at epoch {epoch + 1}, step {step}")
        self.epoch, self.step = epoch, step


def run_metadata(setup: Setup, state: TrainState) -> dict[str, Any]:
    """What a checkpoint's metadata holds besides the tensors."""
    data = setup.data
    return {
        "mlptrain_version": __version__,
        "config": config_to_dict(setup.config),
        "task": data.task,
        "head": setup.model.head,
        "n_features": data.n_features,
        "feature_names": data.feature_names,
        "classes": data.encoder.to_list() if data.encoder is not None else None,
        "scale": setup.config.data.scale,
        "data_fingerprint": data.fingerprint,
        "epoch": state.epoch,
        "step": state.step,
        "seconds": state.seconds,
        "metrics": state.history[-1] if state.history else {},
        "batch": state.batch,
        "epoch_loss": float(state.epoch_loss),
        "epoch_hits": float(state.epoch_hits),
        "rng": {
            # Mid-epoch, the state from before the epoch's permutation: resume redraws it.
            "shuffle": state.epoch_rng_state
            if state.batch and state.epoch_rng_state is not None
            else setup.shuffle_rng.bit_generator.state,
            "dropout": {
                k: g.bit_generator.state for k, g in setup.model.dropout_generators().items()
            },
        },
        "optimizer": setup.optimizer.state_meta(),
        "schedule": setup.schedule.state(),
        "early_stopping": setup.stopper.state() if setup.stopper else None,
        "stopped_early": state.stopped_early,
    }


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
    setup: Setup, state: TrainState, tensors: dict[str, np.ndarray], meta: dict[str, Any]
) -> None:
    """Put a run back exactly where a checkpoint left it (the inverse of the two above)."""
    setup.model.load_state_dict(model_tensors(tensors), source="checkpoint")
    for buffer_name, flat in setup.optimizer.state_arrays().items():
        for name, view in setup.model.views_of(flat).items():
            view[...] = tensors[f"optim.{buffer_name}.{name}"]
    setup.optimizer.load_state_meta(meta["optimizer"])
    setup.schedule.load_state(meta["schedule"])
    if setup.stopper is not None and meta.get("early_stopping") is not None:
        setup.stopper.load_state(meta["early_stopping"])
    setup.shuffle_rng.bit_generator.state = meta["rng"]["shuffle"]
    for key, generator in setup.model.dropout_generators().items():
        generator.bit_generator.state = meta["rng"]["dropout"][key]
    state.epoch = int(meta["epoch"])
    state.step = int(meta["step"])
    state.seconds = float(meta.get("seconds", 0.0))
    state.stopped_early = bool(meta.get("stopped_early", False))
    state.batch = int(meta.get("batch", 0))
    state.epoch_loss = float(meta.get("epoch_loss", 0.0))
    state.epoch_hits = float(meta.get("epoch_hits", 0.0))


def describe_data(data: Prepared) -> dict[str, Any]:
    return {
        "source": data.source,
        "task": data.task,
        "n_features": data.n_features,
        "n_train": len(data.train.y),
        "n_val": 0 if data.val is None else len(data.val.y),
        "n_test": len(data.test.y),
        "classes": data.encoder.to_list() if data.encoder is not None else None,
        "fingerprint": data.fingerprint,
    }
