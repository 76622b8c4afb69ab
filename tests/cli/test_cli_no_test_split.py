"""Issue 22: ``data.test_size: 0`` for a user who holds a test file of their own: every row
trains (or validates), nothing is set aside unused, and evaluate scores the user's file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlptrain.data.assigned import group_split
from mlptrain.data.splits import split_indices
from tests.conftest import assert_no_traceback


def test_split_indices_without_a_test_part() -> None:
    y = np.repeat(["a", "b", "c"], 20)
    train, val, test = split_indices(y, task="classification", test_size=0, val_size=0.1, seed=0)
    assert len(test) == 0
    assert sorted([*train, *val]) == list(range(60))
    assert len(val) == 6 and sorted(set(y[val])) == ["a", "b", "c"]  # stratified
    train, val, test = split_indices(y, task="regression", test_size=0, val_size=0, seed=0)
    assert list(train) == list(range(60)) and len(val) == len(test) == 0


def test_group_split_without_a_test_part() -> None:
    groups = np.repeat(np.arange(10), 3)
    train, val, test = group_split(groups, test_size=0, val_size=0.2, seed=0, where="t")
    assert test is None and val is not None
    assert sorted([*train, *val]) == list(range(30))
    assert not set(groups[train]) & set(groups[val])


@pytest.fixture
def table(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=100), "b": rng.choice(["u", "v"], 100)})
    frame["y"] = np.where(frame["a"] + (frame["b"] == "u") > 0.5, "yes", "no")
    path = tmp_path / "train.csv"
    frame.to_csv(path, index=False)
    return path


def test_fit_with_test_size_zero_trains_on_every_row(cli, table: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    result = cli(
        "fit", table, "--target", "y", "--out", run, "--no-figures",
        "--set", "data.test_size=0", "--set", "train.epochs=3",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "no test split (data.test_size is 0): score a file with evaluate RUN --data" in (
        result.stdout
    )
    assert "validation metrics:" in result.stdout
    report = json.loads((run / "report.json").read_text())
    assert (report["data"]["n_train"], report["data"]["n_val"], report["data"]["n_test"]) == (
        90,
        10,
        0,
    )
    assert set(report["metrics"]) == {"train", "val"}

    refused = cli("evaluate", run, "--split", "test")
    assert refused.exit_code == 2
    assert_no_traceback(refused)
    assert (
        "--split test: this run has no test split (data.test_size is 0); allowed: train, val"
        in refused.stderr
    )
    scored = cli("evaluate", run, "--data", table, "--format", "json")
    assert scored.exit_code == 0, scored.output
    assert json.loads(scored.stdout)["n_samples"] == 100


def test_no_test_and_no_validation_split_prints_the_training_metrics(cli, table, tmp_path) -> None:
    result = cli(
        "fit", table, "--target", "y", "--out", tmp_path / "run", "--no-figures", "--quiet",
        "--set", "data.test_size=0", "--set", "data.val_size=0",
        "--set", "train.early_stopping=null", "--set", "train.epochs=2",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "training metrics:" in result.stdout
    assert "accuracy" in result.stdout
