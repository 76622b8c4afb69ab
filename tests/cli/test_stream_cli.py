"""``data.stream: true`` through the CLI: a streamed CSV fit, and every refusal as one line
with exit code 2 (combinations a stream cannot serve, pyarrow missing)."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn import metrics as skm

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


def test_a_sweep_streams_its_trials(tmp_path: Path, cli) -> None:
    """A sweep's trials stream their rows as a fit does (they used to load the table whole
    and the sweep then failed rebuilding the best trial's report)."""
    pytest.importorskip("pyarrow")
    config = stream_config(tmp_path, "  stream: true\n  shuffle_buffer: 64")
    result = cli("sweep", config, "--grid", "train.optimizer.lr=1e-3,1e-2",
                 "--out", tmp_path / "sweep")  # fmt: skip
    assert result.exit_code == 0, result.output + result.stderr
    reports = sorted((tmp_path / "sweep").glob("t*/report.json"))
    assert len(reports) == 2
    for path in reports:
        assert json.loads(path.read_text())["data"]["source"].endswith(", streamed)")


def expected_folds(table_path: Path, n_folds: int, seed: int = 0, test_size: float = 0.2):
    """Each row's fold (-1: the test part) from its hash, computed here on the table read
    whole: the rule of docs/tables.md, independently of the placement code."""
    from mlptrain.data.row_hash import row_hashes, unit_interval
    from mlptrain.data.tables import load_table

    whole = load_table(table_path)
    u = unit_interval(row_hashes(whole, list(whole.columns), seed))
    fold = np.minimum(np.floor(n_folds * (u - test_size) / (1 - test_size)), n_folds - 1)
    return np.where(u < test_size, -1, fold).astype(np.int64), whole


def test_cv_on_a_streamed_table(tmp_path: Path, cli, no_figures) -> None:
    """K hash-placed folds: the held-out folds partition the non-test rows as their hashes
    place them, no test row is held out, and each fold's held-out metrics are scikit-learn's
    on its rows of oof.csv; early stopping watches a carved validation part."""
    pytest.importorskip("pyarrow")
    config = stream_config(
        tmp_path, "  stream: true\n  shuffle_buffer: 64\n  columns: {customer: id}"
    )
    result = cli("cv", config, "--folds", "3", "--out", tmp_path / "cv",
                 "--set", "train.early_stopping={monitor: val_loss, patience: 5}")  # fmt: skip
    assert result.exit_code == 0, result.output + result.stderr
    summary = json.loads((tmp_path / "cv" / "cv.json").read_text())
    assert summary["folds"] == 3 and len(summary["per_fold"]) == 3 and summary["streamed"]
    assert summary["val_size"] == 0.1
    assert sorted(p.name for p in (tmp_path / "cv").iterdir()) == ["cv.json", "cv.md", "oof.csv"]
    folds, whole = expected_folds(tmp_path / "t.csv", 3)
    oof = list(csv.DictReader((tmp_path / "cv" / "oof.csv").open()))
    rows = np.array([int(r["row"]) for r in oof])
    assert rows.tolist() == np.flatnonzero(folds >= 0).tolist()  # every non-test row once
    assert [int(r["fold"]) for r in oof] == folds[rows].tolist()
    customers = whole.columns["customer"].strings()
    assert [r["customer"] for r in oof] == customers[rows].tolist()
    churn = whole.columns["churn"].strings()
    assert [r["true"] for r in oof] == churn[rows].tolist()
    for record in summary["per_fold"]:
        k = record["fold"]
        assert record["n_held_out"] == np.sum(folds == k)
        # the other folds' rows: the validation part carved from them, the rest trains
        assert record["n_train"] + record["n_monitor"] == np.sum((folds >= 0) & (folds != k))
        assert 0 < record["n_monitor"] < record["n_train"]
        mine = [r for r in oof if int(r["fold"]) == k]
        true = [r["true"] for r in mine]
        proba = np.array([[float(r["proba_no"]), float(r["proba_yes"])] for r in mine])
        metrics = record["metrics"]
        assert metrics["accuracy"] == pytest.approx(
            skm.accuracy_score(true, [r["predicted"] for r in mine]), abs=1e-12
        )
        assert metrics["log_loss"] == pytest.approx(
            skm.log_loss(true, proba, labels=["no", "yes"]), rel=1e-9
        )
    every = [r["true"] for r in oof]
    assert summary["out_of_fold"]["accuracy"] == pytest.approx(
        skm.accuracy_score(every, [r["predicted"] for r in oof]), abs=1e-12
    )
    assert "hash-placed folds" in (tmp_path / "cv" / "cv.md").read_text()


