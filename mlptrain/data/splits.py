"""Seeded train/val/test splits by row index, and ``prepare``: raw data to scaled, encoded splits."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlptrain.data._text import format_label
from mlptrain.data.assigned import group_split
from mlptrain.data.coded import CodedMatrix
from mlptrain.data.datasets import DataConfig, load_raw
from mlptrain.data.encoding import Settings, TableEncoder
from mlptrain.data.files import RawData
from mlptrain.data.fingerprint import data_fingerprint
from mlptrain.data.preprocess import LabelEncoder, Scaler
from mlptrain.data.split_files import POOL
from mlptrain.errors import DataError


@dataclass
class Split:
    """One part of a split: ``X`` scaled, C-contiguous, in the run's dtype (a table's: a
    ``CodedMatrix``, its one-hot columns kept as codes and expanded a batch at a time); ``y``
    int64 class indices of shape (n,) for classification, or the run's dtype of shape
    (n, n_targets)."""

    X: np.ndarray | CodedMatrix
    y: np.ndarray
    # Per-sample weights (n,) in the run's dtype, or None: every sample counts once.
    weight: np.ndarray | None = None
    # Which rows of the data as read these are (0-based), and a table's id columns' values for
    # them, as read: how a report points at a row (its most confidently wrong ones).
    rows: np.ndarray | None = None
    ids: dict[str, np.ndarray] | None = None


@dataclass
class Prepared:
    """What training needs: the three splits and the fitted encoder and scaler."""

    task: str
    train: Split
    val: Split | None
    test: Split | None  # None: data.test_size is 0 and no file or column gives test rows
    encoder: LabelEncoder | None
    scaler: Scaler
    feature_names: list[str]
    n_features: int
    n_outputs_hint: int
    source: str
    # Regression targets are standardised for training (fitted on train only) so that the
    # loss starts near 1 whatever the target's units; predictions are mapped back.
    target_scaler: Scaler | None = None
    # SHA-256 of the raw arrays and of each split's rows (mlptrain.data.fingerprint).
    fingerprint: dict[str, str] | None = None
    # csv/parquet tables: the fitted imputation/one-hot/scaling (``scaler`` is then the
    # identity), what each raw column is, and notes for the user (likely ids, dropped rows)
    table: TableEncoder | None = None
    columns: list | None = None
    notes: list[str] | None = None
    # a streamed table (data.stream: true): how its record batches are read, placed and
    # encoded (``StreamPlan``); ``train`` then holds no rows and val/test are None
    stream: Any = None


def _split_sizes(n: int, test_size: float, val_size: float) -> tuple[int, int, int]:
    """(n_train, n_val, n_test) exactly as scikit-learn's train_test_split computes them."""
    n_test = math.ceil(test_size * n) if test_size > 0 else 0
    n_rest = n - n_test
    n_val = math.ceil(val_size * n_rest) if val_size > 0 else 0
    return n_rest - n_val, n_val, n_test


def _sizes_ok(n: int, test_size: float, val_size: float, n_classes: int) -> bool:
    n_train, n_val, n_test = _split_sizes(n, test_size, val_size)
    least = max(1, n_classes)  # a stratified split puts every class in every part
    return (
        n_train >= least
        and (test_size == 0 or n_test >= least)
        and (val_size == 0 or n_val >= least)
    )


def _check_classes(y: np.ndarray, test_size: float, val_size: float, where: str) -> int:
    """The number of classes, after refusing one class only, or a class too small to put a
    row in each stratified part."""
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) < 2:
        label = format_label(classes[0]) if len(classes) else "none"
        raise DataError(
            f"{where}: only one class ({label}) in the target; classification needs at "
            "least 2 classes"
        )
    taken = [name for name, size in (("validation", val_size), ("test", test_size)) if size]
    needed = 1 + len(taken)
    parts = "/".join(["train", *taken])
    if counts.min() < needed:
        rare = int(np.argmin(counts))
        raise DataError(
            f"{where}: class {format_label(classes[rare])} has only {int(counts[rare])} "
            f"sample(s); a stratified {parts} split needs at least {needed} per class; "
            "add samples of that class or remove its rows"
        )
    return len(classes)


