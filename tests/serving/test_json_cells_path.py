"""A JSON body's cells and a CSV of the same rows take one path to one answer: the same
predictions and probabilities bit for bit, the same echoed columns, unseen counts and notes,
and the same one-line refusals (``predict_cells`` against ``predict_rows``)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import numpy as np
import pytest

from mlptrain.data.cells import cell_text
from mlptrain.data.memory import MemoryFile
from mlptrain.errors import UserInputError
from mlptrain.serving.loading import load
from mlptrain.serving.predict import Predictions, predict_cells, predict_rows
from tests.conftest import _skip_figures
from tests.serving.conftest import customer_rows


def typed(cell: str):
    """A CSV cell as a JSON client sends it: numbers as numbers, a gap as null."""
    if cell == "":
        return None
    for kind in (int, float):
        try:
            return kind(cell)
        except ValueError:
            pass
    return cell


def csv_of(names: list[str], rows: list[list]) -> MemoryFile:
    """The file ``mlptrain predict`` reads for JSON rows: each cell's text, a gap empty."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(names)
    writer.writerows([["" if c is None else cell_text(c) for c in row] for row in rows])
    return MemoryFile("request", buffer.getvalue().encode())


def by_column(names: list[str], rows: list[list]) -> list[list]:
    return [[row[j] for row in rows] for j in range(len(names))]


def both(predictor, names, rows, **options) -> tuple[Predictions, Predictions, list, list]:
    """(the file's predictions, the cells', the file's notes, the cells' notes)."""
    file_notes: list[str] = []
    cell_notes: list[str] = []
    from_file = predict_rows(predictor, csv_of(names, rows), notes=file_notes, **options)
    from_cells = predict_cells(
        predictor, names, by_column(names, rows), source="request", notes=cell_notes, **options
    )
    return from_file, from_cells, file_notes, cell_notes


def assert_identical(a: Predictions, b: Predictions) -> None:
    assert b.predicted.dtype == a.predicted.dtype
    assert b.predicted.tobytes() == a.predicted.tobytes()
    if a.probabilities is None:
        assert b.probabilities is None
    else:
        assert b.probabilities is not None
        assert b.probabilities.dtype == a.probabilities.dtype
        assert b.probabilities.tobytes() == a.probabilities.tobytes()
    assert b.classes == a.classes
    assert list(b.echoed) == list(a.echoed)
    for name in a.echoed:
        assert b.echoed[name].tolist() == a.echoed[name].tolist()
    assert b.unseen == a.unseen


def refusals(predictor, names, rows, **options) -> tuple[str, str]:
    with pytest.raises(UserInputError) as from_file:
        predict_rows(predictor, csv_of(names, rows), **options)
    with pytest.raises(UserInputError) as from_cells:
        predict_cells(predictor, names, by_column(names, rows), source="request", **options)
    return str(from_file.value), str(from_cells.value)


@pytest.fixture(scope="module")
def customers(customers_run):
    header, rows = customer_rows(60)
    return load(customers_run.dir), header, [[typed(c) for c in row] for row in rows]


def test_customers_numbers_gaps_unseen_categories_ids_and_keep(customers):
    predictor, header, rows = customers
    rows[3][header.index("age")] = 41.5  # a float among whole numbers
    rows[4][header.index("contract")] = "Two-year-ish"  # a second unseen category
    a, b, notes_a, notes_b = both(predictor, header, rows, proba=True, keep=["region", "age"])
    assert_identical(a, b)
    assert notes_b == notes_a
    assert b.unseen == {"contract": 1, "region": 1}
    assert list(b.echoed) == ["customer_id", "region", "age"]
    assert any(row[header.index("age")] is None for row in rows)  # gaps imputed alike