def test_streamed_cv_never_holds_the_table_and_repeats(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_figures
) -> None:
    """With the in-memory readers patched to fail, the streamed folds still run; the same
    config and seed give the same metrics and oof.csv again, with the folds in parallel too."""
    pytest.importorskip("pyarrow")
    import mlptrain.data as package
    from mlptrain.data import datasets, splits, tables
    from mlptrain.search.cv import cross_validate

    config = stream_config(tmp_path, "  stream: true\n  shuffle_buffer: 64")
    parallel = cross_validate(config, folds=3, jobs=2, out=tmp_path / "b")

    def whole_table(*args: object, **kwargs: object) -> None:
        raise AssertionError("a streamed table was read whole")

    for module, name in [(splits, "prepare"), (datasets, "load_raw"), (tables, "load_table"),
                         (package, "prepare"), (package, "load_raw")]:  # fmt: skip
        monkeypatch.setattr(module, name, whole_table)
    serial = cross_validate(config, folds=3, out=tmp_path / "a")
    assert serial.summary["per_fold"] == parallel.summary["per_fold"]
    assert serial.summary["metrics"] == parallel.summary["metrics"]
    assert serial.summary["out_of_fold"] == parallel.summary["out_of_fold"]
    assert (tmp_path / "a" / "oof.csv").read_text() == (tmp_path / "b" / "oof.csv").read_text()


def test_a_streamed_fold_without_rows_is_refused(tmp_path: Path, cli) -> None:
    """A table too small for its folds: exit 2, naming the first empty fold and its rows;
    too many folds: exit 2 as in memory."""
    pytest.importorskip("pyarrow")
    for seed in range(100):  # a table whose first failing fold is an empty one
        write_rows(tmp_path / "t.csv", mixed_rows(6, seed))
        folds, whole = expected_folds(tmp_path / "t.csv", 5)
        held = [int(np.sum(folds == k)) for k in range(5)]
        churn = whole.columns["churn"].strings()
        first = next(
            k
            for k in range(5)
            if held[k] in (0, np.sum(folds >= 0))
            or len(set(churn[(folds >= 0) & (folds != k)])) < 2  # refused for its one class
        )
        if held[first] in (0, np.sum(folds >= 0)):
            break
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG.format(path="t.csv", extra="  stream: true"))
    train = int(np.sum((folds >= 0) & (folds != first)))
    result = cli("cv", config, "--folds", "5", "--out", tmp_path / "cv")
    assert_one_line_exit_2(
        result,
        f"fold {first} of 5 has {train} training and {held[first]} held-out rows (and 0 "
        "validation rows); every fold needs both: use fewer --folds or a larger table",
    )
    assert not (tmp_path / "cv" / "cv.json").exists()
    assert not list((tmp_path / "cv").glob("*.part.csv"))
    # folds out of range: the in-memory cv's message, before any pass
    result = cli("cv", config, "--folds", "101", "--out", tmp_path / "cv101")
    assert_one_line_exit_2(result, "--folds 101: allowed: an integer from 2 to 100")
    assert not (tmp_path / "cv101").exists()


def test_a_class_only_one_fold_holds_is_refused_naming_the_fold(tmp_path: Path, cli) -> None:
    """A class whose only row a fold holds out: that fold's model could never predict it.
    Exit 2 naming the fold, as the in-memory cv refuses a class rarer than the folds."""
    pytest.importorskip("pyarrow")
    rows = mixed_rows(300)
    for candidate in range(1, len(rows)):  # the first row whose hash puts it in a fold
        changed = [*rows[:candidate], [*rows[candidate][:-1], "maybe"], *rows[candidate + 1 :]]
        write_rows(tmp_path / "t.csv", changed)
        folds, _ = expected_folds(tmp_path / "t.csv", 3)
        if folds[candidate - 1] >= 0:
            break
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG.format(path="t.csv", extra="  stream: true"))
    result = cli("cv", config, "--folds", "3", "--out", tmp_path / "cv")
    assert_one_line_exit_2(
        result,
        f"fold {folds[candidate - 1]} of 3, the held-out rows: label(s) ['maybe'] not in any "
        "training row, so the model could never predict them: use fewer --folds, or drop rows "
        "of classes too rare to be in every fold",
    )
    assert not (tmp_path / "cv" / "cv.json").exists()


