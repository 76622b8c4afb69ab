"""Issue 23: permutation importance per input column, as scikit-learn computes it, with a
table's encoded columns shuffled together as their raw column."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.inspection import permutation_importance as sklearn_importance
from sklearn.metrics import accuracy_score, r2_score

import mlptrain
from mlptrain.reporting.importance import permutation_importance
from mlptrain.store.layout import REPORT_JSON, REPORT_MD


class _Scored:
    """A fixed prediction function as scikit-learn's permutation_importance takes it."""

    def __init__(self, predict, score):
        self.predict, self._score = predict, score

    def fit(self, X, y):
        return self

    def score(self, X, y):
        return self._score(y, self.predict(X))


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_single_columns_agree_with_sklearns_permutation_importance(task) -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((150, 4))
    weights = np.array([2.0, 0.5, 0.0, -1.0])
    if task == "classification":
        y = (X @ weights + 0.3 * rng.standard_normal(150) > 0).astype(int)

        def predict(A):
            return (A @ weights > 0).astype(int)

        score = accuracy_score
    else:
        y = X @ weights + 0.3 * rng.standard_normal(150)

        def predict(A):
            return A @ weights

        score = r2_score
    ours = permutation_importance(predict, X, y, [(f"x{j}", [j]) for j in range(4)], task,
                                  repeats=5, seed=7)  # fmt: skip
    theirs = sklearn_importance(_Scored(predict, score), X, y, n_repeats=5, random_state=7)
    by_name = {row["column"]: row for row in ours}
    for j in range(4):
        assert by_name[f"x{j}"]["mean"] == pytest.approx(theirs.importances_mean[j], abs=1e-12)
        assert by_name[f"x{j}"]["std"] == pytest.approx(theirs.importances_std[j], abs=1e-12)
    assert by_name["x2"]["mean"] == 0.0  # a column the model ignores
    assert [row["column"] for row in ours][0] == "x0"


def test_a_group_is_shuffled_together() -> None:
    """Two columns that only matter together (their sum): shuffling them as one group breaks
    the sum, and the group's importance is what a single shuffle of both gives."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((200, 3))
    y = X[:, 0] + X[:, 1]
    rows = permutation_importance(lambda A: A[:, 0] + A[:, 1], X, y,
                                  [("pair", [0, 1]), ("other", [2])], "regression")  # fmt: skip
    assert [r["column"] for r in rows] == ["pair", "other"]
    assert rows[0]["encoded_columns"] == 2
    assert rows[0]["mean"] > 1.5  # R² falls from 1 to about -1 when both are shuffled
    assert rows[1]["mean"] == 0.0


def _signal_and_noise(path: Path, n: int = 400) -> Path:
    """A table whose label is set by a categorical column; a numeric column is pure noise."""
    rng = np.random.default_rng(2)
    colour = rng.choice(["red", "green", "blue"], n)
    noise = rng.standard_normal(n)
    label = np.where(colour == "red", "yes", "no")
    flip = rng.random(n) < 0.05
    label = np.where(flip, np.where(label == "yes", "no", "yes"), label)
    lines = [
        "colour,noise,label",
        *[f"{c},{x:.4f},{y}" for c, x, y in zip(colour, noise, label, strict=True)],
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_fit_ranks_the_informative_column_above_the_noise(tmp_path: Path, no_figures) -> None:
    _signal_and_noise(tmp_path / "t.csv")
    (tmp_path / "c.yaml").write_text(
        "data: {dataset: csv, path: t.csv, target: label}\n"
        "model: {layers: [{type: linear, units: 16}, relu, linear]}\n"
        "train: {epochs: 30, optimizer: {type: adam, lr: 0.01}}\n"
    )
    run = mlptrain.fit(tmp_path / "c.yaml", out=tmp_path / "run")
    report = json.loads((run.dir / REPORT_JSON).read_text())
    entry = report["importance"]
    assert (entry["split"], entry["metric"], entry["repeats"]) == ("val", "accuracy", 5)
    assert entry["rows"] == report["data"]["n_val"]
    by_name = {row["column"]: row for row in entry["columns"]}
    assert [row["column"] for row in entry["columns"]] == ["colour", "noise"]
    assert by_name["colour"]["encoded_columns"] == 3  # the one-hot levels, shuffled together
    assert by_name["colour"]["mean"] > 0.2
    assert by_name["colour"]["mean"] - by_name["colour"]["std"] > by_name["noise"]["mean"]
    assert abs(by_name["noise"]["mean"]) < 0.05
    assert "### Permutation importance (val split" in (run.dir / REPORT_MD).read_text()


def test_raw_groups_keep_gap_indicators_and_date_parts_with_their_column(tmp_path: Path) -> None:
    rows = ["when,amount,kind,label"]
    rng = np.random.default_rng(3)
    for i in range(120):
        amount = "" if i % 7 == 0 else f"{rng.normal():.3f}"
        rows.append(f"2024-01-{1 + i % 28:02d},{amount},{'ab'[i % 2]},{'xy'[i % 3 == 0]}")
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "c.yaml").write_text(
        "data: {dataset: csv, path: t.csv, target: label, missing: {indicator: true}}\n"
        "model: {layers: [linear]}\ntrain: {epochs: 1, early_stopping: null}\n"
    )
    run = mlptrain.fit(tmp_path / "c.yaml", out=tmp_path / "run", figures=False)
    table = mlptrain.load(run.dir).table
    groups = dict(table.raw_groups())
    assert set(groups) == {"when", "amount", "kind"}
    assert len(groups["when"]) == 5  # year, month, weekday, day of year, days since 1970
    assert len(groups["amount"]) == 2  # the value and its gap indicator
    covered = sorted(j for indices in groups.values() for j in indices)
    assert covered == list(range(table.width))  # every encoded column, once
