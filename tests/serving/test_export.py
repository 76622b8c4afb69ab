"""Export: the standalone NumPy predict.py and ONNX give mlptrain's predictions."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import mlptrain
from mlptrain.errors import UserInputError
from mlptrain.serving.export import export_numpy, export_onnx
from tests.conftest import assert_same_predictions, exported_script_output

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


ENSEMBLE = """
name: ensemble
seed: 0
data: {dataset: iris, val_size: 0.2}
model:
  layers:
    - {type: ensemble, k: 3}
    - {type: linear, units: 12}
    - relu
    - {type: ensemble_linear, units: 8}
    - tanh
    - {type: ensemble_linear}
    - ensemble_mean
train: {epochs: 3, batch_size: 16, dtype: float64}
"""
MLP_LAYERS = "[{type: linear, units: 8}, relu, linear]"
ENSEMBLE_LAYERS = (
    "[{type: ensemble, k: 3}, {type: linear, units: 8}, relu, ensemble_linear, ensemble_mean]"
)


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
        "ensemble": _fit(tmp_path_factory, "ensemble", ENSEMBLE),
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


@pytest.mark.parametrize(
    "kind", ["every_layer", "every_layer64", "ensemble", "bce", "regression", "strings"]
)
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


@pytest.mark.parametrize(
    "kind", ["every_layer", "every_layer64", "ensemble", "bce", "regression", "strings"]
)
def test_onnx_matches_predictor(runs, kind, tmp_path):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    (path,) = export_onnx(runs[kind], tmp_path)
    predictor = mlptrain.load(runs[kind])
    X = _features(predictor)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    X = X.astype(predictor.model.dtype)
    if predictor.table is not None:  # a table model (CSV): one input per raw column
        feeds = {name: X[:, [j]] for j, name in enumerate(predictor.table.features)}
    else:
        feeds = {"features": X}
    got = dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds), strict=True))
    if predictor.encoder is None:
        want = predictor.predict(X)
        np.testing.assert_allclose(
            got["predictions"].reshape(want.shape), want, rtol=1e-5, atol=1e-5
        )
        return
    assert list(got) == ["label", "probabilities"]
    np.testing.assert_allclose(
        got["probabilities"], predictor.predict_proba(X), rtol=1e-5, atol=1e-5
    )
    assert got["label"].tolist() == [str(c) for c in predictor.predict(X)]


@pytest.mark.parametrize("layers", [MLP_LAYERS, ENSEMBLE_LAYERS], ids=["mlp", "ensemble"])
def test_onnx_takes_raw_table_columns(tmp_path, layers):
    """A model trained on a mixed table: the ONNX graph takes raw columns (floats with NaN,
    strings with gaps and categories never seen) and gives predict's probabilities."""
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from tests.data.test_tables import mixed_rows, write_rows

    write_rows(tmp_path / "t.csv", mixed_rows(300))
    (tmp_path / "c.yaml").write_text(
        "data: {dataset: csv, path: t.csv, target: churn, missing: {indicator: true},\n"
        "       categorical: {max_categories: 6}}\n"
        f"model: {{layers: {layers}}}\n"
        "train: {epochs: 2, dtype: float64}\n"
    )
    run = mlptrain.fit(tmp_path / "c.yaml", out=tmp_path / "run", figures=False)
    (path,) = export_onnx(run.dir, tmp_path / "onnx")
    predictor = mlptrain.load(run.dir)
    raw = {
        "age": np.array([40.0, np.nan, 33.0, 61.0]),
        "plan": np.array(["basic", "", "gold", "NA"], dtype=object),
        "city": np.array(["city1", "atlantis", "", "city2"], dtype=object),
        "income": np.array([1000.0, np.nan, 1200.5, 800.0]),
    }
    want = predictor.predict_proba({k: np.where(v == "", None, v) if v.dtype == object else v
                                    for k, v in raw.items()})  # fmt: skip
    assert predictor.unseen == {"plan": 1, "city": 1}
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(["probabilities"], {k: v.reshape(-1, 1) for k, v in raw.items()})
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_onnx_missing_says_what_to_install(runs, tmp_path, monkeypatch):
    import mlptrain.serving.export as export

    monkeypatch.setattr(export, "onnx_available", lambda: False)
    with pytest.raises(UserInputError, match=r"install mlptrain\[onnx\]"):
        export_onnx(runs["bce"], tmp_path)


@pytest.mark.parametrize("layers", [MLP_LAYERS, ENSEMBLE_LAYERS], ids=["mlp", "ensemble"])
def test_standalone_script_encodes_raw_table_rows(tmp_path, layers):
    """A mixed-table model exported with --format numpy: the script reads raw rows (gaps,
    unseen categories, an id column, another delimiter order of columns) and gives predict's
    output, ids first."""
    from tests.data.test_tables import mixed_rows, write_rows

    write_rows(tmp_path / "t.csv", mixed_rows(300), ";")
    (tmp_path / "c.yaml").write_text(
        "data: {dataset: csv, path: t.csv, target: churn, missing: {indicator: true},\n"
        "       categorical: {max_categories: 6}}\n"
        f"model: {{layers: {layers}}}\n"
        "train: {epochs: 2}\n"
    )
    run = mlptrain.fit(tmp_path / "c.yaml", out=tmp_path / "run", figures=False)
    export_numpy(run.dir, tmp_path / "exported")
    rows = [
        ["income", "city", "plan", "age", "customer"],
        ["1000", "city1", "basic", "40", "N1"],
        ["", "atlantis", "", "", "N2"],
        ["1200.5", "", "gold", "33", "N3"],
        ["800", "city2", "NA", "61", "N4"],
    ]
    new = write_rows(tmp_path / "new.csv", rows, ";")
    done = subprocess.run(
        [sys.executable, str(tmp_path / "exported" / "predict.py"), str(new), "--proba"],
        capture_output=True, text=True, check=True, cwd=tmp_path,
    )  # fmt: skip
    from mlptrain.serving.predict import predict_table

    header, expected = predict_table(run.dir, new, proba=True)
    lines = [line.split(",") for line in done.stdout.strip().splitlines()]
    assert lines[0] == header == ["customer", "prediction", "proba_no", "proba_yes"]
    assert [r[:2] for r in lines[1:]] == [r[:2] for r in expected]
    np.testing.assert_allclose(
        np.array([r[2:] for r in lines[1:]], dtype=float),
        np.array([r[2:] for r in expected], dtype=float),
        rtol=1e-6,
    )


