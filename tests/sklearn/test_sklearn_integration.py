"""The estimators among scikit-learn's tools (Pipeline, ColumnTransformer, GridSearchCV,
cross_val_score, clone) on a table with categorical columns, and alongside the CLI: the same
weights as ``mlptrain fit``, and run directories the CLI's commands read."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import mlptrain
from mlptrain.sklearn import MLPClassifier, MLPRegressor
from mlptrain.store.checkpoint import load_checkpoint

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def customers() -> pd.DataFrame:
    """A churn-like table: numbers, two categorical columns, a string target that depends on
    both kinds, and a numeric column to regress."""
    rng = np.random.default_rng(0)
    n = 240
    plan = rng.choice(["basic", "plus", "pro"], n)
    region = rng.choice(["north", "south", "east", "west"], n)
    tenure = rng.integers(1, 72, n).astype(float)
    monthly = rng.normal(50, 15, n) + (plan == "pro") * 30
    risk = -0.05 * tenure + 0.03 * monthly + (plan == "basic") * 1.5 + (region == "south")
    churn = np.where(risk + rng.normal(0, 0.5, n) > np.median(risk), "yes", "no")
    return pd.DataFrame(
        {
            "tenure": tenure,
            "monthly": monthly,
            "plan": plan,
            "region": region,
            "churn": churn,
            "lifetime_value": tenure * monthly + rng.normal(0, 50, n),
        }
    )


def pipeline(estimator) -> Pipeline:
    columns = ColumnTransformer(
        [
            ("numbers", StandardScaler(), ["tenure", "monthly"]),
            ("categories", OneHotEncoder(handle_unknown="ignore"), ["plan", "region"]),
        ],
        sparse_threshold=0,  # the estimators take dense arrays
    )
    return Pipeline([("columns", columns), ("mlp", estimator)])


def test_grid_search_over_a_pipeline_with_categorical_columns(customers):
    X = customers[["tenure", "monthly", "plan", "region"]]
    y = customers["churn"]
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0, stratify=y)
    search = GridSearchCV(
        pipeline(MLPClassifier(random_state=0, max_iter=30, learning_rate_init=0.01)),
        {"mlp__hidden_layer_sizes": [(8,), (32,)], "mlp__alpha": [1e-4, 1e-2]},
        cv=3,
    )
    search.fit(X_train, y_train)
    assert len(search.cv_results_["mean_test_score"]) == 4
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    assert search.best_estimator_.classes_.tolist() == ["no", "yes"]
    assert search.score(X_test, y_test) > 0.75
    predicted = search.predict(X_test)
    assert set(predicted) <= {"no", "yes"}


def test_cross_val_score_of_a_regression_pipeline(customers):
    X = customers[["tenure", "monthly", "plan", "region"]]
    y = customers["lifetime_value"]
    scores = cross_val_score(
        pipeline(
            MLPRegressor(
                hidden_layer_sizes=(32,), random_state=0, max_iter=200, learning_rate_init=0.01
            )
        ),
        X,
        y,
        cv=3,
    )
    assert scores.shape == (3,) and scores.min() > 0.8


def test_clone_of_a_fitted_pipeline_refits_to_the_same_model(customers):
    X = customers[["tenure", "monthly", "plan", "region"]]
    y = customers["churn"]
    fitted = pipeline(MLPClassifier(random_state=0, max_iter=5)).fit(X, y)
    copy = clone(fitted)
    assert not hasattr(copy.named_steps["mlp"], "classes_")
    assert copy.get_params()["mlp__max_iter"] == 5
    copy.fit(X, y)
    np.testing.assert_array_equal(copy.predict_proba(X), fitted.predict_proba(X))


def test_feature_names_from_a_dataframe(customers):
    X = customers[["tenure", "monthly"]]
    clf = MLPClassifier(random_state=0, max_iter=2).fit(X, customers["churn"])
    assert clf.feature_names_in_.tolist() == ["tenure", "monthly"]
    with pytest.warns(UserWarning, match="feature names"):
        clf.predict(X.to_numpy())


def test_same_data_and_seed_give_the_weights_of_mlptrain_fit(cli, tmp_path):
    """The estimator and `mlptrain fit` with the equivalent config: identical weights."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 6))
    y = (X[:, 0] + X[:, 1] ** 2 > 1).astype(int) + (X[:, 2] > 0.5)
    # The CLI trains on the rows marked train (all of X) and only tests on the others.
    X_all = np.concatenate([X, X[:20]])
    split = np.array(["train"] * 300 + ["test"] * 20)
    np.savez(tmp_path / "data.npz", X=X_all, y=np.concatenate([y, y[:20]]), split=split)
    alpha, batch = 1e-3, 32
    config = {
        "name": "same",
        "seed": 7,
        "data": {"dataset": "npz", "path": "data.npz", "scale": "none", "val_size": 0.0},
        "model": {
            "init": "glorot",
            "layers": [
                {"type": "linear", "units": 24},
                "relu",
                {"type": "linear", "units": 12},
                "relu",
                "linear",
            ],
        },
        "train": {
            "epochs": 4,
            "batch_size": batch,
            "dtype": "float32",
            "optimizer": {
                "type": "adam",
                "lr": 0.002,
                "betas": [0.9, 0.999],
                "eps": 1e-8,
                "weight_decay": alpha / batch,
            },
            "schedule": "constant",
            "early_stopping": None,
        },
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    result = cli("fit", tmp_path / "c.yaml", "--out", tmp_path / "run", "--no-figures")
    assert result.exit_code == 0, result.output
    clf = MLPClassifier(
        hidden_layer_sizes=(24, 12),
        alpha=alpha,
        batch_size=batch,
        learning_rate_init=0.002,
        max_iter=4,
        random_state=7,
        n_iter_no_change=math.inf,
    ).fit(X, y)
    stored = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.safetensors").tensors
    for index, (W, b) in zip((0, 2, 4), zip(clf.coefs_, clf.intercepts_, strict=True), strict=True):
        assert np.array_equal(stored[f"model.{index}.W"], W)
        assert np.array_equal(stored[f"model.{index}.b"], b)


def test_to_run_dir_serves_evaluate_predict_report_and_export(cli, customers, tmp_path):
    X = customers[["tenure", "monthly"]].to_numpy()
    y = customers["churn"].to_numpy()
    clf = MLPClassifier(random_state=0, max_iter=20, learning_rate_init=0.01).fit(X[:200], y[:200])
    run = clf.to_run_dir(
        tmp_path / "run", X[:200], y[:200], X_test=X[200:], y_test=y[200:], figures=False
    )
    assert run.report["metrics"]["test"]["accuracy"] == pytest.approx(clf.score(X[200:], y[200:]))
    result = cli("evaluate", run.dir)
    assert result.exit_code == 0, result.output
    evaluated = mlptrain.evaluate(run.dir)["metrics"]
    assert evaluated["accuracy"] == pytest.approx(clf.score(X[200:], y[200:]))
    np.savez(tmp_path / "new.npz", X=X[200:])
    result = cli("predict", run.dir, tmp_path / "new.npz")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1:] == clf.predict(X[200:]).tolist()
    assert cli("report", run.dir).exit_code == 0
    result = cli("export", run.dir, "--out", tmp_path / "exported")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "exported" / "predict.py").is_file()


