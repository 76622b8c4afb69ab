"""`mlptrain serve`'s protocol through Starlette's TestClient: the same answers as predict.

Predictions are compared with `mlptrain predict`'s output on a file of the same rows (its
cells are written with ``repr``, which reads back to the same float, so equal floats are
equal bits); refusals with the one-line message predict gives for that file.
"""

from __future__ import annotations

import csv
import io
import json
import math

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")

from starlette.testclient import TestClient  # noqa: E402

from mlptrain.errors import DataError  # noqa: E402
from mlptrain.serving.http.app import create_app  # noqa: E402
from mlptrain.serving.http.service import Limits, Service  # noqa: E402
from mlptrain.serving.predict import predict_table  # noqa: E402
from tests.serving.conftest import customer_rows, write_csv  # noqa: E402

CSV = {"content-type": "text/csv"}


def client(run, **limits) -> TestClient:
    return TestClient(create_app(Service.load(run.dir, Limits(**limits))))


def csv_text(header, rows) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([header, *rows])
    return buffer.getvalue()


def typed(cell: str):
    """A CSV cell as a JSON client would send it: numbers as numbers, a gap as null."""
    if cell == "":
        return None
    try:
        return int(cell)
    except ValueError:
        pass
    try:
        return float(cell)
    except ValueError:
        return cell


def assert_same_as_predict(answer: dict, header: list[str], rows: list[list[str]]) -> None:
    """The served answer holds exactly what predict wrote: labels, and each probability as the
    same float."""
    column = {name: [row[j] for row in rows] for j, name in enumerate(header)}
    assert [str(p) for p in answer["predictions"]] == column["prediction"]
    if any(name.startswith("proba_") for name in header):
        assert len(answer["classes"]) == sum(name.startswith("proba_") for name in header)
        for j, label in enumerate(answer["classes"]):
            served = [p[j] for p in answer["probabilities"]]
            assert served == [float(cell) for cell in column[f"proba_{label}"]]


@pytest.fixture(scope="module")
def customers(customers_run, tmp_path_factory):
    """(client, header, rows, predict's header, predict's rows) for 40 customers."""
    header, rows = customer_rows(40)
    path = write_csv(tmp_path_factory.mktemp("in") / "rows.csv", header, rows)
    expected = predict_table(customers_run.dir, path, proba=True)
    return client(customers_run), header, rows, expected


def test_csv_body_matches_predict(customers):
    served, header, rows, (out_header, out_rows) = customers
    answer = served.post("/invocations?proba=true", content=csv_text(header, rows), headers=CSV)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert_same_as_predict(body, out_header, out_rows)
    assert body["columns"]["customer_id"] == [row[0] for row in rows]
    assert body["unseen"] == {"region": 1}
    assert len(body["probabilities"]) == 40
    assert all(math.isclose(sum(p), 1.0, rel_tol=1e-5) for p in body["probabilities"])


def _records(header, rows):
    return [dict(zip(header, map(typed, row), strict=True)) for row in rows]


@pytest.mark.parametrize(
    "make",
    [
        lambda h, r: {"dataframe_split": {"columns": h, "data": [list(map(typed, x)) for x in r]}},
        lambda h, r: {"dataframe_records": _records(h, r)},
        lambda h, r: {"instances": _records(h, r)},
        lambda h, r: {"inputs": {n: [typed(x[j]) for x in r] for j, n in enumerate(h)}},
    ],
    ids=["dataframe_split", "dataframe_records", "instances", "inputs"],
)
def test_json_formats_match_predict(customers, make):
    served, header, rows, (out_header, out_rows) = customers
    answer = served.post("/invocations?proba=true", json=make(header, rows))
    assert answer.status_code == 200, answer.text
    assert_same_as_predict(answer.json(), out_header, out_rows)
    assert answer.json()["columns"]["customer_id"] == [row[0] for row in rows]


def test_rows_as_lists_take_the_model_columns_in_order(customers):
    served, header, rows, (out_header, out_rows) = customers
    names = [n for n in header if n != "customer_id"]
    lists = [[typed(row[header.index(n)]) for n in names] for row in rows]
    answer = served.post("/invocations?proba=true", json={"instances": lists})
    assert answer.status_code == 200, answer.text
    assert_same_as_predict(answer.json(), out_header, out_rows)


@pytest.fixture(scope="module")
def digits(digits_run, tmp_path_factory):
    from sklearn.datasets import load_digits

    names = Service.load(digits_run.dir, Limits()).input_names
    X = load_digits().data[:25]
    rows = [[repr(float(v)) for v in x] for x in X]
    path = write_csv(tmp_path_factory.mktemp("in") / "digits.csv", names, rows)
    return client(digits_run), names, X, predict_table(digits_run.dir, path, proba=True)


def test_non_table_columns_by_name_in_any_order(digits):
    served, names, X, (out_header, out_rows) = digits
    order = list(reversed(range(len(names))))
    split = {"columns": [names[j] for j in order], "data": X[:, order].tolist()}
    answer = served.post("/invocations?proba=true", json={"dataframe_split": split})
    assert answer.status_code == 200, answer.text
    assert_same_as_predict(answer.json(), out_header, out_rows)
    plain = served.post("/invocations?proba=true", json={"instances": X.tolist()})
    assert plain.json() == answer.json()


