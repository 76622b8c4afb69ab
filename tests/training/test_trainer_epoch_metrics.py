"""The numbers the trainer logs per epoch, against the same numbers computed independently
from the weights it had (scikit-learn's metrics on the model's predictions).

One batch per epoch and no dropout or batch norm, so the training metrics of epoch k are
exactly those of the weights after epoch k - 1 (the single step happens after the batch's
loss is taken) and the whole-split metrics are those of the weights after epoch k.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from sklearn import metrics as skm

from mlptrain.config import load_config
from mlptrain.training.setup import build
from mlptrain.training.trainer import Callbacks, Trainer
from tests.conftest import tiny_iris

REGRESSION = """\
name: epochs-regression
seed: 4
data:
  dataset: regression
  params: {n_samples: 120, n_features: 5, noise: 5.0}
  val_size: 0.25
model:
  layers:
    - {type: linear, units: 8}
    - tanh
    - {type: linear}
  loss: mse
train:
  dtype: float64
  epochs: 5
  batch_size: 1000
  optimizer: {type: sgd, lr: 0.1, momentum: 0.5}
  schedule: {type: cosine, warmup_epochs: 1, min_lr: 0.01}
  early_stopping: null
"""

CLASSIFICATION = tiny_iris(name="epochs-classification", seed=2, units=6, activation="relu",
                           epochs=4, batch_size=1000, lr="0.05", dtype="float64",
                           early_stopping=False)  # fmt: skip


def train_recording(tmp_path: Path, text: str):
    """Run the config; return the setup, the epoch records and the weights before epoch 1
    and after every epoch."""
    path = tmp_path / "config.yaml"
    path.write_text(text)
    setup = build(load_config(path))
    weights = [setup.model.flat_params.copy()]
    records = []

    def on_epoch_end(record):
        records.append(record)
        weights.append(setup.model.flat_params.copy())

    Trainer(setup, callbacks=Callbacks(on_epoch_end=on_epoch_end)).run()
    assert len(records) == setup.config.train.epochs
    return setup, records, weights


def predictions(setup, flat: np.ndarray, x: np.ndarray) -> np.ndarray:
    setup.model.flat_params[...] = flat
    return setup.trained.predict(x).reshape(-1)


@pytest.fixture(scope="module")
def regression(tmp_path_factory):
    return train_recording(tmp_path_factory.mktemp("reg"), REGRESSION)


@pytest.fixture(scope="module")
def classification(tmp_path_factory):
    return train_recording(tmp_path_factory.mktemp("clf"), CLASSIFICATION)


def test_regression_learning_rate_follows_the_cosine(regression):
    _, records, _ = regression
    # warm-up epoch 0: 0.1/2; then the half cosine over epochs 1..4 from 0.1 to 0.01
    span = 3
    expected = [0.05] + [
        0.01 + 0.045 * (1 + math.cos(math.pi * (e - 1) / span)) for e in range(1, 5)
    ]
    assert [r["lr"] for r in records] == pytest.approx(expected, rel=1e-14)


def test_regression_losses_per_epoch(regression):
    """train_loss: the MSE of the standardised targets under the weights the epoch started
    with; val_loss: the same under the weights it ended with."""
    setup, records, weights = regression
    data = setup.data
    scale = float(data.target_scaler.state_dict()["scaler.scale"].reshape(-1)[0])
    train_y, val_y = data.train.y.reshape(-1), data.val.y.reshape(-1)
    for epoch, record in enumerate(records, start=1):
        start = predictions(setup, weights[epoch - 1], data.train.X)
        end = predictions(setup, weights[epoch], data.val.X)
        assert record["train_loss"] == pytest.approx(
            skm.mean_squared_error(train_y, start) / scale**2, rel=1e-9
        )
        assert record["val_loss"] == pytest.approx(
            skm.mean_squared_error(val_y, end) / scale**2, rel=1e-9
        )
        assert record["val_r2"] == pytest.approx(skm.r2_score(val_y, end), rel=1e-9)
    assert records[-1]["train_loss"] < records[0]["train_loss"]


def test_regression_train_r2_per_epoch(regression):
    """train_r2 of an epoch is the R² of the training split under the epoch's final weights,
    in the targets' units (R² does not change under the standardisation)."""
    setup, records, weights = regression
    data = setup.data
    for epoch, record in enumerate(records, start=1):
        end = predictions(setup, weights[epoch], data.train.X)
        assert record["train_r2"] == pytest.approx(
            skm.r2_score(data.train.y.reshape(-1), end), rel=1e-9
        )


def test_classification_metrics_per_epoch(classification):
    setup, records, weights = classification
    data = setup.data
    labels = list(range(3))
    for epoch, record in enumerate(records, start=1):
        setup.model.flat_params[...] = weights[epoch - 1]
        start_proba = setup.model.predict_proba(data.train.X)
        assert record["train_loss"] == pytest.approx(
            skm.log_loss(data.train.y, start_proba, labels=labels), rel=1e-9
        )
        assert record["train_accuracy"] == pytest.approx(
            skm.accuracy_score(data.train.y, start_proba.argmax(axis=1)), abs=1e-15
        )
        setup.model.flat_params[...] = weights[epoch]
        end_proba = setup.model.predict_proba(data.val.X)
        assert record["val_loss"] == pytest.approx(
            skm.log_loss(data.val.y, end_proba, labels=labels), rel=1e-9
        )
        assert record["val_accuracy"] == pytest.approx(
            skm.accuracy_score(data.val.y, end_proba.argmax(axis=1)), abs=1e-15
        )
        assert record["lr"] == 0.05
    assert records[-1]["train_loss"] < records[0]["train_loss"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_all_finite_is_an_element_by_element_test(dtype):
    from mlptrain.training.trainer import all_finite

    big = np.finfo(dtype).max / 4
    flat = np.zeros(1000, dtype)
    # The training loop calls it under np.errstate(over="ignore", invalid="ignore").
    with np.errstate(over="ignore", invalid="ignore"):
        assert all_finite(flat)
        flat[:8] = big  # finite, though their sum and their squares overflow
        assert all_finite(flat)
        for bad in (np.inf, -np.inf, np.nan):
            flat[500] = bad
            assert not all_finite(flat), bad
            flat[500] = 0
        assert all_finite(np.zeros(0, dtype))
