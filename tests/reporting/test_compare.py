"""``mlptrain report`` and ``mlptrain compare``: rebuilt reports and side-by-side runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlptrain.cli import app
from tests.conftest import assert_no_traceback

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
    assert md.output.startswith("| run | name | dataset |")
    assert f"| {two_runs[0]} | iris |" in md.output and f"| {two_runs[1]} | iris |" in md.output


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


def test_runs_of_different_tasks_show_their_own_headline(
    two_runs: tuple[Path, Path], diabetes_run
) -> None:
    result = runner.invoke(app, ["compare", str(two_runs[0]), str(diabetes_run.dir)])
    assert result.exit_code == 0, result.output
    header, first, second = result.output.splitlines()
    assert "test headline" in header and "test accuracy" not in header
    accuracy = json.loads((two_runs[0] / "report.json").read_text())["metrics"]["test"]["accuracy"]
    r2 = diabetes_run.report["metrics"]["test"]["r2"]
    assert first.startswith(str(two_runs[0])) and f"accuracy {accuracy:.4f}" in first
    assert second.startswith(str(diabetes_run.dir)) and f"r2 {r2:.4f}" in second
    data = json.loads(
        runner.invoke(
            app, ["compare", str(two_runs[0]), str(diabetes_run.dir), "--format", "json"]
        ).output
    )
    assert data["headline"] is None
    assert [row["headline"] for row in data["runs"]] == [
        {"metric": "accuracy", "value": accuracy},
        {"metric": "r2", "value": r2},
    ]


def test_compare_skips_directories_that_are_not_finished_runs(
    two_runs: tuple[Path, Path], tmp_path: Path
) -> None:
    """`mlptrain compare runs/NAME/*` (its own help): cv and sweep folders sit among the
    runs, and an interrupted run has checkpoints but no report."""
    root = tmp_path / "iris"
    root.mkdir()
    for run in two_runs:
        shutil.copytree(run, root / run.name)
    (root / "cv-5-abc").mkdir()
    (root / "cv-5-abc" / "cv.json").write_text("{}")
    (root / "interrupted" / "checkpoints").mkdir(parents=True)
    shutil.copy(
        two_runs[0] / "checkpoints" / "last.safetensors", root / "interrupted" / "checkpoints"
    )
    result = runner.invoke(app, ["compare", *sorted(str(p) for p in root.iterdir())])
    assert result.exit_code == 0, result.output
    assert_no_traceback(result)
    notes = result.stderr.splitlines()
    assert notes == [
        f"note: skipped {root / 'cv-5-abc'}: no report.json (not a run directory, or the run "
        "never finished an epoch); `mlptrain evaluate` can still report on a checkpoint",
        f"note: skipped {root / 'interrupted'}: no report.json (not a run directory, or the run "
        "never finished an epoch); `mlptrain evaluate` can still report on a checkpoint",
    ]
    rows = result.stdout.splitlines()[1:]
    assert [row.split()[0] for row in rows] == [str(root / "a"), str(root / "b")]


def test_compare_with_no_finished_run_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "sweep").mkdir()
    result = runner.invoke(app, ["compare", str(tmp_path / "sweep")])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: no finished run to compare: {tmp_path / 'sweep'}: ")
    assert_no_traceback(result)


def test_the_report_model_reads_what_report_json_holds(two_runs: tuple[Path, Path]) -> None:
    from mlptrain.reporting.report_model import Report

    raw = json.loads((two_runs[0] / "report.json").read_text())
    report = Report.from_json(raw, "report.json")
    assert (report.name, report.status, report.task) == (raw["name"], "completed", "classification")
    assert report.training.epochs_run == 3 == len(report.training.history)
    assert report.training.seconds == raw["training"]["seconds"]
    assert report.data.n_train + report.data.n_val + report.data.n_test == 150  # iris rows
    assert report.metrics["test"]["accuracy"] == raw["metrics"]["test"]["accuracy"]
    assert report.optimizer["lr"] == 0.001
    assert report.model.total_params == sum(row["params"] for row in raw["model"]["layers"])
    first, last = raw["model"]["layers"][0]["layer"], raw["model"]["layers"][-1]["layer"]
    assert first.startswith("Linear(4 -> ") and last.startswith("Linear(")
    assert report.layer_names.startswith(first + " ") and report.layer_names.endswith(" " + last)


DAMAGED_REPORTS = {
    "seconds a string": (
        lambda r: r["training"].update(seconds="12"),
        "training.seconds: Input should be a valid number",
    ),
    "no task": (lambda r: r.pop("task"), "not an mlptrain report: no task"),
    "unknown task": (
        lambda r: r.update(task="ranking"),
        "task: 'ranking' is not one of classification, regression",
    ),
    "layers not a list": (lambda r: r["model"].update(layers={}), "model.layers: Input should"),
}


@pytest.mark.parametrize("damage", list(DAMAGED_REPORTS))
def test_a_malformed_report_is_one_line_in_report_and_a_note_in_compare(
    two_runs: tuple[Path, Path], tmp_path: Path, damage: str
) -> None:
    """report.json is a file a user may edit: a missing or mistyped key of the part compare
    and report read is named in one line (a traceback or a KeyError before)."""
    change, problem = DAMAGED_REPORTS[damage]
    run = tmp_path / "run"
    shutil.copytree(two_runs[0], run)
    report = json.loads((run / "report.json").read_text())
    change(report)
    (run / "report.json").write_text(json.dumps(report))
    rebuilt = runner.invoke(app, ["report", str(run)])
    assert rebuilt.exit_code == 2 and len(rebuilt.stderr.strip().splitlines()) == 1
    assert rebuilt.stderr.startswith(f"error: {run / 'report.json'}: not an mlptrain report: ")
    assert problem in rebuilt.stderr
    assert_no_traceback(rebuilt)
    compared = runner.invoke(app, ["compare", str(run), str(two_runs[1])])
    assert compared.exit_code == 0, compared.output
    assert compared.stderr.startswith(f"note: skipped {run / 'report.json'}: not an mlptrain")
    assert [row.split()[0] for row in compared.stdout.splitlines()[1:]] == [str(two_runs[1])]