def test_a_streamed_table_of_one_class_is_refused(tmp_path: Path, cli) -> None:
    pytest.importorskip("pyarrow")
    rows = [[*row[:-1], "no"] for row in mixed_rows(100)[1:]]
    write_rows(tmp_path / "t.csv", [mixed_rows(1)[0], *rows])
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG.format(path="t.csv", extra="  stream: true"))
    result = cli("fit", config, "--out", tmp_path / "run")
    assert_one_line_exit_2(
        result,
        "t.csv: the training rows hold only the class 'no'; classification needs at least "
        "two (is data.target the right column?)",
    )


def test_streamed_cv_of_a_regression(tmp_path: Path, cli, no_figures) -> None:
    """A numeric target: the held-out folds partition the non-test rows, and each fold's
    MAE, RMSE and R² are scikit-learn's on its rows of oof.csv."""
    pytest.importorskip("pyarrow")
    rows = mixed_rows(300)
    rng = np.random.default_rng(3)
    table = [[*rows[0][:-1], "spend"]]
    for row in rows[1:]:
        spend = 50.0 * (row[2] == "premium") + 0.5 * float(row[1] or 40) + rng.normal(0, 5)
        table.append([*row[:-1], f"{spend:.3f}"])
    write_rows(tmp_path / "t.csv", table)
    config = tmp_path / "c.yaml"
    text = CONFIG.format(path="t.csv", extra="  stream: true\n  columns: {customer: id}")
    config.write_text(text.replace("target: churn", "target: spend"))
    result = cli("cv", config, "--folds", "3", "--out", tmp_path / "cv")
    assert result.exit_code == 0, result.output + result.stderr
    summary = json.loads((tmp_path / "cv" / "cv.json").read_text())
    assert summary["task"] == "regression" and summary["streamed"]
    folds, _ = expected_folds(tmp_path / "t.csv", 3)
    oof = list(csv.DictReader((tmp_path / "cv" / "oof.csv").open()))
    assert [int(r["row"]) for r in oof] == np.flatnonzero(folds >= 0).tolist()
    assert [int(r["fold"]) for r in oof] == folds[folds >= 0].tolist()
    spend = np.array([float(row[-1]) for row in table[1:]])
    assert [float(r["true"]) for r in oof] == pytest.approx(spend[folds >= 0].tolist(), abs=1e-9)
    for record in summary["per_fold"]:
        mine = [r for r in oof if int(r["fold"]) == record["fold"]]
        true = np.array([float(r["true"]) for r in mine])
        predicted = np.array([float(r["predicted"]) for r in mine])
        metrics = record["metrics"]
        assert metrics["mae"] == pytest.approx(skm.mean_absolute_error(true, predicted), rel=1e-9)
        assert metrics["rmse"] == pytest.approx(
            skm.root_mean_squared_error(true, predicted), rel=1e-9
        )
        assert metrics["r2"] == pytest.approx(skm.r2_score(true, predicted), rel=1e-9)


def test_streamed_oof_scores_the_right_columns_whatever_the_ids_are_named(
    tmp_path: Path, cli, no_figures
) -> None:
    """An id column named like a scored one (``true_customer``): oof.csv's metrics still come
    from the true/predicted/probability columns."""
    pytest.importorskip("pyarrow")
    rows = mixed_rows(300)
    write_rows(tmp_path / "t.csv", [["true_customer", *rows[0][1:]], *rows[1:]])
    config = tmp_path / "c.yaml"
    extra = "  stream: true\n  columns: {true_customer: id}"
    config.write_text(CONFIG.format(path="t.csv", extra=extra))
    result = cli("cv", config, "--folds", "2", "--out", tmp_path / "cv")
    assert result.exit_code == 0, result.output + result.stderr
    summary = json.loads((tmp_path / "cv" / "cv.json").read_text())
    oof = list(csv.DictReader((tmp_path / "cv" / "oof.csv").open()))
    assert [r["true_customer"] for r in oof][:2] == [rows[1 + int(r["row"])][0] for r in oof[:2]]
    assert summary["out_of_fold"]["accuracy"] == pytest.approx(
        skm.accuracy_score([r["true"] for r in oof], [r["predicted"] for r in oof]), abs=1e-12
    )
