"""Drawing the figures in the worker changes nothing about training: same weights, bit for bit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import mlptrain
from mlptrain import timings
from mlptrain.reporting import figures
from mlptrain.reporting.figures import worker


def _no_drawing_here(*args: object, **kwargs: object) -> dict:
    raise AssertionError("drawn in the fit's process: the worker's answer was not used")


def test_weights_do_not_depend_on_the_figure_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, configs_dir: Path
) -> None:
    config = configs_dir / "digits.yaml"
    overrides = ["train.epochs=4", "train.dtype=float32"]
    plain = mlptrain.fit(config, overrides=overrides, out=tmp_path / "plain", figures=False)
    started: list[object] = []
    real_start = worker.start_worker

    def start(idle: float | None = None) -> worker.Worker | None:
        started.append(real_start())
        return started[-1]  # type: ignore[return-value]

    # Start the worker whatever the machine's load and however short the epochs.
    monkeypatch.setattr(worker, "_load", lambda: 0.0)
    monkeypatch.setattr(worker, "usable_cores", lambda: 2)
    monkeypatch.setattr(worker, "MIN_REMAINING", 0.0)
    monkeypatch.setattr(worker, "start_worker", start)
    # Every figure must come from the worker (early ones included), none drawn here.
    monkeypatch.setattr(figures, "make_figures", _no_drawing_here)
    timings.reset()
    drawn = mlptrain.fit(config, overrides=overrides, out=tmp_path / "drawn", figures=True)
    assert len(started) == 1 and started[0] is not None
    assert "figures (worker)" in timings.recorded()  # --timings says where they were drawn
    pngs = sorted(path.stem for path in (tmp_path / "drawn" / "figures").glob("*.png"))
    assert set(worker.EARLY) <= set(pngs)
    assert {"confusion", "roc", "pr", "importance"} <= set(pngs)
    np.testing.assert_array_equal(plain.model.flat_params, drawn.model.flat_params)
