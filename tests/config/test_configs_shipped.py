"""Every config in configs/ validates and trains: a broken shipped config fails here.

Only two epochs each: the quality bars of the full-length runs are measured outside the suite.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from mlptrain.config import load_config

# Training and its files are under test here, not the PNG figures (see conftest.py).
pytestmark = pytest.mark.usefixtures("no_figures")

SHIPPED = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml"))


def test_configs_are_shipped() -> None:
    names = {path.stem for path in SHIPPED}
    assert {"digits", "iris", "fruit_csv", "diabetes"} <= names


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_config_validates(path: Path) -> None:
    cfg = load_config(path)
    assert cfg.train.epochs >= 2
    assert cfg.model.layers[-1].type == "linear"


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_config_fits_briefly(cli, path: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = cli("fit", path, "--set", "train.epochs=2", "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == f"run directory: {out}"
    report = json.loads((out / "report.json").read_text())
    assert report["status"] == "completed"
    assert report["training"]["epochs_run"] == 2
    headline = "accuracy" if report["task"] == "classification" else "r2"
    assert math.isfinite(report["metrics"]["test"][headline])
