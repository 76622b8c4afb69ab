"""Experiment tracking against the real libraries: an MLflow SQLite store read back with
``MlflowClient``, TensorBoard event files read back with TensorBoard's ``EventAccumulator``, and
trackers that fail or lag without changing the run."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from mlptrain.api import fit
from mlptrain.config import load_config
from mlptrain.errors import ConfigError
from mlptrain.store.checkpoint import load_checkpoint
from mlptrain.tracking.dispatch import Dispatcher
from mlptrain.tracking.session import epoch_metrics, flatten, layer_tag
from mlptrain.training.observers import compose
from mlptrain.training.trainer import Callbacks

mlflow = pytest.importorskip("mlflow")
pytest.importorskip("tensorboard")
from mlflow.tracking import MlflowClient  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import (  # noqa: E402
    EventAccumulator,
)

TINY = """\
name: tiny
seed: 3
data:
  dataset: moons
  params: {n_samples: 120, noise: 0.25}
  val_size: 0.2
model:
  layers:
    - {type: linear, units: 8}
    - tanh
    - {type: linear}
train:
  epochs: 6
  batch_size: 16
  optimizer: {type: adam, lr: 0.02}
  early_stopping: null
"""


@pytest.fixture(autouse=True)
def _offline_mlflow(monkeypatch: pytest.MonkeyPatch, no_figures: None) -> None:
    """No telemetry to MLflow's servers, no tracking URI from the developer's shell."""
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


@pytest.fixture
def tiny(write_config) -> Path:
    return write_config(TINY, "tiny.yaml")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One SQLite store for the module: creating its tables takes MLflow seconds. Each test
    logs to an experiment of its own (the ``experiment`` fixture)."""
    return sqlite_uri(tmp_path_factory.mktemp("mlflow") / "store.db")


@pytest.fixture
def experiment(request: pytest.FixtureRequest) -> str:
    return request.node.name.replace("[", "-").rstrip("]")


def sqlite_uri(path: Path) -> str:
    return f"sqlite:///{path}"


def history(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def tracked_run_id(run_dir: Path) -> str:
    return json.loads((run_dir / "tracking.json").read_text())["mlflow"]["run_id"]


def steps_and_values(client: MlflowClient, run_id: str, key: str) -> list[tuple[int, float]]:
    return sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))


def scalars(log_dir: Path, tag: str) -> list[tuple[int, float]]:
    acc = EventAccumulator(str(log_dir), size_guidance={"scalars": 0, "histograms": 0})
    acc.Reload()
    return [(e.step, e.value) for e in acc.Scalars(tag)]


def test_mlflow_run_read_back(tiny: Path, tmp_path: Path, store: str) -> None:
    uri = store
    run = fit(
        tiny,
        out=tmp_path / "run",
        overrides=[f"track.mlflow.tracking_uri={uri}", "track.mlflow.experiment=team"],
    )
    client = MlflowClient(uri)
    run_id = tracked_run_id(run.dir)
    got = client.get_run(run_id)
    assert got.info.status == "FINISHED"
    assert client.get_experiment(got.info.experiment_id).name == "team"
    assert got.info.run_name == "run"
    tags = got.data.tags
    assert tags["status"] == "completed"
    assert tags["dataset"] == "moons" and tags["task"] == "classification"
    assert tags["mlptrain_version"] == run.report["mlptrain_version"]
    params = got.data.params
    assert params["train.optimizer.lr"] == "0.02"
    assert params["model.layers.0.units"] == "8"
    assert params["model.layers.2.units"] == "2"  # the resolved config: inferred from the data
    assert params["data.params.n_samples"] == "120"
    assert params["train.early_stopping"] == "null"
    fingerprint = run.report["data"].get("fingerprint")
    if fingerprint:  # runs record a data fingerprint (issue 10) once it lands
        assert {k: v for k, v in params.items() if k.startswith("data_fingerprint.")} == {
            f"data_fingerprint.{k}": v for k, v in flatten(fingerprint).items()
        }
    records = history(run.dir)
    assert len(records) == 6
    for key in ("train_loss", "val_loss", "train_accuracy", "val_accuracy", "lr"):
        assert steps_and_values(client, run_id, key) == [(r["epoch"], r[key]) for r in records]
    layer = "0 Linear(2 -> 8)"
    assert steps_and_values(client, run_id, "layer0_linear/grad_norm") == [
        (r["epoch"], r["layers"][layer]["grad_norm"]) for r in records
    ]
    test_accuracy = run.report["metrics"]["test"]["accuracy"]
    assert got.data.metrics["final_test_accuracy"] == test_accuracy
    top = {a.path for a in client.list_artifacts(run_id)}
    assert {"config.yaml", "report.json", "report.md", "report.html", "checkpoints"} <= top
    assert [a.path for a in client.list_artifacts(run_id, "checkpoints")] == [
        "checkpoints/best.safetensors"
    ]
    copy = client.download_artifacts(run_id, "checkpoints/best.safetensors", str(tmp_path))
    assert Path(copy).read_bytes() == (run.dir / "checkpoints/best.safetensors").read_bytes()
    assert run.report["tracking"]["mlflow"] == {
        "status": "ok",
        "error": None,
        "run_id": run_id,
        "tracking_uri": uri,
    }


