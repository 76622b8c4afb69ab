"""``data.stream: true`` through the CLI: a streamed CSV fit, and every refusal as one line
with exit code 2 (combinations a stream cannot serve, pyarrow missing)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.cli.test_tables_cli import CONFIG
from tests.data.test_tables import mixed_rows, write_rows


def stream_config(tmp_path: Path, extra: str) -> Path:
    write_rows(tmp_path / "t.csv", mixed_rows(300))
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG.format(path="t.csv", extra=extra))
    return path


def assert_one_line_exit_2(result, message: str) -> None:  # type: ignore[no-untyped-def]
    assert result.exit_code == 2 and result.exception is not None, result.output
    assert result.stderr.startswith("error: ") and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_streamed_csv_fit(tmp_path: Path, cli, no_figures) -> None:
    pytest.importorskip("pyarrow")
    extra = "  stream: true\n  shuffle_buffer: 64\n  columns: {customer: id}"
    result = cli("fit", stream_config(tmp_path, extra), "--out", tmp_path / "run")
    assert result.exit_code == 0, result.output + result.stderr
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["data"]["n_train"] + report["data"]["n_val"] + report["data"]["n_test"] == 300
    assert "accuracy" in report["metrics"]["test"]
    # evaluate and resume reread the stream (its fingerprint from one pass, not a whole read)
    result = cli("evaluate", tmp_path / "run")
    assert result.exit_code == 0, result.output + result.stderr
    result = cli("fit", "--resume", tmp_path / "run", "--set", "train.epochs=3")
    assert result.exit_code == 0, result.output + result.stderr
    assert len((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()) == 3


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("  stream: true\n  split_column: plan",
         "data.split_column: 'plan' is not allowed with data.stream: true (a stream assigns "
         "every row to train/val/test by a hash of the row, or of data.split_key); remove it, "
         "or set data.stream: false"),
        ("  stream: true\n  test_path: t.csv", "data.test_path: "),
        ("  stream: true\n  thousands: ','", "data.thousands: ',' is not allowed with data.stream"),
        ("  shuffle_buffer: 10",
         "data.shuffle_buffer: 10 is not allowed without data.stream: true"),
        ("  stream: true\n  shuffle_buffer: 0", "data.shuffle_buffer"),
        ("  stream: true\n  split_key: nosuch", "data.split_key: no column named 'nosuch'"),
    ],
)  # fmt: skip
def test_refused_combinations(tmp_path: Path, cli, extra: str, message: str) -> None:
    result = cli("fit", stream_config(tmp_path, extra), "--out", tmp_path / "run")
    assert_one_line_exit_2(result, message)


def test_stream_without_pyarrow_names_the_extra(
    tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow.dataset", None)  # import fails as if absent
    result = cli("fit", stream_config(tmp_path, "  stream: true"), "--out", tmp_path / "run")
    assert_one_line_exit_2(
        result, "data.stream: true needs pyarrow; install it with pip install 'mlptrain[tables]'"
    )


def test_a_sweep_streams_its_trials_and_cv_is_refused(tmp_path: Path, cli) -> None:
    """A sweep's trials stream their rows as a fit does (they used to load the table whole
    and the sweep then failed rebuilding the best trial's report); cross-validation, which
    cuts a held table into folds, is refused in one line."""
    pytest.importorskip("pyarrow")
    config = stream_config(tmp_path, "  stream: true\n  shuffle_buffer: 64")
    result = cli("sweep", config, "--grid", "train.optimizer.lr=1e-3,1e-2",
                 "--out", tmp_path / "sweep")  # fmt: skip
    assert result.exit_code == 0, result.output + result.stderr
    reports = sorted((tmp_path / "sweep").glob("t*/report.json"))
    assert len(reports) == 2
    for path in reports:
        assert json.loads(path.read_text())["data"]["source"].endswith(", streamed)")
    result = cli("cv", config, "--folds", "3", "--out", tmp_path / "cv")
    assert_one_line_exit_2(result, "data.stream: true: cross-validation holds the table")
    assert not (tmp_path / "cv").exists()