def test_customers_columns_in_another_order_with_an_extra_one(customers):
    predictor, header, rows = customers
    names = [*reversed(header), "extra"]
    shuffled = [[*reversed(row), "x"] for row in rows]
    a, b, notes_a, notes_b = both(predictor, names, shuffled, proba=True)
    assert_identical(a, b)
    assert notes_b == notes_a and any("ignored 1 column(s)" in n for n in notes_b)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (
            lambda h, r: (
                [n for n in h if n != "region"],
                [[c for n, c in zip(h, x, strict=True) if n != "region"] for x in r],
            ),
            "missing column(s) 'region'",
        ),  # noqa: E501
        (
            lambda h, r: (
                h,
                [
                    [("old" if n == "age" and i == 1 else c) for n, c in zip(h, x, strict=True)]
                    for i, x in enumerate(r)
                ],
            ),
            "'age' holds text such as 'old'",
        ),  # noqa: E501
        (
            lambda h, r: (
                h,
                [
                    [(True if n == "age" and i == 1 else c) for n, c in zip(h, x, strict=True)]
                    for i, x in enumerate(r)
                ],
            ),
            "'age' holds text such as 'true'",
        ),  # noqa: E501
        (
            lambda h, r: (
                h,
                [
                    [
                        (float("inf") if n == "age" and i == 2 else c)
                        for n, c in zip(h, x, strict=True)
                    ]
                    for i, x in enumerate(r)
                ],
            ),
            "infinite value(s) (first at data row 3)",
        ),  # noqa: E501
        (lambda h, r: (h, []), "0 samples"),
        (
            lambda h, r: ([*h[:2], h[1], *h[2:]], [[*x[:2], x[1], *x[2:]] for x in r]),
            "appears twice",
        ),  # noqa: E501
    ],
    ids=[
        "missing column",
        "mistyped column",
        "bool in a number column",
        "inf",
        "empty batch",
        "duplicate column",
    ],  # noqa: E501
)
def test_customers_refusals_are_word_for_word_predicts(customers, change, words):
    predictor, header, rows = customers
    names, bad = change(header, [list(row) for row in rows[:5]])
    from_file, from_cells = refusals(predictor, names, bad)
    assert words in from_file
    assert from_cells == from_file


@pytest.fixture(scope="module")
def dated(tmp_path_factory):
    """A table with a date column (gaps), whole numbers with gaps, floats, a category (gaps
    refused) and a text id; trained for a few epochs."""
    from mlptrain.api import fit

    rng = np.random.default_rng(1)
    folder = tmp_path_factory.mktemp("dated")
    lines = ["ref,when,count,amount,kind,y"]
    start = dt.date(2018, 1, 1)
    for i in range(200):
        day = start + dt.timedelta(days=int(rng.integers(0, 1500)))
        when = day.isoformat() if i % 23 else ""
        count = str(int(rng.integers(0, 50))) if i % 17 else ""
        kind = ["red", "green", "blue"][i % 3]
        label = "weekend" if day.weekday() >= 5 else "week"
        lines.append(f"R{i:05d},{when},{count},{rng.normal():.4f},{kind},{label}")
    path = folder / "dated.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.MonkeyPatch.context() as mp:
        _skip_figures(mp)
        config = {
            "name": "dated",
            "seed": 0,
            "data": {
                "dataset": "csv",
                "path": str(path),
                "target": "y",
                "missing": {"categorical": "refuse"},
            },
            "model": {"layers": [{"type": "linear", "units": 8}, "relu", {"type": "linear"}]},
            "train": {"epochs": 3, "batch_size": 32},
        }
        run = fit(config, out=folder / "run")
    predictor = load(run.dir)
    assert set(predictor.table.dates) == {"when"} and predictor.table.ids == ["ref"]
    header = ["ref", "when", "count", "amount", "kind"]
    rows = [
        ["R00001", "2024-06-01", 3, 0.25, "red"],
        ["R00002", None, None, -1.5, "blue"],
        ["R00003", "2019-12-31", 49, 1e-9, "purple"],  # unseen category
        [7, "2020-02-29", 10**20, 0.1, "green"],  # an id sent as a number; a huge count
        ["R00005", "2021-03-04", "12", "0.5", "red"],  # numbers sent as text
    ]
    return predictor, header, rows


def test_dated_table_predictions_are_identical(dated):
    predictor, header, rows = dated
    a, b, notes_a, notes_b = both(predictor, header, rows, proba=True, keep=["amount", "when"])
    assert_identical(a, b)
    assert notes_b == notes_a
    assert b.echoed["ref"].tolist()[3] == "7" and b.unseen == {"kind": 1}