def test_mlflow_default_store_is_sqlite_in_the_current_directory(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    run = fit(tiny, out=tmp_path / "run", track=["mlflow"], overrides=["train.epochs=2"])
    store = tmp_path / "mlruns.db"
    assert store.is_file()
    got = MlflowClient(sqlite_uri(store)).get_run(tracked_run_id(run.dir))
    assert got.data.tags["status"] == "completed"
    assert MlflowClient(sqlite_uri(store)).get_experiment(got.info.experiment_id).name == "tiny"


def test_tensorboard_event_files_read_back(tiny: Path, tmp_path: Path) -> None:
    run = fit(
        tiny,
        out=tmp_path / "run",
        track=["tensorboard"],
        overrides=["track.tensorboard.histograms_every=3"],
    )
    log_dir = run.dir / "tensorboard"
    records = history(run.dir)
    for key in ("train_loss", "val_loss", "lr"):
        # TensorBoard keeps scalars as float32.
        expected = [(r["epoch"], float(np.float32(r[key]))) for r in records]
        assert scalars(log_dir, key) == expected
    assert [s for s, _ in scalars(log_dir, "layer0_linear/weight_norm")] == list(range(1, 7))
    acc = EventAccumulator(str(log_dir), size_guidance={"histograms": 0, "tensors": 0})
    acc.Reload()
    weights = acc.Histograms("weights/0.W")
    assert [e.step for e in weights] == [3, 6]
    final_w = load_checkpoint(run.dir / "checkpoints/last.safetensors").tensors["model.0.W"]
    hist = weights[-1].histogram_value
    assert hist.num == final_w.size
    assert hist.min == pytest.approx(float(final_w.min()))
    assert hist.max == pytest.approx(float(final_w.max()))
    assert hist.sum == pytest.approx(float(final_w.astype(np.float64).sum()), abs=1e-4)
    assert [e.step for e in acc.Histograms("grads/2.b")] == [3, 6]
    text = acc.Tensors("config/text_summary")[0].tensor_proto.string_val[0].decode()
    assert "name: tiny" in text and "lr: 0.02" in text
    assert "tracking.json" in {p.name for p in run.dir.iterdir()}
    assert run.report["tracking"]["tensorboard"]["status"] == "ok"


class Crash(Exception):
    """Stands for a process dying between two steps."""


def crash_in_epoch(epoch: int) -> Callbacks:
    """'Kill' the run after the first step of ``epoch`` (before any save)."""
    seen = {"epoch": 0}

    def on_epoch_start(current: int, epochs: int, n_batches: int) -> None:
        seen["epoch"] = current

    def on_batch(loss: float) -> None:
        if seen["epoch"] == epoch:
            raise Crash(epoch)

    return Callbacks(on_epoch_start=on_epoch_start, on_batch=on_batch)


def test_resume_continues_the_same_mlflow_run_and_tensorboard_log(
    tiny: Path, tmp_path: Path, store: str, experiment: str
) -> None:
    """A crash in epoch 5 after epochs 1-4 were logged, with the last checkpoint at epoch 3:
    the resumed run reuses the MLflow run and log directory and no epoch appears twice."""
    uri = store
    out = tmp_path / "run"
    overrides = [
        f"track.mlflow.tracking_uri={uri}",
        f"track.mlflow.experiment={experiment}",
        "checkpoint.every=3",
    ]
    with pytest.raises(Crash):
        fit(tiny, out=out, overrides=overrides, track=["tensorboard"], callbacks=crash_in_epoch(5))
    run_id = tracked_run_id(out)
    client = MlflowClient(uri)
    crashed = client.get_run(run_id)
    assert crashed.data.tags["status"] == "failed"
    assert [s for s, _ in steps_and_values(client, run_id, "train_loss")] == [1, 2, 3, 4]
    assert load_checkpoint(out / "checkpoints/last.safetensors").meta["epoch"] == 3

    resumed = fit(resume=out)
    assert tracked_run_id(out) == run_id
    records = history(out)
    assert steps_and_values(client, run_id, "train_loss") == [
        (r["epoch"], r["train_loss"]) for r in records
    ]
    assert len(records) == 6
    assert client.get_run(run_id).data.tags["status"] == "completed"
    assert client.get_run(run_id).info.status == "FINISHED"
    assert len(client.search_runs([crashed.info.experiment_id])) == 1
    assert [s for s, _ in scalars(out / "tensorboard", "train_loss")] == list(range(1, 7))
    assert resumed.report["tracking"]["mlflow"]["run_id"] == run_id


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def read_only_dir(tmp_path: Path):
    """A directory no one can create files in, root included (chattr +i; chmod for others)."""
    path = tmp_path / "read-only"
    path.mkdir()
    immutable = shutil.which("chattr") is not None and (
        subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode == 0
    )
    if not immutable:
        path.chmod(0o555)
    try:
        probe = path / "probe"
        with pytest.raises(OSError):
            probe.write_text("x")
        yield path
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        path.chmod(0o755)


def comparable_files(run_dir: Path) -> dict[str, object]:
    """Every file of a run, with what legitimately differs between two runs taken out: wall
    times, and the report's record of the failed tracker and config's track section."""
    files: dict[str, object] = {}
    for path in sorted(run_dir.rglob("*")):
        if not path.is_file() or path.name == ".lock":
            continue
        name = path.relative_to(run_dir).as_posix()
        if path.suffix == ".safetensors":
            ckpt = load_checkpoint(path)
            files[name] = {k: (v.dtype.str, v.tobytes()) for k, v in ckpt.tensors.items()}
        elif name == "metrics.jsonl":
            files[name] = [{**r, "seconds": None} for r in history(run_dir)]
        elif name == "report.json":
            report = json.loads(path.read_text())
            report.pop("tracking", None)
            # the resolved config the report keeps holds the tracker's settings, by design
            report.get("config", {}).pop("track", None)
            report["training"]["seconds"] = None
            for record in report["training"]["history"]:
                record["seconds"] = None
            files[name] = report
        elif name == "config.yaml":
            files[name] = [line for line in path.read_text().splitlines()]
        else:
            files[name] = None  # md/html render times; their presence is what counts
    return files


@pytest.mark.parametrize("where", ["unreachable server", "read-only directory"])
def test_failing_mlflow_never_changes_the_run(
    tiny: Path, tmp_path: Path, where: str, request: pytest.FixtureRequest
) -> None:
    if where == "unreachable server":
        uri = f"http://127.0.0.1:{free_port()}"
    else:
        uri = sqlite_uri(request.getfixturevalue("read_only_dir") / "mlruns.db")
    plain = fit(tiny, out=tmp_path / "plain")
    warnings: list[str] = []
    started = time.perf_counter()
    tracked = fit(
        tiny,
        out=tmp_path / "tracked",
        overrides=[f"track.mlflow.tracking_uri={uri}"],
        on_warning=warnings.append,
    )
    assert time.perf_counter() - started < 30
    assert len(warnings) == 1
    assert warnings[0].startswith("mlflow tracking stopped (")
    assert "the run goes on without it" in warnings[0]
    entry = tracked.report["tracking"]["mlflow"]
    assert entry["status"] == "failed" and entry["error"]
    assert entry["error"] in warnings[0]
    stored = json.loads((tracked.dir / "report.json").read_text())
    assert stored["tracking"]["mlflow"]["status"] == "failed"
    assert tracked.report["status"] == "completed"
    mine, theirs = comparable_files(tracked.dir), comparable_files(plain.dir)
    assert sorted(mine) == sorted(theirs)  # no tracking.json, nothing else extra or missing
    for name in theirs:
        if name == "config.yaml":
            continue
        assert mine[name] == theirs[name], name
    assert np.array_equal(tracked.model.flat_params, plain.model.flat_params)


def test_failing_tracker_in_config_yaml_only_differs_by_its_section(
    tiny: Path, tmp_path: Path
) -> None:
    """config.yaml records the tracker (so --resume tracks again); nothing else differs."""
    plain = fit(tiny, out=tmp_path / "plain", overrides=["train.epochs=1"])
    tracked = fit(
        tiny,
        out=tmp_path / "tracked",
        overrides=["train.epochs=1", f"track.mlflow.tracking_uri=http://127.0.0.1:{free_port()}"],
        on_warning=lambda line: None,
    )
    import yaml

    a = yaml.safe_load((plain.dir / "config.yaml").read_text())
    b = yaml.safe_load((tracked.dir / "config.yaml").read_text())
    assert a.pop("track") == {"mlflow": None, "tensorboard": None}
    assert b.pop("track")["mlflow"]["tracking_uri"].startswith("http://127.0.0.1:")
    assert a == b


def test_sweep_is_a_parent_run_with_nested_trials(
    tiny: Path, tmp_path: Path, store: str, experiment: str
) -> None:
    from mlptrain.search import build_spec, run_sweep

    uri = store
    spec = build_spec(grid=["train.optimizer.lr=0.01,0.03"])
    result = run_sweep(
        tiny,
        spec,
        overrides=[
            "train.epochs=2",
            f"track.mlflow.tracking_uri={uri}",
            f"track.mlflow.experiment={experiment}",
        ],
        out=tmp_path / "sweep",
    )
    client = MlflowClient(uri)
    parent_id = json.loads((result.dir / "tracking.json").read_text())["mlflow"]["run_id"]
    parent = client.get_run(parent_id)
    assert parent.data.tags["kind"] == "sweep" and parent.data.tags["status"] == "completed"
    assert parent.info.status == "FINISHED"
    assert {a.path for a in client.list_artifacts(parent_id)} >= {"sweep.json", "results.jsonl"}
    children = client.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent_id}'"
    )
    assert sorted(c.info.run_name for c in children) == sorted(t.id for t in result.trials)
    assert sorted(c.data.params["train.optimizer.lr"] for c in children) == ["0.01", "0.03"]
    for child in children:
        assert len(client.get_metric_history(child.info.run_id, "train_loss")) == 2
        assert child.data.tags["status"] == "completed"
    best_value = result.summary["best"]["mean"]
    assert parent.data.metrics[f"best_{result.summary['monitor']}"] == best_value


