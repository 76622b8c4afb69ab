"""The training loop: epochs of shuffled batches on a ``Setup``, with its resume cursor."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlptrain.config import monitor_mode
from mlptrain.errors import ConfigError, RunError
from mlptrain.reporting.diagnostics import LayerDiagnostics
from mlptrain.reporting.metrics import HEADLINE
from mlptrain.training.batches import ArrayBatches, BatchSource, StreamBatches
from mlptrain.training.optim import clip_grad_norm
from mlptrain.training.setup import Setup
from mlptrain.training.threads import blas_threads_for


@dataclass
class Callbacks:
    """Hooks for observers of a run (progress bars, trackers, a sweep's pruner); all optional.

    ``on_epoch_end`` may raise :class:`StopTraining` to end the run after that epoch (its
    checkpoints are written as for any finished run). Several observers are combined with
    :func:`mlptrain.training.observers.compose`.
    """

    on_epoch_start: Callable[[int, int, int], None] | None = None  # (epoch, epochs, n_batches)
    on_batch: Callable[[float], None] | None = None  # (batch loss)
    on_epoch_end: Callable[[dict[str, Any]], None] | None = None  # (epoch record)
    on_gradcheck: Callable[[Any], None] | None = None  # (GradcheckResult of fit(gradcheck=True))
    # (the Prepared data: rows, columns and notes), once, before the first epoch of a new run
    on_data: Callable[[Any], None] | None = None


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
    epoch_rng_state: Mapping[str, Any] | None = None
    # Training rows of the current epoch done: a streamed run's position in its stream.
    epoch_rows: int = 0


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
        # Why an observer ended the run early (StopTraining's message), e.g. "pruned".
        self.stopped_by: str | None = None
        self.diagnostics = LayerDiagnostics(setup.model)
        self.batches = batch_source(setup, self._targets)

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
        try:
            while (
                self.state.epoch < cfg.train.epochs
                and not self.state.stopped_early
                and self.stopped_by is None
            ):
                if self.stop_requested:
                    self.save("last")
                    raise StopRequested(self.state.epoch, self.state.step)
                # Overflow on the way to a divergence is caught by the finite check of each
                # step (and an epoch's non-finite validation values are recorded as null), so
                # numpy's RuntimeWarnings would only repeat it, pointing into mlptrain's code.
                with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                    record = self.run_epoch()
                self._after_epoch(record)
        finally:
            # The trained model handed out afterwards returns fresh arrays again.
            self.setup.model.reuse_outputs(False)
        return self.state

    def run_epoch(self) -> dict[str, Any]:
        s, state = self.setup, self.state
        cfg = s.config
        epoch = state.epoch
        lr = s.schedule.lr_for(epoch)
        s.optimizer.lr = lr
        source = self.batches
        state.epoch_rng_state = s.shuffle_rng.bit_generator.state
        batches = source.epoch(s.shuffle_rng, cfg.train.batch_size, cfg.train.shuffle, state.batch)
        if self.callbacks.on_epoch_start:
            self.callbacks.on_epoch_start(
                epoch + 1, cfg.train.epochs, source.n_batches(cfg.train.batch_size)
            )
        started = time.perf_counter()
        s.model.train()
        total_loss = state.epoch_loss
        hits = state.epoch_hits
        clip = cfg.train.clip_grad_norm
        classification = self.task == "classification"
        # The loop consumes each output before the next step, so it opts in to reused output
        # buffers (Module.reuse_outputs): no allocation per layer per step. run() opts out.
        s.model.reuse_outputs(True)
        members = s.model.members
        # Small per-batch products run faster on one BLAS thread (docs/performance.md), and so
        # do such a model's validation pass and diagnostics: on two threads their small
        # products wait for OpenBLAS's second thread, which spins when the machine is busy.
        with blas_threads_for(s.model.flat_params.size, cfg.train.batch_size):
            for xb, yb, wb in batches:
                batch_weight = len(yb) if wb is None else float(wb.sum())
                state.epoch_rows += len(yb)
                output = s.model.forward(xb)
                if members > 1:  # an ensemble: one block of output rows per member
                    yb, wb = s.model.repeat(yb), None if wb is None else s.model.repeat(wb)
                loss = s.loss.forward(output, yb, wb)
                s.model.backward(s.loss.backward())
                if not (math.isfinite(loss) and all_finite(s.model.flat_grads)):
                    self._diverged(loss, lr)
                self.diagnostics.observe()
                if clip is not None:
                    clip_grad_norm(s.model, clip)
                s.optimizer.step()
                state.step += 1
                total_loss += loss * batch_weight
                if classification:
                    predicted = output.argmax(axis=1) if output.shape[1] > 1 else output[:, 0] > 0
                    correct = predicted == yb
                    hit = np.count_nonzero(correct) if wb is None else float(wb[correct].sum())
                    hits += hit / members  # an ensemble: the members' mean accuracy
                if self.callbacks.on_batch:
                    self.callbacks.on_batch(loss)
                state.batch, state.epoch_loss, state.epoch_hits = state.batch + 1, total_loss, hits
                self._after_step()
            record = self._epoch_record(epoch + 1, lr, total_loss, hits)
        record["seconds"] = time.perf_counter() - started
        # JSON (metrics.jsonl, checkpoint metadata) has no NaN or inf: a non-finite
        # validation value is recorded as null and never counts as an improvement.
        return {
            k: v if not isinstance(v, float) or math.isfinite(v) else None
            for k, v in record.items()
        }

    def _epoch_record(
        self, epoch: int, lr: float, total_loss: float, hits: float
    ) -> dict[str, Any]:
        """The epoch's record: training loss and headline, the validation pass, diagnostics."""
        s, source = self.setup, self.batches
        n = source.weight_total
        headline = HEADLINE[self.task]
        record: dict[str, Any] = {"epoch": epoch, "lr": lr, "train_loss": total_loss / n}
        if self.task == "classification":
            record[f"train_{headline}"] = hits / n
        else:
            # Loss-space targets, like the outputs: R² is the same in both spaces.
            record[f"train_{headline}"] = source.evaluate("train", s.model, s.loss, "regression")[1]
        if source.has("val"):
            val_loss, val_metric = source.evaluate("val", s.model, s.loss, self.task)
            record["val_loss"] = val_loss
            record[f"val_{headline}"] = val_metric
        record["layers"] = self.diagnostics.end_epoch()
        return record

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
        if s.data.stream is not None:
            raise ConfigError(
                f"cannot monitor {monitor!r} with data.stream: true; a streamed run monitors "
                f"{', '.join(f'{p}_{m}' for p in ('train', 'val') for m in ('loss', HEADLINE[self.task]))}"
            )
        split_name, metric = monitor.split("_", 1)
        split = s.data.val if split_name == "val" else s.data.train
        if split is None:
            raise ConfigError(f"cannot monitor {monitor!r}: there is no validation split")
        if self.task == "classification":
            log_proba = s.trained.predict_log_proba(split.X)  # in chunks for a table
            names = [str(c) for c in s.data.encoder.classes] if s.data.encoder else []
            return float(classification_metrics(split.y, log_proba, names)[metric])
        return float(regression_metrics(split.y, s.trained.predict(split.X))[metric])

    def _after_epoch(self, record: dict[str, Any]) -> None:
        s, state = self.setup, self.state
        cfg = s.config
        state.epoch += 1
        state.seconds += record["seconds"]
        state.batch, state.epoch_loss, state.epoch_hits = 0, 0.0, 0.0
        state.epoch_rows = 0
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
            try:
                self.callbacks.on_epoch_end(record)
            except StopTraining as stop:
                self.stopped_by = str(stop) or "stopped"
                if not (state.epoch % cfg.checkpoint.every == 0 or last_epoch):
                    self.save("last")  # the run ends here: its last checkpoint is this epoch


def all_finite(flat: np.ndarray) -> bool:
    """Whether every element of the 1-D ``flat`` is finite. Fast path: one BLAS dot product
    (2 threads; 200K float32 13 us against 33 us for a sum), finite only if every element
    is (an inf or nan makes it inf or nan); only when it is not (or it overflowed on finite
    values) are the elements tested one by one, which also keeps a finite gradient whose
    sum or squares overflow from counting as a divergence."""
    return math.isfinite(float(np.dot(flat, flat))) or bool(np.isfinite(flat).all())


def batch_source(setup: Setup, targets: Callable[[str], np.ndarray]) -> BatchSource:
    """The rows in memory, or the streamed table (``data.stream: true``)."""
    plan = setup.data.stream
    if plan is None:
        return ArrayBatches(setup.data, targets)
    capacity = setup.config.data.shuffle_buffer
    return StreamBatches(plan, capacity, setup.dtype, setup.loss_targets)


class StopTraining(Exception):  # noqa: N818  (a request, not an error)
    """Raised by an ``on_epoch_end`` observer to end the run after this epoch; the message
    (e.g. ``"pruned"``) becomes the run's status."""


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