def predict_error(run, tmp_path, text: str) -> str:
    """The message predict gives for a file of ``text``, its path said as 'request'."""
    path = tmp_path / "input.csv"
    path.write_text(text)
    with pytest.raises(DataError) as caught:
        predict_table(run.dir, path)
    return str(caught.value).replace(str(path), "request")


def assert_refused(answer, status: int, message: str | None = None) -> None:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["error_code"] and "\n" not in body["message"]
    assert "Traceback" not in answer.text
    if message is not None:
        assert body["message"] == message


def test_missing_column_message_is_predicts(customers, customers_run, tmp_path):
    served, header, rows, _ = customers
    keep = [j for j, n in enumerate(header) if n != "region"]
    text = csv_text([header[j] for j in keep], [[row[j] for j in keep] for row in rows])
    expected = predict_error(customers_run, tmp_path, text)
    assert "missing column(s) 'region'" in expected
    assert_refused(served.post("/invocations", content=text, headers=CSV), 400, expected)
    records = _records([header[j] for j in keep], [[row[j] for j in keep] for row in rows])
    assert_refused(served.post("/invocations", json={"dataframe_records": records}), 400, expected)


def test_text_in_a_numeric_column_message_is_predicts(customers, customers_run, tmp_path):
    served, header, rows, _ = customers
    bad = [list(row) for row in rows[:3]]
    bad[1][header.index("age")] = "old"
    expected = predict_error(customers_run, tmp_path, csv_text(header, bad))
    assert "'age' holds text such as 'old'" in expected
    answer = served.post("/invocations", json={"dataframe_records": _records(header, bad)})
    assert_refused(answer, 400, expected)


@pytest.mark.parametrize("cell", [None, float("nan"), "abc"], ids=["null", "NaN", "text"])
def test_bad_feature_in_a_non_table_model_message_is_predicts(digits, digits_run, tmp_path, cell):
    served, names, X, _ = digits
    rows = X[:2].tolist()
    rows[1][3] = cell
    body = json.dumps({"dataframe_split": {"columns": names, "data": rows}})  # NaN as JSON allows
    answer = served.post("/invocations", content=body, headers={"content-type": "application/json"})
    cells = [["" if v is None else str(v) for v in row] for row in rows]
    assert_refused(answer, 400, predict_error(digits_run, tmp_path, csv_text(names, cells)))


def test_empty_batch_message_is_predicts(digits, digits_run, tmp_path):
    served, names, _, _ = digits
    expected = predict_error(digits_run, tmp_path, csv_text(names, []))
    assert "0 samples" in expected
    answer = served.post("/invocations", json={"dataframe_split": {"columns": names, "data": []}})
    assert_refused(answer, 400, expected)
    assert_refused(served.post("/invocations", json={"instances": []}), 400, expected)


@pytest.mark.parametrize(
    ("body", "content_type", "status", "words"),
    [
        (b'{"instances": [[1, 2]', "application/json", 400, "malformed JSON"),
        (b"[1, 2]", "application/json", 400, "exactly one of dataframe_split"),
        (b'{"instances": [[1]], "inputs": [[1]]}', "application/json", 400, "exactly one of"),
        (
            b'{"instances": [[1, 2]]}',
            "application/json",
            400,
            "has 2 values, but the model reads 64",
        ),
        (b'{"dataframe_records": [{"a": [1]}]}', "application/json", 400, "holds a list"),
        (b"\xff\xfe", "text/csv", 400, "not valid UTF-8"),
        (b"a,b\n1,2\n", "text/plain", 415, "'text/plain' is not supported"),
        (b"a,b\n1,2\n", "", 415, "'(none)' is not supported"),
    ],
)
def test_malformed_requests_are_4xx(digits, body, content_type, status, words):
    served = digits[0]
    answer = served.post("/invocations", content=body, headers={"content-type": content_type})
    assert_refused(answer, status)
    assert words in answer.json()["message"]


def test_limits_on_rows_and_bytes(digits_run):
    served = client(digits_run, max_rows=3, max_bytes=5000)
    rows = np.zeros((4, 64)).tolist()
    assert_refused(served.post("/invocations", json={"instances": rows}), 413)
    assert (
        "holds 4 rows; this server takes at most 3"
        in served.post("/invocations", json={"instances": rows}).json()["message"]
    )
    assert served.post("/invocations", json={"instances": rows[:3]}).status_code == 200
    huge = ("x0\n" + "1\n" * 3000).encode()
    answer = served.post("/invocations", content=huge, headers=CSV)
    assert_refused(answer, 413)
    assert "larger than this server's limit of 5000 bytes" in answer.json()["message"]


def test_query_flags_are_checked(digits, diabetes_run):
    served = digits[0]
    assert_refused(served.post("/invocations?proba=maybe", json={"instances": []}), 400)
    answer = client(diabetes_run).post("/invocations?proba=true", json={"instances": [[0.0] * 10]})
    assert_refused(answer, 400, "proba=true needs a classifier; this model does regression")