def test_tpe_trials_are_nested_runs_and_the_study_ignores_the_trackers(
    tiny: Path, tmp_path: Path, store: str, experiment: str
) -> None:
    """TPE trials run inside an Optuna study (search/study.py): each is a nested MLflow run of
    the sweep's parent; adding a tracker to the finished sweep names the same study."""
    pytest.importorskip("optuna")
    from mlptrain.search import build_spec, run_sweep

    spec = build_spec(random=["train.optimizer.lr=loguniform(0.001,0.1)"], trials=2, search="tpe")
    out = tmp_path / "sweep"
    first = run_sweep(tiny, spec, overrides=["train.epochs=2"], out=out, figures="none")
    assert len(first.ran) == 2
    tracked = [f"track.mlflow.tracking_uri={store}", f"track.mlflow.experiment={experiment}"]
    again = run_sweep(tiny, spec, overrides=["train.epochs=2", *tracked], out=out, figures="none")
    assert again.ran == []  # the study already holds its 2 trials

    grown = build_spec(random=["train.optimizer.lr=loguniform(0.001,0.1)"], trials=3, search="tpe")
    result = run_sweep(
        tiny, grown, overrides=["train.epochs=2", *tracked], out=tmp_path / "s3", figures="none"
    )
    client = MlflowClient(store)
    parent_id = json.loads((result.dir / "tracking.json").read_text())["mlflow"]["run_id"]
    parent = client.get_run(parent_id)
    assert parent.info.status == "FINISHED"
    children = client.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent_id}'"
    )
    assert len(result.ran) == 3
    assert sorted(c.info.run_name for c in children) == sorted(result.ran)
    for child in children:
        assert len(client.get_metric_history(child.info.run_id, "train_loss")) == 2
        lr = float(child.data.params["train.optimizer.lr"])
        assert lr == result.records[child.info.run_name]["params"]["train.optimizer.lr"]


