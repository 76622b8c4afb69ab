"""MLflow: one run per mlptrain run, written through ``MlflowClient`` (no global active run).

Every method runs in the tracker's background thread (see :mod:`mlptrain.tracking.dispatch`);
any exception switches MLflow off for the rest of the run and never reaches training.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

REACH_SECONDS = 3.0  # a server that does not accept a connection within this is unreachable
BATCH = 100  # MLflow's log_batch takes at most 100 params (1000 metrics) per call
# A pruned sweep trial ended as its sweep asked: finished, its tag says "pruned".
RUN_STATUS = {
    "completed": "FINISHED",
    "pruned": "FINISHED",
    "failed": "FAILED",
    "interrupted": "KILLED",
}


def resolve_tracking_uri(configured: str | None, cwd: Path | None = None) -> str:
    """``track.mlflow.tracking_uri``, else ``MLFLOW_TRACKING_URI``, else ``sqlite:///mlruns.db``
    in the current directory (made absolute, so a resume from elsewhere finds the same store)."""
    if configured:
        return configured
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    return f"sqlite:///{(cwd or Path.cwd()).resolve() / 'mlruns.db'}"


def check_store(uri: str) -> None:
    """Fail fast on a store MLflow cannot use: it retries both for minutes before giving up.

    An HTTP server must accept a connection; a SQLite file must be writable.
    """
    parsed = urlparse(uri)
    if parsed.scheme in ("http", "https") and parsed.hostname:
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        try:
            with socket.create_connection((parsed.hostname, port), timeout=REACH_SECONDS):
                pass
        except OSError as exc:
            raise ConnectionError(f"cannot reach {uri} ({exc.strerror or exc})") from None
    elif parsed.scheme == "sqlite" and uri.startswith("sqlite:///"):
        path = uri[len("sqlite:///") :]
        if path and path != ":memory:":
            _check_sqlite_writable(path)


def _check_sqlite_writable(path: str) -> None:
    import sqlite3

    try:
        connection = sqlite3.connect(path, timeout=REACH_SECONDS)
        try:
            connection.execute("BEGIN IMMEDIATE")  # takes the write lock, writes nothing
            connection.rollback()
        finally:
            connection.close()
    except sqlite3.Error as exc:
        raise PermissionError(f"cannot write the MLflow store {path} ({exc})") from None


def artifact_location(uri: str) -> str | None:
    """For a SQLite file store, ``mlruns/`` beside the file; else the store's own default."""
    if uri.startswith("sqlite:///"):
        path = uri[len("sqlite:///") :]
        if path and path != ":memory:":
            return (Path(path).resolve().parent / "mlruns").as_uri()
    return None


class MlflowTracker:
    """Creates (or, on resume, reopens) the run, then logs epochs, final metrics and files."""

    def __init__(
        self,
        *,
        tracking_uri: str,
        experiment: str,
        run_name: str | None,
        params: Mapping[str, str],
        tags: Mapping[str, str],
        run_id: str | None = None,
        parent_run_id: str | None = None,
        on_run: Callable[[dict[str, str | None]], object] | None = None,
    ) -> None:
        self.tracking_uri = tracking_uri
        self.experiment = experiment
        self.run_name = run_name
        self.params = dict(params)
        self.tags = dict(tags)
        self.run_id = run_id
        self.parent_run_id = parent_run_id
        self.on_run = on_run
        self.logged_until = 0  # epochs up to this one are already in the run (a resume)
        self.client: Any = None

    def start(self) -> None:
        check_store(self.tracking_uri)
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(tracking_uri=self.tracking_uri)
        if self.run_id is not None:
            self._reopen()
        else:
            self._create()
        if self.on_run is not None:
            self.on_run({"run_id": self.run_id, "tracking_uri": self.tracking_uri})

    def _create(self) -> None:
        from mlflow.entities import Param

        client = self.client
        found = client.get_experiment_by_name(self.experiment)
        if found is not None:
            experiment_id = found.experiment_id
        else:
            experiment_id = client.create_experiment(
                self.experiment, artifact_location=artifact_location(self.tracking_uri)
            )
        tags = dict(self.tags)
        if self.parent_run_id is not None:
            tags["mlflow.parentRunId"] = self.parent_run_id
        run = client.create_run(experiment_id, tags=tags, run_name=self.run_name)
        self.run_id = run.info.run_id
        params = [Param(k, v) for k, v in self.params.items()]
        for i in range(0, len(params), BATCH):
            client.log_batch(self.run_id, params=params[i : i + BATCH])

    def _reopen(self) -> None:
        """A resumed run continues its MLflow run; epochs already there are not sent again."""
        client = self.client
        client.get_run(self.run_id)  # raises when the run is gone
        client.update_run(self.run_id, status="RUNNING")
        client.set_tag(self.run_id, "status", "running")
        history = client.get_metric_history(self.run_id, "train_loss")
        self.logged_until = max((m.step for m in history), default=0)

    def log_epochs(self, epochs: Sequence[tuple[int, Mapping[str, float]]]) -> None:
        """Several epochs' metrics at once (the tracker's process gathers epochs that come
        fast: each store call is a SQLite transaction, ~20 ms)."""
        # Bit-exact resume: an epoch logged before a crash has the same values as its rerun.
        self._log([(epoch, metrics) for epoch, metrics in epochs if epoch > self.logged_until])

    def log_histograms(self, epoch: int, arrays: Mapping[str, Any]) -> None:
        """Histograms are TensorBoard's; MLflow keeps the per-layer norms of each epoch."""

    def _log(self, steps: Sequence[tuple[int, Mapping[str, float]]]) -> None:
        """(step, {name: value}) pairs in as few ``log_batch`` calls as MLflow allows."""
        from mlflow.entities import Metric

        stamp = int(time.time() * 1000)
        rows = [
            Metric(k, float(v), stamp, step) for step, metrics in steps for k, v in metrics.items()
        ]
        for i in range(0, len(rows), 10 * BATCH):
            self.client.log_batch(self.run_id, metrics=rows[i : i + 10 * BATCH])

    def finish(
        self,
        status: str,
        final_metrics: Mapping[str, float],
        step: int,
        artifacts: Sequence[tuple[Path, str | None]],
    ) -> None:
        if self.run_id is None:
            return
        client = self.client
        if final_metrics:
            self._log([(step, final_metrics)])
        for path, folder in artifacts:
            if path.is_dir():
                client.log_artifacts(self.run_id, str(path), folder)
            elif path.is_file():
                client.log_artifact(self.run_id, str(path), folder)
        client.set_tag(self.run_id, "status", status)
        client.set_terminated(self.run_id, RUN_STATUS.get(status, "FAILED"))