@pytest.mark.parametrize(
    ("make_input", "message"),
    [
        (lambda d: d / "missing.csv", "missing.csv: no such file; give a CSV (with a header) or "
         "an NPZ with an array X"),
        (lambda d: _write(d / "empty.csv", ""), "empty.csv: the file is empty; expected a header "
         "row, then one row per sample"),
        (lambda d: _npz(d / "noX.npz", features=np.zeros((2, 4))), "noX.npz: no array 'X' (it "
         "holds: features)"),
        (lambda d: _write(d / "other.csv", "a,b,c,d\n1,2,3,4\n"), "other.csv: missing column(s) "
         "'weight_g', 'length_cm', 'width_cm', 'sugar_pct'"),
    ],
)  # fmt: skip
def test_standalone_script_bad_input_is_one_line_exit_2(runs, tmp_path, make_input, message):
    """The exported script answers bad input as `mlptrain predict` does: one line, exit 2."""
    out = tmp_path / "exported"
    export_numpy(runs["strings"], out)
    done = subprocess.run(
        [sys.executable, str(out / "predict.py"), str(make_input(tmp_path))],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines


def _write(path, text):
    path.write_text(text)
    return path


def _npz(path, **arrays):
    np.savez(path, **arrays)
    return path


def test_standalone_script_reads_the_parquet_a_model_was_trained_on(tmp_path):
    """Issue 21 case 8: a Parquet-trained table model's script reads Parquet input (it used to
    crash with UnicodeDecodeError) and gives predict's answers."""
    import pandas as pd

    from mlptrain.serving.predict import predict_table
    from tests.data.test_tables import mixed_rows

    rows = mixed_rows(200)
    frame = pd.DataFrame(rows[1:], columns=rows[0]).replace("", None)
    frame.to_parquet(tmp_path / "t.parquet")
    (tmp_path / "c.yaml").write_text(
        "data: {dataset: parquet, path: t.parquet, target: churn}\n"
        "model: {layers: [{type: linear, units: 8}, relu, linear]}\ntrain: {epochs: 2}\n"
    )
    run = mlptrain.fit(tmp_path / "c.yaml", out=tmp_path / "run", figures=False)
    export_numpy(run.dir, tmp_path / "exported")
    new = tmp_path / "new.parquet"
    frame.drop(columns="churn").head(20).to_parquet(new)
    done = subprocess.run(
        [sys.executable, str(tmp_path / "exported" / "predict.py"), str(new)],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    header, expected = predict_table(run.dir, new, proba=False)
    lines = [line.split(",") for line in done.stdout.strip().splitlines()]
    assert lines[0] == header
    assert lines[1:] == [list(map(str, r)) for r in expected]


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_standalone_script_refuses_non_finite_features_as_predict_does(runs, tmp_path, cli, bad):
    """Issue 21 case 8: NaN or inf in an NPZ used to give 'prediction 0' and exit 0."""
    out = tmp_path / "exported"
    export_numpy(runs["every_layer"], out)
    X = np.ones((5, 4))
    X[3, 1] = bad
    path = _npz(tmp_path / "x.npz", X=X)
    done = subprocess.run(
        [sys.executable, str(out / "predict.py"), str(path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout
    (line,) = done.stderr.strip().splitlines()
    core = (
        "1 missing or non-finite value (NaN, inf or empty) in features, in column "
        "'sepal width (cm)' (1); first at row index 3"
    )
    assert core in line
    predicted = cli("predict", runs["every_layer"], path)
    assert predicted.exit_code == 2
    assert core in predicted.stderr


def test_standalone_script_scales_an_all_numeric_table_once(tmp_path, cli):
    """A table model with numeric columns only: its script encoded (and scaled) the raw rows,
    then scaled them again with the folded scaler, and printed wrong probabilities."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3)) * [1, 10, 100] + [0, 50, 1000]
    labels = np.where(X[:, 0] + X[:, 1] / 10 > 5, "yes", "no")
    rows = [f"{a:.3f},{b:.3f},{c:.3f}" for a, b, c in X]
    (tmp_path / "t.csv").write_text(
        "a,b,c,y\n" + "\n".join(f"{r},{lab}" for r, lab in zip(rows, labels, strict=True)) + "\n"
    )
    new = tmp_path / "new.csv"
    new.write_text("a,b,c\n" + "\n".join(rows[:6]) + "\n")
    run = tmp_path / "run"
    assert cli("fit", tmp_path / "t.csv", "--target", "y", "--out", run, "--set",
               "train.epochs=3").exit_code == 0  # fmt: skip
    expected = cli("predict", run, new, "--proba").stdout
    assert_same_predictions(expected, exported_script_output(run, new, tmp_path / "exported"))
