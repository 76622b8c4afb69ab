"""The built-in datasets: scikit-learn's bundled sets and generators, and files, as RawData."""

from __future__ import annotations

import inspect
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from mlptrain.data._text import did_you_mean
from mlptrain.data.assigned import pop_column, split_from_column
from mlptrain.data.columns import (
    FEATURE_KINDS,
    date_notes,
    likely_id_notes,
    resolve_target,
    target_values,
    type_columns,
)
from mlptrain.data.files import RawData, _read_npz, check_file, check_finite
from mlptrain.data.preprocess import infer_task
from mlptrain.data.split_files import read_with_split_files
from mlptrain.data.tables import Table, load_table
from mlptrain.errors import DataError


class DataConfig(Protocol):
    """The attributes of the config's ``data`` section that this module reads (read-only
    properties, so that the schema's narrower types, Literals and Path, match)."""

    @property
    def dataset(self) -> str: ...
    @property
    def params(self) -> dict[str, Any]: ...
    @property
    def path(self) -> str | Path | None: ...
    @property
    def target(self) -> str | None: ...
    @property
    def task(self) -> str: ...
    @property
    def test_size(self) -> float: ...
    @property
    def val_size(self) -> float: ...
    @property
    def scale(self) -> str: ...


TABLE_DATASETS = ("csv", "parquet")


@dataclass(frozen=True)
class DatasetInfo:
    """One entry of ``mlptrain datasets``; sizes are those of the default parameters."""

    name: str
    kind: str  # "bundled" | "generator" | "file"
    task: str  # "classification" | "regression" | "auto" (files)
    description: str
    n_samples: int | None
    n_features: int | None
    n_classes: int | None
    # what `mlptrain init` writes (hidden units, epochs, batch size, learning rate): small
    # sets get small nets and more epochs
    starter: tuple[int, int, int, float] = (64, 100, 32, 1e-3)


DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo("iris", "bundled", "classification",
                    "Iris flowers: 4 measurements, 3 species", 150, 4, 3,
                    starter=(32, 200, 16, 1e-2)),
        DatasetInfo("digits", "bundled", "classification",
                    "8x8 images of handwritten digits 0-9", 1797, 64, 10,
                    starter=(128, 30, 64, 1e-3)),
        DatasetInfo("wine", "bundled", "classification",
                    "Wine chemical analysis: 3 cultivars", 178, 13, 3,
                    starter=(64, 100, 16, 3e-3)),
        DatasetInfo("breast_cancer", "bundled", "classification",
                    "Breast cancer diagnosis (malignant/benign)", 569, 30, 2,
                    starter=(32, 100, 32, 1e-3)),
        DatasetInfo("diabetes", "bundled", "regression",
                    "Diabetes progression after one year", 442, 10, None,
                    starter=(16, 300, 32, 3e-3)),
        DatasetInfo("moons", "generator", "classification",
                    "Two interleaving half circles (make_moons)", 500, 2, 2,
                    starter=(64, 100, 32, 3e-3)),
        DatasetInfo("circles", "generator", "classification",
                    "A circle inside a circle (make_circles)", 500, 2, 2,
                    starter=(64, 100, 32, 3e-3)),
        DatasetInfo("blobs", "generator", "classification",
                    "Isotropic Gaussian blobs (make_blobs)", 500, 2, 3,
                    starter=(32, 60, 32, 3e-3)),
        DatasetInfo("classification", "generator", "classification",
                    "Random n-class problem (make_classification)", 500, 20, 3,
                    starter=(64, 80, 32, 1e-3)),
        DatasetInfo("regression", "generator", "regression",
                    "Random linear regression problem (make_regression)", 500, 10, None,
                    starter=(64, 150, 32, 3e-3)),
        DatasetInfo("csv", "file", "auto",
                    "A CSV/TSV table (.gz too): numbers, categories, gaps; target column last "
                    "unless data.target says",
                    None, None, None),
        DatasetInfo("npz", "file", "auto",
                    "A NumPy .npz file with arrays X (2-D) and y", None, None, None),
        DatasetInfo("parquet", "file", "auto",
                    "A Parquet table (needs the 'tables' extra); target column last unless "
                    "data.target says", None, None, None),
    )
}  # fmt: skip

_BUNDLED_LOADERS = {
    "iris": "load_iris",
    "digits": "load_digits",
    "wine": "load_wine",
    "breast_cancer": "load_breast_cancer",
    "diabetes": "load_diabetes",
}

# defaults chosen to give a problem an MLP can learn in seconds; user params override them
_GENERATORS: dict[str, tuple[str, dict[str, Any]]] = {
    "moons": ("make_moons", {"n_samples": 500, "noise": 0.2}),
    "circles": ("make_circles", {"n_samples": 500, "noise": 0.1, "factor": 0.5}),
    "blobs": ("make_blobs", {"n_samples": 500, "n_features": 2, "centers": 3}),
    "classification": (
        "make_classification",
        {"n_samples": 500, "n_features": 20, "n_informative": 5, "n_redundant": 2,
         "n_classes": 3},
    ),
    "regression": (
        "make_regression",
        {"n_samples": 500, "n_features": 10, "n_informative": 5, "noise": 1.0},
    ),
}  # fmt: skip

