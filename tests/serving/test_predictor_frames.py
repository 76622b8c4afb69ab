"""A table model's Predictor on in-memory columns checks numbers as a file's are checked."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

import mlptrain
from mlptrain.errors import DataError

ROWS = Path(__file__).resolve().parents[2] / "data" / "example_customers.csv"


@pytest.fixture(scope="module")
def predictor(configs_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    run = mlptrain.fit(
        configs_dir / "customers_csv.yaml",
        overrides=["train.epochs=1", f"data.path={ROWS}"],
        out=tmp_path_factory.mktemp("customers") / "run",
        figures=False,
        html=False,
    )
    return mlptrain.load(run.dir)


def _columns(n: int) -> dict[str, np.ndarray]:
    with ROWS.open(newline="") as file:
        rows = list(csv.DictReader(file))[:n]
    columns = {name: np.array([row[name] for row in rows], dtype=object) for name in rows[0]}
    for name in ("age", "monthly_charges"):
        columns[name] = columns[name].astype(np.float64)
    return columns


def test_an_infinite_number_is_refused_as_in_a_file(predictor, tmp_path: Path) -> None:
    columns = _columns(3)
    assert len(predictor.predict(columns)) == 3  # the rows are fine as they are
    columns["age"][1] = np.inf
    with pytest.raises(DataError) as info:
        predictor.predict(columns)
    assert str(info.value) == (
        "Predictor: column 'age' has 1 infinite value(s) (first at data row 2); fix or remove them"
    )
