"""Issue 23: what the run was (environment, resolved config, data fingerprint) and the test
rows it got most wrong, in report.json, report.md and report.html."""

from __future__ import annotations

import json
import platform
from pathlib import Path

import numpy as np
import sklearn
import yaml

import mlptrain
from mlptrain.data.splits import Split
from mlptrain.reporting.worst_rows import WORST_ROWS, worst_rows
from mlptrain.store.layout import REPORT_HTML, REPORT_JSON, REPORT_MD


class _Fixed:
    """A model whose probabilities are given."""

    def __init__(self, proba: np.ndarray):
        self.proba = proba

    def predict_proba(self, X):
        return self.proba[X[:, 0].astype(int)]

    def predict(self, X):
        return self.predict_proba(X).argmax(axis=1)


def test_worst_rows_are_the_wrong_ones_by_the_probability_of_the_wrong_answer() -> None:
    rng = np.random.default_rng(0)
    n = 40
    proba = rng.dirichlet([1, 1, 1], n)
    y = rng.integers(0, 3, n)
    split = Split(np.arange(n, dtype=float).reshape(-1, 1), y, rows=np.arange(n) + 100,
                  ids={"key": np.array([f"k{i}" for i in range(n)])})  # fmt: skip
    got = worst_rows(_Fixed(proba), split, ["a", "b", "c"])
    predicted = proba.argmax(axis=1)
    wrong = [i for i in range(n) if predicted[i] != y[i]]
    expected = sorted(wrong, key=lambda i: -proba[i, predicted[i]])[:WORST_ROWS]
    assert [r["row"] for r in got] == [i + 100 for i in expected]
    assert [r["ids"] for r in got] == [{"key": f"k{i}"} for i in expected]
    first = expected[0]
    assert got[0]["true"] == "abc"[y[first]] and got[0]["predicted"] == "abc"[predicted[first]]
    assert got[0]["probability"] == proba[first].max()


def test_worst_rows_of_a_regression_are_the_largest_errors() -> None:
    class Values:
        def predict(self, X):
            return X[:, :1] * 2.0

    X = np.array([[1.0], [2.0], [3.0], [4.0]])
    y = np.array([[2.0], [5.0], [6.0], [1.0]])  # errors 0, 1, 0, 7
    got = worst_rows(Values(), Split(X, y), None)
    assert [(r["row"], r["error"]) for r in got[:2]] == [(3, 7.0), (1, 1.0)]
    assert got[0]["true"] == 1.0 and got[0]["predicted"] == 8.0 and got[0]["ids"] == {}


def test_a_fit_reports_its_environment_config_and_worst_rows(tmp_path: Path, no_figures) -> None:
    run = mlptrain.fit("configs/customers_csv.yaml", overrides=["train.epochs=2"],
                       out=tmp_path / "run")  # fmt: skip
    report = json.loads((run.dir / REPORT_JSON).read_text())
    env = report["environment"]
    assert env["numpy"] == np.__version__ and env["scikit-learn"] == sklearn.__version__
    assert env["python"] == platform.python_version() and env["mlptrain"] == mlptrain.__version__
    stored = yaml.safe_load((run.dir / "config.yaml").read_text())
    assert report["config"]["train"]["epochs"] == stored["train"]["epochs"] == 2
    assert report["config"]["data"] == stored["data"]
    worst = report["worst"]
    assert 0 < len(worst) <= WORST_ROWS and set(worst[0]["ids"]) == {"customer_id"}
    probabilities = [r["probability"] for r in worst]
    assert probabilities == sorted(probabilities, reverse=True)
    assert all(r["true"] != r["predicted"] for r in worst)
    html = (run.dir / REPORT_HTML).read_text()
    assert '<section id="run">' in html and "What the run was" in html
    assert worst[0]["ids"]["customer_id"] in html
    assert report["data"]["fingerprint"]["features"] in html
    md = (run.dir / REPORT_MD).read_text()
    assert "## Environment" in md and f"| numpy | {np.__version__} |" in md
    assert "### The test rows predicted most confidently wrong" in md
