"""A real ``mlflow server`` on 127.0.0.1 with a SQLite backend, as a team would run it: a run
logged through it is read back through it (params, metric history, tags, artifacts)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlptrain.api import fit

pytest.importorskip("mlflow")
from mlflow.tracking import MlflowClient  # noqa: E402

START_SECONDS = 180  # a loaded 2-core CI machine; unloaded it is up in about ten seconds

TINY = """\
name: served
seed: 1
data:
  dataset: moons
  params: {n_samples: 100, noise: 0.2}
model:
  layers: [{type: linear, units: 6}, relu, {type: linear}]
train: {epochs: 3, batch_size: 20, early_stopping: null}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture
def mlflow_server(tmp_path: Path) -> Iterator[str]:
    """Start ``mlflow server`` (its own process group), wait until /health answers, and always
    stop the whole group, the server's workers included."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "server.log").open("w")
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    env.pop("MLFLOW_TRACKING_URI", None)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            f"sqlite:///{tmp_path / 'server.db'}",
            "--artifacts-destination",
            str(tmp_path / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],  # fmt: skip
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + START_SECONDS
        while not healthy(url):
            if process.poll() is not None:
                pytest.fail(
                    f"mlflow server exited: {(tmp_path / 'server.log').read_text()[-2000:]}"
                )
            if time.monotonic() > deadline:
                pytest.fail(f"mlflow server not up after {START_SECONDS} s")
            time.sleep(0.5)
        yield url
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                break
            try:
                process.wait(timeout=10)
                break
            except subprocess.TimeoutExpired:
                continue
        log.close()


def test_run_logged_through_a_real_mlflow_server(
    mlflow_server: str, tmp_path: Path, write_config, no_figures, monkeypatch
) -> None:
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    # As a team sets it up: the server's address in the environment, `--track mlflow`.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    config = write_config(TINY, "served.yaml")
    warnings: list[str] = []
    run = fit(config, out=tmp_path / "run", track=["mlflow"], on_warning=warnings.append)
    assert warnings == []
    state = json.loads((run.dir / "tracking.json").read_text())["mlflow"]
    assert state["tracking_uri"] == mlflow_server
    client = MlflowClient(mlflow_server)
    got = client.get_run(state["run_id"])
    assert got.info.status == "FINISHED"
    assert got.data.tags["status"] == "completed"
    assert got.data.params["model.layers.0.units"] == "6"
    records = [json.loads(x) for x in (run.dir / "metrics.jsonl").read_text().splitlines()]
    assert sorted(
        (m.step, m.value) for m in client.get_metric_history(got.info.run_id, "val_loss")
    ) == [(r["epoch"], r["val_loss"]) for r in records]
    assert got.data.metrics["final_test_accuracy"] == run.report["metrics"]["test"]["accuracy"]
    names = {a.path for a in client.list_artifacts(got.info.run_id)}
    assert {"config.yaml", "report.json", "checkpoints"} <= names
    copy = client.download_artifacts(got.info.run_id, "report.json", str(tmp_path / "dl"))
    assert json.loads(Path(copy).read_text())["metrics"] == run.report["metrics"]