@pytest.mark.parametrize(
    ("row", "words"),
    [
        (["R9", "2024-06-01", 3, 0.25, None], "column 'kind' has 1 missing value(s)"),
        (["R9", "soon", 3, 0.25, "red"], "'when' holds 'soon', which is not a date"),
        (["R9", "2024-06-01", 3, float("nan"), None], "data.missing.categorical is 'refuse'"),
    ],
    ids=["null where refused", "not a date", "NaN and a refused gap"],
)
def test_dated_table_refusals_are_word_for_word_predicts(dated, row, words):
    predictor, header, _ = dated
    from_file, from_cells = refusals(predictor, header, [row])
    assert words in from_file
    assert from_cells == from_file


@pytest.mark.parametrize("run", ["digits_run", "diabetes_run"])
def test_models_without_a_table_give_identical_answers(run, request):
    predictor = load(request.getfixturevalue(run).dir)
    names = predictor.input_names
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(7, len(names))).tolist()
    rows[2][0] = 3  # an int among floats
    a, b, notes_a, notes_b = both(predictor, names, rows, proba=predictor.encoder is not None)
    assert_identical(a, b)
    assert notes_b == notes_a
    a, b, _, _ = both(predictor, list(reversed(names)), [list(reversed(r)) for r in rows])
    assert_identical(a, b)
    for cell, words in [(None, "missing or non-finite"), (float("nan"), "missing or non-finite"),
                        ("abc", "not numeric"), (True, "not numeric")]:  # fmt: skip
        bad = [list(r) for r in rows[:3]]
        bad[1][2] = cell
        from_file, from_cells = refusals(predictor, names, bad)
        assert words in from_file and from_cells == from_file
    from_file, from_cells = refusals(predictor, names[1:], [r[1:] for r in rows])
    assert "missing" in from_file and from_cells == from_file
    from_file, from_cells = refusals(predictor, names, [])
    assert "0 samples" in from_file and from_cells == from_file


FORMATS = {
    "dataframe_split": lambda h, r: {"dataframe_split": {"columns": h, "data": r}},
    "dataframe_records": lambda h, r: {
        "dataframe_records": [dict(zip(h, x, strict=True)) for x in r]
    },  # noqa: E501
    "instances": lambda h, r: {"instances": [dict(zip(h, x, strict=True)) for x in r]},
    "inputs": lambda h, r: {"inputs": {n: [x[j] for x in r] for j, n in enumerate(h)}},
}


@pytest.mark.parametrize("name", list(FORMATS))
def test_every_json_format_answers_as_a_csv_body(customers_run, customers, name):
    """Through the HTTP app: the answer to a JSON body equals, float for float, the answer
    to a CSV body of the same rows; and its refusals are the CSV body's."""
    pytest.importorskip("starlette")
    pytest.importorskip("httpx")
    from starlette.testclient import TestClient

    from mlptrain.serving.http.app import create_app
    from mlptrain.serving.http.service import Limits, Service

    _, header, rows = customers
    served = TestClient(
        create_app(Service.load(customers_run.dir, Limits())),
        headers={"content-type": "application/json"},
    )
    make = FORMATS[name]
    url = "/invocations?proba=true&keep=region"
    as_csv = served.post(
        url, content=csv_of(header, rows).data, headers={"content-type": "text/csv"}
    )
    as_json = served.post(url, content=json.dumps(make(header, rows)))
    assert as_csv.status_code == as_json.status_code == 200, as_json.text
    assert as_json.json() == as_csv.json()
    short = [n for n in header if n != "age"]
    cut = [[c for n, c in zip(header, x, strict=True) if n != "age"] for x in rows[:3]]
    refused_csv = served.post(
        "/invocations", content=csv_of(short, cut).data, headers={"content-type": "text/csv"}
    )
    refused_json = served.post("/invocations", content=json.dumps(make(short, cut)))
    assert refused_json.status_code == refused_csv.status_code == 400
    assert refused_json.json() == refused_csv.json()
    empty = served.post("/invocations", content=json.dumps(make(header, [])))
    empty_csv = served.post(
        "/invocations", content=csv_of(header, []).data, headers={"content-type": "text/csv"}
    )
    assert empty.status_code == empty_csv.status_code == 400
    assert empty.json() == empty_csv.json()
