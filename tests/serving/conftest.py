"""Fixtures of the serving tests: a short table run (ids, gaps, categories) and rows to send."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tests.conftest import CONFIGS, _short_run

CUSTOMERS = CONFIGS.parent / "data" / "example_customers.csv"


@pytest.fixture(scope="session")
def customers_run(tmp_path_factory: pytest.TempPathFactory):
    """configs/customers_csv.yaml for 2 epochs: a table model with an id column, gaps and
    categories."""
    return _short_run("customers_csv.yaml", 2, tmp_path_factory.mktemp("runs") / "customers")


def customer_rows(n: int, *, unseen_region: bool = True) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of the first ``n`` customers without the target; the first row's region
    is one the model never saw (``unseen_region``)."""
    with CUSTOMERS.open(newline="") as file:
        table = list(csv.reader(file))
    header, rows = table[0][:-1], [row[:-1] for row in table[1 : n + 1]]
    if unseen_region:
        rows[0][header.index("region")] = "R-NEW"
    return header, rows


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as file:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path
