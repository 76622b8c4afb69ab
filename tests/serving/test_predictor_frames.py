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


def test_a_few_rows_are_encoded_as_the_same_rows_of_many(predictor) -> None:
    """Up to FEW_ROWS rows take the encoder's Python path (a served request's size); their
    encoded matrix and unseen counts equal those rows of the vectorised path, bit for bit,
    with gaps, rare and unseen categories among them."""
    from mlptrain.data.category_lookup import FEW_ROWS
    from mlptrain.data.cells import table_from_mapping
    from mlptrain.data.frame import DEFAULT_NA_VALUES

    with ROWS.open(newline="") as file:
        rows = list(csv.DictReader(file))[:300]
    # text as read from the file ("" a gap); numbers written as text are numbers
    columns = {name: np.array([row[name] for row in rows], dtype=object) for name in rows[0]}
    columns["region"][[3, 40, 41]] = "R-never-seen"
    columns["contract"][[5, 41]] = ""  # gaps, filled as in training
    encoder = predictor.table
    table = table_from_mapping(
        columns,
        names=list(columns),
        text_columns=[*encoder.text_inputs, *encoder.ids],
        na_values=DEFAULT_NA_VALUES,
        source="t",
    )
    whole, unseen = encoder.transform(table, None, np.float32)
    assert unseen == {"region": 3}
    assert whole.shape[0] == 300 > FEW_ROWS
    for size in (1, 2, 5, FEW_ROWS):
        counted = 0
        for start in range(0, 300, size):
            some = np.arange(start, min(start + size, 300))
            part, part_unseen = encoder.transform(table.take(some), None, np.float32)
            assert part.tobytes() == whole[some].tobytes(), (size, start)
            counted += part_unseen.get("region", 0)
        assert counted == 3
