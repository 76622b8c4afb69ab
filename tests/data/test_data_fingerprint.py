"""The data fingerprint of a run, and ``evaluate --data``: changed data is refused, not rescored.

Before issue 10, fitting on a CSV and reordering its rows made ``mlptrain evaluate`` rebuild a
"test" split that held training rows, and report other numbers with exit code 0.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_iris
from sklearn.metrics import accuracy_score, r2_score

from mlptrain.api import load
from mlptrain.data import load_raw, split_indices
from mlptrain.store.checkpoint import load_checkpoint
from tests.conftest import assert_no_traceback

pytestmark = pytest.mark.usefixtures("no_figures")

CONFIG = """\
name: flowers
seed: 0
data: {{dataset: csv, path: {path}, test_size: 0.2, val_size: 0.2}}
model: {{layers: [{{type: linear, units: 8}}, tanh, {{type: linear}}]}}
train: {{epochs: 2, batch_size: 16}}
"""


def _iris_rows() -> tuple[list[str], np.ndarray, np.ndarray]:
    iris = load_iris()
    labels = np.array(iris.target_names)[iris.target]
    return ["a", "b", "c", "d", "species"], iris.data, labels


def _write_csv(path: Path, X: np.ndarray, y: np.ndarray, header: list[str]) -> Path:
    lines = [",".join(header)] + [
        ",".join(repr(float(v)) for v in row) + f",{label}" for row, label in zip(X, y, strict=True)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def csv_run(tmp_path: Path, cli) -> tuple[Path, Path, Path]:
    header, X, y = _iris_rows()
    data = _write_csv(tmp_path / "iris.csv", X, y, header)
    config = tmp_path / "flowers.yaml"
    config.write_text(CONFIG.format(path=data))
    result = cli("fit", config, "--out", tmp_path / "run", "-q")
    assert result.exit_code == 0, result.stderr
    return tmp_path / "run", data, config


def _sha(array: np.ndarray) -> str:
    array = np.ascontiguousarray(array)
    digest = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode())
    digest.update(array.tobytes())
    return digest.hexdigest()


def test_the_fingerprint_is_stored_in_the_checkpoint_and_the_run_directory(csv_run, cli):
    run, data, config = csv_run
    from mlptrain.config import load_config

    cfg = load_config(config)
    raw = load_raw(cfg.data, seed=0)
    train, val, test = split_indices(
        raw.y, task="classification", test_size=0.2, val_size=0.2, seed=0
    )
    expected = {
        "features": _sha(raw.X),
        "targets": _sha(raw.y),
        "train_rows": _sha(train),
        "val_rows": _sha(val),
        "test_rows": _sha(test),
    }
    for kind in ("best", "last"):
        meta = load_checkpoint(run / "checkpoints" / f"{kind}.safetensors").meta
        assert meta["data_fingerprint"] == expected
    import json

    assert json.loads((run / "report.json").read_text())["data"]["fingerprint"] == expected
    result = cli("evaluate", run)
    assert result.exit_code == 0, result.stderr  # unchanged data: evaluate as before


def test_reordered_rows_are_refused_by_evaluate_report_and_resume(csv_run, cli) -> None:
    run, data, _ = csv_run
    header, X, y = _iris_rows()
    order = np.random.default_rng(1).permutation(len(y))
    _write_csv(data, X[order], y[order], header)
    for args in (("evaluate", run), ("report", run), ("fit", "--resume", run)):
        result = cli(*args)
        assert result.exit_code == 2, (args, result.stdout, result.stderr)
        assert_no_traceback(result)
        assert result.stdout == ""  # nothing announced, nothing scored
        (line,) = result.stderr.strip().splitlines()
        assert f"the data differs from the data {run}" in line
        assert "(the feature values, the target values" in line


def test_one_changed_label_is_named_alone(csv_run, cli) -> None:
    run, data, _ = csv_run
    header, X, y = _iris_rows()
    y = y.copy()
    y[0], y[1] = y[1], "versicolor"  # rows 0 and 1 were both setosa
    y[0] = "setosa"
    _write_csv(data, X, y, header)
    result = cli("evaluate", run, "--split", "val")
    assert result.exit_code == 2
    # The class counts changed, so stratified splits moved too; the features did not.
    assert "(the target values" in result.stderr and "the feature values" not in result.stderr


def test_evaluate_data_scores_every_row_with_the_saved_scaler_and_labels(
    csv_run, cli, tmp_path: Path
) -> None:
    run, _, _ = csv_run
    header, X, y = _iris_rows()
    # Another labelled file, its feature columns in another order: taken by name.
    other = tmp_path / "other.csv"
    shuffled = [2, 0, 3, 1]
    _write_csv(other, X[:60, shuffled], y[:60], [header[j] for j in shuffled] + ["species"])
    result = cli("evaluate", run, "--data", other, "--format", "json")
    assert result.exit_code == 0, result.stderr
    import json

    scored = json.loads(result.stdout)
    predictor = load(run)
    expected = accuracy_score(y[:60], predictor.predict(X[:60]))
    assert scored["n_samples"] == 60
    assert scored["metrics"]["accuracy"] == pytest.approx(expected, abs=1e-15)
    npz = tmp_path / "other.npz"
    np.savez(npz, X=X[100:], y=y[100:])
    result = cli("evaluate", run, "--data", npz)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(
        f"{npz} (all 50 rows) scored by {run}/checkpoints/best.safetensors:"
    )


def test_evaluate_data_names_unknown_labels(csv_run, cli, tmp_path: Path) -> None:
    run, _, _ = csv_run
    _, X, _ = _iris_rows()
    npz = tmp_path / "roses.npz"
    np.savez(npz, X=X[:4], y=np.array(["setosa", "rose", "tulip", "rose"]))
    result = cli("evaluate", run, "--data", npz)
    assert result.exit_code == 2
    assert_no_traceback(result)
    assert result.stderr.strip() == (
        f"error: {npz}: 2 label(s) not seen in training: 'rose', 'tulip'; the model knows "
        "'setosa', 'versicolor', 'virginica'"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data", "missing.csv"], "missing.csv: file not found"),
        # a CSV-trained run is a table model: it also reads .tsv, .csv.gz, Parquet
        (
            ["--data", "x.txt"],
            "unsupported file type '.txt'; allowed: .csv, .tsv, .csv.gz, .tsv.gz, .parquet, .npz",
        ),
        (
            ["--data", "x.csv", "--split", "val"],
            "--data scores all rows of a file; it takes no --split",
        ),
    ],
)
def test_evaluate_data_bad_input(csv_run, cli, tmp_path: Path, args, message) -> None:
    run, _, _ = csv_run
    args = [str(tmp_path / a) if a.endswith((".csv", ".txt")) else a for a in args]
    if any(a.endswith("x.csv") for a in args):
        (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    result = cli("evaluate", run, *args)
    assert result.exit_code == 2, result.stdout
    assert message in result.stderr
    assert_no_traceback(result)


def test_evaluate_data_on_a_regression_run(diabetes_run, cli, tmp_path: Path) -> None:
    data = load_diabetes()
    npz = tmp_path / "patients.npz"
    np.savez(npz, X=data.data[:100], y=data.target[:100])
    result = cli("evaluate", diabetes_run.dir, "--data", npz, "--format", "json")
    assert result.exit_code == 0, result.stderr
    import json

    scored = json.loads(result.stdout)
    predicted = load(diabetes_run.dir).predict(data.data[:100])
    assert scored["metrics"]["r2"] == pytest.approx(
        r2_score(data.target[:100], predicted), rel=1e-9
    )


def test_a_refused_resume_leaves_the_run_directory_as_it_was(csv_run) -> None:
    from mlptrain.api import fit
    from mlptrain.errors import DataError

    run, data, _ = csv_run
    before = {p.name: p.read_bytes() for p in run.rglob("*") if p.is_file() and p.name != ".lock"}
    header, X, y = _iris_rows()
    _write_csv(data, X[::-1], y[::-1], header)
    with pytest.raises(DataError, match="the data differs from the data"):
        fit(resume=run, overrides=["train.epochs=5"])
    after = {p.name: p.read_bytes() for p in run.rglob("*") if p.is_file() and p.name != ".lock"}
    assert after == before  # config.yaml still says 2 epochs; nothing else touched