def test_to_run_dir_of_a_regressor_refuses_other_targets(tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 3)), rng.normal(size=60) * 10 + 3
    reg = MLPRegressor(random_state=0, max_iter=5).fit(X, y)
    with pytest.raises(ValueError, match="not the data this estimator was fitted on"):
        reg.to_run_dir(tmp_path / "run", X, y + 1)
    run = reg.to_run_dir(tmp_path / "ok", X, y, figures=False)
    assert mlptrain.evaluate(run.dir)["metrics"]["mse"] == pytest.approx(
        np.mean((reg.predict(X) - y) ** 2), rel=1e-6
    )
    assert "test split = the training rows" in run.report["data"]["source"]


def test_to_run_dir_keeps_the_early_stopping_validation_rows(customers, tmp_path):
    X = customers[["tenure", "monthly"]].to_numpy()
    y = customers["lifetime_value"].to_numpy()
    reg = MLPRegressor(random_state=0, max_iter=30, early_stopping=True).fit(X, y)
    run = reg.to_run_dir(tmp_path / "run", X, y, figures=False)
    # the validation rows are those fit held out; the target scaling matched (else an error)
    assert run.report["data"]["n_val"] == math.ceil(0.1 * len(y))
    assert run.report["data"]["n_train"] == len(y) - run.report["data"]["n_val"]
    assert mlptrain.evaluate(run.dir, split="test")["metrics"]["r2"] == pytest.approx(
        reg.score(X, y), rel=1e-6
    )