# parameters that change the number of values a generator returns
_REFUSED_PARAMS = {"make_blobs": ("return_centers",), "make_regression": ("coef",)}


def _unknown_dataset(name: str) -> DataError:
    return DataError(
        f"data.dataset: unknown dataset {name!r}{did_you_mean(name, list(DATASETS))}; "
        f"allowed: {', '.join(DATASETS)}"
    )


def _load_bundled(name: str) -> RawData:
    import sklearn.datasets

    bunch = getattr(sklearn.datasets, _BUNDLED_LOADERS[name])()
    X = np.ascontiguousarray(bunch.data, dtype=np.float64)
    y = np.asarray(bunch.target)
    info = DATASETS[name]
    if info.task == "classification":
        # class names make predictions readable ("setosa", "malignant"); for digits they are
        # the integers 0-9, so the labels stay integers
        y = np.asarray(bunch.target_names)[y]
        if y.dtype.kind in "OSU":
            y = y.astype(str)
    names = [str(n) for n in getattr(bunch, "feature_names", [])] or [
        f"x{j}" for j in range(X.shape[1])
    ]
    source = f"{name} (scikit-learn bundled dataset, {X.shape[0]} samples)"
    return RawData(X, y, names, info.task, source)


def _load_generated(name: str, params: dict[str, Any], seed: int) -> RawData:
    import sklearn.datasets

    function_name, defaults = _GENERATORS[name]
    generate = getattr(sklearn.datasets, function_name)
    accepted = list(inspect.signature(generate).parameters)
    refused = _REFUSED_PARAMS.get(function_name, ())
    allowed = [p for p in accepted if p not in refused]
    for key in params:
        if key in refused:
            raise DataError(
                f"data.params.{key}: changes what {function_name} returns and is not supported; "
                f"accepted parameters: {', '.join(allowed)}"
            )
        if key not in accepted:
            raise DataError(
                f"data.params.{key}: {function_name} has no parameter {key!r}"
                f"{did_you_mean(str(key), allowed)}; accepted parameters: {', '.join(allowed)}"
            )
    kwargs = {**defaults, **params}
    kwargs.setdefault("random_state", seed)
    try:
        X, y = generate(**kwargs)
    except (TypeError, ValueError) as exc:
        given = ", ".join(f"{k}={v!r}" for k, v in params.items()) or "none"
        raise DataError(
            f"data.params: {function_name} rejected the parameters ({given}): "
            f"{str(exc).rstrip('.')}; "
            f"accepted parameters: {', '.join(allowed)}"
        ) from None
    X = np.ascontiguousarray(X, dtype=np.float64)
    y = np.asarray(y)
    if function_name != "make_regression":
        y = y.astype(np.int64)
    call = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    names = [f"x{j}" for j in range(X.shape[1])]
    return RawData(X, y, names, DATASETS[name].task, f"{function_name}({call})")


def _validate_raw(raw: RawData) -> None:
    """Checks that hold for every source: shapes, sizes, finite values."""
    X, y, where = raw.X, raw.y, raw.source
    if X.ndim != 2:
        raise DataError(f"{where}: X must be 2-D (n_samples, n_features), got shape {X.shape}")
    if X.shape[0] == 0:
        raise DataError(f"{where}: 0 samples")
    if X.shape[1] == 0:
        raise DataError(f"{where}: 0 features")
    if len(y) != X.shape[0]:
        raise DataError(f"{where}: X has {X.shape[0]} rows but y has {len(y)}")
    check_finite(X, y, raw.feature_names, where=where)


