"""Shared fixtures: the CLI runner, the shipped configs, and short runs reused across tests.

The session runs are read-only for the tests that use them: a test that changes a run
directory fits its own. Drawing a run's PNG figures costs about a second with matplotlib, far
more than a two-epoch fit: tests about training use ``no_figures`` (the figures have their
own tests in test_plots.py and test_html_report.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner, Result

from mlptrain.cli import app

CONFIGS = Path(__file__).resolve().parents[1] / "configs"

# The tiers (README, "Development"): `pytest -m "not slow and not server"` is the fast tier.
# Measured with `pytest --durations=0` (2026-12-04): these modules take 8 s or more each
# under load (whole runs, sweeps, crash loops, exported scripts, figures, scikit-learn's
# estimator checks, the hostile-file fuzzing); the tests below take 3 s or more in modules
# that are otherwise quick.
SLOW_MODULES = {
    "tests/cli/test_cli_columns.py",
    "tests/cli/test_cli_fit.py",
    "tests/cli/test_cli_one_command.py",
    "tests/cli/test_cli_rough_edges.py",
    "tests/cli/test_cli_tools.py",
    "tests/cli/test_tables_cli.py",
    "tests/config/test_configs_shipped.py",
    "tests/reporting/test_compare.py",
    "tests/reporting/test_figure_workers.py",
    "tests/reporting/test_plots.py",
    "tests/reporting/test_ranking_figures.py",
    "tests/data/test_data_fingerprint.py",
    "tests/sklearn/test_sklearn_checks.py",
    "tests/test_hostile.py",
    "tests/search/test_cv.py",
    "tests/search/test_sweep.py",
    "tests/search/test_sweep_optuna.py",
    "tests/serving/test_export.py",
    "tests/session/test_crash_safety.py",
    "tests/session/test_figure_drawer.py",
    "tests/session/test_resume.py",
    "tests/tracking/test_tracking.py",
    "tests/training/test_signals.py",
}
SLOW_TESTS = {
    "tests/data/test_dates.py::test_fit_predict_and_the_exported_script_read_dates_alike",
    "tests/data/test_number_formats.py::test_predict_and_the_exported_script_read_the_file_as_training_did",
    "tests/nn/test_ensemble.py::test_matches_pytorch",
    "tests/sklearn/test_readme_sklearn.py::test_readme_sklearn_example_runs_as_written",
    "tests/sklearn/test_sklearn_integration.py::test_to_run_dir_serves_evaluate_predict_report_and_export",
    "tests/reporting/test_diagnostics.py::test_training_records_layers_and_reports_warnings",
    "tests/reporting/test_html_report.py::test_regression_page",
}
# Modules whose tests start a server on localhost (MLflow, Dask, PostgreSQL, mlptrain serve).
SERVER_MODULES = {
    "tests/search/test_sweep_dask_study.py",
    "tests/search/test_sweep_postgres.py",
    "tests/serving/test_serve_server.py",
    "tests/tracking/test_tracking_server.py",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = Path(config.rootpath)
    for item in items:
        module = item.path.relative_to(root).as_posix() if item.path.is_relative_to(root) else ""
        test = f"{module}::{item.name.split('[')[0]}"
        if module in SLOW_MODULES or test in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)
        if module in SERVER_MODULES:
            item.add_marker(pytest.mark.server)


def tiny_iris(
    *,
    epochs: int = 3,
    units: int = 4,
    seed: int = 3,
    batch_size: int = 32,
    name: str = "tiny",
    activation: str = "tanh",
    lr: str | None = "1.0e-2",
    val_size: float = 0.2,
    dtype: str | None = None,
    early_stopping: bool = True,
) -> str:
    """The tiny iris config the sweep, study, cv and epoch-metric tests share: one hidden
    layer, Adam at ``lr`` (None: the default optimizer); ``early_stopping=False`` writes
    ``early_stopping: null``."""
    train = [f"  epochs: {epochs}", f"  batch_size: {batch_size}"]
    if lr is not None:  # None: the default optimizer
        train.append(f"  optimizer: {{type: adam, lr: {lr}}}")
    if dtype is not None:
        train.append(f"  dtype: {dtype}")
    if not early_stopping:
        train.append("  early_stopping: null")
    return (
        f"""\
name: {name}
seed: {seed}
data: {{dataset: iris, test_size: 0.2, val_size: {val_size}}}
model:
  layers:
    - {{type: linear, units: {units}}}
    - {activation}
    - {{type: linear}}