def test_sweep_plan_ignores_the_trackers(tiny: Path, tmp_path: Path) -> None:
    """Adding --track to a finished sweep reruns nothing and is not 'a different sweep'."""
    from mlptrain.search import build_spec, run_sweep

    spec = build_spec(grid=["train.optimizer.lr=0.01,0.03"])
    out = tmp_path / "sweep"
    run_sweep(tiny, spec, overrides=["train.epochs=1"], out=out)
    again = run_sweep(tiny, spec, overrides=["train.epochs=1"], out=out, track=["tensorboard"])
    assert again.ran == [] and len(again.skipped) == 2


def test_cv_is_a_parent_run_with_nested_folds(
    tiny: Path, tmp_path: Path, store: str, experiment: str
) -> None:
    from mlptrain.search.cv import cross_validate

    uri = store
    result = cross_validate(
        tiny,
        folds=2,
        overrides=[
            "train.epochs=2",
            f"track.mlflow.tracking_uri={uri}",
            f"track.mlflow.experiment={experiment}",
        ],
        out=tmp_path / "cv",
        track=["tensorboard"],
    )
    client = MlflowClient(uri)
    parent_id = json.loads((result.dir / "tracking.json").read_text())["mlflow"]["run_id"]
    parent = client.get_run(parent_id)
    assert parent.data.tags["kind"] == "cv" and parent.data.params["cv.folds"] == "2"
    stat = result.summary["metrics"]["accuracy"]
    assert parent.data.metrics["accuracy_mean"] == stat["mean"]
    children = client.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent_id}'"
    )
    assert sorted(c.info.run_name for c in children) == ["fold-0", "fold-1"]
    per_fold = {f"fold-{r['fold']}": r["metrics"]["accuracy"] for r in result.summary["per_fold"]}
    for child in children:
        assert child.data.metrics["final_held_out_accuracy"] == per_fold[child.info.run_name]
        assert len(client.get_metric_history(child.info.run_id, "train_loss")) == 2
    for k in (0, 1):
        assert [s for s, _ in scalars(result.dir / f"fold-{k}" / "tensorboard", "train_loss")] == [
            1,
            2,
        ]


