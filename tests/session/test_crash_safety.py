"""SIGKILL at random moments (checkpoint writes included): the newest checkpoint always loads
and passes its integrity check, leftover temporary files are ignored and removed at the next
start, and a final resume ends bit-identical to an uninterrupted run.

Most kills hit forked children (a fork costs milliseconds, an interpreter start half a second)
so 30+ kills fit in a few seconds; a few more hit real `mlptrain fit` processes.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlptrain.api import fit
from mlptrain.store.atomic import is_temp_file_name
from mlptrain.store.checkpoint import load_checkpoint
from mlptrain.store.jsonl import read_jsonl
from mlptrain.training.trainer import Callbacks
from tests.conftest import assert_no_traceback

CONFIG = """\
name: crash
seed: 11
data:
  dataset: moons
  params: {n_samples: 200, noise: 0.25}
model:
  layers: [{type: linear, units: 8}, tanh, {type: dropout, p: 0.1}, linear]
train:
  epochs: 100
  batch_size: 16
  optimizer: {type: adam, lr: 0.01}
  early_stopping: {monitor: val_loss, patience: 1000}
"""
KILLS = 32
MLPTRAIN = [sys.executable, "-c", "from mlptrain.cli import main; main()"]


def _child(config: Path, out: Path, training: Any = None) -> None:
    """What a (re)started training process does: resume if it can, else start afresh.

    ``training`` (an Event) is set when the first epoch starts, so the parent's random kill
    moment falls in training and checkpoint writes however slow the start-up is on a loaded
    machine (a kill before any checkpoint would leave nothing to check).
    """
    callbacks = Callbacks(on_epoch_start=lambda *_: training.set()) if training else None
    if (out / "checkpoints" / "last.safetensors").exists():
        fit(resume=out, callbacks=callbacks)
    else:
        fit(config, out=out, overwrite=True, checkpoint_every_steps=1, callbacks=callbacks)


def temp_files(out: Path) -> list[Path]:
    return [
        p
        for d in (out, out / "checkpoints")
        if d.is_dir()
        for p in d.iterdir()
        if is_temp_file_name(p.name)
    ]


def check_consistent(out: Path) -> int:
    """Everything on disk is whole; returns the step of the newest checkpoint (0: none yet)."""
    step = 0
    last = out / "checkpoints" / "last.safetensors"
    if last.exists():
        step = int(load_checkpoint(last).meta["step"])  # raises on any damage
    best = out / "checkpoints" / "best.safetensors"
    if best.exists():
        load_checkpoint(best)
    records = read_jsonl(out / "metrics.jsonl")  # a torn final line is tolerated, no other
    assert [r["epoch"] for r in records] == sorted({r["epoch"] for r in records}) or records
    for report in ("report.json",):
        if (out / report).exists():
            json.loads((out / report).read_text())
    return step


def same_tensors(a: Path, b: Path) -> None:
    left, right = load_checkpoint(a).tensors, load_checkpoint(b).tensors
    assert sorted(left) == sorted(right)
    for name in left:
        assert np.array_equal(left[name], right[name]), name


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("crash") / "crash.yaml"
    path.write_text(CONFIG)
    return path


@pytest.fixture(scope="module")
def reference(config: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fit(config, out=tmp_path_factory.mktemp("crash-ref") / "run").dir


def test_sigkill_at_random_moments_then_resume_matches(
    config: Path, reference: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    rng = random.Random(20240611)
    context = multiprocessing.get_context("fork")
    steps: list[int] = []
    leftovers = 0
    killed = 0
    for _ in range(KILLS):
        training = context.Event()
        child = context.Process(target=_child, args=(config, out, training))
        child.start()
        deadline = time.monotonic() + 30
        # A finished run never starts an epoch: its child just exits.
        while not training.wait(0.01) and child.is_alive() and time.monotonic() < deadline:
            pass
        time.sleep(rng.uniform(0.0, 0.12))
        with contextlib.suppress(ProcessLookupError):  # it may have finished the run
            os.kill(child.pid, signal.SIGKILL)
        child.join()
        killed += child.exitcode == -signal.SIGKILL
        leftovers += bool(temp_files(out))
        steps.append(check_consistent(out))
    assert killed >= 30
    assert steps == sorted(steps), "a checkpoint went backwards"
    assert steps[-1] > 0
    run = fit(resume=out)
    assert run.report["status"] == "completed"
    assert temp_files(out) == []  # cleaned at the start of the last resume
    same_tensors(
        out / "checkpoints" / "last.safetensors", reference / "checkpoints" / "last.safetensors"
    )
    same_tensors(
        out / "checkpoints" / "best.safetensors", reference / "checkpoints" / "best.safetensors"
    )
    assert [r["epoch"] for r in read_jsonl(out / "metrics.jsonl")] == list(range(1, 101))
    print(f"kills: {killed}, kills that left a temporary file: {leftovers}, steps: {steps}")


def test_leftover_temp_files_are_ignored_and_cleaned(
    config: Path, reference: Path, tmp_path: Path
) -> None:
    """A crash mid-write leaves `.last.safetensors.tmp-…`: loaders never look at it, and the
    next start removes it."""
    out = tmp_path / "run"
    child = multiprocessing.get_context("fork").Process(target=_child, args=(config, out))
    child.start()
    last = out / "checkpoints" / "last.safetensors"
    deadline = time.monotonic() + 10
    while not last.exists() and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(child.pid, signal.SIGKILL)
    child.join()
    torn = out / "checkpoints" / ".last.safetensors.tmp-999-deadbeef"
    torn.write_bytes(last.read_bytes()[:100])
    (out / ".report.json.tmp-999-cafe0001").write_text('{"status": "comp')
    check_consistent(out)
    fit(resume=out)
    assert temp_files(out) == []
    same_tensors(last, reference / "checkpoints" / "last.safetensors")


def test_sigkill_real_cli_processes(config: Path, reference: Path, tmp_path: Path) -> None:
    """The same with `mlptrain fit` in fresh interpreters, killed after training started."""
    out = tmp_path / "run"
    rng = random.Random(7)
    last = out / "checkpoints" / "last.safetensors"
    for _ in range(2):
        args = (
            ["fit", "--resume", str(out)]
            if last.exists()
            else [
                "fit",
                str(config),
                "--out",
                str(out),
                "--overwrite",
                "--checkpoint-every-steps",
                "1",
            ]
        )
        before = check_consistent(out)
        process = subprocess.Popen(
            [*MLPTRAIN, *args, "-q"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and process.poll() is None:
            if last.exists() and check_step(last) > before:
                break
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, 0.05))
        process.kill()
        process.wait(timeout=10)
        assert check_consistent(out) >= before
    fit(resume=out)
    same_tensors(last, reference / "checkpoints" / "last.safetensors")


def check_step(path: Path) -> int:
    try:
        return int(load_checkpoint(path).meta["step"])
    except Exception:  # the file may be replaced while we read it; the rename is atomic, so
        return 0  # a failure here means "not yet": the next poll sees the new file


def _child_stalled_in_write(config: Path, out: Path, stage: str, stalled, at_write: int) -> None:
    """Like ``_child``, but the ``at_write``-th checkpoint write stalls in ``stage`` (half its
    bytes written, or written and fsynced but not yet renamed) until the parent kills it."""
    import mlptrain.store.atomic as atomic

    counter = {"writes": 0}
    real_write, real_replace = atomic._os_write, atomic._os_replace

    def stall() -> None:
        stalled.set()
        time.sleep(60)

    def write(fd: int, data) -> int:
        if len(data) > 1000:  # a checkpoint, not a metrics line
            counter["writes"] += 1
            if stage == "write" and counter["writes"] == at_write:
                real_write(fd, bytes(data[: len(data) // 2]))
                stall()
        return real_write(fd, data)

    def replace(src, dst) -> None:
        if (
            stage == "rename"
            and str(dst).endswith("last.safetensors")
            and counter["writes"] >= at_write
        ):
            stall()
        real_replace(src, dst)

    atomic._os_write, atomic._os_replace = write, replace
    _child(config, out)


@pytest.mark.parametrize("stage", ["write", "rename"])
def test_sigkill_inside_checkpoint_write(
    config: Path, reference: Path, tmp_path: Path, stage: str
) -> None:
    """Deterministically killed halfway through writing a checkpoint, or between its fsync and
    its rename: the previous checkpoint is intact, the torn temporary file is ignored, then
    removed by the resume, which matches the uninterrupted run."""
    out = tmp_path / "run"
    context = multiprocessing.get_context("fork")
    for at_write in (3, 6):
        stalled = context.Event()
        child = context.Process(
            target=_child_stalled_in_write, args=(config, out, stage, stalled, at_write)
        )
        child.start()
        assert stalled.wait(20), "the child never reached the stalled write"
        os.kill(child.pid, signal.SIGKILL)
        child.join()
        assert temp_files(out), "the kill should have left a temporary file"
        assert check_consistent(out) > 0
    fit(resume=out)
    assert temp_files(out) == []
    same_tensors(
        out / "checkpoints" / "last.safetensors", reference / "checkpoints" / "last.safetensors"
    )


# I/O faults, locks, divergence, report atomicity ------------------------------------------

import errno  # noqa: E402

import mlptrain.store.atomic as atomic  # noqa: E402
from mlptrain.store.jsonl import append_line  # noqa: E402
from mlptrain.store.lock import RunLock  # noqa: E402

FAULTS = {
    "ENOSPC": (errno.ENOSPC, "No space left on device", "the disk is full"),
    "EIO": (errno.EIO, "Input/output error", "I/O error"),
    "EACCES": (errno.EACCES, "Permission denied", "check the permissions"),
}


def inject_fault(monkeypatch, call: str, code: int, marker: str, nth: int, snapshot: Path):
    """Make ``atomic.<call>`` fail with ``code`` on the ``nth`` temporary file whose name holds
    ``marker``; ``snapshot`` (the target) is copied aside at that moment."""
    opened: dict[int, str] = {}
    seen: list[str] = []
    saved: dict[str, bytes] = {}
    real_open, real = atomic._os_open, getattr(atomic, call)

    def open_(path, flags, mode=0o777):
        fd = real_open(path, flags, mode)
        opened[fd] = str(path)
        return fd

    def failing(*args):
        path = str(args[0]) if call == "_os_replace" else opened.get(args[0], "")
        if marker in path:
            if path not in seen:
                seen.append(path)
            if len(seen) == nth:
                saved["bytes"] = snapshot.read_bytes()
                raise OSError(code, os.strerror(code))
        return real(*args)

    monkeypatch.setattr(atomic, "_os_open", open_)
    monkeypatch.setattr(atomic, call, failing)
    return saved


@pytest.mark.parametrize("call", ["_os_write", "_os_fsync", "_os_replace"])
@pytest.mark.parametrize("fault", list(FAULTS))
def test_io_fault_during_checkpoint_write(
    config: Path, tmp_path: Path, cli, monkeypatch, call: str, fault: str
) -> None:
    code, cause, hint = FAULTS[fault]
    out = tmp_path / "run"
    last = out / "checkpoints" / "last.safetensors"
    saved = inject_fault(monkeypatch, call, code, ".last.safetensors.tmp-", 3, last)
    result = cli("fit", config, "--out", out, "-q", "--set", "train.epochs=5")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: could not write {last}: {cause}")
    assert hint in result.stderr and "the previous file, if any, is unchanged" in result.stderr
    assert_no_traceback(result)
    assert last.read_bytes() == saved["bytes"]  # the previous checkpoint, byte-identical
    assert load_checkpoint(last).meta["epoch"] == 2
    assert temp_files(out) == []


def test_unwritable_output_directory_is_reported_before_training(
    config: Path, tmp_path: Path, cli, monkeypatch
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = cli("fit", config, "--out", blocker / "run")
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"error: output directory {blocker / 'run'} cannot be created: Not a directory"
    )
    as_file = cli("fit", config, "--out", blocker)
    assert as_file.exit_code == 2
    assert as_file.stderr.startswith(f"error: --out {blocker}: exists and is not a directory")

    started: list[int] = []
    monkeypatch.setattr("mlptrain.training.trainer.Trainer.run", lambda self: started.append(1))
    real_open = atomic._os_open

    def refuse_probe(path, flags, mode=0o777):
        if ".mlptrain-probe" in str(path):
            raise OSError(errno.EACCES, os.strerror(errno.EACCES))
        return real_open(path, flags, mode)

    monkeypatch.setattr(atomic, "_os_open", refuse_probe)
    denied = cli("fit", config, "--out", tmp_path / "ro")
    assert denied.exit_code == 1
    assert denied.stderr.startswith(
        f"error: output directory {tmp_path / 'ro'} is not writable: Permission denied"
    )
    assert started == []


def test_second_run_on_a_locked_directory_is_refused(config: Path, tmp_path: Path, cli) -> None:
    out = tmp_path / "run"
    out.mkdir()
    with RunLock(out):
        result = cli("fit", config, "--out", out)
        assert result.exit_code == 1
        assert result.stderr.startswith(
            f"error: run directory {out} is in use by another mlptrain process (pid {os.getpid()})"
        )
    fit(config, out=out, overrides=["train.epochs=2"], checkpoint_every_steps=1, overwrite=True)
    with RunLock(out):
        # More epochs: a finished run has nothing to train and takes no lock.
        resumed = cli("fit", "--resume", out, "--set", "train.epochs=3")
        assert resumed.exit_code == 1
        assert "is in use by another mlptrain process" in resumed.stderr


DIVERGE = """\
name: diverge
seed: 1
data: {dataset: diabetes}
model: {layers: [{type: linear, units: 16}, relu, linear], loss: mse}
train:
  epochs: 5
  batch_size: 32
  optimizer: {type: sgd, lr: 1.0e+6}
  early_stopping: null
