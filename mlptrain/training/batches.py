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
from collections.abc import Collection, Iterator, Mapping, Sequence
from functools import cache, partial
from typing import Any, Protocol

import numpy as np

from mlptrain.data.coded import CodedMatrix, in_chunks, take_rows
from mlptrain.data.read_ahead import read_ahead
from mlptrain.data.record_stream import BATCH_ROWS
from mlptrain.data.row_hash import PART_NAMES, TRAIN, VAL
from mlptrain.data.shuffle_buffer import ShuffleBuffer
from mlptrain.data.stream_plan import StreamPlan, class_counts
from mlptrain.nn.losses import Loss
from mlptrain.nn.sequential import Sequential
from mlptrain.reporting.metrics import epoch_metric
from mlptrain.reporting.scored_rows import RowCollector, ScoredRows
from mlptrain.reporting.streamed_metrics import ClassificationTally, RegressionTally

Batch = tuple[np.ndarray, np.ndarray, np.ndarray | None]  # features, loss targets, weights
# A streamed run keeps its validation rows (compact) in memory when they take at most this;
# larger, each epoch's validation pass reads the stream again (docs/tables.md).
VAL_ROWS_BYTES = 64 * 2**20
REPORT_ROWS = 8192  # rows of one part the report pass expands and predicts at once


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
        # the validation rows, compact, per record batch, as a whole training pass met them
        # ([]: they do not fit; None: no whole pass yet)
        self._val_rows: list[tuple[CodedMatrix, np.ndarray]] | None = None

    def n_batches(self, batch_size: int) -> int:
        return math.ceil(self.n_rows / batch_size)

    def _targets(self, y: np.ndarray) -> np.ndarray:
        return y if self.plan.labels is not None else self.loss_targets(y)

    def _shuffled(
        self, rng: np.random.Generator, batch_size: int, shuffle: bool
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The epoch's training batches: read, encoded and shuffled (run in ``read_ahead``'s
        thread, which alone draws from ``rng`` while the epoch runs). The rows stay compact
        (``CodedMatrix``) through the buffer and each batch is expanded as it leaves, in this
        thread too (the steps' thread does only the steps)."""
        buffer = ShuffleBuffer(self.capacity, batch_size, rng if shuffle else None)
        widths: list[int] = []

        def batch(rows: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray]:
            numeric, indicators, targets, *codes = rows
            return CodedMatrix(numeric, codes, widths, indicators).rows(None), targets

        val: list[tuple[CodedMatrix, np.ndarray]] | None = None
        if self._val_rows is None and self.plan.parts["val"].rows:
            val = []  # kept while the pass reads, if they fit (``_keep_val``)
        for table, y, parts in self.plan.placed():
            if val is not None:
                val = self._keep_val(val, table, y, np.flatnonzero(parts == VAL))
            rows = np.flatnonzero(parts == TRAIN)
            if not len(rows):
                continue
            coded, targets = self.plan.encode_coded(table, rows, y, self.dtype)
            widths = coded.widths
            held = (coded.numeric, coded.indicators, self._targets(targets), *coded.codes)
            yield from map(batch, buffer.add(*held))
        yield from map(batch, buffer.finish())
        if val is not None:  # a whole pass: every validation row is held, in file order
            self._val_rows = val

    def _keep_val(
        self, kept: list[tuple[CodedMatrix, np.ndarray]], table: Any, y: np.ndarray, rows: Any
    ) -> list[tuple[CodedMatrix, np.ndarray]] | None:
        """``kept`` and this record batch's validation rows, encoded compact; None (and no
        more tries) once the whole part would take more than ``VAL_ROWS_BYTES``."""
        if not len(rows):
            return kept
        coded, targets = self.plan.encode_coded(table, rows, y, self.dtype)
        targets = self._targets(targets)
        row_bytes = (coded.nbytes + targets.nbytes) / len(rows)
        if row_bytes * self.plan.parts["val"].rows > VAL_ROWS_BYTES:
            self._val_rows = []  # too large: every epoch's validation reads the stream again
            return None
        kept.append((coded, targets))
        return kept

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

    def _rows_of(self, code: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``_part(code)``: the validation rows from memory once a pass kept them (the same
        rows, record batch by record batch, expanded to the same dense rows), else read."""
        if code == VAL and self._val_rows:
            for coded, targets in self._val_rows:
                yield coded.rows(None), targets
            return
        yield from read_ahead(self._part(code), 1)

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
        for X, targets in self._rows_of(code):
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
    plan: StreamPlan,
    trained: Any,
    dtype: np.dtype,
    threshold: float | None = None,
    collectors: Mapping[str, Sequence[RowCollector]] | None = None,
    only: Collection[str] | None = None,
) -> dict[str, ClassificationTally | RegressionTally]:
    """One pass over the stream: the report's tallies of every non-empty part, for ``trained``
    (a ``TrainedModel``: predictions in the targets' units), and under ``"baseline"`` those of
    the model that ignores the features on the test rows (else the validation rows): the
    training rows' class shares as every row's probabilities, or their mean target, as the
    in-memory report's baseline (``baseline_metrics``). ``collectors`` (part name -> list)
    are offered that part's rows, batch by batch, in the order the stream reads them. ``only``:
    just those parts (a cross-validation fold scores its held-out part alone)."""

    def new_tally() -> ClassificationTally | RegressionTally:
        if plan.labels is not None:
            return ClassificationTally(len(plan.labels.classes))
        return RegressionTally()

    tallies = {
        name: new_tally()
        for name in PART_NAMES
        if plan.parts[name].rows and (only is None or name in only)
    }
    scored = next((n for n in ("test", "val") if n in tallies), None)
    if scored is not None:
        tallies["baseline"] = new_tally()
    if plan.labels is not None:
        with np.errstate(divide="ignore"):
            constant = np.log(class_counts(plan) / plan.parts["train"].rows)
    else:
        assert plan.target_scaler is not None
        constant = np.atleast_1d(np.asarray(plan.target_scaler.shift, dtype=np.float64))
    collectors = collectors or {}
    classified = plan.labels is not None
    id_names = [name for name in plan.encoder.ids if name in plan.stream.names]
    # only the columns the parts, the encoder and the id columns need are read and converted
    names = [name for name in plan.stream.names if name in {*plan.used, *id_names}]
    offset = 0  # rows of the stream read before this batch
    for record_batch in plan.stream.record_batches(names):
        table, y, parts, kept = plan.place_rows(plan.stream.table_of([record_batch], names))
        batch_ids = cache(partial(_id_text, table, id_names))  # read once, if a collector asks
        for code, name in enumerate(PART_NAMES):
            in_part = np.flatnonzero(parts == code)
            if name not in tallies or not len(in_part):
                continue
            coded, all_targets = plan.encode_coded(table, in_part, y, dtype)
            # expanded REPORT_ROWS at a time: the pass's memory does not follow the batch size
            for start in range(0, len(in_part), REPORT_ROWS):
                chunk = slice(start, start + REPORT_ROWS)
                rows, targets, X = in_part[chunk], all_targets[chunk], coded.rows(chunk)
                out = trained.predict_log_proba(X) if classified else trained.predict(X)
                tallies[name].add(targets, out, *([threshold] if classified else []))
                if name == scored:
                    fixed = np.broadcast_to(constant, (len(rows), len(constant)))
                    tallies["baseline"].add(targets, fixed, *([None] if classified else []))
                if collectors.get(name):
                    batch = ScoredRows(X, targets, out, offset + kept[rows],
                                       partial(_id_rows, batch_ids, rows))  # fmt: skip
                    for collector in collectors[name]:
                        collector.offer(batch)
        offset += record_batch.num_rows
    return tallies


def _id_text(table: Any, names: list[str]) -> dict[str, np.ndarray]:
    """A record batch's id columns as text."""
    return {name: table.columns[name].strings() for name in names}


def _id_rows(read: Any, rows: np.ndarray) -> dict[str, np.ndarray]:
    """Rows ``rows`` of the id text ``read()`` gives."""
    return {name: text[rows] for name, text in read().items()}


def baseline_split(plan: StreamPlan) -> str:
    return "test" if plan.parts["test"].rows else "val"
