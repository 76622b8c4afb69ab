"""SIGINT/SIGTERM during a fit: stop after the current step, save `last`, print the resume
command, exit 130/143; a second signal exits at once; handlers are put back afterwards."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from mlptrain.api import fit
from mlptrain.store.checkpoint import load_checkpoint
from mlptrain.training.signals import Interrupted, StopOnSignals
from mlptrain.training.trainer import Callbacks
from tests.conftest import assert_no_traceback

TINY = """\
name: tiny
seed: 5
data:
  dataset: moons
  params: {n_samples: 200, noise: 0.25}
model:
  layers: [{type: linear, units: 8}, tanh, {type: dropout, p: 0.1}, linear]
train:
  epochs: EPOCHS
  batch_size: 16
  optimizer: {type: sgd, lr: 0.05, momentum: 0.9}
  early_stopping: null
"""


def signal_at(step: int, *signums: int) -> Callbacks:
    """Send ``signums`` to this process right after optimizer step ``step``."""
    seen = {"steps": 0}

    def on_batch(loss: float) -> None:
        seen["steps"] += 1
        if seen["steps"] == step:
            for signum in signums:
                os.kill(os.getpid(), signum)

    return Callbacks(on_batch=on_batch)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY.replace("EPOCHS", "6"))
    return path


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_stops_after_step_and_resume_matches(
    config: Path, tmp_path: Path, signum: int, code: int
) -> None:
    reference = fit(config, out=tmp_path / "ref")
    with pytest.raises(Interrupted) as caught:
        fit(config, out=tmp_path / "run", callbacks=signal_at(11, signum))
    error = caught.value
    assert error.exit_code == code
    assert f"interrupted by {signal.Signals(signum).name}: stopped after step 11" in str(error)
    assert f"resume with: mlptrain fit --resume {tmp_path / 'run'}" in str(error)
    meta = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.safetensors").meta
    assert meta["step"] == 11 and meta["batch"] > 0  # mid-epoch, exactly where it stopped
    # the run directory says it was interrupted, with the epochs it finished
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["status"] == "interrupted" and report["metrics"] == {}
    finished = meta["epoch"]
    history = report["training"]["history"]
    assert [r["epoch"] for r in history] == list(range(1, finished + 1))
    resumed = fit(resume=tmp_path / "run")
    assert json.loads((tmp_path / "run" / "report.json").read_text())["status"] == "completed"
    for name, value in reference.model.state_dict().items():
        assert np.array_equal(resumed.model.state_dict()[name], value), name


def test_handlers_installed_only_during_fit(config: Path, tmp_path: Path) -> None:
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    during: list[object] = []
    callbacks = Callbacks(on_batch=lambda loss: during.append(signal.getsignal(signal.SIGINT)))
    fit(config, out=tmp_path / "run", callbacks=callbacks)
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
    assert during and during[0] is not before[0]
    with pytest.raises(Interrupted):
        fit(config, out=tmp_path / "run2", callbacks=signal_at(3, signal.SIGINT))
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_second_sigint_exits_at_once(config: Path, tmp_path: Path) -> None:
    """The second Ctrl-C raises KeyboardInterrupt inside the step: no save is waited for, and
    the files on disk are whole (the previous checkpoint still loads)."""
    out = tmp_path / "run"
    callbacks = signal_at(12, signal.SIGINT, signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        fit(config, out=out, checkpoint_every_steps=5, callbacks=callbacks)
    meta = load_checkpoint(out / "checkpoints" / "last.safetensors").meta
    assert meta["step"] == 10  # the step-12 save never happened
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_second_sigterm_exits_143(config: Path, tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as caught:
        fit(config, out=tmp_path / "run", callbacks=signal_at(4, signal.SIGTERM, signal.SIGTERM))
    assert caught.value.code == 143


def test_second_sigint_through_cli_exits_130(tmp_path: Path, cli, monkeypatch) -> None:
    """Through the CLI a second Ctrl-C is one line and exit 130, no traceback."""
    import mlptrain.training.progress

    path = tmp_path / "tiny.yaml"
    path.write_text(TINY.replace("EPOCHS", "3"))
    monkeypatch.setattr(
        mlptrain.training.progress.ConsoleProgress,
        "callbacks",
        lambda self: signal_at(5, signal.SIGINT, signal.SIGINT),
    )
    result = cli("fit", path, "--out", tmp_path / "run")
    assert result.exit_code == 130
    assert result.stderr.strip().splitlines()[-1] == "interrupted"
    assert_no_traceback(result)


def test_stop_on_signals_outside_main_thread_installs_nothing() -> None:
    import threading

    class Target:
        stop_requested = False

    seen: list[object] = []

    def body() -> None:
        with StopOnSignals(Target()) as guard:
            seen.append(guard._previous)

    before = signal.getsignal(signal.SIGINT)
    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    assert seen == [{}]
    assert signal.getsignal(signal.SIGINT) is before


# The CLI in a fresh interpreter (what the `mlptrain` console script runs).
MLPTRAIN = [sys.executable, "-c", "from mlptrain.cli import main; main()"]


def _spawn_fit(config: Path, out: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*MLPTRAIN, "fit", str(config), "--out", str(out), "-q", "--checkpoint-every-steps", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_cli_process_signal_prints_resume_command(tmp_path: Path, signum: int, code: int) -> None:
    """A real `mlptrain fit` process gets the signal mid-training."""
    path = tmp_path / "long.yaml"
    path.write_text(TINY.replace("EPOCHS", "100000"))
    out = tmp_path / "run"
    process = _spawn_fit(path, out)
    last = out / "checkpoints" / "last.safetensors"
    deadline = time.monotonic() + 20
    while not last.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.02)
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=20)
    assert process.returncode == code, stderr
    assert f"resume with: mlptrain fit --resume {out}" in stderr
    assert "Traceback" not in stderr
    meta = load_checkpoint(last).meta
    assert meta["step"] >= 1


def test_ctrl_c_while_the_report_is_written_says_how_to_finish_it(
    tmp_path: Path, cli, monkeypatch
) -> None:
    """Training finished, figures being drawn: the weights are saved; `mlptrain report` finishes."""
    import mlptrain.reporting.figures

    def interrupted_drawing(report, out_dir):
        raise KeyboardInterrupt

    monkeypatch.setattr(mlptrain.reporting.figures, "make_figures", interrupted_drawing)
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY.replace("EPOCHS", "2"))
    out = tmp_path / "run"
    result = cli("fit", path, "--out", out, "-q")
    assert result.exit_code == 130
    assert result.stderr.strip().splitlines() == [
        "interrupted while writing the report: training had finished and the weights are "
        f"saved in {out / 'checkpoints' / 'best.safetensors'}",
        f"finish the report with: mlptrain report {out}",
    ]
    assert load_checkpoint(out / "checkpoints" / "best.safetensors").meta["epoch"] == 2
    monkeypatch.undo()
    assert cli("report", out).exit_code == 0
    assert json.loads((out / "report.json").read_text())["status"] == "completed"
