"""Issue 21, cases 1, 3 and 5 through the command line.

1. ``mlptrain predict`` on a non-table model (digits) matches columns by name, as the Python API
   does (tests/serving/test_column_matching.py); position only for inputs without names.
3. ``mlptrain evaluate RUN --data FILE`` finds the label column by name (``--target`` names
   another), not by position.
5. An unexpected exception is one line saying it is a bug and where its traceback is, exit 1.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mlptrain
from tests.conftest import assert_no_traceback


@pytest.fixture(scope="module")
def digits_frame() -> pd.DataFrame:
    from sklearn.datasets import load_digits

    return load_digits(as_frame=True).frame


@pytest.fixture(scope="module")
def expected(digits_run, digits_frame) -> np.ndarray:
    """The digits run's predictions for every image, through the API on the frame in order."""
    return mlptrain.load(digits_run.dir).predict(digits_frame.drop(columns="target"))


def _predictions(stdout: str) -> np.ndarray:
    lines = stdout.strip().splitlines()
    assert lines[0] == "prediction"
    return np.array([int(line) for line in lines[1:]])


def _accuracy(predicted: np.ndarray, frame: pd.DataFrame) -> float:
    return float(np.mean(predicted.astype(int) == frame["target"].to_numpy()))


def test_predict_shuffled_header_matches_by_name(
    cli, digits_run, digits_frame, expected, tmp_path: Path
) -> None:
    X = digits_frame.drop(columns="target")
    path = tmp_path / "shuffled.csv"
    X[list(np.random.default_rng(1).permutation(X.columns))].to_csv(path, index=False)
    result = cli("predict", digits_run.dir, path)
    assert result.exit_code == 0, result.output
    predicted = _predictions(result.stdout)
    assert np.array_equal(predicted, expected.astype(int))
    assert _accuracy(predicted, digits_frame) == _accuracy(expected, digits_frame) > 0.5
    assert result.stderr == ""


def test_predict_renamed_column_is_an_error(cli, digits_run, digits_frame, tmp_path: Path) -> None:
    X = digits_frame.drop(columns="target").rename(columns={"pixel_5_2": "pixel_5_2b"})
    path = tmp_path / "renamed.csv"
    X.sample(frac=1.0, axis=1, random_state=2).to_csv(path, index=False)
    result = cli("predict", digits_run.dir, path)
    assert_no_traceback(result)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(
        f"error: {path}: missing feature column(s) 'pixel_5_2'; the input has 'pixel_5_2b' "
        "(did you mean 'pixel_5_2'?); the model takes its 64 features by name: 'pixel_0_0', "
    )


