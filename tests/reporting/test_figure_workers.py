"""The figure worker: the same PNGs as in-process drawing, and every failure falls back to it."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlptrain.errors import RunError
from mlptrain.reporting import figures
from mlptrain.reporting.figures import make_figures, worker
from tests.reporting.test_plots import classification_report

NAMES = ["curves", "lr", "confusion", "diagnostics"]
IDLE_CORES = worker.idle_cores  # the real one: the autouse fixture replaces it


def _report() -> dict:
    report = classification_report(layers=True)
    report["metrics"]["test"].pop("per_class")  # fewer figures: the test stays quick
    return report


@pytest.fixture(autouse=True)
def _idle(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker starts whatever the load and size of the machine running the tests."""
    monkeypatch.setattr(worker, "_load", lambda: 0.0)
    monkeypatch.setattr(worker, "usable_cores", lambda: 2)
    monkeypatch.setattr(worker, "idle_cores", lambda since: 1.0)


def _no_drawing_here(*args: object, **kwargs: object) -> dict:
    raise AssertionError("drawn in the parent process: the worker's answer was not used")


def test_worker_draws_what_make_figures_draws(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = make_figures(_report(), tmp_path / "in_process")
    started = worker.start_worker()
    assert started is not None and started.process is not None
    process = started.process
    # The worker must really draw: the in-process fallback would give the same files.
    monkeypatch.setattr(figures, "make_figures", _no_drawing_here)
    drawn = started.draw(_report(), tmp_path / "by_worker")
    # Same names in the same display order, each a PNG of the same size.
    assert list(drawn) == list(expected) == NAMES
    for name, path in drawn.items():
        assert path == tmp_path / "by_worker" / f"{name}.png"
        data, reference = path.read_bytes(), expected[name].read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        assert data[16:24] == reference[16:24]  # IHDR: width and height
    assert process.returncode == 0 and started.process is None


def test_a_draw_without_the_early_job_takes_the_fits_path(tmp_path: Path) -> None:
    """Not what a fit does (it always sends the early job first): ``draw`` sends the early job
    itself, so the worker has the fit's one path, and the PNGs are still a full answer."""
    import json

    started = worker.start_worker()
    assert started is not None and started.process is not None
    drawn = started.draw(_report(), tmp_path)
    assert started._early is not None  # the early job went first
    assert list(drawn) == NAMES and all(p.is_file() for p in drawn.values())
    answer = worker._draw(_report(), tmp_path / "again", NAMES)
    assert sorted(answer["written"]) == sorted(NAMES)
    assert json.loads(json.dumps(answer)) == answer  # what main() prints


def test_a_worker_sent_no_early_job_answers_an_error() -> None:
    """The worker's protocol has one path: a first job that is not the early one is refused
    (the parent then draws in-process)."""
    import json

    started = worker.start_worker()
    assert started is not None and started.process is not None
    process = started.process
    assert process.stdin is not None and process.stdout is not None
    job = {"report": _report(), "out_dir": "unused", "names": NAMES}
    process.stdin.write(json.dumps(job).encode() + b"\n")
    process.stdin.close()
    answer = json.loads(process.stdout.read())
    assert answer == {"error": "ValueError: the first job must be the early one"}
    started.close()


def test_an_error_in_the_fork_is_the_answer(tmp_path: Path) -> None:
    """The fork's early figures fail (their directory is a file): the worker answers that
    error, which sends the parent to draw in-process and raise it."""
    import io
    import json
    import os

    if not hasattr(os, "fork"):
        pytest.skip("no os.fork on this platform")
    blocker = tmp_path / "figures"
    blocker.write_text("a file where the figure directory should be")
    report = _report()
    early = {"early": True, "report": _early(report), "out_dir": str(blocker),
             "names": [n for n in NAMES if n in worker.EARLY]}  # fmt: skip
    final = {"report": report, "out_dir": str(blocker),
             "names": [n for n in NAMES if n not in worker.EARLY]}  # fmt: skip
    jobs = io.BytesIO(json.dumps(final).encode() + b"\n")
    answer = worker._draw_after_early(early, jobs)
    assert "could not create the figure directory" in answer["error"]


def test_dead_worker_falls_back_to_drawing_here(tmp_path: Path) -> None:
    started = worker.start_worker()
    assert started is not None and started.process is not None
    started.process.kill()
    started.process.wait()
    drawn = started.draw(_report(), tmp_path)
    assert list(drawn) == NAMES
    assert all(path.is_file() for path in drawn.values())
    assert started.process is None


def test_hung_worker_is_killed_and_the_figures_drawn_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker, "TIMEOUT", 1.0)
    # Reads nothing and answers nothing, like a worker stuck in its imports.
    stuck = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    started = time.monotonic()
    drawn = worker.Worker(stuck).draw(_report(), tmp_path)
    assert time.monotonic() - started < 30
    assert list(drawn) == NAMES
    assert stuck.returncode is not None


