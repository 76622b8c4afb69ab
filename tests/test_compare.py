"""``mlptrain report`` and ``mlptrain compare``: rebuilt reports and side-by-side runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import assert_no_traceback
from typer.testing import CliRunner

from mlptrain.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("runs")
    first, second = root / "a", root / "b"
    for out, lr in ((first, "1e-3"), (second, "3e-3")):
        result = runner.invoke(
            app,
            ["fit", "configs/iris.yaml", "--out", str(out), "--quiet"]
            + ["--set", "train.epochs=3", "--set", f"train.optimizer.lr={lr}"],
        )
        assert result.exit_code == 0, result.output
    return first, second


def test_compare_table_names_the_differing_keys(two_runs: tuple[Path, Path]) -> None:
    result = runner.invoke(app, ["compare", *map(str, two_runs)])
    assert result.exit_code == 0, result.output
    header = result.output.splitlines()[0]
    assert "test accuracy" in header
    assert "train.optimizer.lr" in header
    assert "train.epochs" not in header  # equal in both runs
    assert "0.001" in result.output and "0.003" in result.output


def test_compare_json_and_markdown(two_runs: tuple[Path, Path]) -> None:
    result = runner.invoke(app, ["compare", *map(str, two_runs), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["differing_keys"] == ["train.optimizer.lr"]
    assert [row["differs"]["train.optimizer.lr"] for row in data["runs"]] == [0.001, 0.003]
    report = json.loads((two_runs[0] / "report.json").read_text())
    assert data["runs"][0]["test"]["accuracy"] == report["metrics"]["test"]["accuracy"]
    md = runner.invoke(app, ["compare", *map(str, two_runs), "--format", "md"])
    assert md.output.startswith("| name | dataset |")


def test_report_rebuilds_files_from_the_run(two_runs: tuple[Path, Path]) -> None:
    run = two_runs[0]
    for name in ("report.md", "report.html"):
        (run / name).unlink()
    for figure in (run / "figures").iterdir():
        figure.unlink()
    result = runner.invoke(app, ["report", str(run)])
    assert result.exit_code == 0, result.output
    assert "## Metrics" in (run / "report.md").read_text()
    assert "<html" in (run / "report.html").read_text()
    assert (run / "figures" / "curves.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize("command", ["report", "compare"])
def test_missing_run_directory_is_one_error_line(command: str, tmp_path: Path) -> None:
    result = runner.invoke(app, [command, str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "no such run directory" in result.output
    assert_no_traceback(result)


def test_a_directory_without_report_is_refused(tmp_path: Path) -> None:
    result = runner.invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2
    assert "no report.json" in result.output


def test_a_damaged_report_is_refused(tmp_path: Path) -> None:
    (tmp_path / "report.json").write_text("{not json")
    result = runner.invoke(app, ["compare", str(tmp_path)])
    assert result.exit_code == 2
    assert "cannot read the report" in result.output


def test_fit_without_figures_then_report_draws_them(tmp_path: Path) -> None:
    run = tmp_path / "run"
    result = runner.invoke(
        app,
        ["fit", "configs/iris.yaml", "--out", str(run), "--quiet", "--no-figures"]
        + ["--set", "train.epochs=2"],
    )
    assert result.exit_code == 0, result.output
    assert not list((run / "figures").glob("*.png")) if (run / "figures").exists() else True
    assert "data:image/png" not in (run / "report.html").read_text()
    assert runner.invoke(app, ["report", str(run)]).exit_code == 0
    assert (run / "figures" / "confusion.png").is_file()
    assert "data:image/png" in (run / "report.html").read_text()