def test_predict_made_up_header_is_an_error(cli, digits_run, digits_frame, tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    X = digits_frame.drop(columns="target")
    X.set_axis([f"p{j}" for j in range(64)], axis=1).to_csv(path, index=False)
    result = cli("predict", digits_run.dir, path)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {path}: missing feature column(s) 'pixel_0_0', ")


def test_predict_extra_columns_are_ignored_with_a_note(
    cli, digits_run, digits_frame, expected, tmp_path: Path
) -> None:
    path = tmp_path / "extra.csv"
    digits_frame.drop(columns="target").assign(scan="a").to_csv(path, index=False)
    result = cli("predict", digits_run.dir, path)
    assert result.exit_code == 0, result.output
    assert np.array_equal(_predictions(result.stdout), expected.astype(int))
    assert result.stderr == f"note: {path}: ignored 1 column(s) the model does not use: 'scan'\n"


def test_predict_headerless_csv_and_npz_by_position_with_a_note(
    cli, digits_run, digits_frame, expected, tmp_path: Path
) -> None:
    X = digits_frame.drop(columns="target").to_numpy()
    csv_path = tmp_path / "plain.csv"
    np.savetxt(csv_path, X, delimiter=",", fmt="%g")
    npz_path = tmp_path / "plain.npz"
    np.savez(npz_path, X=X)
    for path in (csv_path, npz_path):
        result = cli("predict", digits_run.dir, path)
        assert result.exit_code == 0, result.output
        assert np.array_equal(_predictions(result.stdout), expected.astype(int))
        assert result.stderr == (
            f"note: {path}: the input has no column names: its 64 columns are taken by "
            "position, in training order\n"
        )


def _metrics(stdout: str) -> dict[str, float]:
    return {m[1]: float(m[2]) for m in re.finditer(r"^\s+(\w+)\s+([-\d.]+)$", stdout, re.M)}


def test_evaluate_finds_the_label_column_by_name(
    cli, digits_run, digits_frame, expected, tmp_path: Path
) -> None:
    accuracy = _accuracy(expected, digits_frame)
    first = tmp_path / "target_first.csv"
    columns = ["target", *digits_frame.columns.drop("target")]
    digits_frame[columns].to_csv(first, index=False)
    result = cli("evaluate", digits_run.dir, "--data", first, "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["n_samples"] == len(digits_frame)
    assert report["metrics"]["accuracy"] == pytest.approx(accuracy, abs=1e-12)
    # another name for the label column, given with --target, columns shuffled
    named = tmp_path / "label.csv"
    shuffled = digits_frame.rename(columns={"target": "label"})
    shuffled[list(np.random.default_rng(3).permutation(shuffled.columns))].to_csv(
        named, index=False
    )
    result = cli("evaluate", digits_run.dir, "--data", named, "--target", "label")
    assert result.exit_code == 0, result.output
    assert _metrics(result.stdout)["accuracy"] == pytest.approx(accuracy, abs=5e-5)


def test_evaluate_without_the_label_column_is_one_line(
    cli, digits_run, digits_frame, tmp_path: Path
) -> None:
    path = tmp_path / "label.csv"
    digits_frame.rename(columns={"target": "digit"}).to_csv(path, index=False)
    result = cli("evaluate", digits_run.dir, "--data", path)
    assert_no_traceback(result)
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {path}: no label column 'target' (the name the run was trained with); the "
        "columns are 'pixel_0_0', 'pixel_0_1', 'pixel_0_2', 'pixel_0_3', 'pixel_0_4', "
        "'pixel_0_5', 'pixel_0_6', 'pixel_0_7', 'pixel_1_0', 'pixel_1_1', ... (55 more); "
        "name the label column with --target\n"
    )
    result = cli("evaluate", digits_run.dir, "--data", path, "--target", "digits")
    assert result.exit_code == 2
    assert result.stderr.startswith(
        f"error: {path}: no label column 'digits' (asked for) (did you mean 'digit'?); "
    )
    result = cli("evaluate", digits_run.dir, "--target", "digit")
    assert result.exit_code == 2
    assert result.stderr == "error: --target names the label column of a --data file; give --data\n"


def _boom(*args: object, **kwargs: object) -> None:
    raise RuntimeError("forced failure for the test")


def _check_bug_line(stderr: str) -> None:
    assert stderr.count("\n") == 1
    found = re.fullmatch(
        r"error: unexpected RuntimeError: forced failure for the test -- this is a bug in "
        r"mlptrain; the full traceback is in (\S+) \(please include it in a bug report\)\n",
        stderr,
    )
    assert found, stderr
    written = Path(found[1]).read_text()
    Path(found[1]).unlink()
    assert "Traceback (most recent call last)" in written
    assert "in _boom" in written and written.endswith("RuntimeError: forced failure for the test\n")


def test_unexpected_error_is_one_line_saying_it_is_a_bug(
    cli, digits_run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr("mlptrain.serving.predict.predict_file", _boom)
    path = tmp_path / "in.npz"
    np.savez(path, X=np.zeros((1, 64)))
    result = cli("predict", digits_run.dir, path)
    assert_no_traceback(result)
    assert result.exit_code == 1
    _check_bug_line(result.stderr)


def test_unexpected_error_through_the_console_entry(
    digits_run, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from mlptrain.cli import main

    monkeypatch.setattr("mlptrain.serving.score.score_file", _boom)
    monkeypatch.setattr(sys, "argv", ["mlptrain", "evaluate", str(digits_run.dir), "--data", "x"])
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    _check_bug_line(captured.err)
