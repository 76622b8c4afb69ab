"""MLflow in a process of its own, so that none of its Python runs beside the training's.

Importing MLflow and opening a SQLite store (SQLAlchemy, Alembic's migrations) is ~2 s of
Python. In a thread of the fit's process it held the GIL against the training loop: a digits
fit with ``--track mlflow`` trained about twice as long (docs/tracking.md). ``RemoteTracker``
stands where the ``MlflowTracker`` stood, behind the same ``Dispatcher``: each call goes over
a pipe to a child process (``python -m mlptrain.tracking.remote``) that runs the real tracker,
and waits there, in the dispatcher's thread, for the answer. An error in the child comes back
as that answer and is raised here with the child's one line, so a failing tracker is switched
off with the same warning as before; a child that dies is one more such error.

A child that served a run to its end waits for the next run of the same process (a sweep's
trials, a cv's folds), so MLflow is imported once per process, not once per run; a child
whose run failed or was cut short ends with it.

The child is ``python -m mlptrain.tracking.remote [TRACKING_URI]``: the store, when known
ahead, says which of MLflow's store code to import before the first call (``_warm_up``).
Protocol: one JSON line per call, ``{"method": name, "args": [...]}``; the first is ``start``
with the tracker's options. The child answers each with ``{"ok": result}`` or ``{"error":
line}``, and exits when its stdin closes.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from mlptrain.tracking.dispatch import RemoteError, one_line

END_SECONDS = 10.0  # how long ``close`` waits for the child to exit before killing it
# Epochs reach the store at most this far apart: one SQLite transaction (~20 ms) per flush,
# not per epoch, for fits whose epochs take milliseconds.
FLUSH_SECONDS = 1.0
MODULE = "mlptrain.tracking.remote"
# The process the next run's tracker takes: started ahead by ``prestart`` (a fit that will
# track with MLflow starts it before it prepares its data, so that MLflow's imports happen
# meanwhile), or handed back by the last run's tracker, warm: a sweep's trials in one process
# share one tracker process instead of importing MLflow once each.
_spare: list[subprocess.Popen[bytes]] = []


@atexit.register
def _end_spare() -> None:
    """At exit: the waiting tracker process ends with this one."""
    for process in _spare:
        _end(process)
    _spare.clear()


def _hand_back(process: subprocess.Popen[bytes]) -> None:
    """Keep a healthy tracker process for the next run; at most one waits."""
    if process.poll() is None and not (_spare and _spare[0].poll() is None):
        _spare[:] = [process]
    else:
        _end(process)


def prestart(configured: str | None = None) -> None:
    """Start the next tracker's process now (a no-op when one is waiting already). It also
    imports the code the run's store needs (see ``_warm_up``): ``configured`` is the config's
    ``track.mlflow.tracking_uri``, resolved as the run will resolve it."""
    from mlptrain.tracking.mlflow_tracker import resolve_tracking_uri

    if _spare and _spare[0].poll() is None:
        return
    try:
        process = _start(resolve_tracking_uri(configured))
    except OSError:  # RemoteTracker.start tries again and fails the tracker with its line;
        return  # no working directory for the default store: the run itself says so
    _spare[:] = [process]


def prestart_named(names: Sequence[str]) -> None:
    """``prestart`` as soon as a command names MLflow (``--track mlflow``), before it reads
    its config: 0.23 s after a digits fit's process began instead of 0.52 s, and its run ends
    about when the tracker's process has imported MLflow. The store hinted is the environment's
    or the default (``resolve_tracking_uri``); a config that names another costs this process
    an import it did not need, nothing else. A config's own ``track.mlflow`` section is
    started ahead later, by ``mlptrain.tracking.select.prestart``."""
    if "mlflow" in names:
        prestart(None)


def _take(tracking_uri: str | None) -> subprocess.Popen[bytes]:
    while _spare:
        process = _spare.pop()
        if process.poll() is None:
            return process
    return _start(tracking_uri)


def _start(tracking_uri: str | None) -> subprocess.Popen[bytes]:
    from mlptrain.children import start_module

    return start_module(MODULE, *([tracking_uri] if tracking_uri else []))


def _exit_code(process: subprocess.Popen[bytes]) -> int:
    """The code of a process that closed its pipes (killed if it lingers)."""
    try:
        return process.wait(END_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


def _end(process: subprocess.Popen[bytes]) -> None:
    """Close its stdin, so it exits; kill it if it does not within ``END_SECONDS``."""
    if process.stdin is not None:
        process.stdin.close()
    _exit_code(process)
    if process.stdout is not None:
        process.stdout.close()


class RemoteTracker:
    """An ``MlflowTracker`` (built from ``options``) run in a child process."""

    def __init__(
        self,
        options: Mapping[str, Any],
        on_run: Callable[[dict[str, str | None]], object] | None = None,
    ) -> None:
        self.options = dict(options)
        self.on_run = on_run
        self.process: subprocess.Popen[bytes] | None = None
        self.finished = False  # the run's last call was answered: the child can be reused

    def start(self) -> None:
        self.process = _take(self.options.get("tracking_uri"))
        facts = self._call("start", self.options)
        if self.on_run is not None:
            self.on_run(facts)

    def log_epoch(self, epoch: int, metrics: Mapping[str, float]) -> None:
        self._call("log_epoch", epoch, dict(metrics))

    def log_histograms(self, epoch: int, arrays: Mapping[str, Any]) -> None:
        """Histograms are TensorBoard's; MLflow keeps the per-layer norms of each epoch."""

    def finish(
        self,
        status: str,
        final_metrics: Mapping[str, float],
        step: int,
        artifacts: Sequence[tuple[Path, str | None]],
    ) -> None:
        # absolute: the child's working directory is the one it was started in
        files = [(str(Path(path).resolve()), folder) for path, folder in artifacts]
        self._call("finish", status, dict(final_metrics), step, files)
        self.finished = True

    def close(self) -> None:
        """Done with the child: after a run that finished cleanly it waits for the next run
        (``_hand_back``); otherwise its stdin closes and it exits (or is killed)."""
        process, self.process = self.process, None
        if process is None:
            return
        if self.finished:
            _hand_back(process)
        else:
            _end(process)

    def _call(self, method: str, *args: Any) -> Any:
        process = self.process
        if process is None or process.stdin is None or process.stdout is None:
            raise RemoteError("the tracker's process is not running")
        try:
            process.stdin.write(json.dumps({"method": method, "args": args}).encode() + b"\n")
            process.stdin.flush()
            line = process.stdout.readline()
        except (OSError, ValueError):
            line = b""
        if not line:  # a broken pipe or no answer: it died
            raise RemoteError(f"the tracker's process ended (exit code {_exit_code(process)})")
        answer = json.loads(line)
        if "error" in answer:
            raise RemoteError(answer["error"])
        return answer.get("ok")


