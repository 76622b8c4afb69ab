"""An estimator on disk: the safetensors checkpoint of ``mlptrain fit`` (no pickle), with the
estimator's parameters and fitted attributes in its JSON metadata; and ``to_run_dir``, an
ordinary run directory for the CLI's evaluate, predict, report and export.

Duck-typed on the estimator (no import of the classes), so ``base`` may import this module.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

import mlptrain.sklearn.engine as engine
from mlptrain.data import RawData, prepare_assigned
from mlptrain.errors import CheckpointError
from mlptrain.store.checkpoint import save_checkpoint
from mlptrain.store.run_meta import RunCheckpoint
from mlptrain.training.trainer import TrainState

# Fitted attributes stored in the metadata as JSON (lists, numbers, None).
ATTRIBUTES = (
    "loss_curve_",
    "validation_scores_",
    "best_validation_score_",
    "best_loss_",
    "n_iter_",
    "t_",
    "n_features_in_",
    "n_outputs_",
    "n_layers_",
    "out_activation_",
    "_seed",
    "_history",
)


def _json_params(params: dict[str, Any]) -> dict[str, Any]:
    """Parameters as JSON: tuples become lists, inf becomes null, a RandomState becomes null
    (its state is not a parameter one can write down)."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, np.random.RandomState) or (
            isinstance(value, float) and math.isinf(value)
        ):
            value = None
        elif isinstance(value, np.generic):
            value = value.item()
        out[key] = value
    return out


def _state(estimator: Any) -> TrainState:
    setup = estimator._setup
    history = list(getattr(estimator, "_history", []))
    return TrainState(
        epoch=estimator.n_iter_,
        step=setup.optimizer.step_count,
        history=history,
    )


def save(estimator: Any, path: str | Path) -> None:
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(estimator)
    tensors, meta = engine.snapshot(estimator._setup, _state(estimator))
    attributes = {name: getattr(estimator, name) for name in ATTRIBUTES}
    names = getattr(estimator, "feature_names_in_", None)
    attributes["feature_names_in_"] = None if names is None else [str(n) for n in names]
    meta = meta.with_(
        estimator={
            "class": type(estimator).__name__,
            "params": _json_params(estimator.get_params()),
            "attributes": attributes,
        }
    )
    save_checkpoint(path, tensors, meta.to_json())


def restore_estimator(classes: dict[str, type], ckpt: RunCheckpoint) -> Any:
    """The estimator a checkpoint holds, with its weights, optimizer state and attributes."""
    info = ckpt.meta.estimator
    if not isinstance(info, dict) or info.get("class") not in classes:
        raise CheckpointError(
            f"{ckpt.path}: not a scikit-learn estimator checkpoint (no estimator metadata); "
            "a run's checkpoint is read with mlptrain.load"
        )
    params = dict(info["params"])
    if isinstance(params.get("hidden_layer_sizes"), list):
        params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
    if params.get("n_iter_no_change", 0) is None:
        params["n_iter_no_change"] = math.inf
    estimator = classes[info["class"]]()
    estimator.set_params(**params)
    estimator._validate_params()  # a file from elsewhere gets the same checks as a constructor
    attributes = dict(info["attributes"])
    names = attributes.pop("feature_names_in_", None)
    if names is not None:
        estimator.feature_names_in_ = np.asarray(names, dtype=object)
    for name in ATTRIBUTES:  # only the names save writes: a file sets nothing else
        setattr(estimator, name, attributes.get(name))
    if ckpt.meta.classes is not None:
        from mlptrain.data import LabelEncoder

        estimator.classes_ = LabelEncoder.from_list(ckpt.meta.classes).classes
    estimator._setup = engine.setup_from(ckpt.tensors, ckpt.meta, str(ckpt.path))
    return estimator


def _training_rows(estimator: Any, X: Any, y: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """X, y as the estimator saw them in fit, and each row's split (its early-stopping
    validation rows as "val")."""
    from sklearn.utils.validation import validate_data

    from mlptrain.data import target_array

    regression = estimator._task == "regression"
    X, y = validate_data(
        estimator,
        X,
        y,
        reset=False,
        accept_sparse=("csr", "csc"),
        dtype=np.float64,
        multi_output=regression,
    )
    X = X.toarray() if hasattr(X, "toarray") else X
    labels = np.asarray(y, dtype=np.float64) if regression else target_array(y, "y")
    split = np.full(len(labels), "train", dtype="<U5")
    if estimator.early_stopping:
        _, val = engine.validation_rows(
            labels,
            task=estimator._task,
            fraction=estimator.validation_fraction,
            seed=estimator._seed,
        )
        split[val] = "val"
    return np.asarray(X, dtype=np.float64), labels, split


def to_run_dir(
    estimator: Any,
    path: str | Path,
    X: Any,
    y: Any,
    *,
    X_test: Any = None,
    y_test: Any = None,
    overwrite: bool = False,
    figures: bool = True,
) -> Any:
    from sklearn.utils.validation import check_is_fitted

    from mlptrain.session.training import write_run_dir

    check_is_fitted(estimator)
    X, labels, split = _training_rows(estimator, X, y)
    source = "estimator's training data"
    if X_test is None:
        # No held-out rows: the test split repeats the training rows (and the report says so).
        X_test, test_labels = X, labels
        source += " (test split = the training rows)"
    else:
        X_test, test_labels, _ = _training_rows(estimator, X_test, y_test)
    names = estimator._feature_names(X.shape[1])
    raw = RawData(
        X=np.concatenate([X, X_test]),
        y=np.concatenate([labels, test_labels]),
        feature_names=names,
        task=estimator._task,
        source=source,
        split=np.concatenate([split, np.full(len(test_labels), "test", dtype="<U5")]),
    )
    setup = engine.setup_from(*engine.snapshot(estimator._setup, _state(estimator)))
    data = prepare_assigned(raw, scale="none", dtype=setup.dtype)
    _check_same_targets(setup.data, data)
    setup.data = data
    cfg = setup.config.model_copy(deep=True)
    cfg.name = f"sklearn-{type(estimator).__name__}"
    setup.config = cfg
    return write_run_dir(
        setup, _state(estimator), path, raw=raw, overwrite=overwrite, figures=figures
    )


def _check_same_targets(fitted: Any, rebuilt: Any) -> None:
    """The run directory rebuilds its labels and target scaling from data.npz: they must be
    the ones the estimator was trained with, i.e. X, y must be the data given to fit."""
    if fitted.encoder is not None and fitted.encoder != rebuilt.encoder:
        raise ValueError(
            f"y holds the classes {rebuilt.encoder.to_list()} but the estimator knows "
            f"{fitted.encoder.to_list()}; to_run_dir needs the training data, with every class"
        )
    if fitted.target_scaler is None:
        return
    before, after = fitted.target_scaler, rebuilt.target_scaler
    if not (np.allclose(before.shift, after.shift) and np.allclose(before.scale, after.scale)):
        raise ValueError(
            "X, y are not the data this estimator was fitted on (the targets' mean and "
            "standard deviation differ); to_run_dir needs the training data, and takes "
            "other rows as X_test, y_test"
        )
