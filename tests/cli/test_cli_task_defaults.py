"""Issue 21 cases 4, 9 and 11: what the data's task decides, decided once, before training.

4. An output layer whose ``units`` the data cannot fill is refused by ``validate`` and ``fit``
   before any epoch, with the line, the value and what it must be (it used to train every epoch
   and then crash while writing the report).
9. ``fit(Config | dict, overrides=..., gradcheck=True)`` checks the model that is trained.
11. A loss left out of a file's config follows the task the data has (it used to default to
    cross_entropy and refuse a regression table at a line the user never wrote).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import mlptrain
from mlptrain.training.trainer import Callbacks
from tests.conftest import assert_no_traceback


@pytest.fixture
def regression_csv(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 3))
    frame = pd.DataFrame(x, columns=["a", "b", "c"])
    frame["price"] = 3 * x[:, 0] - x[:, 1] + 0.1 * rng.normal(size=120)
    path = tmp_path / "houses.csv"
    frame.to_csv(path, index=False)
    return path


def test_a_regression_table_with_no_loss_trains_with_mse(
    cli, write_config, regression_csv: Path, tmp_path: Path, no_figures
) -> None:
    config = write_config(
        f"data: {{dataset: csv, path: {regression_csv}, target: price}}\n"
        "model: {layers: [{type: linear, units: 8}, relu, linear]}\n"
        "train: {epochs: 3, early_stopping: {monitor: auto, patience: 2}}\n"
    )
    assert cli("validate", config).exit_code == 0
    result = cli("fit", config, "--out", tmp_path / "run")
    assert result.exit_code == 0, result.output
    resolved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert resolved["model"]["loss"] == "mse"
    assert resolved["train"]["early_stopping"]["monitor"] == "val_r2"
    # the resolved config reproduces the run
    again = cli("fit", tmp_path / "run" / "config.yaml", "--out", tmp_path / "again")
    assert again.exit_code == 0, again.output
    first, second = mlptrain.load(tmp_path / "run"), mlptrain.load(tmp_path / "again")
    for (name, a, _), (_, b, _) in zip(
        first.model.parameters(), second.model.parameters(), strict=True
    ):
        assert np.array_equal(a, b), name


@pytest.mark.parametrize(
    ("dataset", "units", "loss", "expected"),
    [
        ("iris", 5, "", "5 is not allowed: the data has 3 classes (cross_entropy); must be 3"),
        ("diabetes", 3, "", "3 is not allowed: the data has 1 target column (mse); must be 1"),
        ("breast_cancer", 2, "\n  loss: bce", "2 is not allowed: bce reads one logit per row"),
    ],
)
def test_output_units_are_refused_before_training(
    cli, write_config, tmp_path: Path, dataset: str, units: int, loss: str, expected: str
) -> None:
    config = write_config(
        f"data: {{dataset: {dataset}}}\n"
        "model:\n"
        "  layers:\n"
        "    - {type: linear, units: 8}\n"
        "    - relu\n"
        f"    - {{type: linear, units: {units}}}{loss}\n"
        "train: {epochs: 2}\n"
    )
    for command in (("validate", config), ("fit", config, "--out", tmp_path / "run")):
        result = cli(*command)
        assert result.exit_code == 2, result.output
        assert_no_traceback(result)
        assert f"config.yaml:6: model.layers[2].units: {expected}" in result.stderr
    assert not (tmp_path / "run" / "metrics.jsonl").exists()  # no epoch was trained


def test_gradcheck_checks_the_model_with_the_overrides(tmp_path: Path) -> None:
    raw = {
        "data": {"dataset": "iris"},
        "model": {"layers": [{"type": "linear", "units": 4}, "tanh", "linear"]},
        "train": {"epochs": 1},
    }
    overrides = ["model.layers=[{type: linear, units: 7}, tanh, linear]"]
    for config in (raw, mlptrain.config.parse_config_dict(raw, source="config")):
        checked = []
        run = mlptrain.fit(
            config,
            overrides=overrides,
            gradcheck=True,
            callbacks=Callbacks(on_gradcheck=checked.append),
            out=tmp_path / "run",
            overwrite=True,
            figures=False,
            html=False,
        )
        names = [name for name, _ in checked[0].rows]
        assert "0 Linear(4 -> 7): W" in names, names
        assert mlptrain.load(run.dir).model.modules[0].params["W"].shape == (4, 7)
