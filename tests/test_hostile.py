"""Hostile input through the CLI and the API: damaged or foreign checkpoints, malicious or
oversized YAML, and the scikit-learn estimator-check battery of bad data. Each ends in one
`error:` line naming the file and the problem, exit 2, no traceback, fast."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy

from mlptrain.api import fit, load
from mlptrain.errors import DataError
from mlptrain.store.checkpoint import load_checkpoint, save_checkpoint
from tests.conftest import assert_no_traceback

SMALL = """\
name: small
seed: 0
data: {dataset: iris, val_size: 0.0}
model: {layers: [{type: linear, units: UNITS}, relu, linear]}
train: {epochs: 2, batch_size: 32, early_stopping: null}
"""

# Seconds: refusing a hostile file takes milliseconds; this only catches a hang.
HANG_GUARD = 10


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hostile")
    made = {}
    for units in (8, 5):
        config = root / f"u{units}.yaml"
        config.write_text(SMALL.replace("UNITS", str(units)))
        made[f"u{units}"] = fit(config, out=root / f"run{units}").dir
    return made


def assert_one_line_error(result, path: Path, problem: str) -> None:
    assert result.exit_code == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {path}"), lines[0]
    assert problem in lines[0], lines[0]
    assert_no_traceback(result)


def _best(runs: dict[str, Path]) -> bytes:
    return (runs["u8"] / "checkpoints" / "best.safetensors").read_bytes()


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x10]) + data[at + 1 :]


HOSTILE_CHECKPOINTS = {
    "truncated": (lambda good: good[: len(good) - 37], "the file is truncated"),
    "bit-flipped": (lambda good: _flip(good, len(good) - 5), "integrity check failed"),
    "zero-length": (lambda good: b"", "the file is empty (0 bytes)"),
    "text": (lambda good: b"name: not a checkpoint\n", "looks like a text file"),
    "over-large header": (
        lambda good: (2**40).to_bytes(8, "little") + b"{}",
        "more than the 16777216 allowed",
    ),
    # pickle protocol 4 of the int 1, written out by hand (tests never import pickle either)
    "pickle": (lambda good: b"\x80\x04K\x01.", "looks like a pickle file (refused"),
    "zip (torch .pt)": (lambda good: b"PK\x03\x04" + b"\0" * 40, "looks like a zip file"),
    "foreign safetensors": (
        lambda good: safetensors.numpy.save({"w": np.zeros(2, np.float32)}),
        "a safetensors file without mlptrain metadata",
    ),
}


@pytest.mark.parametrize("kind", list(HOSTILE_CHECKPOINTS))
def test_evaluate_hostile_checkpoint(runs, tmp_path: Path, cli, kind: str) -> None:
    make, problem = HOSTILE_CHECKPOINTS[kind]
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(make(_best(runs)))
    started = time.perf_counter()
    result = cli("evaluate", bad)
    # A guard against hangs and huge allocations, loose enough for a loaded CI machine; the
    # typical time is a few milliseconds.
    assert time.perf_counter() - started < HANG_GUARD
    assert_one_line_error(result, bad, problem)


def test_evaluate_wrong_version_checkpoint(runs, tmp_path: Path, cli) -> None:
    good = load_checkpoint(runs["u8"] / "checkpoints" / "best.safetensors")
    import mlptrain.store.checkpoint as checkpoint

    bad = tmp_path / "future.safetensors"
    original = checkpoint.FORMAT_VERSION
    checkpoint.FORMAT_VERSION = 7
    try:
        save_checkpoint(bad, good.tensors, good.meta)
    finally:
        checkpoint.FORMAT_VERSION = original
    assert_one_line_error(cli("evaluate", bad), bad, "written by a newer format version 7")


@pytest.mark.parametrize("command", ["evaluate", "predict", "export"])
def test_malformed_run_state_is_one_line(runs, tmp_path: Path, cli, command: str) -> None:
    """A re-signed checkpoint whose run state lacks a field every reader needs (the SHA-256
    proves integrity, not good intent): one line naming the field, not a KeyError."""
    good = load_checkpoint(runs["u8"] / "checkpoints" / "best.safetensors")
    bad = tmp_path / "bad.safetensors"
    save_checkpoint(bad, good.tensors, {k: v for k, v in good.meta.items() if k != "task"})
    rows = tmp_path / "rows.csv"
    rows.write_text("a,b,c,d\n1,2,3,4\n")
    args = {"evaluate": [bad], "predict": [bad, rows], "export": [bad, "--out", tmp_path / "x"]}
    assert_one_line_error(cli(command, *args[command]), bad, "its run state")


def test_evaluate_architecture_swapped_in(runs, cli) -> None:
    """A valid checkpoint of another architecture put in place of a run's best: its tensors
    no longer match the config the run was built from (swapped metadata) and the mismatch is
    named."""
    target = runs["u8"] / "checkpoints" / "best.safetensors"
    backup = target.read_bytes()
    other = load_checkpoint(runs["u5"] / "checkpoints" / "best.safetensors")
    mine = load_checkpoint(target)
    try:
        save_checkpoint(target, other.tensors, mine.meta)
        result = cli("evaluate", runs["u8"])
        assert result.exit_code == 2
        assert result.stderr.startswith(f"error: {target} does not fit the model: ")
        assert "0.W: " in result.stderr and "shape (4, 5), model expects (4, 8)" in result.stderr
        assert_no_traceback(result)
    finally:
        target.write_bytes(backup)


def test_load_hostile_checkpoint_through_api(runs, tmp_path: Path) -> None:
    from mlptrain.errors import CheckpointError

    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(_flip(_best(runs), len(_best(runs)) - 5))
    with pytest.raises(CheckpointError, match="integrity check failed"):
        load(bad)


# YAML --------------------------------------------------------------------------------------

LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join(['*' + p] * 10)}]\n"
    for p, c in zip("abcdefgh", "bcdefghi", strict=True)
)

HOSTILE_YAML = {
    "python tag": (
        "name: x\nseed: !!python/object/apply:os.system ['echo pwned']\n",
        "!!python/object/apply:os.system",
    ),
    "billion laughs": (LAUGHS, "alias expansions included"),
    "deep nesting": ("a: " + "[" * 10_000 + "]" * 10_000 + "\n", "nested"),
    "duplicate keys": ("name: a\nname: b\n", "'name'"),
}


@pytest.mark.parametrize("kind", list(HOSTILE_YAML))
def test_fit_hostile_yaml(tmp_path: Path, cli, kind: str) -> None:
    text, problem = HOSTILE_YAML[kind]
    config = tmp_path / "bad.yaml"
    config.write_text(text)
    started = time.perf_counter()
    result = cli("fit", config, "--out", tmp_path / "run")
    assert time.perf_counter() - started < HANG_GUARD
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith(f"error: {config}")
    assert problem in result.stderr
    assert_no_traceback(result)
    assert not (tmp_path / "run").exists()


def test_fit_100_megabyte_yaml(tmp_path: Path, cli) -> None:
    config = tmp_path / "huge.yaml"
    with config.open("wb") as handle:  # sparse: 100 MB on paper, nothing on disk
        handle.truncate(100 * 2**20)
    started = time.perf_counter()
    result = cli("fit", config)
    assert time.perf_counter() - started < HANG_GUARD  # refused from the file size alone
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {config}")
    assert "allowed: at most 1048576 bytes (1 MiB)" in result.stderr


# Data: the scikit-learn estimator-check battery -------------------------------------------


@pytest.fixture(scope="module")
def iris_model(runs):
    return load(runs["u8"])


@pytest.mark.parametrize(
    ("X", "problem"),
    [
        (np.array([[1.0, np.nan, 3.0, 4.0]]), "NaN"),
        (np.array([[1.0, 2.0, np.inf, 4.0]]), "inf"),
        (np.zeros((0, 4)), "0 samples"),
        (np.zeros((3, 0)), "X has 0 features, but the model expects 4"),
        (np.zeros((3, 5)), "X has 5 features, but the model expects 4"),
        (np.array([1.0, 2.0, 3.0, 4.0]), "expected a 2-D array, got a 1-D array"),
        (np.array([["a", "b", "c", "d"]]), "features must be numbers"),
        (np.array([[1.0, "x", 2.0, None]], dtype=object), "features must be numbers"),
        (np.zeros((2, 4, 1)), "expected a 2-D array (n_samples, n_features), got 3"),
    ],
)
def test_predict_bad_data(iris_model, X, problem: str) -> None:
    with pytest.raises(DataError) as caught:
        iris_model.predict(X)
    assert problem in str(caught.value)


def test_predict_one_sample_works(iris_model) -> None:
    assert iris_model.predict(np.zeros((1, 4))).shape == (1,)


def _csv(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


@pytest.mark.parametrize(
    ("rows", "problem"),
    [
        # gaps ("nan", "") and words ("abc") are imputed and encoded now: tests/data/test_tables.py
        (["1,inf,0", "2,3,1"] * 20, "infinite value(s)"),
        ([], "0 samples: the file has no data rows"),
        (["1,2,0"], "too few samples for the split: 1 samples"),
        (["1,2,0", "2,3,0"] * 20, "one class"),
    ],
)
def test_fit_bad_csv(tmp_path: Path, cli, rows: list[str], problem: str) -> None:
    _csv(tmp_path / "d.csv", "a,b,label", rows)
    config = tmp_path / "c.yaml"
    config.write_text(
        "name: c\ndata: {dataset: csv, path: d.csv, target: label}\n"
        "model: {layers: [{type: linear, units: 4}, relu, linear]}\n"
        "train: {epochs: 1, early_stopping: null}\n"
    )
    result = cli("fit", config, "--out", tmp_path / "run")
    assert result.exit_code == 2, result.stdout + result.stderr
    assert result.stderr.startswith("error: ")
    assert str(tmp_path / "d.csv") in result.stderr
    assert problem in result.stderr, result.stderr
    assert_no_traceback(result)


@pytest.mark.parametrize(
    ("arrays", "problem"),
    [
        ({"X": np.zeros((30, 0)), "y": np.arange(30) % 2}, "0 features"),
        ({"X": np.arange(30.0), "y": np.arange(30) % 2}, "2-D"),
        ({"X": np.zeros((30, 2)), "y": np.arange(29) % 2}, "X has 30 rows but y has 29"),
        ({"X": np.full((30, 2), np.nan), "y": np.arange(30) % 2}, "NaN"),
    ],
)
def test_fit_bad_npz(tmp_path: Path, cli, arrays, problem: str) -> None:
    np.savez(tmp_path / "d.npz", **arrays)
    config = tmp_path / "c.yaml"
    config.write_text(
        "name: c\ndata: {dataset: npz, path: d.npz}\n"
        "model: {layers: [{type: linear, units: 4}, relu, linear]}\n"
        "train: {epochs: 1, early_stopping: null}\n"
    )
    result = cli("fit", config, "--out", tmp_path / "run")
    assert result.exit_code == 2, result.stdout + result.stderr
    assert str(tmp_path / "d.npz") in result.stderr
    assert problem in result.stderr, result.stderr
    assert_no_traceback(result)


def test_npz_with_object_array_is_refused_without_unpickling(tmp_path: Path, cli) -> None:
    np.savez(tmp_path / "d.npz", X=np.array([[1, "a"]] * 30, dtype=object), y=np.arange(30) % 2)
    config = tmp_path / "c.yaml"
    config.write_text(
        "name: c\ndata: {dataset: npz, path: d.npz}\n"
        "model: {layers: [{type: linear, units: 4}, relu, linear]}\n"
    )
    result = cli("fit", config, "--out", tmp_path / "run")
    assert result.exit_code == 2
    assert str(tmp_path / "d.npz") in result.stderr
    assert_no_traceback(result)