def _split_columns(
    table: Table, target: str, data_cfg: DataConfig
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The rows' split (``data.split_column``) and groups (``data.group_column``), their
    columns taken out of the table: they are not features."""
    split = groups = None
    for option in ("split_column", "group_column"):
        name = getattr(data_cfg, option, None)
        if name is not None and name == target:
            raise DataError(
                f"{table.source}: data.{option} {name!r} is the target column; name another column"
            )
    if (name := getattr(data_cfg, "split_column", None)) is not None:
        split = split_from_column(table, name)
    if (name := getattr(data_cfg, "group_column", None)) is not None:
        groups = pop_column(table, name, "group_column")
    return split, groups


def _read_table_data(data_cfg: DataConfig) -> RawData:
    """A csv/parquet table: read, typed, the target taken out (rows without one dropped only
    when ``data.drop_missing_target`` says so)."""
    from mlptrain.data.frame import DEFAULT_NA_VALUES

    listed = dict(getattr(data_cfg, "columns", None) or {})

    def read(path: Path, text_columns: Collection[str]) -> Table:
        return load_table(
            path,
            delimiter=getattr(data_cfg, "delimiter", "auto"),
            header=getattr(data_cfg, "header", True),
            na_values=getattr(data_cfg, "na_values", DEFAULT_NA_VALUES),
            text_columns=text_columns,
            encoding=getattr(data_cfg, "encoding", "utf-8"),
            thousands=getattr(data_cfg, "thousands", "auto"),
            decimal=getattr(data_cfg, "decimal", "."),
        )

    table, file_split = read_with_split_files(
        read,
        Path(data_cfg.path),  # type: ignore[arg-type]  # checked by load_raw
        [name for name, kind in listed.items() if kind in ("categorical", "id")],
        val_path=getattr(data_cfg, "val_path", None),
        test_path=getattr(data_cfg, "test_path", None),
    )
    target = resolve_target(table, data_cfg.target)
    split, groups = _split_columns(table, target, data_cfg)
    split = file_split if file_split is not None else split
    infos = type_columns(table, target, listed)
    y, rows = target_values(
        table, target, drop_missing=getattr(data_cfg, "drop_missing_target", False)
    )
    notes = [*table.notes, *date_notes(infos), *likely_id_notes(infos, table.n_rows)]
    if len(rows) < table.n_rows:
        notes.append(
            f"{table.n_rows - len(rows)} row(s) without a target value dropped "
            "(data.drop_missing_target)"
        )
        table = table.take(rows)
        split = None if split is None else split[rows]
        groups = None if groups is None else groups[rows]
    features = [i.name for i in infos if i.kind in FEATURE_KINDS]
    path = Path(data_cfg.path)  # type: ignore[arg-type]
    kind = "Parquet" if path.name.lower().endswith(".parquet") or path.is_dir() else "CSV"
    source = f"{kind} {data_cfg.path} (target column {target!r})"
    table.source = str(data_cfg.path)
    numeric = [table.columns[name] for name in features]
    if all(not column.is_text for column in numeric):
        # an all-numeric table also offers X as a plain matrix (NaN in the gaps), as NPZ does
        X = np.column_stack([column.values for column in numeric])
    else:
        X = np.empty((table.n_rows, 0))
    return RawData(
        X,
        y,
        features,
        infer_task(y, "auto"),
        source,
        target_name=target,
        split=split,
        groups=groups,
        table=table,
        columns=infos,
        notes=notes,
    )


def load_raw(data_cfg: DataConfig, *, seed: int) -> RawData:
    """The dataset the config names, validated, with its task resolved.

    Generators get ``random_state=seed`` unless ``data.params`` sets it.
    """
    name = data_cfg.dataset
    info = DATASETS.get(name)
    if info is None:
        raise _unknown_dataset(name)
    params = dict(data_cfg.params or {})
    _check_source_options(data_cfg, name, info, params)
    if info.kind == "bundled":
        raw = _load_bundled(name)
    elif info.kind == "generator":
        raw = _load_generated(name, params, seed)
    elif name in TABLE_DATASETS:
        raw = _read_table_data(data_cfg)
    else:
        raw = _read_npz(data_cfg.path)  # type: ignore[arg-type]
    if raw.table is None:
        _validate_raw(raw)
    where = f"the target of {raw.source}"
    if data_cfg.task == "auto":
        # built-in datasets know their task; inferring it could misfire on small generated sets
        task = raw.task if info.kind != "file" else infer_task(raw.y, "auto", where=where)
    else:
        task = infer_task(raw.y, data_cfg.task, where=where)
    raw.task = task
    return raw


def _check_source_options(
    data_cfg: DataConfig, name: str, info: DatasetInfo, params: dict[str, Any]
) -> None:
    """data.params, data.path and data.target only where the dataset takes them; a file
    dataset's path must exist."""
    path, target = data_cfg.path, data_cfg.target
    if info.kind != "generator" and params:
        raise DataError(
            f"data.params: {name!r} takes no parameters (given: {', '.join(map(str, params))}); "
            f"only the generators {', '.join(_GENERATORS)} do"
        )
    if info.kind != "file" and path is not None:
        raise DataError(
            f"data.path is set ({path}) but data.dataset is {name!r}; "
            "set data.dataset: csv or npz to read a file"
        )
    if name not in TABLE_DATASETS and target is not None:
        raise DataError(
            f"data.target is set ({target!r}) but data.dataset is {name!r}; "
            "data.target chooses the target column of a csv or parquet table"
        )
    if info.kind == "file" and not path:
        raise DataError(f"data.path is required when data.dataset is {name!r}")
    if info.kind == "file" and path and not Path(path).exists():
        try:
            check_file(path)  # "file not found", with a near name in that folder if any
        except DataError as exc:
            raise DataError(
                f"{exc}; a data.path written in a config file is relative to that file's "
                "folder, one given as an override to the current directory"
            ) from None