checkpoint: {every_steps: 1}
"""


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_divergence_stops_keeps_last_finite_checkpoint(tmp_path: Path, cli, monkeypatch) -> None:
    import mlptrain.session.saver as saver

    config = tmp_path / "diverge.yaml"
    config.write_text(DIVERGE)
    out = tmp_path / "run"
    written: list[bytes] = []
    real_save = saver.save_checkpoint

    def recording_save(path, tensors, meta):
        real_save(path, tensors, meta)
        if Path(path).name == "last.safetensors":
            written.append(Path(path).read_bytes())

    monkeypatch.setattr(saver, "save_checkpoint", recording_save)
    result = cli("fit", config, "--out", out, "-q")
    assert result.exit_code == 1
    assert_no_traceback(result)
    message = result.stderr
    assert message.startswith("error: training diverged: non-finite ")
    assert " at epoch 1, step " in message and "(learning rate 1e+06)" in message
    assert "Try a smaller learning rate (train.optimizer.lr)" in message
    last = out / "checkpoints" / "last.safetensors"
    assert written and last.read_bytes() == written[-1]
    ckpt = load_checkpoint(last)
    assert all(np.isfinite(v).all() for v in ckpt.tensors.values())
    step = int(message.split(" step ")[1].split(" ")[0])
    assert ckpt.meta["step"] == step - 1
    report = json.loads((out / "report.json").read_text())
    assert report["status"] == "failed" and report["error"].startswith("training diverged")


def test_report_and_metrics_old_or_new_never_partial(
    config: Path, tmp_path: Path, monkeypatch
) -> None:
    out = tmp_path / "run"
    fit(config, out=out, overrides=["train.epochs=3"], checkpoint_every_steps=1)
    old = {
        name: (out / name).read_bytes() for name in ("report.json", "report.md", "metrics.jsonl")
    }
    # A resume of a finished run only rewrites the reports: fail that write halfway.
    real_open, real_write = atomic._os_open, atomic._os_write
    opened: dict[int, str] = {}
    failing = [".report.json."]

    def open_(path, flags, mode=0o777):
        fd = real_open(path, flags, mode)
        opened[fd] = str(path)
        return fd

    def half_then_fail(fd, data):
        if not any(
            opened.get(fd, "").endswith(m) or m + "tmp" in opened.get(fd, "") for m in failing
        ):
            return real_write(fd, data)
        real_write(fd, bytes(data[: max(1, len(data) // 2)]))
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(atomic, "_os_open", open_)
    monkeypatch.setattr(atomic, "_os_write", half_then_fail)
    from mlptrain.errors import RunError

    with pytest.raises(RunError, match="could not write .*report.json: Input/output error"):
        fit(resume=out)
    assert {name: (out / name).read_bytes() for name in old} == old
    assert temp_files(out) == []
    # A metrics append torn halfway: earlier lines intact, the torn one ignored, then cut by resume.
    failing[:] = ["/metrics.jsonl"]
    with pytest.raises(RunError, match="could not append to .*metrics.jsonl"):
        append_line(out / "metrics.jsonl", json.dumps({"epoch": 4, "train_loss": 1.0}))
    monkeypatch.undo()
    assert (out / "metrics.jsonl").read_bytes().startswith(old["metrics.jsonl"])
    assert [r["epoch"] for r in read_jsonl(out / "metrics.jsonl")] == [1, 2, 3]
    fit(resume=out)
    assert (out / "metrics.jsonl").read_bytes() == old["metrics.jsonl"]
