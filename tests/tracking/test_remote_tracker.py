"""MLflow's tracker in its own process: the fit's process never imports MLflow, a process
started ahead is the one used and serves run after run, and a tracker process that dies
switches tracking off."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlptrain.tracking import remote
from mlptrain.tracking.dispatch import Dispatcher, RemoteError

pytest.importorskip("mlflow")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def _options(tmp_path: Path) -> dict:
    return {
        "tracking_uri": f"sqlite:///{tmp_path / 'store.db'}",
        "experiment": "remote",
        "run_name": "r",
        "params": {"train.lr": "0.01"},
        "tags": {"status": "running"},
        "run_id": None,
        "parent_run_id": None,
    }


def test_a_tracked_fit_never_imports_mlflow_in_its_own_process(tmp_path: Path) -> None:
    script = (
        "import sys, json\n"
        "from mlptrain.api import fit\n"
        f"run = fit({str(ROOT / 'configs' / 'iris.yaml')!r}, overrides=['train.epochs=3',"
        f" 'track.mlflow.tracking_uri=sqlite:///{tmp_path / 'store.db'}'],"
        f" out={str(tmp_path / 'run')!r}, figures=False)\n"
        "print(json.dumps({'mlflow': 'mlflow' in sys.modules,"
        " 'entry': run.report['tracking']['mlflow']}))\n"
    )
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout.splitlines()[-1])
    assert answer["mlflow"] is False
    assert answer["entry"]["status"] == "ok" and answer["entry"]["run_id"]
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'store.db'}")
    run = client.get_run(answer["entry"]["run_id"])
    assert run.info.status == "FINISHED"
    history = client.get_metric_history(run.info.run_id, "train_loss")
    assert sorted(m.step for m in history) == [1, 2, 3]
    assert "report.json" in {f.path for f in client.list_artifacts(run.info.run_id)}


class _Store:
    """Stands in for MlflowTracker: records each store write."""

    def __init__(self) -> None:
        self.writes: list[list[tuple[int, dict]]] = []
        self.finished = False

    def log_epochs(self, epochs: list[tuple[int, dict]]) -> None:
        self.writes.append(list(epochs))

    def finish(self, *args: object) -> None:
        self.finished = True


def test_the_tracker_process_writes_fast_epochs_together(monkeypatch: pytest.MonkeyPatch) -> None:
    """One store write per FLUSH_SECONDS, not per epoch; what is left goes with finish."""
    clock = iter([0.0, 0.1, 0.2, 1.5, 1.6, 1.7, 1.8])
    monkeypatch.setattr(remote.time, "monotonic", lambda: next(clock))
    child = remote._Child()  # flushed at 0.0
    child.tracker = store = _Store()
    for epoch in (1, 2, 3):  # at 0.1, 0.2, 1.5: the third passes a second
        child.call("log_epoch", [epoch, {"loss": 1.0 / epoch}])
    assert store.writes == [[(1, {"loss": 1.0}), (2, {"loss": 0.5}), (3, {"loss": 1 / 3})]]
    child.call("log_epoch", [4, {"loss": 0.25}])  # at 1.7: waits
    assert len(store.writes) == 1
    child.call("finish", ["completed", {}, 4, []])
    assert store.writes[1] == [(4, {"loss": 0.25})] and store.finished


def test_what_the_tracker_process_prints_cannot_corrupt_its_answers() -> None:
    """MLflow prints a run's "View run ... at" link to stdout when it talks to a server:
    only answers reach the pipe the parent reads (that print once switched tracking off)."""
    script = (
        "import os, sys\n"
        "from mlptrain.children import answer_channel\n"
        "answers = answer_channel()\n"
        "print('View run r at: http://127.0.0.1:5000/#/experiments/1')\n"
        "os.write(1, b'raw noise\\n')\n"
        "answers.write('{\"ok\": null}\\n'); answers.flush()\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == b'{"ok": null}\n'
    assert b"View run r at" in result.stderr and b"raw noise" in result.stderr


def test_one_tracker_process_serves_run_after_run_and_keeps_what_it_held(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process started ahead is the one used; an error in it comes back as its one line;
    after a finished run it serves the next one (a sweep's trials import MLflow once); when
    its stdin closes (the fit's process gone) it still writes the epochs it held."""
    remote.prestart(_options(tmp_path)["tracking_uri"])
    assert len(remote._spare) == 1
    ahead = remote._spare[0]
    taken: list[subprocess.Popen[bytes]] = []
    real = remote._take
    monkeypatch.setattr(remote, "_take", lambda uri: taken.append(real(uri)) or taken[-1])
    facts: list[dict] = []
    first = remote.RemoteTracker(_options(tmp_path), on_run=facts.append)
    first.start()
    with pytest.raises(RemoteError) as raised:
        first._call("log_histogram", 1)
    assert str(raised.value) == "ValueError: unknown tracker call 'log_histogram'"
    first.log_epoch(1, {"train_loss": 0.5})
    first.finish("completed", {"final_test_accuracy": 0.9}, 1, [])
    first.close()
    assert remote._spare == [ahead] and ahead.poll() is None  # handed back, warm
    second = remote.RemoteTracker(_options(tmp_path), on_run=facts.append)
    second.start()
    try:
        assert taken == [ahead, ahead] and remote._spare == []
        second.log_epoch(1, {"train_loss": 0.25})  # held: less than FLUSH_SECONDS since start
        assert ahead.stdin is not None
        ahead.stdin.close()  # as when the fit's process dies: EOF
        assert ahead.wait(60) == 0
    finally:
        second.close()
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=facts[0]["tracking_uri"])
    assert facts[0]["run_id"] != facts[1]["run_id"]
    for fact, loss in zip(facts, (0.5, 0.25), strict=True):
        history = client.get_metric_history(fact["run_id"], "train_loss")
        assert [(m.step, m.value) for m in history] == [(1, loss)]
    assert client.get_run(facts[0]["run_id"]).info.status == "FINISHED"