train:
"""
        + "\n".join(train)
        + "\n"
    )


def sweep_on_two_machines(config: Path, storage: str, out: Path, trials: int = 7) -> list[dict]:
    """Two ``mlptrain sweep --search tpe`` processes sharing one study in ``storage``, as two
    machines would; each machine's trial records (``out/machine0``, ``out/machine1``)."""
    from mlptrain.search import latest_records

    command = [
        sys.executable, "-c", "from mlptrain.cli import main; main()", "sweep", str(config),
        "--search", "tpe", "--random", "train.optimizer.lr=loguniform(1e-3,0.3)",
        "--trials", str(trials), "--storage", storage,
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    machines = [
        subprocess.Popen([*command, "--out", str(out / f"machine{i}")], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for i in range(2)
    ]  # fmt: skip
    outputs = [m.communicate(timeout=300)[0] for m in machines]
    assert [m.returncode for m in machines] == [0, 0], outputs
    return [latest_records(out / f"machine{i}") for i in range(2)]


def assert_no_traceback(result: Result) -> None:
    """The command exited on purpose (``typer.Exit`` / ``SystemExit``), not by an exception.

    Looking for the word Traceback in ``result.output`` can never fail under CliRunner: it catches an
    escaping exception into ``result.exception`` (exit code 1) and prints no traceback.
    """
    if result.exit_code == 0:
        assert result.exception is None, repr(result.exception)
    else:
        assert isinstance(result.exception, SystemExit), repr(result.exception)


def exported_script_output(run: Path, rows: Path, folder: Path) -> str:
    """What ``run``'s NumPy export (written into ``folder``) prints for ``rows`` with --proba."""
    from mlptrain.serving.export import export_numpy

    export_numpy(run, folder)
    done = subprocess.run(
        [sys.executable, str(folder / "predict.py"), str(rows), "--proba"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout


def assert_same_predictions(expected: str, got: str) -> None:
    """Two prediction CSVs printed with --proba: the header and the labels equal, the
    probabilities to float32 rounding (two float32 forwards may differ in the last digits)."""
    ours = [line.split(",") for line in expected.strip().splitlines()]
    theirs = [line.split(",") for line in got.strip().splitlines()]
    assert [row[0] for row in theirs] == [row[0] for row in ours]
    np.testing.assert_allclose(
        np.array([row[1:] for row in theirs[1:]], dtype=float),
        np.array([row[1:] for row in ours[1:]], dtype=float),
        rtol=1e-6,
    )


@pytest.fixture(scope="session")
def configs_dir() -> Path:
    return CONFIGS


@pytest.fixture(scope="session")
def cli() -> Callable[..., Result]:
    """``cli("fit", path, "--out", out)``: the mlptrain CLI in-process (stdout, stderr apart)."""
    runner = CliRunner()

    def invoke(*args: object) -> Result:
        return runner.invoke(app, [str(a) for a in args])

    return invoke


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., Path]:
    """``write_config(text, name="config.yaml")``: a config file in tmp_path."""

    def write(text: str, name: str = "config.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


def _skip_figures(mp: pytest.MonkeyPatch) -> None:
    mp.setattr("mlptrain.reporting.figures.make_figures", lambda report, out_dir, names=None: {})
    mp.setattr("mlptrain.reporting.figures.worker.start_worker", lambda idle=None: None)


@pytest.fixture
def no_figures(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs write report.json/md/html but no PNG figures (seconds saved per fit)."""
    _skip_figures(monkeypatch)


def _short_run(config: str, epochs: int, out: Path):
    from mlptrain.api import fit

    with pytest.MonkeyPatch.context() as mp:
        _skip_figures(mp)
        return fit(CONFIGS / config, overrides=[f"train.epochs={epochs}"], out=out)


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory: pytest.TempPathFactory):
    """configs/digits.yaml for 2 epochs (float32, dropout, no early stopping)."""
    return _short_run("digits.yaml", 2, tmp_path_factory.mktemp("runs") / "digits")


@pytest.fixture(scope="session")
def fruit_run(tmp_path_factory: pytest.TempPathFactory):
    """configs/fruit_csv.yaml for 3 epochs: string labels read from a CSV."""
    return _short_run("fruit_csv.yaml", 3, tmp_path_factory.mktemp("runs") / "fruit")


@pytest.fixture(scope="session")
def diabetes_run(tmp_path_factory: pytest.TempPathFactory):
    """configs/diabetes.yaml for 2 epochs: regression with a standardised target."""
    return _short_run("diabetes.yaml", 2, tmp_path_factory.mktemp("runs") / "diabetes")