def test_cli_track_flag_and_its_errors(tiny: Path, tmp_path: Path, cli, monkeypatch) -> None:
    result = cli("fit", tiny, "--out", tmp_path / "a", "--track", "wandb")
    assert result.exit_code == 2
    assert "error: unknown tracker 'wandb'; allowed: mlflow, tensorboard" in result.stderr
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a)
    )
    result = cli("fit", tiny, "--out", tmp_path / "b", "--track", "mlflow")
    assert result.exit_code == 2
    assert (
        'tracking with mlflow needs the mlflow package; install mlptrain[mlflow] (pip install "mlptrain[mlflow]")'
        in result.stderr
    )
    assert not (tmp_path / "b").exists()
    monkeypatch.undo()
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    result = cli(
        "fit", tiny, "--out", tmp_path / "c", "--track", "tensorboard", "--set", "train.epochs=1",
        "--no-figures", "-q",
    )  # fmt: skip
    assert result.exception is None, result.output
    assert result.exit_code == 0
    assert scalars(tmp_path / "c" / "tensorboard", "train_loss")[0][0] == 1


def test_cli_prints_one_warning_line_for_a_failing_tracker(tiny: Path, tmp_path: Path, cli):
    uri = f"http://127.0.0.1:{free_port()}"
    result = cli(
        "fit", tiny, "--out", tmp_path / "a", "--set", f"track.mlflow.tracking_uri={uri}",
        "--set", "train.epochs=1", "--no-figures", "-q",
    )  # fmt: skip
    assert result.exit_code == 0 and result.exception is None
    # The CLI prints it as it prints every warning (lint, diagnostics): a `warning:` line.
    lines = [line for line in result.output.splitlines() if "mlflow" in line]
    assert len(lines) == 1
    assert lines[0].startswith(
        f"warning: mlflow tracking stopped (ConnectionError: cannot reach {uri}"
    )


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("track.mlflow.bogus=1", "track.mlflow.bogus"),
        ("track.tensorboard.histograms_every=0", "track.tensorboard.histograms_every: 0"),
        ("track.wandb={}", "track.wandb"),
    ],
)
def test_track_section_is_validated(tiny: Path, override: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tiny, [override])
    assert message in str(info.value)


