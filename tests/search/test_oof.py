"""Issue 23: cross-validation's out-of-fold predictions (oof.csv) and the metrics computed on
them, against scikit-learn on the file's own columns."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from sklearn import metrics

from mlptrain.config import load_config
from mlptrain.search.cv import cross_validate, make_folds
from mlptrain.search.oof import OOF_FILE

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def _read(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="") as file:
        rows = list(csv.reader(file))
    return rows[0], rows[1:]


def test_every_row_outside_the_test_split_is_predicted_once_by_its_fold(tmp_path: Path) -> None:
    overrides = ["train.epochs=3"]
    result = cross_validate(CONFIGS / "iris.yaml", folds=3, overrides=overrides, out=tmp_path)
    header, rows = _read(tmp_path / OOF_FILE)
    assert header == ["row", "fold", "true", "predicted", "proba_setosa", "proba_versicolor",
                      "proba_virginica"]  # fmt: skip
    folds = make_folds(load_config(CONFIGS / "iris.yaml", overrides), 3)
    fold_of = {int(r): k for k, (_, held_out) in enumerate(folds.folds) for r in held_out}
    assert [int(r[0]) for r in rows] == sorted(fold_of)  # each pool row once, in order
    assert all(int(r[1]) == fold_of[int(r[0])] for r in rows)
    assert not set(fold_of) & set(folds.test.tolist())
    names = ["setosa", "versicolor", "virginica"]
    assert [r[2] for r in rows] == [str(folds.raw.y[int(r[0])]) for r in rows]
    # the metrics on all predictions at once, recomputed from the file by scikit-learn
    truth = np.array([names.index(r[2]) for r in rows])
    proba = np.array([[float(x) for x in r[4:]] for r in rows])
    predicted = np.array([names.index(r[3]) for r in rows])
    assert (predicted == proba.argmax(axis=1)).all()
    oof = result.summary["out_of_fold"]
    assert oof["accuracy"] == pytest.approx(metrics.accuracy_score(truth, predicted))
    assert oof["log_loss"] == pytest.approx(metrics.log_loss(truth, proba), rel=1e-6)
    assert oof["roc_auc"] == pytest.approx(
        metrics.roc_auc_score(truth, proba, multi_class="ovr"), rel=1e-9
    )
    assert "## Out of fold (oof.csv)" in (tmp_path / "cv.md").read_text()


def test_regression_out_of_fold_values(tmp_path: Path) -> None:
    result = cross_validate(CONFIGS / "diabetes.yaml", folds=3, overrides=["train.epochs=2"],
                            out=tmp_path)  # fmt: skip
    header, rows = _read(tmp_path / OOF_FILE)
    assert header == ["row", "fold", "true", "predicted"]
    truth = np.array([float(r[2]) for r in rows])
    predicted = np.array([float(r[3]) for r in rows])
    oof = result.summary["out_of_fold"]
    assert oof["r2"] == pytest.approx(metrics.r2_score(truth, predicted), rel=1e-6)
    assert oof["mae"] == pytest.approx(metrics.mean_absolute_error(truth, predicted), rel=1e-6)
    assert oof["median_absolute_error"] == pytest.approx(
        metrics.median_absolute_error(truth, predicted), rel=1e-6
    )


def test_a_part_that_cannot_be_read_is_named_and_oof_csv_is_left_as_it_was(
    tmp_path: Path,
) -> None:
    """merge_parts reads the folds' part files while it writes oof.csv: a part it cannot read
    is reported as such (exit 1, its path), not as a failure to write oof.csv."""
    from mlptrain.errors import RunError
    from mlptrain.search.oof import merge_parts

    good = tmp_path / "part-0.csv"
    good.write_text("row,fold,true,predicted\n0,0,1.5,1.25\n")
    missing = tmp_path / "part-1.csv"
    out = tmp_path / OOF_FILE
    out.write_text("old\n")
    with pytest.raises(RunError) as info:
        merge_parts([good, missing], out)
    assert str(info.value) == (
        f"could not read a fold's held-out rows ({missing}): No such file or directory; "
        f"{out} is unchanged"
    )
    assert info.value.exit_code == 1
    assert out.read_text() == "old\n"