def test_worker_error_surfaces_as_the_in_process_error(tmp_path: Path) -> None:
    blocker = tmp_path / "figures"
    blocker.write_text("a file where the figure directory should be")
    started = worker.start_worker()
    assert started is not None
    with pytest.raises(RunError, match="could not create the figure directory"):
        started.draw(_report(), blocker)
    assert started.process is None


def test_worker_only_with_an_idle_core(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker, "usable_cores", lambda: 1)
    assert worker.start_worker() is None
    monkeypatch.setattr(worker, "usable_cores", lambda: 2)
    for load, starts in ((0.3, True), (1.0, False), (20.0, False)):
        monkeypatch.setattr(worker, "_load", lambda load=load: load)
        started = worker.start_worker()
        assert (started is not None) is starts
        if started is not None:
            started.close()


def test_worker_only_when_the_first_epoch_left_a_core_idle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Measured over the first epoch, not the load average, which still counts the fit
    that ran just before this one."""
    monkeypatch.setattr(worker, "_load", lambda: 5.0)  # ignored once idle is measured
    for idle, starts in ((1.0, True), (0.5, True), (0.4, False), (0.0, False)):
        started = worker.start_worker(idle)
        assert (started is not None) is starts, idle
        if started is not None:
            started.close()


def test_idle_cores_from_the_machines_busy_time(monkeypatch: pytest.MonkeyPatch) -> None:
    readings = iter([(10.0, 500.0), (12.0, 502.5)])  # 2.5 busy core-seconds in 2 s
    monkeypatch.setattr(worker, "_machine_busy", lambda: next(readings))
    since = worker._machine_busy()
    assert IDLE_CORES(since) == pytest.approx(2 - 1.25)
    monkeypatch.setattr(worker, "_machine_busy", lambda: None)  # no /proc/stat
    assert IDLE_CORES(since) is None
    assert IDLE_CORES(None) is None


def test_machine_busy_reads_proc_stat() -> None:
    import os

    reading = worker._machine_busy()
    if not os.path.exists("/proc/stat"):
        assert reading is None
        return
    assert reading is not None
    later = worker._machine_busy()
    assert later is not None and later[0] >= reading[0] and later[1] >= reading[1] > 0


def test_closing_an_unused_worker_ends_it() -> None:
    started = worker.start_worker()
    assert started is not None and started.process is not None
    process = started.process
    started.close()
    assert process.returncode is not None and started.process is None


def test_drawer_starts_the_worker_only_for_long_enough_fits(tmp_path: Path) -> None:
    short = worker.FigureDrawer(epochs=12)
    short.observe_epoch({"epoch": 1, "seconds": 0.01})  # 0.11 s left: not worth a process
    short.observe_epoch({"epoch": 2, "seconds": 5.0})  # decided after the first epoch only
    assert short.worker is None
    assert list(short.draw(_report(), tmp_path / "here")) == NAMES

    long = worker.FigureDrawer(epochs=12)
    long.observe_epoch({"epoch": 1, "seconds": 0.2})  # 2.2 s left
    try:
        assert long.worker is not None and long.worker.process is not None
        drawn = long.draw(_report(), tmp_path / "worker")
        assert list(drawn) == NAMES
        assert long.worker.process is None  # the worker ends with its answer
    finally:
        long.close()


def test_the_early_and_fork_groups_are_figures_and_apart() -> None:
    from mlptrain.reporting.figures import FIGURES

    assert set(worker.EARLY) <= set(FIGURES) and set(worker.FORK_REST) <= set(FIGURES)
    assert not set(worker.EARLY) & set(worker.FORK_REST)


def _early(report: dict) -> dict:
    """What a fit sends when training ends: the final history, no metrics yet."""
    return {**report, "metrics": {}}


def test_early_figures_then_the_rest_give_the_in_process_pngs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The history's figures drawn from the early report and the others from the final one
    are, byte for byte, what make_figures draws from the final report in one go."""
    report = _report()
    expected = make_figures(report, tmp_path / "in_process")
    started = worker.start_worker()
    assert started is not None and started.process is not None
    monkeypatch.setattr(figures, "make_figures", _no_drawing_here)
    started.draw_early(_early(report), tmp_path / "by_worker")
    drawn = started.draw(report, tmp_path / "by_worker")
    assert list(drawn) == list(expected) == NAMES
    for name, path in drawn.items():
        assert path.read_bytes() == expected[name].read_bytes(), name


def test_after_early_the_fork_draws_the_history_and_its_share(tmp_path: Path) -> None:
    import io
    import json
    import os

    if not hasattr(os, "fork"):
        pytest.skip("no os.fork on this platform")
    report = _report()
    early = {"early": True, "report": _early(report), "out_dir": str(tmp_path), "names": NAMES}
    rest = {"report": report, "out_dir": str(tmp_path), "names": ["confusion"]}
    jobs = io.BytesIO(json.dumps(rest).encode() + b"\n")
    answer = worker._draw_after_early(early, jobs)
    # the early report has no metrics: the confusion matrix can only come from the final job
    assert sorted(answer["written"]) == sorted(NAMES)
    assert all((tmp_path / f"{name}.png").is_file() for name in NAMES)