class _Child:
    """The child's side: the real tracker, what ``start`` learned about its run, and the
    epochs not yet in the store (sent at most ``FLUSH_SECONDS`` apart, and at the end)."""

    def __init__(self) -> None:
        self.tracker: Any = None
        self.facts: dict[str, Any] | None = None
        self.pending: list[tuple[int, dict[str, float]]] = []
        self.flushed = time.monotonic()

    def flush(self) -> None:
        pending, self.pending = self.pending, []
        self.flushed = time.monotonic()
        if pending and self.tracker is not None:
            self.tracker.log_epochs(pending)

    def call(self, method: str, args: list[Any]) -> Any:
        if method == "start":
            from mlptrain.tracking.mlflow_tracker import MlflowTracker

            # a new run (this process may have served others before it)
            self.pending, self.facts, self.flushed = [], None, time.monotonic()
            self.tracker = MlflowTracker(**args[0], on_run=self._remember)
            self.tracker.start()
            return self.facts
        if method == "finish":
            self.flush()
            status, final, step, files = args
            return self.tracker.finish(
                status, final, step, [(Path(path), folder) for path, folder in files]
            )
        if method == "log_epoch":
            # an error of a delayed write is the answer to the call that wrote
            self.pending.append((int(args[0]), dict(args[1])))
            if time.monotonic() - self.flushed >= FLUSH_SECONDS:
                self.flush()
            return None
        raise ValueError(f"unknown tracker call {method!r}")

    def _remember(self, facts: dict[str, Any]) -> None:
        self.facts = facts


def _warm_up(tracking_uri: str | None) -> None:
    """Import MLflow's client before the first call (a failure is met again by ``start``),
    and for a database store (SQLite by default) SQLAlchemy's store too: ~0.7 s of imports
    that would otherwise run when the run starts, beside the training's first epochs, and
    that here overlap the preparation of the data. Nothing is opened or created yet: a run
    refused before it starts leaves no store behind."""
    try:
        import mlflow.entities  # noqa: F401
        import mlflow.tracking  # noqa: F401

        if tracking_uri is not None and _is_database(tracking_uri):
            import mlflow.store.tracking.sqlalchemy_store  # noqa: F401
    except Exception:
        return


def _is_database(uri: str) -> bool:
    """Whether MLflow keeps this store through SQLAlchemy (``sqlite:///…``,
    ``postgresql+psycopg2://…``)."""
    from urllib.parse import urlparse

    from mlflow.store.db.db_types import DATABASE_ENGINES

    return urlparse(uri).scheme.split("+")[0] in DATABASE_ENGINES


def main() -> int:
    from mlptrain.children import answer_channel

    answers = answer_channel()
    _warm_up(sys.argv[1] if len(sys.argv) > 1 else None)
    child = _Child()
    for line in sys.stdin.buffer:
        try:
            request = json.loads(line)
            answer = {"ok": child.call(request["method"], request["args"])}
        except Exception as exc:  # sent back: the parent switches the tracker off with it
            answer = {"error": one_line(exc)}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()
    with contextlib.suppress(Exception):  # the parent is gone: keep what it sent
        child.flush()
    return 0


if __name__ == "__main__":
    code = main()
    # Everything the parent sent is in the store and every answer is written. A normal exit
    # would now tear down MLflow's module graph and SQLAlchemy's engine, ~0.6 s of CPU the
    # parent waits for at its own exit (docs/tracking.md#overhead); nothing is left to keep.
    sys.stderr.flush()
    os._exit(code)
