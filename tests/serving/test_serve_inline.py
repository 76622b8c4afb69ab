"""A small body is answered on the event loop, a larger one on the app's predicting thread
(mlptrain.serving.http.app, ``INLINE_BYTES``): both ways give predict's answers bit for bit
and the same one-line refusals (docs/serving.md)."""

from __future__ import annotations

import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")

from starlette.testclient import TestClient  # noqa: E402

from mlptrain.serving.http import app as app_module  # noqa: E402
from mlptrain.serving.http.service import Limits, Service  # noqa: E402
from mlptrain.serving.predict import predict_table  # noqa: E402
from tests.serving.conftest import customer_rows, write_csv  # noqa: E402
from tests.serving.test_serve_protocol import assert_same_as_predict, typed  # noqa: E402


@pytest.mark.parametrize("inline_bytes", [0, 10**9], ids=["thread", "event-loop"])
def test_both_paths_answer_as_predict(customers_run, tmp_path, monkeypatch, inline_bytes):
    monkeypatch.setattr(app_module, "INLINE_BYTES", inline_bytes)
    served = TestClient(app_module.create_app(Service.load(customers_run.dir, Limits())))
    header, rows = customer_rows(12)
    out_header, out_rows = predict_table(
        customers_run.dir, write_csv(tmp_path / "rows.csv", header, rows), proba=True
    )
    data = [list(map(typed, row)) for row in rows]
    # the batch, then each row alone: predict's labels and probabilities, float for float
    split = {"dataframe_split": {"columns": header, "data": data}}
    answer = served.post("/invocations?proba=true", json=split)
    assert answer.status_code == 200, answer.text
    assert_same_as_predict(answer.json(), out_header, out_rows)
    # (a row alone against predict on a file of that row: float32 products of a different
    # number of rows may round differently, in predict as in serve)
    for i in range(3):
        one_header, one_rows = predict_table(
            customers_run.dir, write_csv(tmp_path / f"{i}.csv", header, rows[i : i + 1]), proba=True
        )
        one = {"dataframe_split": {"columns": header, "data": data[i : i + 1]}}
        answer = served.post("/invocations?proba=true", json=one)
        assert answer.status_code == 200, answer.text
        assert_same_as_predict(answer.json(), one_header, one_rows)
    # a refusal is the same 400 and one-line message either way
    columns = [name for name in header if name != "age"]
    cells = [[cell for name, cell in zip(header, data[0], strict=True) if name != "age"]]
    refused = served.post(
        "/invocations", json={"dataframe_split": {"columns": columns, "data": cells}}
    )
    assert refused.status_code == 400
    assert refused.json()["error_code"] == "BAD_REQUEST"
    message = refused.json()["message"]
    assert "\n" not in message and "age" in message and "request" in message
