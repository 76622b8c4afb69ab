"""The first pass over a streamed table: what training from record batches needs to know
before its first step, in memory bounded by ``data.fit_sample`` rows.

One pass reads every record batch once and keeps: the rows per part (train/val/test by
``mlptrain.data.row_hash``), the training rows' classes and their counts, the regression
targets' mean and variance (exact, merged batch by batch with Chan's formula), and a uniform
sample of at most ``data.fit_sample`` training rows: those with the smallest sample keys, so the
same rows whatever the batch size or the number of passes. The table encoder (fills, scaling,
categories, ``TableEncoder``) and the column kinds are fitted on that sample; categories the
sample lacks are encoded as unseen ones are at predict time (the infrequent column, or zeros).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlptrain.data.coded import CodedMatrix
from mlptrain.data.columns import (
    ColumnInfo,
    date_notes,
    target_name,
    target_values,
    type_columns,
)
from mlptrain.data.encoding import Settings, TableEncoder
from mlptrain.data.frame import Table
from mlptrain.data.moments import TargetMoments
from mlptrain.data.preprocess import LabelEncoder, Scaler, infer_task
from mlptrain.data.record_stream import RecordStream
from mlptrain.data.row_hash import (
    PART_NAMES,
    TRAIN,
    Placement,
    assign_parts,
    row_hashes,
    sample_keys,
)
from mlptrain.errors import DataError


@dataclass
class PartTally:
    """What the first pass counts of one part: rows, and a digest of its rows' hashes."""

    rows: int = 0
    hash_sum: int = 0
    hash_xor: int = 0
    labels: dict[Any, int] = field(default_factory=dict)  # label -> rows (a bounded set)

    def add(self, hashes: np.ndarray, labels: np.ndarray) -> None:
        self.rows += len(hashes)
        with np.errstate(over="ignore"):
            self.hash_sum = (self.hash_sum + int(hashes.sum(dtype=np.uint64))) % 2**64
        self.hash_xor ^= int(np.bitwise_xor.reduce(hashes)) if len(hashes) else 0
        if len(self.labels) <= _MAX_LABELS:
            values, counts = np.unique(labels, return_counts=True)
            for value, count in zip(values.tolist(), counts.tolist(), strict=True):
                self.labels[value] = self.labels.get(value, 0) + count

    def digest(self) -> str:
        text = f"{self.rows}:{self.hash_sum}:{self.hash_xor}"
        return hashlib.sha256(text.encode()).hexdigest()


_MAX_LABELS = 100_000  # more distinct targets than this: a regression, never counted further


