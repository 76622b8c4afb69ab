"""Figure workers: the same PNGs as in-process drawing, and every failure falls back to it."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlptrain.errors import RunError
from mlptrain.reporting.figures import make_figures, worker
from tests.reporting.test_plots import classification_report


def _report() -> dict:
    report = classification_report(layers=True)
    report["metrics"]["test"].pop("per_class")  # fewer figures: the test stays quick
    return report


@pytest.mark.parametrize("count", [1, 2])
def test_workers_draw_what_make_figures_draws(tmp_path: Path, count: int) -> None:
    workers = worker.start_workers(count)
    assert workers is not None and len(workers.processes) == count
    drawn = workers.draw(_report(), tmp_path / "by_workers")
    expected = make_figures(_report(), tmp_path / "in_process")
    # Same names in the same display order, each a PNG of the same size.
    assert list(drawn) == list(expected) == ["curves", "lr", "confusion", "diagnostics"]
    for name, path in drawn.items():
        assert path == tmp_path / "by_workers" / f"{name}.png"
        data, reference = path.read_bytes(), expected[name].read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        assert data[16:24] == reference[16:24]  # IHDR: width and height
    assert all(p.poll() is not None for p in workers.processes) or not workers.processes


@pytest.fixture(autouse=True)
def _idle(monkeypatch: pytest.MonkeyPatch) -> None:
    """The workers start whatever the load and size of the machine running the tests."""
    monkeypatch.setattr(worker, "_load", lambda: 0.0)
    monkeypatch.setattr(worker, "_cores", lambda: 2)


def test_dead_worker_falls_back_to_drawing_here(tmp_path: Path) -> None:
    workers = worker.start_workers()
    assert workers is not None
    workers.processes[0].kill()
    workers.processes[0].wait()
    drawn = workers.draw(_report(), tmp_path)
    assert list(drawn) == ["curves", "lr", "confusion", "diagnostics"]
    assert all(path.is_file() for path in drawn.values())
    assert workers.processes == []


def test_worker_error_surfaces_as_the_in_process_error(tmp_path: Path) -> None:
    blocker = tmp_path / "figures"
    blocker.write_text("a file where the figure directory should be")
    workers = worker.start_workers()
    assert workers is not None
    with pytest.raises(RunError, match="could not create the figure directory"):
        workers.draw(_report(), blocker)
    assert workers.processes == []


def test_workers_only_with_an_idle_core(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker, "_cores", lambda: 1)
    monkeypatch.setattr(worker, "_load", lambda: 0.0)
    assert worker.start_workers() is None
    monkeypatch.setattr(worker, "_cores", lambda: 2)
    for load, expected in ((0.3, 2), (1.0, None), (20.0, None)):
        monkeypatch.setattr(worker, "_load", lambda load=load: load)
        workers = worker.start_workers()
        assert (workers and len(workers.processes)) == expected
        if workers is not None:
            workers.close()


def test_closing_unused_workers_ends_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker, "_load", lambda: 0.0)
    workers = worker.start_workers()
    assert workers is not None
    processes = list(workers.processes)
    workers.close()
    assert all(p.returncode is not None for p in processes)


def test_drawer_starts_workers_only_for_long_enough_fits(tmp_path: Path) -> None:
    short = worker.FigureDrawer(epochs=12)
    short.observe_epoch({"epoch": 1, "seconds": 0.01})  # 0.11 s left: not worth a process
    short.observe_epoch({"epoch": 2, "seconds": 5.0})  # decided after the first epoch only
    assert short.workers is None
    assert list(short.draw(_report(), tmp_path / "here")) == [
        "curves",
        "lr",
        "confusion",
        "diagnostics",
    ]

    long = worker.FigureDrawer(epochs=12)
    long.observe_epoch({"epoch": 1, "seconds": 0.2})  # 2.2 s left
    try:
        assert long.workers is not None and len(long.workers.processes) == 2
        drawn = long.draw(_report(), tmp_path / "workers")
        assert list(drawn) == ["curves", "lr", "confusion", "diagnostics"]
    finally:
        long.close()


def test_every_figure_is_drawn_by_exactly_one_worker_group():
    from mlptrain.reporting.figures import FIGURES
    from mlptrain.reporting.figures.worker import GROUPS

    names = [name for group in GROUPS for name in group]
    assert sorted(names) == sorted(FIGURES)
