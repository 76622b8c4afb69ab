"""Issue 23 (part): the baseline beside the model's metrics -- the majority class or the
training mean on the scored split -- against scikit-learn's dummy estimators."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn import metrics
from sklearn.dummy import DummyClassifier, DummyRegressor

import mlptrain
from mlptrain.data.splits import Split
from mlptrain.reporting.report import baseline_metrics
from mlptrain.store.layout import REPORT_JSON, REPORT_MD


def test_classification_baseline_is_the_prior_dummy() -> None:
    rng = np.random.default_rng(0)
    train_y = rng.choice(3, 200, p=[0.6, 0.3, 0.1])
    test_y = rng.choice(3, 80, p=[0.5, 0.3, 0.2])
    X_train, X_test = np.zeros((200, 1)), np.zeros((80, 1))
    got = baseline_metrics("classification", train_y, Split(X_test, test_y), ["a", "b", "c"])
    dummy = DummyClassifier(strategy="prior").fit(X_train, train_y)
    predicted, proba = dummy.predict(X_test), dummy.predict_proba(X_test)
    assert got["accuracy"] == pytest.approx(metrics.accuracy_score(test_y, predicted))
    assert got["log_loss"] == pytest.approx(metrics.log_loss(test_y, proba, labels=[0, 1, 2]))
    assert got["f1_macro"] == pytest.approx(
        metrics.f1_score(test_y, predicted, average="macro", zero_division=0)
    )
    assert got["balanced_accuracy"] == pytest.approx(1 / 3)


def test_regression_baseline_is_the_mean_dummy() -> None:
    rng = np.random.default_rng(1)
    train_y = rng.normal(5, 2, (150, 1))
    test_y = rng.normal(6, 2, (50, 1))
    got = baseline_metrics("regression", train_y, Split(np.zeros((50, 1)), test_y), None)
    dummy = DummyRegressor().fit(np.zeros((150, 1)), train_y)
    predicted = dummy.predict(np.zeros((50, 1)))
    assert got["mae"] == pytest.approx(metrics.mean_absolute_error(test_y, predicted))
    assert got["r2"] == pytest.approx(metrics.r2_score(test_y, predicted))
    assert got["r2"] < 0  # the test rows' mean differs from the training mean


def test_the_report_shows_the_baseline_beside_the_splits(tmp_path: Path, no_figures) -> None:
    run = mlptrain.fit(
        "configs/diabetes.yaml", overrides=["train.epochs=3"], out=tmp_path / "run", html=False
    )
    report = json.loads((run.dir / REPORT_JSON).read_text())
    baseline = report["baseline"]
    assert (baseline["split"], baseline["strategy"]) == ("test", "training mean")
    assert baseline["metrics"]["r2"] <= 0.05  # the mean explains (about) nothing
    header = next(
        line for line in (run.dir / REPORT_MD).read_text().splitlines() if "| metric |" in line
    )
    assert header.endswith("| baseline: training mean (test) |")