def _check_sizes(n: int, test_size: float, val_size: float, n_classes: int, where: str) -> None:
    """Refuse a split that leaves a part empty (or, stratified, short of a row per class),
    saying how many samples it would take."""
    if _sizes_ok(n, test_size, val_size, n_classes):
        return
    n_min = n + 1
    while not _sizes_ok(n_min, test_size, val_size, n_classes) and n_min < 10**8:
        n_min += 1
    n_train, n_val, n_test = _split_sizes(n, test_size, val_size)
    per_part = (
        f"; stratifying {n_classes} classes needs at least {n_classes} rows in each part"
        if n_classes
        else ""
    )
    raise DataError(
        f"{where}: too few samples for the split: {n} samples with test_size={test_size} "
        f"and val_size={val_size} give {n_train} train / {n_val} validation / {n_test} test "
        f"rows{per_part}; need at least {n_min} samples, or change test_size/val_size"
    )


def split_indices(
    y: np.ndarray,
    *,
    task: str,
    test_size: float,
    val_size: float,
    seed: int,
    where: str = "the data",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded (train, val, test) row indices, each sorted int64; val is empty if val_size is 0,
    test if test_size is 0.

    Classification splits are stratified on ``y``: each part keeps the class proportions.
    ``val_size`` is a fraction of what remains after the test rows are taken.
    """
    from sklearn.model_selection import train_test_split

    if not 0 <= test_size < 1:
        raise DataError(f"data.test_size must be in [0, 1), got {test_size}")
    if not 0 <= val_size < 1:
        raise DataError(f"data.val_size must be in [0, 1), got {val_size}")
    if not 0 <= seed < 2**32:
        raise DataError(f"seed must be an integer in [0, 2**32), got {seed}")
    y = np.asarray(y)
    n = len(y)
    stratify = task == "classification"
    n_classes = _check_classes(y, test_size, val_size, where) if stratify else 0
    _check_sizes(n, test_size, val_size, n_classes, where)
    indices = np.arange(n, dtype=np.int64)
    try:
        if test_size > 0:
            rest, test = train_test_split(
                indices, test_size=test_size, random_state=seed, stratify=y if stratify else None
            )
        else:
            rest, test = indices, np.array([], dtype=np.int64)
        if val_size > 0:
            if stratify:
                left_classes, left_counts = np.unique(y[rest], return_counts=True)
                if len(left_classes) < n_classes or left_counts.min() < 2:
                    rare = int(np.argmin(left_counts))
                    raise DataError(
                        f"{where}: class {format_label(left_classes[rare])} has only "
                        f"{int(left_counts[rare])} sample(s) left after taking the test rows; "
                        "the stratified validation split needs at least 2; add samples of "
                        "that class or lower test_size"
                    )
            train, val = train_test_split(
                rest,
                test_size=val_size,
                random_state=seed,
                stratify=y[rest] if stratify else None,
            )
        else:
            train, val = rest, np.array([], dtype=np.int64)
    except ValueError as exc:
        raise DataError(f"{where}: cannot split the data: {exc}") from None
    return tuple(np.sort(np.asarray(part, dtype=np.int64)) for part in (train, val, test))  # type: ignore[return-value]


def _float_dtype(dtype: np.dtype | type | str) -> np.dtype:
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        resolved = None
    if resolved not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise DataError(f"dtype must be float32 or float64, got {dtype!r}")
    return resolved


def prepare_assigned(raw: RawData, *, scale: str, dtype: np.dtype | type | str) -> Prepared:
    """``prepare_rows`` on the rows ``raw.split`` assigns: test_size and val_size do not apply."""
    if raw.split is None:
        raise ValueError("prepare_assigned needs raw.split (one of train/val/test per row)")
    return prepare_rows(raw, *_assigned_rows(raw.split), scale=scale, dtype=dtype)


def _assigned_rows(split: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    val_rows, test_rows = np.flatnonzero(split == "val"), np.flatnonzero(split == "test")
    return (
        np.flatnonzero(split == "train"),
        val_rows if len(val_rows) else None,
        test_rows if len(test_rows) else None,
    )


def _pool_rows(
    raw: RawData, data_cfg: DataConfig, *, seed: int
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """The training file's rows (``POOL``) give, at random, the parts no file of their own
    gives: the test rows (``test_size`` of them), then ``val_size`` of the rest."""
    split = np.array(raw.split)
    pool = np.flatnonzero(split == POOL)
    where = f"{raw.source} (the training file's rows)"
    task = raw.task
    if not np.any(split == "test") and data_cfg.test_size > 0:
        rest, _, test = split_indices(
            raw.y[pool], task=task, test_size=data_cfg.test_size, val_size=0, seed=seed,
            where=where,
        )  # fmt: skip
        split[pool[test]] = "test"
        pool = pool[rest]
    if not np.any(split == "val") and data_cfg.val_size > 0:
        # split_indices takes its test part first: here that part is the validation rows
        rest, _, val = split_indices(
            raw.y[pool], task=task, test_size=data_cfg.val_size, val_size=0, seed=seed,
            where=where,
        )  # fmt: skip
        split[pool[val]] = "val"
        pool = pool[rest]
    split[pool] = "train"
    return _assigned_rows(split)


def split_rows(
    raw: RawData, data_cfg: DataConfig, *, seed: int
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Each split's row indices: the rows ``raw.split`` assigns, else the seeded split."""
    if raw.split is not None and np.any(raw.split == POOL):
        return _pool_rows(raw, data_cfg, seed=seed)
    if raw.split is not None:
        return _assigned_rows(raw.split)
    if raw.groups is not None:
        return group_split(
            raw.groups,
            test_size=data_cfg.test_size,
            val_size=data_cfg.val_size,
            seed=seed,
            where=f"{raw.source}, data.group_column",
        )
    train_idx, val_idx, test_idx = split_indices(
        raw.y,
        task=raw.task,
        test_size=data_cfg.test_size,
        val_size=data_cfg.val_size,
        seed=seed,
        where=raw.source,
    )
    return (
        train_idx,
        val_idx if data_cfg.val_size > 0 else None,
        test_idx if data_cfg.test_size > 0 else None,
    )


def prepare(data_cfg: DataConfig, *, seed: int, dtype: np.dtype | type | str) -> Prepared:
    """load_raw, then split by index, encode labels, fit the scaler on train only, transform."""
    dtype = _float_dtype(dtype)
    raw = load_raw(data_cfg, seed=seed)
    rows = split_rows(raw, data_cfg, seed=seed)
    return prepare_rows(
        raw, *rows, scale=data_cfg.scale, dtype=dtype, settings=Settings.from_config(data_cfg)
    )


def fingerprint_for(data_cfg: DataConfig, *, seed: int) -> dict[str, str]:
    """The fingerprint ``prepare`` would store, without scaling anything (a streamed table:
    its first pass's, without holding the table)."""
    if getattr(data_cfg, "stream", False):
        from mlptrain.data.stream_plan import plan_stream

        return plan_stream(data_cfg, seed=seed).fingerprint()
    raw = load_raw(data_cfg, seed=seed)
    return data_fingerprint(raw, *split_rows(raw, data_cfg, seed=seed))


def prepare_rows(
    raw: RawData,
    train_rows: np.ndarray,
    val_rows: np.ndarray | None,
    test_rows: np.ndarray | None,
    *,
    scale: str,
    dtype: np.dtype | type | str,
    sample_weight: np.ndarray | None = None,
    classes: np.ndarray | None = None,
    settings: Settings | None = None,
) -> Prepared:
    """Encode labels, fit the scaler (and, for regression, the target scaler) on the training
    rows only, and transform every part; ``prepare`` and cross-validation folds share it.

    ``sample_weight``: one weight per row of ``raw`` (the training rows' weights go to the
    loss and to the scalers' fits). ``classes``: the full list of classes, when the rows may
    not show them all (scikit-learn's ``partial_fit(classes=...)``).
    """
    dtype = _float_dtype(dtype)
    encoder: LabelEncoder | None
    train_weight = None if sample_weight is None else np.asarray(sample_weight)[train_rows]
    if raw.task == "classification":
        encoder = (
            LabelEncoder(classes)
            if classes is not None
            else _label_encoder(raw, train_rows, {"validation": val_rows, "test": test_rows})
        )
        targets = encoder.encode(raw.y)
        n_outputs = encoder.n_classes
    else:
        encoder = None
        targets = raw.y.reshape(len(raw.y), -1).astype(dtype)
        n_outputs = targets.shape[1]
    every_row = len(train_rows) == len(raw.X) and bool(np.all(train_rows[1:] > train_rows[:-1]))

    def rows_of(array: np.ndarray, rows: np.ndarray) -> np.ndarray:
        # All rows in order (a scikit-learn estimator's fit): the array itself, not a copy.
        return array if rows is train_rows and every_row else array[rows]

    target_scaler = (
        None
        if encoder is not None
        else Scaler("standard").fit(rows_of(targets, train_rows), train_weight)
    )
    table: TableEncoder | None = None
    if raw.table is not None:
        if settings is None:
            settings = Settings(scale=scale)
        # fitted unweighted: scikit-learn's imputers and encoders take no sample weights
        table = TableEncoder.fit(raw.table, raw.columns or [], train_rows, settings)
        scaler = identity_scaler(table.width)
        feature_names, n_features = table.feature_names, table.width
    else:
        scaler = Scaler(scale).fit(rows_of(raw.X, train_rows), train_weight)
        feature_names, n_features = list(raw.feature_names), raw.X.shape[1]

    # a table's id columns as text, read once for every part
    id_text = {} if table is None else {
        name: raw.table.columns[name].strings() for name in table.ids if name in raw.table.columns
    }  # fmt: skip

    def part(rows: np.ndarray) -> Split:
        if table is not None:
            # each part's numeric block is written once, directly in the training dtype; its
            # one-hot columns stay codes, expanded per batch (data.coded)
            X: np.ndarray | CodedMatrix = table.encode(raw.table, rows, dtype)[0]
        else:
            X = scaler.transform(rows_of(raw.X, rows), dtype)
        ids = {name: text[rows] for name, text in id_text.items()} if table is not None else None
        return Split(X, np.ascontiguousarray(rows_of(targets, rows)), rows=rows, ids=ids)

    train = part(train_rows)
    if train_weight is not None:
        train.weight = np.ascontiguousarray(train_weight, dtype=dtype)
    return Prepared(
        task=raw.task,
        train=train,
        val=None if val_rows is None else part(val_rows),
        test=None if test_rows is None else part(test_rows),
        encoder=encoder,
        scaler=scaler,
        feature_names=feature_names,
        n_features=n_features,
        n_outputs_hint=n_outputs,
        source=raw.source,
        target_scaler=target_scaler,
        fingerprint=data_fingerprint(raw, train_rows, val_rows, test_rows),
        table=table,
        columns=raw.columns,
        notes=list(raw.notes),
    )


def _label_encoder(
    raw: RawData, train_rows: np.ndarray, others: dict[str, np.ndarray | None]
) -> LabelEncoder:
    """The classes of the training rows; a label only other parts have is an error (the
    model could never predict it), for files, split columns and arrays alike."""
    encoder = LabelEncoder().fit(raw.y[train_rows])
    for part, rows in others.items():
        if rows is None:
            continue
        try:
            encoder.encode(raw.y[rows])
        except DataError as exc:
            raise DataError(
                f"{raw.source}, the {part} rows: {exc}; no training row has it, so the model "
                "could never predict it: move such rows to training or drop them"
            ) from None
    return encoder


def identity_scaler(width: int) -> Scaler:
    """The scaler of a table run: the table encoder already scaled the numeric columns."""
    return Scaler.from_state(
        "none", {"scaler.shift": np.zeros(width), "scaler.scale": np.ones(width)}
    )
