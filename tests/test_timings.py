"""Where the wall time went: phases add up, the process's age is right, and fit prints them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlptrain import timings

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _fresh() -> None:
    timings.reset()


def test_a_phase_entered_twice_adds_up_in_first_entered_order() -> None:
    with timings.phase("b"):
        time.sleep(0.02)
    with timings.phase("a"):
        time.sleep(0.01)
    with timings.phase("b"):
        time.sleep(0.02)
    timings.add("c", 1.5)
    recorded = timings.recorded()
    assert list(recorded) == ["b", "a", "c"]
    assert 0.04 <= recorded["b"] < 1.0 and 0.01 <= recorded["a"] < 1.0
    assert recorded["c"] == 1.5


def test_a_phase_that_raises_is_still_counted() -> None:
    with pytest.raises(ValueError), timings.phase("failing"):
        time.sleep(0.01)
        raise ValueError("boom")
    assert timings.recorded()["failing"] >= 0.01


def test_the_table_shows_each_share_and_what_no_phase_covered() -> None:
    timings.add("data", 1.0)
    timings.add("train", 3.0)
    lines = timings.table(total=8.0).splitlines()
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:]}
    assert rows["data"] == ["1.000", "12.5%"]
    assert rows["train"] == ["3.000", "37.5%"]
    assert rows["other"] == ["4.000", "50.0%"]
    assert rows["total"] == ["8.000"]


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="Linux's /proc only")
def test_process_age_agrees_with_ps() -> None:
    out = subprocess.run(
        ["ps", "-o", "etimes=", "-p", str(os.getpid())], capture_output=True, text=True
    )
    if out.returncode != 0:
        pytest.skip("no ps here")
    age = timings.process_age()
    assert age is not None
    assert abs(age - int(out.stdout)) <= 2.0


def test_fit_timings_prints_the_phases_of_the_run(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mlptrain",
            "fit",
            ROOT / "configs" / "iris.yaml",
            "--set",
            "train.epochs=2",
            "--out",
            tmp_path / "run",
            "--no-figures",
            "--quiet",
            "--timings",
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    table = result.stdout.split("where the wall time went:\n")[1]
    seconds = {
        match[1]: float(match[2])
        for match in re.finditer(r"^  (\S[^\d\n]*?)\s+(\d+\.\d{3})", table, re.MULTILINE)
    }
    for name in ("start-up", "data", "train", "metrics", "importance", "report files"):
        assert seconds[name] > 0, name
    assert "figures" in seconds  # --no-figures: only the (empty) figure step
    parts = sum(v for k, v in seconds.items() if k != "total")
    assert parts == pytest.approx(seconds["total"], abs=0.01)