def test_resume_accepts_tracker_changes_only(tiny: Path, tmp_path: Path) -> None:
    """--resume may switch trackers on (they never change the weights), nothing else."""
    out = tmp_path / "run"
    with pytest.raises(Crash):
        fit(tiny, out=out, callbacks=crash_in_epoch(4))
    run = fit(resume=out, track=["tensorboard"])
    assert [s for s, _ in scalars(out / "tensorboard", "train_loss")] == [4, 5, 6]
    assert run.config.track.tensorboard is not None
    assert "tensorboard:" in (out / "config.yaml").read_text()


def test_flatten_and_metric_names() -> None:
    data = {"a": {"b": [1, {"c": None}], "d": "x", "e": [], "f": 1.5e-3, "g": True}}
    assert flatten(data) == {
        "a.b.0": "1",
        "a.b.1.c": "null",
        "a.d": "x",
        "a.e": "[]",
        "a.f": "0.0015",
        "a.g": "true",
    }
    assert layer_tag("0 Linear(64 -> 256)") == "layer0_linear"
    assert layer_tag("3 LeakyReLU(0.01)") == "layer3_leakyrelu"
    record = {
        "epoch": 2,
        "lr": 0.1,
        "train_loss": 0.5,
        "val_loss": None,
        "layers": {"1 ReLU()": {"dead_fraction": 0.25}, "0 Linear(2 -> 3)": {"grad_norm": None}},
    }
    assert epoch_metrics(record) == {
        "lr": 0.1,
        "train_loss": 0.5,
        "layer1_relu/dead_fraction": 0.25,
    }


class SlowSink:
    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls = 0

    def log_epoch(self, epoch: int) -> None:
        self.calls += 1
        self.release.wait(10)


class FailingSink:
    def __init__(self) -> None:
        self.calls = 0

    def log_epoch(self, epoch: int) -> None:
        self.calls += 1
        raise PermissionError("[Errno 13] Permission denied: '/store'")


def test_a_slow_tracker_never_blocks_the_sender() -> None:
    warnings: list[str] = []
    sink = SlowSink()
    dispatcher = Dispatcher("mlflow", sink, warnings.append, maxsize=4)
    started = time.perf_counter()
    for epoch in range(1000):
        dispatcher.send("log_epoch", epoch)
    assert time.perf_counter() - started < 1.0
    assert warnings == [
        "mlflow tracking stopped (too slow: 4 events waiting; the rest are dropped); "
        "the run goes on without it"
    ]
    assert dispatcher.dropped >= 1000 - 5
    sink.release.set()
    dispatcher.close(timeout=10)
    assert sink.calls <= 5


def test_a_failing_tracker_warns_once_and_stops() -> None:
    warnings: list[str] = []
    sink = FailingSink()
    dispatcher = Dispatcher("tensorboard", sink, warnings.append)
    for epoch in range(50):
        dispatcher.send("log_epoch", epoch)
    dispatcher.close(timeout=10)
    assert sink.calls == 1
    assert warnings == [
        "tensorboard tracking stopped (PermissionError: [Errno 13] Permission denied: "
        "'/store'); the run goes on without it"
    ]
    assert dispatcher.error == "PermissionError: [Errno 13] Permission denied: '/store'"


