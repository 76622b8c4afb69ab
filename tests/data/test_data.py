"""Tests for mlptrain.data: datasets, readers, splits, scaler, label encoder and every error."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from mlptrain.data import (
    DATASETS,
    LabelEncoder,
    Prepared,
    RawData,
    Scaler,
    check_features,
    infer_task,
    load_raw,
    prepare,
    read_features,
    read_table,
    split_indices,
)
from mlptrain.errors import DataError

EXAMPLE_CSV = Path(__file__).resolve().parents[2] / "data" / "example_fruit.csv"
BUILTIN = [name for name, info in DATASETS.items() if info.kind != "file"]


def data_cfg(**overrides: Any) -> SimpleNamespace:
    fields: dict[str, Any] = {
        "dataset": "iris",
        "params": {},
        "path": None,
        "target": None,
        "task": "auto",
        "test_size": 0.2,
        "val_size": 0.1,
        "scale": "standard",
    }
    fields.update(overrides)
    return SimpleNamespace(**fields)


def data_error(match: str) -> Any:
    """pytest.raises for a DataError whose message matches; callers also check the exit code."""
    return pytest.raises(DataError, match=match)


def check_exit(excinfo: pytest.ExceptionInfo[DataError]) -> None:
    assert excinfo.value.exit_code == 2
    assert "\n" not in str(excinfo.value)


def write(tmp_path: Path, text: str, name: str = "table.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


FRUIT_CSV = "weight,length,fruit\n" + "".join(
    f"{100 + i},{5 + (i % 7) * 0.5},{'apple' if i % 2 else 'pear'}\n" for i in range(20)
)


# built-in datasets


@pytest.mark.parametrize("name", BUILTIN)
def test_builtin_dataset_loads_with_its_task_and_shape(name: str) -> None:
    info = DATASETS[name]
    raw = load_raw(data_cfg(dataset=name), seed=0)
    assert isinstance(raw, RawData)
    assert raw.task == info.task
    assert raw.X.dtype == np.float64 and raw.X.shape == (info.n_samples, info.n_features)
    assert raw.y.shape == (info.n_samples,)
    assert len(raw.feature_names) == info.n_features
    assert np.all(np.isfinite(raw.X))
    if info.task == "classification":
        assert len(np.unique(raw.y)) == info.n_classes
    else:
        assert info.n_classes is None and raw.y.dtype.kind == "f"


def test_bundled_labels_are_class_names_except_digits() -> None:
    assert set(load_raw(data_cfg(dataset="iris"), seed=0).y) == {
        "setosa",
        "versicolor",
        "virginica",
    }
    assert load_raw(data_cfg(dataset="digits"), seed=0).y.dtype == np.int64


def test_dataset_table_describes_every_name() -> None:
    for name, info in DATASETS.items():
        assert info.name == name
        assert info.kind in ("bundled", "generator", "file")
        assert info.description


def test_generators_are_seeded_and_params_override_defaults() -> None:
    first = load_raw(data_cfg(dataset="moons"), seed=3)
    again = load_raw(data_cfg(dataset="moons"), seed=3)
    other = load_raw(data_cfg(dataset="moons"), seed=4)
    assert first.X.tobytes() == again.X.tobytes()
    assert not np.array_equal(first.X, other.X)
    small = load_raw(data_cfg(dataset="moons", params={"n_samples": 60, "noise": 0.0}), seed=0)
    assert small.X.shape == (60, 2)
    fixed = data_cfg(dataset="blobs", params={"random_state": 7})
    assert np.array_equal(load_raw(fixed, seed=1).X, load_raw(fixed, seed=2).X)
    assert "random_state=7" in load_raw(fixed, seed=1).source


def test_multi_target_regression_keeps_2d_targets() -> None:
    cfg = data_cfg(dataset="regression", params={"n_targets": 3, "n_samples": 80})
    prepared = prepare(cfg, seed=0, dtype=np.float64)
    assert prepared.task == "regression" and prepared.n_outputs_hint == 3
    assert prepared.train.y.shape[1] == 3 and prepared.encoder is None


def test_importing_the_module_does_not_import_sklearn() -> None:
    code = "import sys, mlptrain.data; sys.exit('sklearn' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# task inference


@pytest.mark.parametrize(
    ("y", "task"),
    [
        (np.array(["a", "b"] * 10), "classification"),
        (np.array([0, 1, 2] * 10), "classification"),
        (np.array([True, False] * 5), "classification"),
        (np.arange(20), "regression"),  # every value distinct: a count, not a class
        (np.linspace(0, 1, 20), "regression"),
        (np.zeros((10, 2)), "regression"),
    ],
)
def test_infer_task_auto(y: np.ndarray, task: str) -> None:
    assert infer_task(y, "auto") == task


def test_infer_task_respects_an_explicit_request() -> None:
    assert infer_task(np.arange(20), "classification") == "classification"
    assert infer_task(np.array([0, 1] * 10), "regression") == "regression"
    assert infer_task(np.array([1.0, 2.0, 1.0]), "classification") == "classification"


# splits


def test_splits_are_disjoint_cover_all_rows_and_are_deterministic() -> None:
    y = np.repeat(np.array(["a", "b", "c"]), [50, 30, 20])
    parts = split_indices(y, task="classification", test_size=0.2, val_size=0.25, seed=5)
    again = split_indices(y, task="classification", test_size=0.2, val_size=0.25, seed=5)
    train, val, test = parts
    assert all(part.dtype == np.int64 for part in parts)
    assert all(np.array_equal(p, q) for p, q in zip(parts, again, strict=True))
    assert np.array_equal(np.sort(np.concatenate(parts)), np.arange(100))
    assert (len(train), len(val), len(test)) == (60, 20, 20)
    other = split_indices(y, task="classification", test_size=0.2, val_size=0.25, seed=6)
    assert not np.array_equal(test, other[2])


def test_classification_splits_are_stratified() -> None:
    y = np.repeat(np.array([0, 1, 2]), [100, 60, 40])
    train, val, test = split_indices(y, task="classification", test_size=0.25, val_size=0.2, seed=0)
    for part, size in ((train, 120), (val, 30), (test, 50)):
        proportions = np.bincount(y[part], minlength=3) / size
        assert np.allclose(proportions, [0.5, 0.3, 0.2], atol=0.02)


def test_regression_split_and_no_validation() -> None:
    y = np.linspace(0.0, 1.0, 30)
    train, val, test = split_indices(y, task="regression", test_size=0.3, val_size=0.0, seed=0)
    assert len(val) == 0 and len(test) == 9 and len(train) == 21


def test_prepare_is_bit_for_bit_deterministic_and_typed() -> None:
    cfg = data_cfg(dataset="wine")
    for dtype in (np.float32, np.float64):
        first, second = prepare(cfg, seed=11, dtype=dtype), prepare(cfg, seed=11, dtype=dtype)
        assert isinstance(first, Prepared)
        for name in ("train", "val", "test"):
            a, b = getattr(first, name), getattr(second, name)
            assert a.X.dtype == dtype and a.X.flags.c_contiguous
            assert a.y.dtype == np.int64
            assert a.X.tobytes() == b.X.tobytes() and a.y.tobytes() == b.y.tobytes()
    assert first.n_features == 13 and first.n_outputs_hint == 3
    assert first.encoder is not None and first.encoder.n_classes == 3


def test_prepare_without_validation_and_regression_targets() -> None:
    prepared = prepare(data_cfg(dataset="diabetes", val_size=0.0), seed=0, dtype="float32")
    assert prepared.val is None
    assert prepared.train.y.dtype == np.float32 and prepared.train.y.shape == (353, 1)
    assert prepared.n_outputs_hint == 1 and prepared.encoder is None


def test_prepare_rebuilds_the_same_rows_from_config_and_seed() -> None:
    raw = load_raw(data_cfg(dataset="iris"), seed=2)
    _, _, test_idx = split_indices(
        raw.y, task="classification", test_size=0.2, val_size=0.1, seed=2
    )
    prepared = prepare(data_cfg(dataset="iris"), seed=2, dtype=np.float64)
    expected = prepared.scaler.transform(raw.X[test_idx], np.float64)
    assert np.array_equal(prepared.test.X, expected)
    assert prepared.encoder is not None
    assert np.array_equal(prepared.encoder.decode(prepared.test.y), raw.y[test_idx])


# scaler


def test_standard_scaler_is_fitted_on_train_only() -> None:
    cfg = data_cfg(dataset="breast_cancer")
    prepared = prepare(cfg, seed=0, dtype=np.float64)
    raw = load_raw(cfg, seed=0)
    train_idx, _, test_idx = split_indices(
        raw.y, task="classification", test_size=0.2, val_size=0.1, seed=0
    )
    assert np.allclose(prepared.train.X.mean(axis=0), 0.0, atol=1e-12)
    assert np.allclose(prepared.train.X.std(axis=0), 1.0)
    mean, std = raw.X[train_idx].mean(axis=0), raw.X[train_idx].std(axis=0)
    assert np.allclose(prepared.test.X, (raw.X[test_idx] - mean) / std)
    assert not np.allclose(prepared.test.X.mean(axis=0), 0.0, atol=1e-12)


def test_minmax_and_none_scalers() -> None:
    X = np.array([[1.0, 10.0], [3.0, 20.0], [2.0, 40.0]])
    scaled = Scaler("minmax").fit(X).transform(X)
    assert scaled.min() == 0.0 and scaled.max() == 1.0
    assert np.allclose(scaled[:, 1], [0.0, 1 / 3, 1.0])
    none = Scaler("none").fit(X)
    out = none.transform(X)
    assert np.array_equal(out, X) and out is not X


@pytest.mark.parametrize("kind", ["standard", "minmax"])
def test_constant_columns_map_to_zero_without_dividing_by_zero(kind: str) -> None:
    X = np.column_stack([np.full(7, 0.1), np.arange(7.0), np.full(7, 1e6 + 0.3)])
    scaler = Scaler(kind).fit(X)
    out = scaler.transform(X)
    assert np.all(np.isfinite(out))
    assert np.all(out[:, 0] == 0.0) and np.all(out[:, 2] == 0.0)
    assert scaler.state_dict()["scaler.scale"][0] == 1.0


@pytest.mark.parametrize("kind", ["standard", "minmax", "none"])
def test_scaler_round_trips_through_state_dict(kind: str) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(3.0, 2.0, size=(40, 5))
    scaler = Scaler(kind).fit(X)
    state = scaler.state_dict()
    assert set(state) == {"scaler.shift", "scaler.scale"}
    assert all(value.dtype == np.float64 and value.shape == (5,) for value in state.values())
    restored = Scaler.from_state(kind, state)
    assert restored.transform(X, np.float32).tobytes() == scaler.transform(X, np.float32).tobytes()
    state["scaler.shift"][:] = 99.0  # the state is a copy, not a view of the scaler's arrays
    assert not np.any(scaler.transform(X) == Scaler.from_state(kind, state).transform(X))


def test_scaler_never_mutates_input_and_honours_dtype_and_layout() -> None:
    rng = np.random.default_rng(1)
    X = np.asfortranarray(rng.normal(size=(20, 3)))
    before = X.copy()
    scaler = Scaler("standard").fit(X)
    for dtype in (np.float32, np.float64):
        out = scaler.transform(X, dtype)
        assert out.dtype == dtype and out.flags.c_contiguous
        assert not np.shares_memory(out, X)
    assert np.array_equal(X, before)


def test_scaler_errors() -> None:
    with data_error(r"data.scale is 'standart'.*allowed: standard, minmax, none.*'standard'") as e:
        Scaler("standart")
    check_exit(e)
    with data_error("not fitted") as e:
        Scaler().transform(np.ones((2, 2)))
    check_exit(e)
    with data_error("X has 3 features, but the scaler expects 2") as e:
        Scaler().fit(np.ones((4, 2))).transform(np.ones((4, 3)))
    check_exit(e)
    with data_error(r"lacks scaler.scale") as e:
        Scaler.from_state("standard", {"scaler.shift": np.zeros(2)})
    check_exit(e)
    with data_error("positive scale") as e:
        Scaler.from_state("standard", {"scaler.shift": np.zeros(2), "scaler.scale": np.zeros(2)})
    check_exit(e)
    with data_error("overflow float32") as e:
        Scaler("none").fit(np.ones((2, 1))).transform(np.array([[1e300]]), np.float32)
    check_exit(e)


# label encoder


@pytest.mark.parametrize(
    "labels",
    [
        np.array(["pear", "apple", "kiwi", "apple"]),
        np.array([7, -1, 3, 7]),
        np.array([0.5, 2.0, 0.5]),
        np.array([True, False, True]),
    ],
)
def test_label_encoder_round_trips(labels: np.ndarray) -> None:
    encoder = LabelEncoder().fit(labels)
    assert np.array_equal(encoder.classes, np.unique(labels))
    indices = encoder.encode(labels)
    assert indices.dtype == np.int64
    assert np.array_equal(encoder.decode(indices), labels)
    restored = LabelEncoder.from_list(json.loads(json.dumps(encoder.to_list())))
    assert restored == encoder
    assert restored.classes.dtype.kind == encoder.classes.dtype.kind
    assert np.array_equal(restored.decode(indices), labels)


def test_label_encoder_to_list_is_plain_python() -> None:
    assert LabelEncoder().fit(np.array([2, 1])).to_list() == [1, 2]
    assert all(type(v) is int for v in LabelEncoder().fit(np.array([2, 1])).to_list())
    assert LabelEncoder().fit(np.array(["b", "a"])).to_list() == ["a", "b"]
    assert LabelEncoder().fit(np.array([True, False])).to_list() == [False, True]


def test_label_encoder_errors() -> None:
    encoder = LabelEncoder().fit(np.array(["apple", "pear"]))
    with data_error(r"not seen in training: 'kiwi'.*'apple', 'pear'") as e:
        encoder.encode(np.array(["apple", "kiwi"]))
    check_exit(e)
    with data_error("not seen in training") as e:
        LabelEncoder().fit(np.array([1, 2])).encode(np.array(["1"]))
    check_exit(e)
    with data_error("out of range") as e:
        encoder.decode(np.array([0, 2]))
    check_exit(e)
    with data_error("must all be str, all int") as e:
        LabelEncoder.from_list(["a", 1])
    check_exit(e)
    with data_error("empty") as e:
        LabelEncoder.from_list([])
    check_exit(e)
    with data_error("sorted and unique") as e:
        LabelEncoder.from_list(["b", "a"])
    check_exit(e)


# CSV and NPZ files


def test_csv_with_string_labels(tmp_path: Path) -> None:
    raw = read_table(write(tmp_path, FRUIT_CSV), target=None)
    assert raw.X.shape == (20, 2) and raw.feature_names == ["weight", "length"]
    assert raw.task == "classification" and set(raw.y) == {"apple", "pear"}
    assert "fruit" in raw.source


def test_csv_target_by_name_quotes_bom_blank_lines_and_missing_tokens(tmp_path: Path) -> None:
    text = '\ufeffid_score,"label",b\n1.5,x,2\n\n2.5,"y",3\n3.5,x,4\n4.5,y,5\n'
    raw = read_table(write(tmp_path, text), target="label")
    assert raw.feature_names == ["id_score", "b"]
    assert np.array_equal(raw.X, [[1.5, 2], [2.5, 3], [3.5, 4], [4.5, 5]])
    assert list(raw.y) == ["x", "y", "x", "y"]


def test_csv_numeric_targets_are_ints_or_floats(tmp_path: Path) -> None:
    ints = read_table(write(tmp_path, "a,t\n1,0\n2,1\n3,0\n4,1\n5,0\n", "i.csv"), target=None)
    assert ints.y.dtype == np.int64 and ints.task == "classification"
    floats = read_table(write(tmp_path, "a,t\n1,0.5\n2,1.25\n3,2\n", "f.csv"), target=None)
    assert floats.y.dtype == np.float64 and floats.task == "regression"


def test_shipped_example_csv_loads_and_prepares() -> None:
    raw = read_table(EXAMPLE_CSV, target=None)
    assert raw.X.shape == (320, 4)
    assert raw.feature_names == ["weight_g", "length_cm", "width_cm", "sugar_pct"]
    assert sorted(set(raw.y)) == ["apple", "banana", "lemon", "orange"]
    prepared = prepare(data_cfg(dataset="csv", path=str(EXAMPLE_CSV)), seed=0, dtype="float32")
    assert prepared.task == "classification" and prepared.n_outputs_hint == 4
    assert prepared.encoder is not None and prepared.encoder.to_list()[0] == "apple"
    assert len(prepared.train.X) + len(prepared.val.X) + len(prepared.test.X) == 320  # type: ignore[union-attr]


def test_npz_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    y = np.array(["cat", "dog", "emu"] * 10)
    path = tmp_path / "d.npz"
    np.savez(path, X=X, y=y, feature_names=np.array(["a", "b", "c"]))
    raw = read_table(path, target=None)
    assert raw.X.tobytes() == X.tobytes() and np.array_equal(raw.y, y)
    assert raw.feature_names == ["a", "b", "c"] and raw.task == "classification"
    np.savez(path, X=X.astype(np.float32), y=rng.normal(size=(30, 1)))
    column = read_table(path, target=None)
    assert column.y.shape == (30,) and column.task == "regression"
    assert column.feature_names == ["x0", "x1", "x2"]
    prepared = prepare(data_cfg(dataset="npz", path=str(path), val_size=0.0), seed=0, dtype="f8")
    assert prepared.train.y.shape == (24, 1)


# prediction inputs


def test_read_features_selects_training_columns_by_name(tmp_path: Path) -> None:
    path = write(tmp_path, "fruit,length,extra,weight\napple,1,9,100\npear,2,9,200\n")
    X, names = read_features(path, feature_names=["weight", "length"], target="fruit")
    assert names == ["weight", "length"]
    assert np.array_equal(X, [[100, 1], [200, 2]])


def test_read_features_by_position_only_without_names(tmp_path: Path) -> None:
    # a model that recorded no names (x0, x1) takes a named file by position, and says so
    path = write(tmp_path, "p,q,fruit\n1,2,apple\n")
    notes: list[str] = []
    X, names = read_features(path, feature_names=["x0", "x1"], target="fruit", notes=notes)
    assert names == ["p", "q"] and np.array_equal(X, [[1, 2]])
    assert notes == [f"{path}: the model recorded no feature names: its 2 columns are taken by "
                     "position, in training order"]  # fmt: skip
    npz = tmp_path / "x.npz"
    np.savez(npz, X=np.arange(8.0).reshape(4, 2))
    notes = []
    X, names = read_features(npz, feature_names=["a", "b"], notes=notes)
    assert np.array_equal(X, np.arange(8.0).reshape(4, 2)) and names == ["a", "b"]
    assert notes == [f"{npz}: the input has no column names: its 2 columns are taken by "
                     "position, in training order"]  # fmt: skip


def test_read_features_errors(tmp_path: Path) -> None:
    path = write(tmp_path, "a,b,c\n1,2,3\n")
    with data_error(
        r"missing feature column\(s\) 'weight'; the model takes its 2 features by name"
    ) as e:
        read_features(path, feature_names=["weight", "a"])
    check_exit(e)
    bad = write(tmp_path, "a,b\n1,x\n", "bad.csv")
    with data_error(r"'b' \(column 2, e.g. 'x' at line 2\)") as e:
        read_features(bad, feature_names=["a", "b"])
    check_exit(e)
    nan = write(tmp_path, "a,b\n1,\n2,3\n", "nan.csv")
    with data_error(r"1 missing or non-finite value .*'b' \(1\); first at line 2") as e:
        read_features(nan, feature_names=["a", "b"])
    check_exit(e)


def test_check_features_accepts_lists_and_returns_float64() -> None:
    X = check_features([[1, 2], [3, 4]], n_features=2, feature_names=["a", "b"], source="input")
    assert X.dtype == np.float64 and X.flags.c_contiguous


@pytest.mark.parametrize(
    ("X", "match"),
    [
        (np.ones((3, 5)), r"^input: X has 5 features, but the model expects 64$"),
        (np.ones(64), r"1-D array.*reshape\(1, -1\)"),
        (np.ones((2, 8, 8)), r"2-D array.*3 dimensions"),
        (np.array([["1.0"] * 64]), r"must be numbers.*'1.0'"),
        (np.array([[None] * 64]), r"must be numbers.*None"),
        (np.ones((0, 64)), r"0 samples"),
        (np.array([[np.inf] + [0.0] * 63]), r"1 missing or non-finite value .*'x0' \(1\)"),
    ],
)
def test_check_features_errors(X: np.ndarray, match: str) -> None:
    with data_error(match) as e:
        check_features(X, n_features=64, feature_names=None, source="input")
    check_exit(e)


@settings(max_examples=60, deadline=None)
@given(
    values=hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=6),
        elements=st.floats(-1e6, 1e6),
    ),
    data=st.data(),
)
def test_nan_count_is_reported_exactly(values: np.ndarray, data: st.DataObject) -> None:
    mask = data.draw(hnp.arrays(np.bool_, values.shape))
    if not mask.any():
        mask.flat[data.draw(st.integers(0, mask.size - 1))] = True
    values = np.where(mask, np.nan, values)
    names = [f"f{j}" for j in range(values.shape[1])]
    with data_error(rf"^m: {int(mask.sum())} missing or non-finite value") as e:
        check_features(values, n_features=values.shape[1], feature_names=names, source="m")
    check_exit(e)
    first_bad_column = int(np.flatnonzero(mask.any(axis=0))[0])
    assert f"'f{first_bad_column}' ({int(mask[:, first_bad_column].sum())})" in str(e.value)


# every error a user can meet


def assert_data_error(fn: Any, match: str) -> None:
    with data_error(match) as excinfo:
        fn()
    check_exit(excinfo)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    write(tmp_path, FRUIT_CSV, "fruits.csv")
    assert_data_error(
        lambda: read_table(tmp_path / "fruit.csv", target=None), r"file not found.*fruits.csv"
    )
    assert_data_error(lambda: read_table(tmp_path, target=None), "is a directory, not a file")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "the file is empty"),
        ("  \n\n", "the file is empty"),
        ("5.1,3.5,0\n4.9,3.0,1\n", r"looks like data, not a header.*add a header"),
        ("a,b,t\n1,2,x\n3,4\n5,6,y\n", r"line 3 has 2 fields, but the header has 3"),
        ("a,b,t\n", r"0 samples.*no data rows"),
        ("t\nx\ny\n", r"0 features.*only column is the target 't'"),
        ("a;b;t\n1;2;x\n", r"contains ';'.*','"),
        ("a,a,t\n1,2,x\n", r"'a' appears twice.*columns 1 and 2"),
        ("a,,t\n1,2,x\n", r"column 2 has an empty name"),
        (
            "size,color,t\n1,red,x\n2,blue,y\n",
            r"not numeric: 'color' \(column 2, e.g. 'red' at line 2\).*target",
        ),
        (
            "a,b,t\n1,nan,x\n,2,y\n1,inf,x\n",
            r"3 missing or non-finite values .*'a' \(1\), 'b' \(2\)",
        ),
        ("a,t\n1,x\n2,\n", r"target column 't' has 1 missing value.*line 3"),
        ("a,t\n1,0.5\n2,inf\n", r"target column 't' has 1 non-finite value.*line 3"),
    ],
)
def test_csv_errors(tmp_path: Path, text: str, match: str) -> None:
    path = write(tmp_path, text)
    assert_data_error(lambda: read_table(path, target=None), match)


def test_csv_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes("a,t\n1,café\n".encode("latin-1"))
    assert_data_error(
        lambda: read_table(path, target=None), r"not valid UTF-8.*0xe9 at line 2.*UTF-8"
    )


def test_csv_missing_target_column(tmp_path: Path) -> None:
    path = write(tmp_path, FRUIT_CSV)
    assert_data_error(
        lambda: read_table(path, target="fruits"),
        r"target column 'fruits' not found; the columns are 'weight', 'length', 'fruit'"
        r" \(did you mean 'fruit'\?\)",
    )


def test_regression_with_string_targets(tmp_path: Path) -> None:
    path = write(tmp_path, FRUIT_CSV)
    cfg = data_cfg(dataset="csv", path=str(path), task="regression")
    assert_data_error(
        lambda: load_raw(cfg, seed=0), r"strings \(e.g. '(apple|pear)'\).*regression needs"
    )


def test_classification_of_continuous_targets() -> None:
    cfg = data_cfg(dataset="regression", task="classification")
    assert_data_error(lambda: load_raw(cfg, seed=0), r"non-integer numbers.*data.task: regression")


def test_one_class_only(tmp_path: Path) -> None:
    path = write(tmp_path, "a,t\n" + "".join(f"{i},same\n" for i in range(10)))
    cfg = data_cfg(dataset="csv", path=str(path), task="classification")
    assert_data_error(lambda: prepare(cfg, seed=0, dtype="float64"), r"only one class \('same'\)")


def test_class_with_too_few_members(tmp_path: Path) -> None:
    rows = "".join(f"{i % 5},{'common' if i else 'rare'}\n" for i in range(30))
    path = write(tmp_path, "a,t\n" + rows)
    cfg = data_cfg(dataset="csv", path=str(path))
    assert_data_error(
        lambda: prepare(cfg, seed=0, dtype="float64"),
        r"class 'rare' has only 1 sample.*needs at least 3 per class",
    )
    y = np.array(["a"] * 10 + ["b"] * 2)
    assert_data_error(
        lambda: split_indices(y, task="classification", test_size=0.05, val_size=0.0, seed=0),
        r"too few samples.*give 11 train / 0 validation / 1 test rows.*needs at least 2 rows "
        r"in each part; need at least 21 samples",
    )
    assert_data_error(
        lambda: split_indices(y, task="classification", test_size=0.2, val_size=0.5, seed=0),
        r"class 'b' has only 2 sample\(s\); a stratified train/validation/test split needs "
        r"at least 3 per class",
    )
    # a class that survives the first check but not the test split itself
    y = np.array(["a"] * 20 + ["b"] * 3)
    assert_data_error(
        lambda: split_indices(y, task="classification", test_size=0.7, val_size=0.5, seed=0),
        r"class 'b' has only 1 sample\(s\) left after taking the test rows.*lower test_size",
    )


def test_too_few_samples_for_the_split() -> None:
    y = np.linspace(0, 1, 2)
    assert_data_error(
        lambda: split_indices(y, task="regression", test_size=0.2, val_size=0.5, seed=0),
        r"too few samples for the split: 2 samples with test_size=0.2 and val_size=0.5 "
        r"give 0 train / 1 validation / 1 test rows; need at least 3 samples",
    )
    y2 = np.array([0, 1, 2] * 3)
    assert_data_error(
        lambda: split_indices(y2, task="classification", test_size=0.1, val_size=0.0, seed=0),
        r"too few samples.*9 samples.*needs at least 3 rows in each part; need at least 21",
    )


def test_bad_split_sizes_and_seed() -> None:
    y = np.arange(10.0)
    assert_data_error(
        lambda: split_indices(y, task="regression", test_size=1.0, val_size=0, seed=0), "test_size"
    )
    assert_data_error(
        lambda: split_indices(y, task="regression", test_size=0.2, val_size=1, seed=0), "val_size"
    )
    assert_data_error(
        lambda: split_indices(y, task="regression", test_size=0.2, val_size=0, seed=-1), "seed"
    )


def test_npz_errors(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"

    def save_and_read(**arrays: np.ndarray) -> Any:
        np.savez(path, **arrays)
        return lambda: read_table(path, target=None)

    assert_data_error(save_and_read(X=np.ones((5, 2)), y=np.ones(4)), "X has 5 rows but y has 4")
    assert_data_error(
        save_and_read(X=np.ones((5, 2)), labels=np.ones(5)), r"no array named 'y'.*'X', 'labels'"
    )
    assert_data_error(
        save_and_read(features=np.ones((5, 2))), r"no array named 'X' or 'y'.*'features'"
    )
    assert_data_error(save_and_read(X=np.ones(5), y=np.ones(5)), r"1-D array.*reshape\(-1, 1\)")
    assert_data_error(save_and_read(X=np.ones((5, 2, 2)), y=np.ones(5)), r"2-D array.*3 dimensions")
    assert_data_error(save_and_read(X=np.ones((0, 2)), y=np.ones(0)), "0 samples")
    assert_data_error(save_and_read(X=np.ones((5, 0)), y=np.ones(5)), "0 features")
    assert_data_error(
        save_and_read(X=np.array([["a", "b"]]), y=np.ones(1)), r"dtype <U1.*must be numbers"
    )
    bad_x = np.ones((5, 2))
    bad_x[1, 0] = np.nan
    bad_x[2, 1] = np.inf
    assert_data_error(
        save_and_read(X=bad_x, y=np.ones(5)),
        r"2 missing or non-finite values.*columns 'x0' \(1\), 'x1' \(1\)",
    )
    assert_data_error(
        save_and_read(X=np.ones((3, 2)), y=np.array([1.0, np.nan, 2.0])), r"1 missing.*targets"
    )
    npy = tmp_path / "d.npy.npz"
    with open(npy, "wb") as file:
        np.save(file, np.ones(3))
    assert_data_error(lambda: read_table(npy, target=None), r"single .npy array")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"PK\x03\x04 not really a zip")
    assert_data_error(lambda: read_table(junk, target=None), r"not a readable .npz")


UNPICKLED: list[str] = []


def _record_unpickling() -> str:
    UNPICKLED.append("ran")
    return "payload"


class Payload:
    def __reduce__(self) -> tuple[Any, tuple[()]]:
        return _record_unpickling, ()


def test_npz_object_arrays_are_refused_without_unpickling(tmp_path: Path) -> None:
    path = tmp_path / "evil.npz"
    np.savez(path, X=np.array([[Payload()]], dtype=object), y=np.array([1]))
    assert_data_error(lambda: read_table(path, target=None), r"'X' is an object array; refused")
    np.savez(path, X=np.ones((1, 1)), y=np.array([Payload()], dtype=object))
    assert_data_error(lambda: read_table(path, target=None), r"'y' is an object array; refused")
    assert UNPICKLED == []


def test_pickled_file_named_npz_is_refused_without_unpickling(tmp_path: Path) -> None:
    path = tmp_path / "evil.npz"
    path.write_bytes(pickle.dumps(Payload()))
    assert_data_error(lambda: read_table(path, target=None), r"not a readable .npz file.*np.savez")
    assert_data_error(lambda: read_features(path, feature_names=["a"]), r"not a readable .npz file")
    assert UNPICKLED == []


def test_generator_param_errors() -> None:
    bad_name = data_cfg(dataset="moons", params={"nosie": 0.1})
    assert_data_error(
        lambda: load_raw(bad_name, seed=0),
        r"data.params.nosie: make_moons has no parameter 'nosie' \(did you mean 'noise'\?\)"
        r"; accepted parameters: n_samples, shuffle, noise, random_state",
    )
    bad_value = data_cfg(dataset="moons", params={"noise": -1.0})
    assert_data_error(
        lambda: load_raw(bad_value, seed=0), r"make_moons rejected .*noise=-1.0.*accepted"
    )
    bad_combo = data_cfg(dataset="classification", params={"n_informative": 1, "n_classes": 5})
    assert_data_error(
        lambda: load_raw(bad_combo, seed=0), r"make_classification rejected .*n_informative"
    )
    refused = data_cfg(dataset="regression", params={"coef": True})
    assert_data_error(
        lambda: load_raw(refused, seed=0), r"data.params.coef: changes what make_regression"
    )


def test_config_combination_errors() -> None:
    assert_data_error(
        lambda: load_raw(data_cfg(dataset="iriss"), seed=0),
        r"unknown dataset 'iriss' \(did you mean 'iris'\?\); allowed: iris, digits",
    )
    assert_data_error(
        lambda: load_raw(data_cfg(params={"n": 1}), seed=0), r"'iris' takes no parameters"
    )
    assert_data_error(
        lambda: load_raw(data_cfg(path="/x.csv"), seed=0), r"data.path is set.*csv or npz"
    )
    assert_data_error(lambda: load_raw(data_cfg(target="t"), seed=0), r"data.target is set")
    assert_data_error(lambda: load_raw(data_cfg(dataset="csv"), seed=0), r"data.path is required")
    assert_data_error(
        lambda: load_raw(data_cfg(task="classify"), seed=0), r"data.task is 'classify'"
    )
    assert_data_error(lambda: prepare(data_cfg(), seed=0, dtype="int32"), r"float32 or float64")
