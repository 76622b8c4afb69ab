"""Issue 22: one command from a raw table, the tabular preset, and the columns left out.

``mlptrain fit TABLE --target COL`` trains the tabular preset on the file; ``init --data TABLE
--target COL`` writes the same preset as a commented config; ``preset: tabular`` in a config is
laid under the config's own keys. Likely ids (numeric ones too) and constant columns are left
out with a note, and the column table is printed before the first epoch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import mlptrain
from mlptrain.config import config_to_dict, parse_config_dict
from mlptrain.config.presets import table_config
from tests.conftest import assert_no_traceback


@pytest.fixture
def houses(tmp_path: Path) -> Path:
    """A regression table sorted by its target, with a row number, a constant and a text column."""
    rng = np.random.default_rng(0)
    n = 240
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.normal(size=n),
            "city": rng.choice(["north", "south", "east"], n),
            "const": 7,
        }
    )
    frame["price"] = 2 * frame["a"] - frame["b"] + (frame["city"] == "north") + rng.normal(size=n)
    frame = frame.sort_values("price").reset_index(drop=True)
    frame.insert(0, "rownames", np.arange(1, n + 1))  # on a sorted table: the target in disguise
    path = tmp_path / "houses.csv"
    frame.to_csv(path, index=False)
    return path


def _weights(run_dir: Path) -> list[np.ndarray]:
    return [value for _, value, _ in mlptrain.load(run_dir).model.parameters()]


def test_fit_a_table_with_the_tabular_preset(cli, houses: Path, tmp_path: Path, no_figures) -> None:
    result = cli(
        "fit", houses, "--target", "price", "--out", tmp_path / "run", "--set", "train.epochs=4"
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    # the column table comes first (before the first epoch), then the notes
    assert lines[0].split() == ["column", "type", "missing", "levels"]
    end = next(i for i, line in enumerate(lines) if line.startswith("note: "))
    table = {line.split()[0]: line.split()[1:] for line in lines[1:end]}
    assert table["rownames"][:2] == ["id", "(likely)"]
    assert table["const"][:2] == ["ignore", "(constant)"]
    assert table["city"][0] == "categorical"
    notes = [line for line in lines if line.startswith("note: ")]
    assert any("'rownames' looks like an id" in n and "'rownames: numeric'" in n for n in notes)
    assert any("'const' has the same value in every row" in n for n in notes)

    resolved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert "preset" not in resolved
    assert resolved["name"] == "houses"
    assert resolved["data"]["target"] == "price"
    assert resolved["model"]["loss"] == "mse"
    assert resolved["model"]["layers"] == [
        {"type": "ensemble", "k": 8},
        {"type": "linear", "units": 256},
        {"type": "relu"},
        {"type": "linear", "units": 256},
        {"type": "relu"},
        {"type": "ensemble_linear", "units": 1},
        {"type": "ensemble_mean"},
    ]
    assert resolved["train"]["batch_size"] == 200
    assert resolved["train"]["epochs"] == 4
    assert resolved["train"]["early_stopping"] == {
        "monitor": "val_r2",
        "patience": 10,
        "min_delta": 0.0,
    }
    assert resolved["data"]["val_size"] == 0.1
    # only a, b and the three cities reach the model
    predictor = mlptrain.load(tmp_path / "run")
    assert predictor.meta.n_features == 5

    again = cli("fit", tmp_path / "run" / "config.yaml", "--out", tmp_path / "again")
    assert again.exit_code == 0, again.output
    for a, b in zip(_weights(tmp_path / "run"), _weights(tmp_path / "again"), strict=True):
        assert np.array_equal(a, b)


def test_the_row_number_does_not_leak_the_target(houses: Path, tmp_path: Path) -> None:
    """With the row number kept in (listed numeric), the sorted table's target leaks through it:
    the model must not get that good without it."""
    base = table_config(houses, target="price")
    base["train"] = {"epochs": 60}
    left_out = mlptrain.fit(base, out=tmp_path / "out", figures=False, html=False)
    kept = mlptrain.fit(
        {**base, "data": {**base["data"], "columns": {"rownames": "numeric"}}},
        out=tmp_path / "kept",
        figures=False,
        html=False,
    )
    r2_out = left_out.report["metrics"]["test"]["r2"]
    r2_kept = kept.report["metrics"]["test"]["r2"]
    # price = 2a - b + [north] + noise(1): about 0.85 of its variance is learnable
    assert r2_out < 0.9, r2_out
    assert r2_kept > r2_out + 0.03, (r2_kept, r2_out)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("fit", "{houses}"), "houses.csv: a table needs --target COL, the column to predict"),
        (
            ("fit", "{yaml}", "--target", "price"),
            "--target goes with a table as CONFIG (.csv, .tsv, .csv.gz, .parquet)",
        ),
        (
            ("fit", "{houses}", "--target", "prize"),
            "target column 'prize' not found; the columns are",
        ),
        (
            ("init", "{out}", "--data", "{houses}"),
            "houses.csv: a table needs --target COL",
        ),
        (("init", "{out}"), "give --dataset NAME, or --data TABLE with --target COL"),
    ],
)
def test_one_command_errors(
    cli, houses: Path, write_config, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    config = write_config("data: {dataset: iris}\nmodel: {layers: [linear]}\n")
    paths = {"houses": houses, "yaml": config, "out": tmp_path / "new.yaml"}
    result = cli(*(arg.format(**paths) for arg in args))
    assert result.exit_code == 2, result.output
    assert_no_traceback(result)
    assert message in result.stderr


def test_an_unknown_preset_names_its_line(cli, write_config) -> None:
    config = write_config("preset: tabluar\ndata: {dataset: iris}\n")
    result = cli("validate", config)
    assert result.exit_code == 2
    assert_no_traceback(result)
    assert "preset: unknown preset 'tabluar'; did you mean 'tabular'? allowed: tabular" in (
        result.stderr
    )


def test_a_config_overrides_the_preset_key_by_key() -> None:
    raw = {
        "preset": "tabular",
        "data": {"dataset": "iris", "val_size": 0.2},
        "model": {"layers": [{"type": "linear", "units": 8}, "tanh", "linear"]},
        "train": {"optimizer": {"lr": 0.01}},
    }
    cfg = parse_config_dict(raw, source="config", overrides=["train.epochs=7"])
    assert cfg.data.val_size == 0.2 and cfg.data.test_size == 0.2  # merged, not replaced
    assert [getattr(layer, "units", None) for layer in cfg.model.layers] == [8, None, None]
    assert (cfg.train.optimizer.type, cfg.train.optimizer.lr) == ("adam", 0.01)
    assert (cfg.train.epochs, cfg.train.batch_size) == (7, 200)
    assert cfg.train.early_stopping.monitor == "auto"


def test_init_writes_the_preset_the_one_command_trains(cli, houses: Path, tmp_path: Path) -> None:
    path = tmp_path / "houses.yaml"
    result = cli("init", path, "--data", houses, "--target", "price")
    assert result.exit_code == 0, result.output
    text = path.read_text()
    assert "# auto: validation accuracy (classes) or R²" in text  # the preset's comments
    written = mlptrain.config.load_config(path)
    one_command = parse_config_dict(table_config(houses, target="price"), source="cli")
    mine = config_to_dict(written.for_task("regression"))
    theirs = config_to_dict(one_command.for_task("regression"))
    assert mine["data"].pop("task") == "regression"  # init read the file and wrote its task
    theirs["data"].pop("task")
    mine.pop("name"), theirs.pop("name")
    assert mine == theirs