def test_close_gives_up_after_its_timeout() -> None:
    warnings: list[str] = []
    sink = SlowSink()
    dispatcher = Dispatcher("mlflow", sink, warnings.append)
    dispatcher.send("log_epoch", 1)
    started = time.perf_counter()
    dispatcher.close(timeout=0.2)
    assert time.perf_counter() - started < 2
    assert warnings == [
        "mlflow tracking stopped (still sending after 0.2 s; gave up on the rest); "
        "the run goes on without it"
    ]
    sink.release.set()


def test_compose_calls_every_part_in_order() -> None:
    calls: list[str] = []
    first = Callbacks(on_epoch_end=lambda r: calls.append(f"a{r['epoch']}"))
    second = Callbacks(
        on_epoch_end=lambda r: calls.append(f"b{r['epoch']}"), on_batch=lambda x: calls.append("x")
    )
    chained = compose(first, None, second)
    chained.on_epoch_end({"epoch": 1})
    chained.on_batch(0.5)
    assert calls == ["a1", "b1", "x"]
    assert chained.on_epoch_start is None
    assert compose(first).on_epoch_end is first.on_epoch_end


def sigterm_in_epoch(epoch: int) -> Callbacks:
    import os
    import signal

    seen = {"epoch": 0, "sent": False}

    def on_epoch_start(current: int, epochs: int, n_batches: int) -> None:
        seen["epoch"] = current

    def on_batch(loss: float) -> None:
        if seen["epoch"] == epoch and not seen["sent"]:
            seen["sent"] = True
            os.kill(os.getpid(), signal.SIGTERM)

    return Callbacks(on_epoch_start=on_epoch_start, on_batch=on_batch)


def test_interrupted_and_diverged_runs_are_tagged(
    tiny: Path, tmp_path: Path, store: str, experiment: str
) -> None:
    from mlptrain.training.signals import Interrupted
    from mlptrain.training.trainer import DivergenceError

    overrides = [f"track.mlflow.tracking_uri={store}", f"track.mlflow.experiment={experiment}"]
    with pytest.raises(Interrupted):
        fit(tiny, out=tmp_path / "stopped", overrides=overrides, callbacks=sigterm_in_epoch(3))
    client = MlflowClient(store)
    stopped = client.get_run(tracked_run_id(tmp_path / "stopped"))
    assert stopped.data.tags["status"] == "interrupted"
    assert stopped.info.status == "KILLED"
    assert [m.step for m in client.get_metric_history(stopped.info.run_id, "train_loss")] == [1, 2]

    with pytest.raises(DivergenceError):
        fit(
            tiny,
            out=tmp_path / "diverged",
            overrides=[
                *overrides,
                "train.optimizer={type: sgd, lr: 1.0e+30}",
                "model.layers[1]=relu",
            ],
        )
    diverged = client.get_run(tracked_run_id(tmp_path / "diverged"))
    assert diverged.data.tags["status"] == "failed"
    assert diverged.info.status == "FAILED"
    report = json.loads((tmp_path / "diverged" / "report.json").read_text())
    assert report["status"] == "failed"
    assert report["tracking"]["mlflow"]["status"] == "ok"
    assert "report.json" in {a.path for a in client.list_artifacts(diverged.info.run_id)}


def test_overwrite_starts_a_fresh_tensorboard_log_and_mlflow_run(
    tiny: Path, tmp_path: Path, store: str, experiment: str
) -> None:
    overrides = [
        "train.epochs=2",
        f"track.mlflow.tracking_uri={store}",
        f"track.mlflow.experiment={experiment}",
    ]
    out = tmp_path / "run"
    fit(tiny, out=out, overrides=overrides, track=["tensorboard"])
    first = tracked_run_id(out)
    fit(tiny, out=out, overrides=overrides, track=["tensorboard"], overwrite=True)
    assert tracked_run_id(out) != first
    assert len(list((out / "tensorboard").glob("events.out.tfevents.*"))) == 1
    assert [s for s, _ in scalars(out / "tensorboard", "train_loss")] == [1, 2]
