"""A real `mlptrain serve` in a subprocess on a free localhost port: it answers, refuses bad
requests without dying, and on SIGTERM finishes the request in flight and exits 0."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("uvicorn")
pytest.importorskip("starlette")

from mlptrain.serving.predict import predict_table  # noqa: E402
from tests.serving.conftest import customer_rows, write_csv  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Served:
    """`python -m mlptrain serve MODEL` until stopped; waits until /ping answers."""

    def __init__(self, model: Path, *args: str) -> None:
        self.port = free_port()
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mlptrain",
                "serve",
                str(model),
                "--port",
                str(self.port),
                *args,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the server exited: {self.process.communicate()}")
            try:
                urllib.request.urlopen(self.url + "/ping", timeout=1).read()
                return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise AssertionError("the server did not answer /ping within 60 s")

    def post(self, body: bytes, content_type: str = "application/json", query: str = ""):
        request = urllib.request.Request(
            self.url + "/invocations" + query, data=body, headers={"Content-Type": content_type}
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as refused:
            return refused.code, json.loads(refused.read())

    def stop(self) -> tuple[int, str, str]:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            out, err = self.process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, err = self.process.communicate()
        return self.process.returncode, out, err


@pytest.fixture
def served(customers_run):
    server = Served(customers_run.dir)
    yield server
    server.stop()


def test_served_answers_match_predict_and_survive_bad_requests(served, customers_run, tmp_path):
    header, rows = customer_rows(25)
    path = write_csv(tmp_path / "rows.csv", header, rows)
    out_header, out_rows = predict_table(customers_run.dir, path, proba=True)
    status, answer = served.post(path.read_bytes(), "text/csv", "?proba=true")
    assert status == 200
    assert [str(p) for p in answer["predictions"]] == [
        r[out_header.index("prediction")] for r in out_rows
    ]
    for j, label in enumerate(answer["classes"]):
        column = out_header.index(f"proba_{label}")
        assert [p[j] for p in answer["probabilities"]] == [float(r[column]) for r in out_rows]
    for body in (b"{not json", b'{"instances": [{"age": "old"}]}', b"[]"):
        status, refused = served.post(body)
        assert status == 400 and refused["error_code"] == "BAD_REQUEST"
    status, again = served.post(path.read_bytes(), "text/csv", "?proba=true")
    assert status == 200 and again == answer
    with urllib.request.urlopen(served.url + "/metadata", timeout=10) as meta:
        assert json.loads(meta.read())["ids"] == ["customer_id"]


def test_sigterm_finishes_the_request_in_flight_and_exits_0(served, customers_run):
    header, rows = customer_rows(5)
    body = json.dumps({"dataframe_split": {"columns": header, "data": rows}}).encode()
    connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=30)
    connection.putrequest("POST", "/invocations")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str(len(body)))
    connection.endheaders()
    connection.send(body[:10])  # the request is in flight: its body is half sent
    time.sleep(0.5)
    served.process.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    assert served.process.poll() is None  # still draining
    connection.send(body[10:])
    answer = connection.getresponse()
    assert answer.status == 200
    assert len(json.loads(answer.read())["predictions"]) == 5
    code, out, err = served.stop()
    assert code == 0, err
    assert f"http://127.0.0.1:{served.port}" in out
    assert "Traceback" not in err


def test_two_workers_answer_alike_and_stop_on_sigterm(customers_run, tmp_path):
    header, rows = customer_rows(10)
    path = write_csv(tmp_path / "rows.csv", header, rows)
    out_header, out_rows = predict_table(customers_run.dir, path)
    server = Served(customers_run.dir, "--workers", "2")
    try:
        answers = [server.post(path.read_bytes(), "text/csv") for _ in range(6)]
    finally:
        code, _, err = server.stop()
    expected = [r[out_header.index("prediction")] for r in out_rows]
    assert all(status == 200 for status, _ in answers)
    assert all([str(p) for p in answer["predictions"]] == expected for _, answer in answers)
    assert code == 0, err


def test_a_server_process_runs_blas_on_one_thread():
    """``one_blas_thread`` (called by a server before it serves) leaves every BLAS library of
    the process at one thread; run in a child so this test process keeps its own setting."""
    code = (
        "import numpy\n"
        "from threadpoolctl import threadpool_info\n"
        "from mlptrain.serving.http.server import one_blas_thread\n"
        "one_blas_thread()\n"
        "print(sorted({p['num_threads'] for p in threadpool_info() if p['user_api'] == 'blas'}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[1]"


@pytest.mark.parametrize(("cores", "expected"), [(1, 1), (2, 2), (16, 4)])
def test_the_default_is_one_worker_per_core_at_most_four(
    customers_run, monkeypatch: pytest.MonkeyPatch, cores: int, expected: int
) -> None:
    from mlptrain import children
    from mlptrain.serving.http.server import prepare

    monkeypatch.setattr(children, "usable_cores", lambda: cores)
    assert prepare(customers_run.dir).workers == expected
    assert prepare(customers_run.dir, workers=3).workers == 3  # a given number is kept