def test_regression_predictions_match_predict(diabetes_run, tmp_path):
    from sklearn.datasets import load_diabetes

    served = client(diabetes_run)
    names = Service.load(diabetes_run.dir, Limits()).input_names
    X = load_diabetes().data[:10]
    path = write_csv(tmp_path / "d.csv", names, [[repr(float(v)) for v in x] for x in X])
    header, rows = predict_table(diabetes_run.dir, path)
    answer = served.post("/invocations", json={"inputs": X.tolist()})
    assert answer.json()["predictions"] == [float(row[header.index("prediction")]) for row in rows]


def test_probes_and_unknown_routes(digits):
    from mlptrain import __version__

    served = digits[0]
    assert served.get("/ping").status_code == 200
    assert served.get("/health").status_code == 200
    assert served.get("/version").text == __version__
    assert_refused(served.get("/nowhere"), 404)
    assert_refused(served.get("/invocations"), 405)


def test_metadata_describes_the_model(customers_run):
    from mlptrain.data.encoding import TableEncoder
    from mlptrain.store.checkpoint import inspect_checkpoint, load_checkpoint

    meta = client(customers_run).get("/metadata").json()
    ckpt = load_checkpoint(meta["checkpoint"]["path"])
    encoder = TableEncoder.from_state(ckpt.meta["table"], "test")
    assert [c["name"] for c in meta["inputs"]] == encoder.features
    region = next(c for c in meta["inputs"] if c["name"] == "region")
    expected = next(c["categories"] for c in encoder.categorical if c["name"] == "region")
    assert region == {"name": "region", "type": "category", "categories": expected}
    assert next(c for c in meta["inputs"] if c["name"] == "age")["type"] == "number"
    assert meta["task"] == "classification" and meta["classes"] == ["no", "yes"]
    assert meta["ids"] == ["customer_id"]
    assert meta["fingerprint"] == ckpt.meta["data_fingerprint"]
    assert meta["checkpoint"]["sha256"] == inspect_checkpoint(ckpt.path)["sha256"]
    assert meta["metrics"] == ckpt.meta["metrics"]


def test_keep_columns_are_echoed(customers):
    served, header, rows, _ = customers
    answer = served.post(
        "/invocations?keep=region&keep=age", content=csv_text(header, rows), headers=CSV
    )
    assert answer.status_code == 200, answer.text
    columns = answer.json()["columns"]
    assert list(columns) == ["customer_id", "region", "age"]
    assert columns["region"] == [row[header.index("region")] for row in rows]
    assert columns["age"] == [row[header.index("age")] for row in rows]
    missing = served.post("/invocations?keep=nope", content=csv_text(header, rows), headers=CSV)
    assert_refused(missing, 400)
    assert "keep: no column named 'nope'" in missing.json()["message"]


def test_an_unexpected_failure_is_one_line_500(digits_run, monkeypatch):
    service = Service.load(digits_run.dir, Limits())

    def broken(*args, **kwargs):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(service, "predict", broken)
    served = TestClient(create_app(service), raise_server_exceptions=False)
    answer = served.post("/invocations", json={"instances": [[0.0] * 64]})
    assert_refused(answer, 500, "internal error (RuntimeError); the server log has details")
    assert "boom" not in answer.text


def test_json_bodies_become_cells_by_column():
    """Each format's rows as cells by column, untouched (typed later as a file's text would be:
    tests/data/test_cells.py); a key a record lacks is a gap."""
    from mlptrain.serving.http.protocol import json_rows

    cells = [["a", 1, 0.1, None, True], ["x,y", -7, float("nan"), "", 10**20]]
    names = list("pqrst")
    bodies = {
        "dataframe_split": {"columns": names, "data": cells},
        "instances": cells,
        "inputs": {n: [row[j] for row in cells] for j, n in enumerate(names)},
        "dataframe_records": [dict(zip(names, row, strict=True)) for row in cells],
    }
    for key, value in bodies.items():
        rows = json_rows(json.dumps({key: value}).encode(), names=names)
        assert rows.text is None and rows.n_rows == 2 and list(rows.names) == names
        got = [list(column) for column in rows.columns]
        assert repr(got) == repr([[row[j] for row in cells] for j in range(5)])
    records = json_rows(b'{"dataframe_records": [{"p": 1}, {"q": 2}]}', names=[])
    assert list(records.names) == ["p", "q"] and records.columns == [[1, None], [None, 2]]
    empty = json_rows(b'{"instances": []}', names=["p", "q"])
    assert empty.n_rows == 0 and list(empty.names) == ["p", "q"]


def test_an_integer_beyond_pythons_digit_limit_is_malformed_json(digits):
    """json.loads refuses it with a ValueError that is not a JSONDecodeError: a 400, not a 500."""
    served = digits[0]
    body = b'{"instances": [[' + b"1" * 5000 + b"]]}"
    answer = served.post("/invocations", content=body, headers={"content-type": "application/json"})
    assert_refused(answer, 400)
    assert answer.json()["message"].startswith("malformed JSON: ")
