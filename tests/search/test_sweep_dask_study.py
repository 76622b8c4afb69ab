"""TPE and pruning on a Dask cluster: the client asks and tells, the workers train; a worker
killed mid-trial loses nothing. The clusters are real (scheduler and worker processes on
localhost), started and stopped by each test."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from mlptrain.search import build_spec, latest_records, run_sweep
from tests.conftest import tiny_iris

optuna = pytest.importorskip("optuna")
distributed = pytest.importorskip("dask.distributed")

pytestmark = [pytest.mark.slow, pytest.mark.server]

SPACE = ["train.optimizer.lr=loguniform(1e-3,0.3)", "model.layers[0].units=randint(2,16)"]


def _config(tmp_path: Path, epochs: int) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(tiny_iris(epochs=epochs, units=8, seed=5, batch_size=16))
    return path


def _cluster(workers: int) -> distributed.LocalCluster:
    return distributed.LocalCluster(
        n_workers=workers, processes=True, threads_per_worker=1, dashboard_address=None,
        host="127.0.0.1",
    )  # fmt: skip


def _study(sweep_dir: Path) -> optuna.Study:
    storage = f"sqlite:///{sweep_dir / 'study.db'}"
    (name,) = optuna.get_all_study_names(storage=storage)
    return optuna.load_study(study_name=name, storage=storage)


def test_tpe_on_one_dask_worker_samples_and_trains_as_this_process_does(tmp_path: Path) -> None:
    config = _config(tmp_path, epochs=3)
    spec = build_spec(random=SPACE, search="tpe", trials=5)
    here = run_sweep(config, spec, out=tmp_path / "here")
    with _cluster(workers=1) as cluster:
        there = run_sweep(config, spec, out=tmp_path / "dask", scheduler=cluster.scheduler_address)
    # One worker runs one trial at a time, as this process does: TPE sees the same history
    # before each trial, so it samples the same values, and training is bit for bit.
    assert sorted(there.ran) == sorted(here.ran)
    for trial in here.ran:
        assert there.records[trial]["params"] == here.records[trial]["params"]
        assert there.records[trial]["metrics"] == here.records[trial]["metrics"]
    # the workers' files were written by the client: ordinary run directories
    first = tmp_path / "dask" / there.ran[0]
    assert (first / "config.yaml").read_text() == (
        tmp_path / "here" / here.ran[0] / "config.yaml"
    ).read_text()
    states = [t.state for t in _study(tmp_path / "dask").trials]
    assert states == [optuna.trial.TrialState.COMPLETE] * 5


def _kill_a_busy_worker(scheduler: str, killed: list[int], stop: threading.Event) -> None:
    """SIGKILL the process of a worker while it is training a trial (once)."""
    with distributed.Client(scheduler, timeout="10s") as client:
        pids = client.run(os.getpid)
        while not stop.is_set():
            busy = [w for w, keys in client.processing().items() if keys]
            if busy and busy[0] in pids:
                time.sleep(0.3)  # well inside the trial
                if client.processing().get(busy[0]):
                    os.kill(pids[busy[0]], signal.SIGKILL)
                    killed.append(pids[busy[0]])
                    return
            time.sleep(0.05)


def test_tpe_with_hyperband_on_dask_reaches_n_trials_with_a_worker_killed(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path, epochs=40)
    spec = build_spec(random=SPACE, search="tpe", trials=6, prune="hyperband")
    killed: list[int] = []
    stop = threading.Event()
    with _cluster(workers=2) as cluster:
        killer = threading.Thread(
            target=_kill_a_busy_worker, args=(cluster.scheduler_address, killed, stop)
        )
        killer.start()
        try:
            result = run_sweep(config, spec, out=tmp_path, scheduler=cluster.scheduler_address)
        finally:
            stop.set()
            killer.join(timeout=30)
    assert killed, "no worker was killed while training: the test did not test anything"
    records = latest_records(tmp_path)
    assert len(records) == 6 and sorted(records) == sorted(result.ran)  # N, none twice
    assert all(r["status"] in ("completed", "pruned") for r in records.values()), records
    study = _study(tmp_path)
    finished = [t for t in study.trials if t.state.is_finished() and t.state.name != "FAIL"]
    assert len(finished) == 6 and not [t for t in study.trials if t.state.name == "RUNNING"]
    # each trial was told once, with the record the client wrote
    assert sorted(t.number for t in finished) == sorted(r["index"] for r in records.values())
    for record in records.values():
        assert (tmp_path / record["trial"] / "report.json").is_file()
