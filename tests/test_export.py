"""Export: the standalone NumPy predict.py and ONNX give mlptrain's predictions."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import mlptrain
from mlptrain.errors import UserInputError
from mlptrain.serving.export import export_numpy, export_onnx

ALL_LAYERS = """
name: every_layer
seed: 0
data: {dataset: iris, val_size: 0.2}
model:
  layers:
    - {type: linear, units: 12}
    - batchnorm
    - {type: leaky_relu, negative_slope: 0.1}
    - {type: dropout, p: 0.2}
    - {type: linear, units: 10}
    - gelu
    - {type: linear, units: 8}
    - tanh
    - {type: linear, units: 8}
    - sigmoid
    - identity
    - {type: linear, units: 8}
    - relu
    - {type: linear}
train: {epochs: 3, batch_size: 16, dtype: DTYPE}
"""


def _fit(tmp_path_factory, name, config_text=None, config=None, overrides=()):
    root = tmp_path_factory.mktemp(name)
    if config_text is not None:
        config = root / f"{name}.yaml"
        config.write_text(config_text)
    return mlptrain.fit(config, overrides=list(overrides), out=root / "run").dir


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return {
        "every_layer": _fit(tmp_path_factory, "every", ALL_LAYERS.replace("DTYPE", "float32")),
        "every_layer64": _fit(tmp_path_factory, "every64", ALL_LAYERS.replace("DTYPE", "float64")),
        "bce": _fit(
            tmp_path_factory,
            "bce",
            config="configs/breast_cancer.yaml",
            overrides=["train.epochs=2"],
        ),
        "regression": _fit(
            tmp_path_factory, "reg", config="configs/diabetes.yaml", overrides=["train.epochs=2"]
        ),
        "strings": _fit(
            tmp_path_factory, "fruit", config="configs/fruit_csv.yaml", overrides=["train.epochs=2"]
        ),
    }


def _features(predictor, n=40, seed=0):
    rng = np.random.default_rng(seed)
    shift, scale = predictor.scaler.shift, predictor.scaler.scale
    return shift + scale * rng.standard_normal((n, len(shift))) * 1.5


@pytest.mark.parametrize("kind", ["every_layer", "every_layer64", "bce", "regression", "strings"])
def test_standalone_script_matches_predictor(runs, kind, tmp_path):
    predictor = mlptrain.load(runs[kind])
    out = tmp_path / "exported"
    export_numpy(runs[kind], out)
    with np.load(out / "weights.npz", allow_pickle=False) as archive:
        assert all(archive[name].dtype != object for name in archive.files)
    X = _features(predictor)
    np.savez(tmp_path / "x.npz", X=X)
    flags = ["--proba"] if predictor.encoder is not None else []
    done = subprocess.run(
        [sys.executable, str(out / "predict.py"), str(tmp_path / "x.npz"), *flags],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    lines = done.stdout.strip().splitlines()
    rows = [line.split(",") for line in lines[1:]]
    assert len(rows) == len(X)
    expected = predictor.predict(X)
    if predictor.encoder is not None:
        assert [r[0] for r in rows] == [str(v) for v in expected]
        proba = np.array([[float(v) for v in r[1:]] for r in rows])
        np.testing.assert_allclose(proba, predictor.predict_proba(X), rtol=1e-6, atol=1e-7)
    else:
        np.testing.assert_allclose([float(r[0]) for r in rows], expected, rtol=1e-6)


def test_standalone_script_reads_csv_by_header(runs, tmp_path):
    out = tmp_path / "exported"
    export_numpy(runs["strings"], out)
    predictor = mlptrain.load(runs["strings"])
    X = _features(predictor, n=5)
    names = predictor.feature_names
    # columns in another order, with the target column: taken by name
    order = list(reversed(range(len(names))))
    text = ",".join([*(names[j] for j in order), "fruit"]) + "\n"
    text += "".join(
        ",".join([*(repr(float(X[i, j])) for j in order), "apple"]) + "\n" for i in range(5)
    )
    (tmp_path / "x.csv").write_text(text)
    subprocess.run(
        [
            sys.executable,
            str(out / "predict.py"),
            str(tmp_path / "x.csv"),
            "--output",
            str(tmp_path / "p.csv"),
        ],
        check=True,
        cwd=tmp_path,
    )
    labels = (tmp_path / "p.csv").read_text().splitlines()[1:]
    assert labels == [str(v) for v in predictor.predict(X)]


def test_export_refuses_to_overwrite(runs, tmp_path):
    export_numpy(runs["bce"], tmp_path)
    with pytest.raises(UserInputError, match="force=True"):
        export_numpy(runs["bce"], tmp_path)
    export_numpy(runs["bce"], tmp_path, force=True)


@pytest.mark.parametrize("kind", ["every_layer", "every_layer64", "bce", "regression", "strings"])
def test_onnx_matches_predictor(runs, kind, tmp_path):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    (path,) = export_onnx(runs[kind], tmp_path)
    predictor = mlptrain.load(runs[kind])
    X = _features(predictor)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"features": X.astype(predictor.model.dtype)})
    want = predictor.predict_proba(X) if predictor.encoder is not None else predictor.predict(X)
    np.testing.assert_allclose(got.reshape(want.shape), want, rtol=1e-5, atol=1e-5)


def test_onnx_missing_says_what_to_install(runs, tmp_path, monkeypatch):
    import mlptrain.serving.export as export

    monkeypatch.setattr(export, "onnx_available", lambda: False)
    with pytest.raises(UserInputError, match=r"install mlptrain\[onnx\]"):
        export_onnx(runs["bce"], tmp_path)
