"""``mlptrain.fit(config, X=..., y=...)``: arrays in, an ordinary run directory out; and the
NPZ ``split`` array that records which row went where."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.datasets import load_iris

import mlptrain
from mlptrain.data import prepare_assigned, raw_from_arrays, read_table, write_npz
from mlptrain.errors import DataError, UserInputError

CONFIG = {
    "name": "arrays",
    "model": {"layers": [{"type": "linear", "units": 16}, "relu", "linear"]},
    "train": {"epochs": 3, "batch_size": 16},
}


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return X, np.array(["setosa", "versicolor", "virginica"])[y]


def test_fit_on_arrays_writes_a_run_that_evaluate_rebuilds(iris, tmp_path):
    X, y = iris
    run = mlptrain.fit(CONFIG, X=X, y=y, out=tmp_path / "run", figures=False)
    # the split follows data.test_size/val_size (defaults 0.2, 0.1), stratified and seeded
    assert run.report["data"]["n_train"] + run.report["data"]["n_val"] == 120
    assert run.report["data"]["n_test"] == 30
    assert run.report["data"]["classes"] == ["setosa", "versicolor", "virginica"]
    evaluated = mlptrain.evaluate(run.dir)
    assert evaluated["metrics"]["accuracy"] == run.report["metrics"]["test"]["accuracy"]
    assert evaluated["n_samples"] == 30
    predictor = mlptrain.load(run.dir)
    assert set(predictor.predict(X)) <= set(y)


def test_history_holds_plain_floats(iris, tmp_path):
    X, y = iris
    run = mlptrain.fit(CONFIG, X=X, y=y, out=tmp_path / "run", figures=False)

    def kinds(value):
        if isinstance(value, dict):
            return set().union(*(kinds(v) for v in value.values()))
        return {type(value)}

    found = set().union(*(kinds(record) for record in run.history))
    assert found <= {int, float, type(None)}
    assert json.loads(json.dumps(run.history)) == run.history


def test_explicit_validation_and_test_arrays_are_used_as_given(iris, tmp_path):
    X, y = iris
    order = np.random.default_rng(0).permutation(150)
    train, val, test = order[:90], order[90:120], order[120:]
    run = mlptrain.fit(
        CONFIG,
        X=X[train],
        y=y[train],
        X_val=X[val],
        y_val=y[val],
        X_test=X[test],
        y_test=y[test],
        out=tmp_path / "run",
        figures=False,
    )
    data = run.report["data"]
    assert (data["n_train"], data["n_val"], data["n_test"]) == (90, 30, 30)
    predicted = mlptrain.load(run.dir).predict(X[test])
    assert run.report["metrics"]["test"]["accuracy"] == pytest.approx(np.mean(predicted == y[test]))


def test_regression_arrays_default_to_mse(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 3))
    run = mlptrain.fit(CONFIG, X=X, y=X @ [1.0, 2.0, -1.0], out=tmp_path / "run", figures=False)
    assert run.config.model.loss == "mse" and run.config.data.task == "regression"


def test_a_yaml_config_with_arrays_keeps_its_split_settings(iris, tmp_path):
    X, y = iris
    path = tmp_path / "c.yaml"
    path.write_text(
        "name: y\ndata: {dataset: digits, test_size: 0.5, val_size: 0}\n"
        "model: {layers: [linear]}\ntrain: {epochs: 1, early_stopping: null}\n"
    )
    run = mlptrain.fit(path, X=X, y=y, out=tmp_path / "run", figures=False)
    assert run.report["data"]["n_test"] == 75 and run.report["data"]["n_val"] == 0
    assert run.config.data.dataset == "npz"
    assert run.config.data.path == (tmp_path / "run" / "data.npz").resolve()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"X": np.zeros((4, 2))}, "X and y go together"),
        ({"X_test": np.zeros((4, 2))}, "need X and y as well"),
        (
            {"X": np.zeros((4, 2)), "y": [0, 1, 0, 1], "X_val": np.zeros((2, 2))},
            "X_val and y_val go together",
        ),
        ({"X": np.zeros((4, 2)), "y": [0, 1, 0]}, "X has 4 rows but y has 3"),
        (
            {"X": np.zeros((6, 2)), "y": [0, 1] * 3, "X_test": np.zeros((2, 3)), "y_test": [0, 1]},
            "X_test has 3 features, but X has 2",
        ),
        ({"X": np.zeros(4), "y": [0, 1, 0, 1]}, "expected a 2-D array"),
        ({"X": np.zeros((4, 2)), "y": np.array([0, "a", 1.5, None], dtype=object)}, "y mixes"),
    ],
)
def test_array_errors_are_one_line(kwargs, message, tmp_path):
    with pytest.raises(UserInputError, match=message) as info:
        mlptrain.fit(CONFIG, **kwargs, out=tmp_path / "run", figures=False)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "run").exists()


def test_resume_takes_no_arrays(tmp_path):
    with pytest.raises(UserInputError, match="resume continues a run on its own stored data"):
        mlptrain.fit(X=np.zeros((4, 2)), y=[0, 1, 0, 1], resume=tmp_path)


def test_npz_split_round_trip(iris, tmp_path):
    X, y = iris
    raw = raw_from_arrays(X, y, test_size=0.2, val_size=0.25, seed=3)
    write_npz(tmp_path / "d.npz", raw)
    back = read_table(tmp_path / "d.npz", target=None)
    assert np.array_equal(back.split, raw.split) and np.array_equal(back.X, raw.X)
    assert back.feature_names == raw.feature_names and np.array_equal(back.y, raw.y)
    counts = {name: int(np.sum(raw.split == name)) for name in ("train", "val", "test")}
    assert counts == {"train": 90, "val": 30, "test": 30}
    prepared = prepare_assigned(back, scale="standard", dtype="float32")
    assert len(prepared.train.y) == 90 and len(prepared.val.y) == 30


@pytest.mark.parametrize(
    ("split", "message"),
    [
        (np.array(["train", "test", "dev", "train"]), "holds 'dev'; allowed: train, val, test"),
        (np.array(["train", "train", "train", "train"]), "marks no row as 'test'"),
        (np.array([0, 1, 0, 1]), "must be strings of shape \\(4,\\)"),
        (np.array(["train", "test"]), "must be strings of shape \\(4,\\)"),
    ],
)
def test_npz_split_errors(split, message, tmp_path):
    np.savez(tmp_path / "d.npz", X=np.zeros((4, 2)), y=np.array([0, 1, 0, 1]), split=split)
    with pytest.raises(DataError, match=message):
        read_table(tmp_path / "d.npz", target=None)
