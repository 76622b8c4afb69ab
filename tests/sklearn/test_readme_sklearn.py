"""The README's "Use it from scikit-learn" example runs as written."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

import mlptrain
from mlptrain.sklearn import MLPClassifier, load

README = Path(__file__).resolve().parents[2] / "README.md"


def example() -> str:
    section = README.read_text().split("## Use it from scikit-learn", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 1
    return blocks[0]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_readme_sklearn_example_runs_as_written(tmp_path, capsys):
    here = os.getcwd()
    os.chdir(tmp_path)
    try:
        namespace: dict = {}
        exec(compile(example(), "README.md", "exec"), namespace)  # noqa: S102 (our own README)
    finally:
        os.chdir(here)
    printed = capsys.readouterr().out
    accuracy = float(printed.rsplit("test accuracy ", 1)[1])
    assert accuracy > 0.75
    search = namespace["search"]
    exact = search.score(namespace["X_test"], namespace["y_test"])
    assert accuracy == pytest.approx(exact, abs=5e-4)  # printed with 3 decimals
    mlp = load(tmp_path / "churn.safetensors")
    assert isinstance(mlp, MLPClassifier)
    features = search.best_estimator_.named_steps["columns"].transform(namespace["X_test"])
    np.testing.assert_array_equal(mlp.predict(features), search.predict(namespace["X_test"]))
    evaluated = mlptrain.evaluate(tmp_path / "runs" / "churn")["metrics"]["accuracy"]
    assert evaluated == pytest.approx(exact)
