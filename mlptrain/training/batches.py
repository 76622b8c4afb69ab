"""Where the training loop's batches come from: the rows in memory (``ArrayBatches``) or a
streamed table (``StreamBatches``, ``data.stream: true``). The Trainer runs one loop over
either; a source also evaluates a split in eval mode for the epoch's record.

Resume mid-epoch: the Trainer keeps the shuffle Generator's state from before the epoch and
the number of batches done. ``ArrayBatches`` redraws that epoch's permutation and starts at
the first batch not done; ``StreamBatches`` reads the epoch's rows again from the start with
the same Generator state, through the same shuffle buffer, and trains from the first batch not
done: the buffer's contents at that point are a function of the rows read and the Generator,
so they need not be stored, and the batches that follow are bit for bit those of an
uninterrupted run. It costs one read (without training) of the part of the epoch already done.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, Protocol

import numpy as np

from mlptrain.data.coded import in_chunks, take_rows
from mlptrain.data.read_ahead import read_ahead
from mlptrain.data.record_stream import BATCH_ROWS
from mlptrain.data.row_hash import PART_NAMES, TRAIN
from mlptrain.data.shuffle_buffer import ShuffleBuffer
from mlptrain.data.stream_plan import StreamPlan, class_counts
from mlptrain.nn.losses import Loss
from mlptrain.nn.sequential import Sequential
from mlptrain.reporting.metrics import epoch_metric
from mlptrain.reporting.streamed_metrics import ClassificationTally, RegressionTally

Batch = tuple[np.ndarray, np.ndarray, np.ndarray | None]  # features, loss targets, weights


class BatchSource(Protocol):
    n_rows: int  # training rows per epoch
    weight_total: float  # their summed weights (n_rows when unweighted)

    def n_batches(self, batch_size: int) -> int: ...

    def epoch(
        self, rng: np.random.Generator, batch_size: int, shuffle: bool, skip: int
    ) -> Iterator[Batch]: ...

    def has(self, split: str) -> bool: ...

    def evaluate(
        self, split: str, model: Sequential, loss: Loss, task: str
    ) -> tuple[float, float]: ...


def iterate_batches(
    n_samples: int, batch_size: int, rng: np.random.Generator, *, shuffle: bool = True
) -> list[np.ndarray]:
    """Index batches of a fresh permutation (or of the rows in order when ``shuffle`` is
    false): every sample once per epoch, no replacement."""
    order = rng.permutation(n_samples) if shuffle else np.arange(n_samples)
    return [order[i : i + batch_size] for i in range(0, n_samples, batch_size)]


def evaluate_split(
    model: Sequential, loss: Loss, x: Any, y: np.ndarray, task: str
) -> tuple[float, float]:
    """(loss, headline metric) of the model in eval mode on one split (an array, or a
    ``CodedMatrix`` expanded in chunks: the loss is still taken over every row at once)."""
    output = in_chunks(model.forward_eval, x)
    value = loss.forward(output, y)
    if task == "classification":
        predicted = output.argmax(axis=1) if output.shape[1] > 1 else (output[:, 0] > 0)
        return value, epoch_metric(task, predicted.astype(np.int64), y)
    return value, epoch_metric(task, output, y)


class ArrayBatches:
    """Batches of the rows in memory: a fresh permutation each epoch, gathered into buffers
    allocated once per batch size."""

    def __init__(self, data: Any, targets: Any) -> None:
        self.data = data
        self.targets = targets  # split name -> loss-space targets (cached by the Trainer)
        train = data.train
        self.n_rows = len(train.y)
        self.weight_total = (
            self.n_rows if train.weight is None else max(float(train.weight.sum()), 1e-300)
        )

    def n_batches(self, batch_size: int) -> int:
        return math.ceil(self.n_rows / batch_size)

    def epoch(
        self, rng: np.random.Generator, batch_size: int, shuffle: bool, skip: int
    ) -> Iterator[Batch]:
        batches = iterate_batches(self.n_rows, batch_size, rng, shuffle=shuffle)
        train, targets = self.data.train, self.targets("train")
        xb_buf = yb_buf = np.empty(0)
        for index in batches[skip:]:
            if len(index) != len(xb_buf):
                xb_buf = np.empty((len(index), *train.X.shape[1:]), train.X.dtype)
                yb_buf = np.empty((len(index), *targets.shape[1:]), targets.dtype)
            xb = take_rows(train.X, index, xb_buf)
            # "clip": the indices are a permutation's, and take buffers ``out`` under "raise"
            yb = np.take(targets, index, axis=0, out=yb_buf, mode="clip")
            yield xb, yb, None if train.weight is None else train.weight[index]

    def has(self, split: str) -> bool:
        return getattr(self.data, split) is not None

    def evaluate(self, split: str, model: Sequential, loss: Loss, task: str) -> tuple[float, float]:
        X = getattr(self.data, split).X
        return evaluate_split(model, loss, X, self.targets(split), task)


class StreamBatches:
    """Batches of a streamed table through a bounded shuffle buffer (``StreamPlan``)."""

    def __init__(self, plan: StreamPlan, capacity: int, dtype: np.dtype, targets: Any) -> None:
        self.plan = plan
        self.capacity = capacity
        self.dtype = dtype
        self.loss_targets = targets  # targets in their units -> loss space (regression)
        self.n_rows = plan.parts["train"].rows
        self.weight_total = float(self.n_rows)
        self.rows_done = 0  # training rows of the current epoch that left the buffer

    def n_batches(self, batch_size: int) -> int:
        return math.ceil(self.n_rows / batch_size)

    def _targets(self, y: np.ndarray) -> np.ndarray:
        return y if self.plan.labels is not None else self.loss_targets(y)

    def _shuffled(
        self, rng: np.random.Generator, batch_size: int, shuffle: bool
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The epoch's training batches: read, encoded and shuffled (run in ``read_ahead``'s
        thread, which alone draws from ``rng`` while the epoch runs)."""
        buffer = ShuffleBuffer(self.capacity, batch_size, rng if shuffle else None)
        for table, y, _ in self.plan.placed(TRAIN):
            X, targets = self.plan.encode(table, np.arange(table.n_rows), y, self.dtype)
            yield from buffer.add(X, self._targets(targets))
        yield from buffer.finish()

    def epoch(
        self, rng: np.random.Generator, batch_size: int, shuffle: bool, skip: int
    ) -> Iterator[Batch]:
        self.rows_done = 0
        # about one record batch of training batches ahead: reading, encoding and shuffling
        # the next record batch overlaps the steps on this one
        depth = -(-BATCH_ROWS // batch_size)
        for done, (xb, yb) in enumerate(
            read_ahead(self._shuffled(rng, batch_size, shuffle), depth), start=1
        ):
            self.rows_done += len(yb)
            if done > skip:
                yield xb, yb, None

    def _part(self, code: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Each record batch's rows of one part, encoded: (features, loss-space targets)."""
        for table, y, _ in self.plan.placed(code):
            X, targets = self.plan.encode(table, np.arange(table.n_rows), y, self.dtype)
            yield X, self._targets(targets)

    def has(self, split: str) -> bool:
        return self.plan.parts[split].rows > 0

    def evaluate(self, split: str, model: Sequential, loss: Loss, task: str) -> tuple[float, float]:
        """(loss, headline metric) over the split's rows, batch by batch: the loss as the
        in-memory mean (weighted by class weights when the loss has them), the headline from
        sums (accuracy) or merged moments (R²)."""
        code = PART_NAMES.index(split)
        class_weight = getattr(loss, "class_weight", None)
        loss_sum = weight_sum = 0.0
        hits = 0
        tally = RegressionTally()
        for X, targets in read_ahead(self._part(code), 1):
            output = model.forward_eval(X)
            weight = (
                float(len(targets)) if class_weight is None else float(class_weight[targets].sum())
            )
            loss_sum += loss.forward(output, targets) * weight
            weight_sum += weight
            if task == "classification":
                predicted = output.argmax(axis=1) if output.shape[1] > 1 else (output[:, 0] > 0)
                hits += int(np.count_nonzero(predicted.astype(np.int64) == targets))
            else:
                tally.add(targets, output)
        n = self.plan.parts[split].rows
        if task == "classification":
            return loss_sum / max(weight_sum, 1e-300), hits / max(n, 1)
        return loss_sum / max(weight_sum, 1e-300), tally.metrics()["r2"]


def stream_split_tallies(
    plan: StreamPlan, trained: Any, dtype: np.dtype, threshold: float | None = None
) -> dict[str, ClassificationTally | RegressionTally]:
    """One pass over the stream: the report's tallies of every non-empty part, for ``trained``
    (a ``TrainedModel``: predictions in the targets' units), and under ``"baseline"`` those of
    the model that ignores the features on the test rows (else the validation rows): the
    training rows' class shares as every row's probabilities, or their mean target, as the
    in-memory report's baseline (``baseline_metrics``)."""

    def new_tally() -> ClassificationTally | RegressionTally:
        if plan.labels is not None:
            return ClassificationTally(len(plan.labels.classes))
        return RegressionTally()

    tallies = {name: new_tally() for name in PART_NAMES if plan.parts[name].rows}
    scored = next((n for n in ("test", "val") if n in tallies), None)
    if scored is not None:
        tallies["baseline"] = new_tally()
    if plan.labels is not None:
        with np.errstate(divide="ignore"):
            constant = np.log(class_counts(plan) / plan.parts["train"].rows)
    else:
        assert plan.target_scaler is not None
        constant = np.atleast_1d(np.asarray(plan.target_scaler.shift, dtype=np.float64))
    for _, table in plan.stream.tables():
        table, y, parts = plan.place(table)
        for code, name in enumerate(PART_NAMES):
            rows = np.flatnonzero(parts == code)
            if name not in tallies or not len(rows):
                continue
            X, targets = plan.encode(table, rows, y, dtype)
            tally, base = tallies[name], tallies["baseline"] if name == scored else None
            fixed = np.broadcast_to(constant, (len(rows), len(constant)))
            if isinstance(tally, ClassificationTally):
                tally.add(targets, trained.predict_log_proba(X), threshold)
                if base is not None:
                    base.add(targets, fixed, None)  # type: ignore[call-arg]
            else:
                tally.add(targets, trained.predict(X))
                if base is not None:
                    base.add(targets, fixed)  # type: ignore[call-arg]
    return tallies


def baseline_split(plan: StreamPlan) -> str:
    return "test" if plan.parts["test"].rows else "val"