def test_a_dead_tracker_process_switches_tracking_off_with_one_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a "tracker process" that ends at once, with code 3, before answering anything
    gone = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.exit(3)"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    gone.wait()
    monkeypatch.setattr(remote, "_take", lambda uri: gone)
    tracker = remote.RemoteTracker({})
    warnings: list[str] = []
    dispatcher = Dispatcher("mlflow", tracker, warnings.append)
    dispatcher.send("start")
    dispatcher.send("log_epoch", 1, {"train_loss": 0.5})
    dispatcher.close()
    assert warnings == [
        "mlflow tracking stopped (the tracker's process ended (exit code 3)); "
        "the run goes on without it"
    ]
    assert tracker.process is None  # the dispatcher's end closed it


@pytest.mark.parametrize(
    ("uri", "imported"),
    [("sqlite:///{dir}/store.db", True), ("http://127.0.0.1:1", False)],
)
def test_the_tracker_process_imports_a_database_stores_code_ahead_and_creates_nothing(
    tmp_path: Path, uri: str, imported: bool
) -> None:
    """Started with the run's store, the process imports SQLAlchemy's store before the first
    call (so that ~0.7 s of imports overlap the data's preparation, not the first epochs),
    only for a database store, and without opening it: a run refused later leaves no file."""
    uri = uri.format(dir=tmp_path)
    script = (
        "import sys\n"
        "from mlptrain.tracking.remote import _warm_up\n"
        f"_warm_up({uri!r})\n"
        "print('mlflow.store.tracking.sqlalchemy_store' in sys.modules, 'mlflow' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(imported).encode(), b"True"]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("track", "started"), [("mlflow", True), ("tensorboard", False)])
def test_fit_track_mlflow_starts_mlflows_process_before_it_reads_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, track: str, started: bool
) -> None:
    """`mlptrain fit --track mlflow` starts the tracker's process first thing (~0.3 s before
    the config is read, which a digits fit's run waits for), with the environment's store as
    the hint; so even a config that turns out to be missing was preceded by it."""
    from typer.testing import CliRunner

    from mlptrain.cli import app

    hints: list[str] = []

    class Waiting:  # stands for the started process
        def poll(self) -> None:
            return None

    monkeypatch.setattr(remote, "_spare", [])
    monkeypatch.setattr(remote, "_start", lambda uri: hints.append(uri) or Waiting())
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///elsewhere.db")
    missing = tmp_path / "missing.yaml"
    result = CliRunner().invoke(app, ["fit", str(missing), "--track", track])
    assert result.exit_code == 2
    assert str(missing) in result.output
    assert hints == (["sqlite:///elsewhere.db"] if started else [])


def test_starting_ahead_without_a_working_directory_leaves_it_to_the_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The default store is mlruns.db in the working directory: when that directory is gone,
    starting the tracker's process ahead is skipped (the run then says what is wrong) instead
    of failing the command with an unexpected error."""
    from mlptrain.tracking import mlflow_tracker

    def gone() -> Path:
        raise FileNotFoundError(2, "No such file or directory")

    monkeypatch.setattr(remote, "_spare", [])
    monkeypatch.setattr(mlflow_tracker.Path, "cwd", staticmethod(gone))
    remote.prestart_named(["mlflow"])
    assert remote._spare == []
