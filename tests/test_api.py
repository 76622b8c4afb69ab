"""The Python API: ``mlptrain.fit`` → Run, ``mlptrain.load`` → Predictor on raw features."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import mlptrain
from mlptrain.config import load_config
from mlptrain.data import load_raw, split_indices
from mlptrain.errors import CheckpointError, DataError, UserInputError
from mlptrain.nn.sequential import Sequential

# Training and its files are under test here, not the PNG figures (see conftest.py).
pytestmark = pytest.mark.usefixtures("no_figures")

FRUITS = ["apple", "banana", "lemon", "orange"]


def raw_split(run_dir, part: str):
    """The raw, unscaled rows of one split of a run, found as the run found them."""
    cfg = load_config(run_dir / "config.yaml")
    raw = load_raw(cfg.data, seed=cfg.seed)
    parts = split_indices(
        raw.y,
        task=raw.task,
        test_size=cfg.data.test_size,
        val_size=cfg.data.val_size,
        seed=cfg.seed,
    )
    rows = parts[("train", "val", "test").index(part)]
    return raw.X[rows], raw.y[rows]


def test_import_mlptrain_is_light_and_exports_the_api_lazily() -> None:
    code = (
        "import sys, mlptrain\n"
        "assert 'numpy' not in sys.modules and 'mlptrain.api' not in sys.modules\n"
        "import mlptrain.api\n"
        "assert mlptrain.fit is mlptrain.api.fit and mlptrain.load is mlptrain.api.load\n"
        "assert mlptrain.evaluate is mlptrain.api.evaluate\n"
        "assert {'fit', 'load'} <= set(dir(mlptrain))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="module 'mlptrain' has no attribute 'fitt'"):
        mlptrain.fitt  # noqa: B018


def test_fit_returns_a_run(configs_dir, tmp_path) -> None:
    out = tmp_path / "run"
    run = mlptrain.fit(
        configs_dir / "iris.yaml", overrides=["train.epochs=3", "seed=3"], out=str(out)
    )
    assert run.dir == out
    assert isinstance(run.model, Sequential)
    assert [row["epoch"] for row in run.history] == [1, 2, 3]
    saved = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert run.history == saved
    on_disk = json.loads((out / "report.json").read_text())
    assert run.report["metrics"] == on_disk["metrics"]
    assert run.report["task"] == "classification"
    assert run.config.seed == 3 and run.config.model.layers[-1].units == 3
    assert run.best_checkpoint.is_file()


def test_fit_refuses_a_non_empty_out(configs_dir, tmp_path) -> None:
    (tmp_path / "keep.txt").write_text("x")
    with pytest.raises(UserInputError, match="already exists and is not empty"):
        mlptrain.fit(configs_dir / "iris.yaml", out=tmp_path)


def test_predictor_returns_original_string_labels_on_raw_features(fruit_run) -> None:
    model = mlptrain.load(fruit_run.dir)
    X_test, y_test = raw_split(fruit_run.dir, "test")
    predicted = model.predict(X_test)
    assert predicted.shape == (len(y_test),)
    assert set(predicted.tolist()) <= set(FRUITS)
    assert all(isinstance(label, str) for label in predicted.tolist())
    # the same predictions as the report's: the scaler is applied to raw features
    accuracy = float(np.mean(predicted == y_test))
    assert accuracy == fruit_run.report["metrics"]["test"]["accuracy"]


def test_predict_proba_rows_sum_to_one(fruit_run) -> None:
    model = mlptrain.load(fruit_run.dir)
    X_test, _ = raw_split(fruit_run.dir, "test")
    proba = model.predict_proba(X_test)
    assert proba.shape == (len(X_test), 4)
    assert np.all(proba >= 0)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert list(model.classes) == FRUITS
    assert np.array_equal(model.classes[proba.argmax(axis=1)], model.predict(X_test))


def test_load_a_checkpoint_file_gives_the_same_predictor(fruit_run) -> None:
    X_test, _ = raw_split(fruit_run.dir, "val")
    from_dir = mlptrain.load(fruit_run.dir).predict_proba(X_test)
    from_file = mlptrain.load(fruit_run.best_checkpoint).predict_proba(X_test)
    assert np.array_equal(from_dir, from_file)


def test_feature_count_mismatch_has_the_sklearn_message(digits_run) -> None:
    model = mlptrain.load(digits_run.dir)
    with pytest.raises(DataError, match="X has 5 features, but the model expects 64"):
        model.predict(np.zeros((2, 5)))
    with pytest.raises(DataError, match="X has 5 features, but the model expects 64"):
        model.predict_proba(np.zeros((2, 5)))


def test_digits_predictor_matches_the_report(digits_run) -> None:
    model = mlptrain.load(digits_run.dir)
    X_test, y_test = raw_split(digits_run.dir, "test")
    assert X_test.max() > 1  # raw pixel intensities (0..16), not the minmax-scaled ones
    accuracy = float(np.mean(model.predict(X_test) == y_test))
    assert accuracy == digits_run.report["metrics"]["test"]["accuracy"]


def test_regression_predictor(diabetes_run) -> None:
    model = mlptrain.load(diabetes_run.dir)
    X_test, y_test = raw_split(diabetes_run.dir, "test")
    predicted = model.predict(X_test)
    assert predicted.shape == y_test.shape
    mse = float(np.mean((predicted.astype(np.float64) - y_test) ** 2))
    assert mse == pytest.approx(diabetes_run.report["metrics"]["test"]["mse"], rel=1e-5)
    with pytest.raises(UserInputError, match="predict_proba needs a classifier"):
        model.predict_proba(X_test)


def test_load_a_missing_run(tmp_path) -> None:
    with pytest.raises(CheckpointError, match="no such run directory or checkpoint file"):
        mlptrain.load(tmp_path / "nope")


def test_evaluate_matches_the_run_report(digits_run) -> None:
    result = mlptrain.evaluate(digits_run.dir, split="val")
    assert result["metrics"] == digits_run.report["metrics"]["val"]
    with pytest.raises(UserInputError, match="split 'dev': allowed: train, val, test"):
        mlptrain.evaluate(digits_run.dir, split="dev")


def test_run_repr_is_a_short_summary(digits_run) -> None:
    text = repr(digits_run)
    accuracy = digits_run.report["metrics"]["test"]["accuracy"]
    assert text == (
        f"Run({str(digits_run.dir)!r}, status=completed, epochs={len(digits_run.history)}, "
        f"test_accuracy={accuracy:.4f})"
    )