def test_an_error_in_the_early_figures_is_the_answer(tmp_path: Path) -> None:
    import io

    blocker = tmp_path / "figures"
    blocker.write_text("a file where the figure directory should be")
    early = {"early": True, "report": _early(_report()), "out_dir": str(blocker),
             "names": list(worker.EARLY)}  # fmt: skip
    answer = worker._draw_after_early(early, io.BytesIO(b""))
    assert "could not create the figure directory" in answer["error"]


def test_sending_the_early_job_never_waits_for_the_worker(tmp_path: Path) -> None:
    """A worker still importing matplotlib reads nothing: a job larger than the pipe's
    buffer must not hold the fit up until it does."""
    stuck = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    report = _report()
    report["padding"] = "x" * 1_000_000  # far beyond a pipe's 64 KiB
    started = time.monotonic()
    slow = worker.Worker(stuck)
    slow.draw_early(_early(report), tmp_path)
    assert time.monotonic() - started < 5
    slow.close()
    assert stuck.returncode is not None


def test_a_worker_dead_after_the_early_job_falls_back(tmp_path: Path) -> None:
    started = worker.start_worker()
    assert started is not None and started.process is not None
    started.draw_early(_early(_report()), tmp_path)
    started.process.kill()
    started.process.wait()
    drawn = started.draw(_report(), tmp_path)
    assert list(drawn) == NAMES
    assert all(path.is_file() for path in drawn.values())


def test_the_early_figures_read_only_the_history() -> None:
    """Drawn before the metrics exist: each must come out the same from a report without
    them (the byte comparison above holds them to it)."""
    from mlptrain.reporting.figures import FIGURES

    assert set(worker.EARLY) <= set(FIGURES)
    assert set(worker.FORK_REST) <= set(FIGURES) - set(worker.EARLY)
    report = _report()
    for name in worker.EARLY:
        assert (FIGURES[name](report) is None) == (FIGURES[name](_early(report)) is None)


@pytest.mark.parametrize(("own_cpu", "started"), [(20.0, True), (10.0, False)])
def test_a_fit_training_on_every_core_starts_its_worker_when_training_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, own_cpu: float, started: bool
) -> None:
    """W2 (128-512-256-10, batch 256) trains on every core, W1 (digits 64-256-128-10, batch
    64) on one BLAS thread. A worker importing matplotlib beside W2's training would slow it,
    so none starts while it trains; one starts when training ends, to draw while the fit
    computes its metrics, if nothing else kept the machine busy meanwhile. Here the machine's
    2 cores were busy 20 of 10 s x 2: all of it this fit's (a worker starts), or half of it
    (another process used a core: the fit draws its figures itself)."""
    from mlptrain.training.threads import on_every_core

    w1 = 64 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10
    w2 = 128 * 512 + 512 + 512 * 256 + 256 + 256 * 10 + 10
    assert not on_every_core(w1, 64) and on_every_core(w2, 256)
    readings = iter([(100.0, 50.0), (110.0, 70.0)])  # (seconds, the machine's busy seconds)
    spent = iter([3.0, 3.0 + own_cpu])  # this process's CPU seconds
    monkeypatch.setattr(worker, "_machine_busy", lambda: next(readings))
    monkeypatch.setattr(worker, "_own_cpu", lambda: next(spent))
    busy = worker.FigureDrawer(10, worker=False)
    busy.observe_epoch({"epoch": 1, "seconds": 5.0})  # 45 s left: a worker would pay, if idle
    assert busy.worker is None
    try:
        busy.draw_early(_report, tmp_path)
        assert (busy.worker is not None) is started
        if started:  # every figure from the worker
            monkeypatch.setattr(figures, "make_figures", _no_drawing_here)
        assert list(busy.draw(_report(), tmp_path)) == NAMES
    finally:
        busy.close()


def test_a_rebuilt_report_draws_its_figures_in_a_worker_started_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`mlptrain report RUN` starts the worker before it checks the run's data, so that
    matplotlib's import overlaps that check; every figure then comes from it. A sweep's best
    trial, whose data is not checked again, is drawn here: nothing would hide the worker's
    start-up."""
    import json

    from mlptrain.reporting.compare import rebuild_report

    report = classification_report(layers=True)
    expected = list(make_figures(report, tmp_path / "here"))
    runs = {name: tmp_path / name for name in ("checked", "unchecked")}
    for run in runs.values():
        run.mkdir()
        (run / "report.json").write_text(json.dumps(report))
    monkeypatch.setattr(figures, "make_figures", _no_drawing_here)
    rebuild_report(runs["checked"])
    assert sorted(p.stem for p in (runs["checked"] / "figures").glob("*.png")) == sorted(expected)
    assert "per_class" in expected and (runs["checked"] / "report.html").is_file()
    drawn_here: list[int] = []

    def here(report: dict, out_dir: Path, names: object = None) -> dict:
        drawn_here.append(1)
        return make_figures(report, out_dir)

    monkeypatch.setattr(figures, "make_figures", here)
    rebuild_report(runs["unchecked"], check_data=False)
    assert drawn_here == [1]
    assert sorted(p.stem for p in (runs["unchecked"] / "figures").glob("*.png")) == sorted(expected)