@dataclass
class StreamPlan:
    """A streamed table, ready to train on: how each batch is read, placed and encoded."""

    stream: RecordStream
    target: str
    key_columns: list[str]  # the cells a row's hash reads
    seed: int
    placement: Placement  # a fit's parts, or a cross-validation fold's
    drop_missing_target: bool
    task: str
    columns: list[ColumnInfo]
    encoder: TableEncoder
    labels: LabelEncoder | None
    target_scaler: Scaler | None
    parts: dict[str, PartTally]
    notes: list[str]

    def place(self, table: Table) -> tuple[Table, np.ndarray, np.ndarray]:
        """(the batch without rows lacking a target, its labels, each row's part code)."""
        table, y, parts, _ = self.place_rows(table)
        return table, y, parts

    def place_rows(self, table: Table) -> tuple[Table, np.ndarray, np.ndarray, np.ndarray]:
        """``place``, and each kept row's position in the batch as read."""
        y, kept = target_values(table, self.target, drop_missing=self.drop_missing_target)
        if len(kept) < table.n_rows:
            table = table.take(kept)
        hashes = row_hashes(table, self.key_columns, self.seed)
        return table, y, assign_parts(hashes, self.placement), kept

    def placed(self, only: int | None = None) -> Iterator[tuple[Table, np.ndarray, np.ndarray]]:
        """Each record batch as ``place`` gives it; with ``only`` (a part code), just the rows
        of that part (batches without any are skipped). When ``data.split_key`` places the
        rows, a validation or test pass converts the key and the target first and only the
        part's rows of the other columns after them (~10% of the cells, not all; for the
        training rows, most of each batch, taking them out first cost more than it saved). A
        row's cells convert alike alone or among others (by value), so the rows, their order
        and their encoding are the same either way. Only the columns a row's hash, its target
        or the encoder reads are read (``used``; an ignored column is never decoded)."""
        narrow = only not in (None, TRAIN) and self.key_columns != list(self.stream.names)
        used = self.used
        for batch in self.stream.record_batches(used):
            if not narrow:
                table, y, parts = self.place(self.stream.table_of([batch], used))
                if only is not None:
                    rows = np.flatnonzero(parts == only)
                    if len(rows) < len(parts):
                        table, y, parts = table.take(rows), y[rows], parts[rows]
                if len(parts):
                    yield table, y, parts
                continue
            names = list(dict.fromkeys([*self.key_columns, self.target]))
            head = self.stream.table_of([batch.select(names)], names)
            y, kept = target_values(head, self.target, drop_missing=self.drop_missing_target)
            hashes = row_hashes(head, self.key_columns, self.seed)[kept]
            mine = assign_parts(hashes, self.placement) == only
            if not mine.any():
                continue
            import pyarrow as pa

            if not mine.all() or len(kept) < batch.num_rows:
                batch = batch.take(pa.array(kept[mine]))
            table = self.stream.table_of([batch], used)
            yield table, y[mine], np.full(int(mine.sum()), only, dtype=np.int8)

    @property
    def used(self) -> list[str]:
        """The columns a training or evaluation pass reads (file order): the hash's, the
        target and the encoder's inputs."""
        wanted = {*self.key_columns, self.target, *self.encoder.features, *self.encoder.indicators}
        return [name for name in self.stream.names if name in wanted]

    def encode(
        self, table: Table, rows: np.ndarray, y: np.ndarray, dtype: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        """The encoded features of ``rows`` (in ``dtype``) and their targets: class indices,
        or regression targets in the targets' units (float64, (n, n_targets))."""
        coded, targets = self.encode_coded(table, rows, y, dtype)
        return coded.rows(None), targets

    def encode_coded(
        self, table: Table, rows: np.ndarray | None, y: np.ndarray, dtype: Any
    ) -> tuple[CodedMatrix, np.ndarray]:
        """``encode``'s rows (``None``: all) kept compact (one-hot columns as codes), expanded
        to the same dense rows by ``CodedMatrix.rows``."""
        coded, _ = self.encoder.encode(table, rows, dtype)
        y = y if rows is None else y[rows]
        if self.labels is not None:
            return coded, self.labels.encode(_as_label_kind(y, self.labels.classes))
        return coded, y.reshape(len(y), -1).astype(np.float64)

    @property
    def n_rows(self) -> dict[str, int]:
        return {name: tally.rows for name, tally in self.parts.items()}

    def fingerprint(self) -> dict[str, str]:
        """The digests ``check_same_data`` compares, from the first pass's tallies."""
        whole = hashlib.sha256("".join(t.digest() for t in self.parts.values()).encode())
        out = {"features": whole.hexdigest(), "targets": whole.hexdigest()}
        out.update({f"{name}_rows": self.parts[name].digest() for name in PART_NAMES})
        return out


def _as_label_kind(y: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """A batch of whole numbers (int64) against float classes, or the other way round."""
    if classes.dtype.kind in "iuf" and y.dtype.kind in "iuf" and y.dtype != classes.dtype:
        return y.astype(classes.dtype)
    return y


def plan_stream(data_cfg: Any, *, seed: int, placement: Placement | None = None) -> StreamPlan:
    """One pass over ``data_cfg.path`` (a ``data:`` section with ``stream: true``); the rows'
    parts as ``placement`` places them (default: the config's train/val/test, as a fit)."""
    if placement is None:
        placement = Placement(data_cfg.test_size, data_cfg.val_size)
    stream = RecordStream.open(data_cfg)
    target = target_name(list(stream.names), str(stream.path), data_cfg.target)
    key = data_cfg.split_key
    if key is not None and key not in stream.names:
        raise DataError(
            f"{stream.path}: data.split_key: no column named {key!r}; the columns are "
            + ", ".join(repr(n) for n in stream.names[:20])
        )
    key_columns = [key] if key is not None else list(stream.names)
    parts = {name: PartTally() for name in PART_NAMES}
    moments = TargetMoments()
    keep = int(data_cfg.fit_sample)
    sample_batches: list[Any] = []
    sample_keys_held = np.zeros(0, dtype=np.uint64)
    bound = np.uint64(2**64 - 1)  # keys at or above it cannot enter the sample
    n_missing_target = 0
    for batch, table in stream.tables():
        y, kept = target_values(table, target, drop_missing=data_cfg.drop_missing_target)
        n_missing_target += table.n_rows - len(kept)
        if len(kept) < table.n_rows:
            table, batch = table.take(kept), batch.take(kept)
        hashes = row_hashes(table, key_columns, seed)
        codes = assign_parts(hashes, placement)
        for code, name in enumerate(PART_NAMES):
            rows = np.flatnonzero(codes == code)
            parts[name].add(hashes[rows], y[rows])
        train = np.flatnonzero(codes == TRAIN)
        if y.dtype.kind in "iuf":
            moments.add(y[train])
        keys = sample_keys(hashes[train])
        # once ``keep`` rows are held, only a row with a smaller key can enter the sample:
        # after the first rows, few do, and the pass allocates little (memory stays flat)
        candidates = keys < bound
        sample_batches.append(batch.take(train[candidates]))
        sample_keys_held = np.concatenate([sample_keys_held, keys[candidates]])
        if len(sample_keys_held) > 2 * keep:
            sample_batches, sample_keys_held = _smallest(sample_batches, sample_keys_held, keep)
            bound = sample_keys_held[-1]
    sample_batches, sample_keys_held = _smallest(sample_batches, sample_keys_held, keep)
    if placement.is_fold and not (parts["train"].rows and parts["test"].rows):
        raise DataError(
            f"{stream.path}: fold {placement.fold} of {placement.folds} has "
            f"{parts['train'].rows} training and {parts['test'].rows} held-out rows (and "
            f"{parts['val'].rows} validation rows); every fold needs both: use fewer «folds» "
            "or a larger table"
        )
    if parts["train"].rows == 0:
        raise DataError(f"{stream.path}: 0 training rows; a stream needs rows to train on")
    sample = stream.table_of(sample_batches)
    listed = dict(data_cfg.columns or {})
    infos = type_columns(sample, target, listed)
    y_sample, _ = target_values(sample, target, drop_missing=False)
    where = f"the target of {stream.path}"
    task = infer_task(y_sample, data_cfg.task, where=where)
    settings = Settings.from_config(data_cfg)
    encoder = TableEncoder.fit(sample, infos, np.arange(sample.n_rows), settings)
    labels = target_scaler = None
    if task == "classification":
        labels = _labels(stream.path, parts, placement)
    else:
        target_scaler = moments.scaler()
    notes = [
        f"streamed: {parts['train'].rows} training, {parts['val'].rows} validation and "
        f"{parts['test'].rows} test rows placed by a hash of "
        + (f"column {key!r}" if key is not None else "each row")
        + f"; the encoder fitted on a sample of {sample.n_rows} training rows",
        *date_notes(infos),
    ]
    if n_missing_target:
        notes.append(f"{n_missing_target} row(s) without a target value dropped")
    return StreamPlan(
        stream=stream, target=target, key_columns=key_columns, seed=seed, placement=placement,
        drop_missing_target=data_cfg.drop_missing_target, task=task, columns=infos,
        encoder=encoder, labels=labels, target_scaler=target_scaler, parts=parts, notes=notes,
    )  # fmt: skip


def _smallest(batches: list[Any], keys: np.ndarray, keep: int) -> tuple[list[Any], np.ndarray]:
    """The rows with the ``keep`` smallest keys, in key order, as one record batch."""
    import pyarrow as pa

    table = pa.Table.from_batches(batches) if batches else None
    if table is None or table.num_rows == 0:
        return [], np.zeros(0, dtype=np.uint64)
    order = np.argsort(keys, kind="stable")[:keep]
    chosen = table.take(pa.array(order)).combine_chunks()
    del table, batches
    pa.default_memory_pool().release_unused()  # hand the dropped rows' memory back
    return chosen.to_batches(), keys[order]


def _labels(path: Any, parts: dict[str, PartTally], placement: Placement) -> LabelEncoder:
    """The training rows' classes; fewer than two, or a class only val/test rows hold, is an
    error, as in memory (for a cross-validation fold, worded as the fold's)."""
    train = parts["train"].labels
    if len(train) > _MAX_LABELS:
        raise DataError(f"{path}: more than {_MAX_LABELS} classes; set data.task: regression")
    where, remedy = str(path), "drop such rows"
    if placement.is_fold:
        where = f"{path}, fold {placement.fold} of {placement.folds}"
        remedy = "use fewer «folds», or drop rows of classes too rare to be in every fold"
    if len(train) < 2:
        raise DataError(
            f"{where}: the training rows hold only the class {next(iter(train), None)!r}; "
            "classification needs at least two"
            + (f": {remedy}" if placement.is_fold else " (is data.target the right column?)")
        )
    encoder = LabelEncoder().fit(np.array(list(train)))
    for name, tally in parts.items():
        unknown = [v for v in tally.labels if v not in train]
        if unknown:
            part = "held-out" if placement.is_fold and name == "test" else name
            raise DataError(
                f"{where}, the {part} rows: label(s) {unknown[:5]} not in any training row, so "
                f"the model could never predict them: {remedy}"
            )
    return encoder


def class_counts(plan: StreamPlan) -> np.ndarray:
    """Training rows per class (the order of ``plan.labels.classes``)."""
    assert plan.labels is not None
    counts = plan.parts["train"].labels
    return np.array([counts[c] for c in plan.labels.classes.tolist()], dtype=np.float64)
