"""CLI: predict, gradcheck, validate, datasets, init, inspect, export (and fit --gradcheck)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import mlptrain
from mlptrain.cli import app

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("fruit")
    return mlptrain.fit(
        "configs/fruit_csv.yaml", overrides=["train.epochs=2"], out=root / "run"
    ).dir


@pytest.fixture(scope="module")
def predictor(run_dir):
    return mlptrain.load(run_dir)


def _write_csv(path, header, X, extra=None):
    lines = [",".join(header)]
    for i, row in enumerate(X):
        cells = [repr(float(v)) for v in row] + ([extra[i]] if extra else [])
        lines.append(",".join(cells))
    path.write_text("\n".join(lines) + "\n")


def test_every_command_is_listed_with_a_description():
    result = invoke("--help")
    assert result.exit_code == 0
    for name in (
        "fit",
        "evaluate",
        "predict",
        "gradcheck",
        "validate",
        "datasets",
        "init",
        "inspect",
        "export",
    ):
        line = next(
            line for line in result.output.splitlines() if line.strip().startswith(name + " ")
        )
        assert len(line.split(None, 1)[1]) > 10
    assert invoke("--version").output.startswith("mlptrain ")


@pytest.mark.parametrize(
    "command", ["predict", "gradcheck", "validate", "datasets", "init", "inspect", "export"]
)
def test_help_has_an_example(command):
    result = invoke(command, "--help")
    assert result.exit_code == 0 and f"Example: mlptrain {command}" in result.output


def test_predict_csv_by_header_to_stdout(run_dir, predictor, tmp_path):
    X = np.array([[150.0, 7.0, 7.5, 5.0], [120.0, 18.0, 3.5, 6.0]])
    names = predictor.feature_names
    # reordered columns plus the target column: matched by name
    _write_csv(tmp_path / "x.csv", [*reversed(names), "fruit"], X[:, ::-1], extra=["x", "y"])
    result = invoke("predict", run_dir, tmp_path / "x.csv", "--proba")
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    classes = [str(c) for c in predictor.classes]
    assert lines[0] == ",".join(["prediction", *(f"proba_{c}" for c in classes)])
    assert [line.split(",")[0] for line in lines[1:]] == [str(v) for v in predictor.predict(X)]
    proba = np.array([[float(v) for v in line.split(",")[1:]] for line in lines[1:]])
    np.testing.assert_allclose(proba, predictor.predict_proba(X))


def test_predict_npz_by_count_to_file(run_dir, predictor, tmp_path):
    X = np.array([[150.0, 7.0, 7.5, 5.0]])
    np.savez(tmp_path / "x.npz", X=X)
    out = tmp_path / "p.csv"
    result = invoke("predict", run_dir, tmp_path / "x.npz", "--output", out)
    assert result.exit_code == 0, result.output
    assert out.read_text().splitlines() == ["prediction", str(predictor.predict(X)[0])]


def test_predict_errors(run_dir, tmp_path):
    _write_csv(tmp_path / "narrow.csv", ["a", "b"], np.ones((2, 2)))
    result = invoke("predict", run_dir, tmp_path / "narrow.csv")
    assert result.exit_code == 2
    assert "error:" in result.stderr and (
        "missing column(s) 'weight_g', 'length_cm', 'width_cm', 'sugar_pct'" in result.stderr
    )
    (tmp_path / "x.txt").write_text("1,2\n")
    result = invoke("predict", run_dir, tmp_path / "x.txt")
    assert result.exit_code == 2 and "unsupported input type '.txt'" in result.stderr
    result = invoke("predict", tmp_path / "nowhere", tmp_path / "narrow.csv")
    assert result.exit_code == 2 and "no such run directory or checkpoint file" in result.stderr
    np.savez(tmp_path / "x.npz", X=np.ones((1, 4)))
    result = invoke(
        "predict", run_dir, tmp_path / "x.npz", "--output", tmp_path / "missing" / "p.csv"
    )
    assert result.exit_code == 2 and "does not exist" in result.stderr


def test_predict_proba_needs_a_classifier(tmp_path):
    reg = mlptrain.fit(
        "configs/diabetes.yaml", overrides=["train.epochs=1"], out=tmp_path / "reg"
    ).dir
    np.savez(tmp_path / "x.npz", X=np.zeros((2, 10)))
    result = invoke("predict", reg, tmp_path / "x.npz", "--proba")
    assert result.exit_code == 2 and "--proba needs a classifier" in result.stderr
    result = invoke("predict", reg, tmp_path / "x.npz")
    assert result.exit_code == 0 and result.stdout.splitlines()[0] == "prediction"


def test_gradcheck_passes_and_fails(monkeypatch):
    result = invoke("gradcheck", "configs/iris.yaml", "--samples", "4")
    assert result.exit_code == 0, result.output
    assert "1 Tanh(): x" in result.stdout and "checks pass" in result.stdout
    from mlptrain.nn.activations import Tanh

    original = Tanh.backward
    monkeypatch.setattr(Tanh, "backward", lambda self, g: original(self, g) + 0.01)
    result = invoke("gradcheck", "configs/iris.yaml", "--samples", "4")
    assert result.exit_code == 1
    assert (
        "FAIL" in result.stdout and "error: gradient check failed for 1 Tanh(): x" in result.stderr
    )


def test_gradcheck_errors(tmp_path):
    result = invoke("gradcheck", "configs/iris.yaml", "--samples", "1")
    assert result.exit_code == 2 and "--samples 1: must be at least 2" in result.stderr
    result = invoke("gradcheck", tmp_path / "none.yaml")
    assert result.exit_code == 2 and result.stderr.startswith("error:")


def test_fit_gradcheck_stops_before_training(monkeypatch, tmp_path):
    from mlptrain.nn.activations import ReLU

    original = ReLU.backward
    monkeypatch.setattr(ReLU, "backward", lambda self, g: original(self, g) * 2)
    result = invoke("fit", "configs/wine.yaml", "--gradcheck", "--out", tmp_path / "run")
    assert result.exit_code == 1 and "gradient check failed" in result.stderr
    assert not (tmp_path / "run").exists()


def test_validate_ok_warnings_and_errors(tmp_path):
    result = invoke("validate", "configs/digits.yaml")
    assert result.exit_code == 0, result.output
    assert "Linear(64 -> 256)" in result.stdout and "Total params: 50,826" in result.stdout
    assert "no warnings" in result.stdout
    linted = tmp_path / "linted.yaml"
    linted.write_text(
        "data: {dataset: iris}\nmodel:\n  init: he\n  layers: [{type: linear, units: 8}, tanh, "
        "{type: linear, units: 8}, {type: linear}]\n"
    )
    result = invoke("validate", linted)
    assert result.exit_code == 0
    assert "2 warning(s)" in result.stdout and "two linear layers" in result.stdout
    assert "he with tanh" in result.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: {dataset: iris}\nmodel: {layers: [relu]}\n")
    result = invoke("validate", bad)
    assert result.exit_code == 2 and "the last layer must be 'linear'" in result.stderr
    result = invoke("validate", "configs/iris.yaml", "--set", "model.loss=mse")
    assert result.exit_code == 2 and "model.loss" in result.stderr


def test_datasets_table():
    result = invoke("datasets")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split()[:6] == ["name", "kind", "samples", "features", "task", "classes"]
    digits = next(line for line in lines if line.startswith("digits "))
    assert digits.split()[:6] == ["digits", "bundled", "1797", "64", "classification", "10"]


@pytest.mark.parametrize("dataset", ["wine", "diabetes", "moons"])
def test_init_writes_a_config_that_validates_and_fits(dataset, tmp_path):
    path = tmp_path / f"{dataset}.yaml"
    result = invoke("init", path, "--dataset", dataset)
    assert result.exit_code == 0, result.output
    assert path.read_text().startswith("# Starter config")
    assert invoke("validate", path).exit_code == 0
    result = invoke("fit", path, "--set", "train.epochs=2", "--out", tmp_path / "run", "-q")
    assert result.exit_code == 0, result.output


def test_init_file_dataset_needs_data_and_detects_the_task(tmp_path):
    path = tmp_path / "fruit.yaml"
    result = invoke("init", path, "--dataset", "csv")
    assert result.exit_code == 2 and "a file dataset needs a data file" in result.stderr
    data = Path("data/example_fruit.csv").resolve()
    result = invoke("init", path, "--dataset", "csv", "--data", data)
    assert result.exit_code == 0, result.output
    assert "task: classification" in path.read_text()
    result = invoke("fit", path, "--set", "train.epochs=2", "--out", tmp_path / "run", "-q")
    assert result.exit_code == 0, result.output


def test_init_errors(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("keep me")
    result = invoke("init", path, "--dataset", "iris")
    assert result.exit_code == 2 and "already exists; pass --force" in result.stderr
    assert path.read_text() == "keep me"
    assert invoke("init", path, "--dataset", "iris", "--force").exit_code == 0
    result = invoke("init", tmp_path / "y.yaml", "--dataset", "irises")
    assert result.exit_code == 2 and "unknown dataset" in result.stderr
    result = invoke("init", tmp_path / "y.yaml", "--dataset", "iris", "--data", path)
    assert result.exit_code == 2 and "a data file is only for the file datasets" in result.stderr


def test_inspect_table_and_json(run_dir):
    ckpt = run_dir / "checkpoints" / "best.safetensors"
    result = invoke("inspect", ckpt)
    assert result.exit_code == 0, result.output
    assert "integrity" in result.stdout and "ok" in result.stdout and "model.0.W" in result.stdout
    info = json.loads(invoke("inspect", run_dir, "--format", "json").stdout)
    assert info["integrity"] == "ok" and info["meta"]["task"] == "classification"


def test_inspect_errors(run_dir, tmp_path):
    ckpt = (run_dir / "checkpoints" / "best.safetensors").read_bytes()
    damaged = tmp_path / "damaged.safetensors"
    damaged.write_bytes(ckpt[:-1] + bytes([ckpt[-1] ^ 0xFF]))
    result = invoke("inspect", damaged)
    assert result.exit_code == 2 and "integrity check failed" in result.stderr
    assert "model.0.W" in result.stdout  # still shown
    (tmp_path / "junk.safetensors").write_bytes(b"not a checkpoint")
    result = invoke("inspect", tmp_path / "junk.safetensors")
    assert result.exit_code == 2 and result.stderr.startswith("error:")


def test_export_numpy_cli_and_errors(run_dir, predictor, tmp_path):
    out = tmp_path / "exported"
    result = invoke("export", run_dir, "--format", "numpy", "--out", out)
    assert result.exit_code == 0, result.output
    X = np.array([[150.0, 7.0, 7.5, 5.0], [120.0, 18.0, 3.5, 6.0]])
    np.savez(tmp_path / "x.npz", X=X)
    done = subprocess.run(
        [sys.executable, str(out / "predict.py"), str(tmp_path / "x.npz")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.splitlines()[1:] == [str(v) for v in predictor.predict(X)]
    result = invoke("export", run_dir, "--out", out)
    assert result.exit_code == 2 and "pass --force" in result.stderr
    result = invoke("export", run_dir, "--format", "tflite", "--out", out)
    assert result.exit_code == 2


def test_export_onnx_without_onnx(run_dir, tmp_path, monkeypatch):
    import mlptrain.serving.export as export

    monkeypatch.setattr(export, "onnx_available", lambda: False)
    result = invoke("export", run_dir, "--format", "onnx", "--out", tmp_path)
    assert result.exit_code == 2 and "install mlptrain[onnx]" in result.stderr
