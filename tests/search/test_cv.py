"""Cross-validation: folds leave the test rows out; mean ± std match a direct computation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.model_selection import StratifiedKFold, train_test_split
from typer.testing import CliRunner

from mlptrain.cli import app
from mlptrain.config import load_config
from mlptrain.data import LabelEncoder, Prepared, Scaler, Split, load_raw, split_indices
from mlptrain.reporting.metrics import classification_metrics
from mlptrain.search.cv import cross_validate, make_folds
from mlptrain.training.setup import build
from mlptrain.training.trainer import Trainer
from tests.conftest import tiny_iris

CONFIG = tiny_iris(seed=5, val_size=0.1, units=6, batch_size=16, lr="3.0e-2", early_stopping=False)
runner = CliRunner()


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(CONFIG)
    return path


def _direct_fold_scores(
    config_path: Path, n_folds: int, overrides: list[str]
) -> list[dict[str, float]]:
    """Each fold trained here by hand, from scikit-learn's splitter and the data primitives."""
    cfg = load_config(config_path, overrides)
    monitored = cfg.train.early_stopping is not None
    raw = load_raw(cfg.data, seed=cfg.seed)
    train, val, test = split_indices(
        raw.y, task="classification", test_size=0.2, val_size=0.1, seed=cfg.seed
    )
    pool = np.sort(np.concatenate([train, val]))
    encoder = LabelEncoder().fit(raw.y)
    labels = encoder.encode(raw.y)
    scores = []
    splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=cfg.seed)
    for fit_pos, held_pos in splitter.split(pool, labels[pool]):
        train_rows, held_rows = pool[fit_pos], pool[held_pos]
        fit_rows = train_rows
        if monitored:
            # The monitor's rows: val_size of the fold's training rows, stratified and seeded.
            fit_rows, val_rows = train_test_split(
                train_rows, test_size=0.1, random_state=cfg.seed, stratify=labels[train_rows]
            )
            fit_rows, val_rows = np.sort(fit_rows), np.sort(val_rows)
        scaler = Scaler("standard").fit(raw.X[fit_rows])

        def part(rows: np.ndarray, scaler: Scaler = scaler) -> Split:
            return Split(scaler.transform(raw.X[rows], np.float32), labels[rows])

        data = Prepared(
            task="classification", train=part(fit_rows),
            val=part(val_rows) if monitored else None,
            test=part(held_rows), encoder=encoder, scaler=scaler,
            feature_names=list(raw.feature_names), n_features=4, n_outputs_hint=3,
            source="iris",
        )  # fmt: skip
        setup = build(cfg, data=data)
        Trainer(setup).run()
        metrics = classification_metrics(
            data.test.y, setup.model.predict_log_proba(data.test.X), ["0", "1", "2"]
        )
        scores.append({k: metrics[k] for k in ("accuracy", "log_loss", "f1_macro")})
    return scores


NOTES = {
    "early": "Early stopping and the plateau schedule watch a validation part (val_size 0.1) "
    "carved from each fold's training rows; the held-out fold is only scored.",
    "none": "Nothing watches a validation metric (no early stopping or plateau schedule on "
    "val_*): each fold trains on all its training rows; the held-out fold is only scored.",
}


@pytest.mark.parametrize(
    ("overrides", "note", "n_monitor"),
    [([], "none", 0), (["train.early_stopping={monitor: val_loss, patience: 1}"], "early", 8)],
)
def test_cv_mean_std_match_direct_computation(
    config_path: Path, tmp_path: Path, overrides: list[str], note: str, n_monitor: int
) -> None:
    sets = [a for o in overrides for a in ("--set", o)]
    result = runner.invoke(
        app, ["cv", str(config_path), "--folds", "3", "--out", str(tmp_path / "cv"), *sets]
    )
    assert result.exit_code == 0, result.output
    assert "3-fold cross-validation of tiny" in result.output
    summary = json.loads((tmp_path / "cv" / "cv.json").read_text())
    direct = _direct_fold_scores(config_path, 3, overrides)
    for name in ("accuracy", "log_loss", "f1_macro"):
        values = [fold[name] for fold in direct]
        assert [f["metrics"][name] for f in summary["per_fold"]] == values
        assert summary["metrics"][name]["mean"] == pytest.approx(np.mean(values), abs=1e-15)
        assert summary["metrics"][name]["std"] == pytest.approx(np.std(values), abs=1e-15)
    cv_md = (tmp_path / "cv" / "cv.md").read_text()
    assert "| accuracy |" in cv_md
    assert NOTES[note] in cv_md and NOTES[note] in result.output
    for fold in summary["per_fold"]:
        # 120 rows outside the test split, 40 held out per fold; 10% of 80 watched
        assert (fold["n_monitor"], fold["n_held_out"]) == (n_monitor, 40)
        assert fold["n_train"] == 80 - n_monitor


def test_folds_never_touch_the_test_rows(config_path: Path) -> None:
    cfg = load_config(config_path)
    folds = make_folds(cfg, 4)
    held = np.concatenate([held for _, held in folds.folds])
    assert len(np.intersect1d(held, folds.test)) == 0
    for fit_rows, held_rows in folds.folds:
        assert len(np.intersect1d(fit_rows, folds.test)) == 0
        assert len(np.intersect1d(fit_rows, held_rows)) == 0
    assert len(held) + len(folds.test) == 150 and len(np.unique(held)) == len(held)


def test_cv_parallel_equals_serial_and_regression_uses_kfold(
    config_path: Path, tmp_path: Path
) -> None:
    overrides = [
        "data={dataset: regression, params: {n_samples: 80, n_features: 3}, val_size: 0.1}",
        "model.loss=mse",
    ]
    serial = cross_validate(config_path, folds=3, overrides=overrides, out=tmp_path / "a")
    parallel = cross_validate(config_path, folds=3, overrides=overrides, jobs=2, out=tmp_path / "b")
    assert serial.summary["task"] == "regression"
    # no mape: the generated targets change sign
    assert set(serial.summary["metrics"]) == {"mse", "rmse", "mae", "r2", "median_absolute_error"}
    assert serial.summary["per_fold"] == parallel.summary["per_fold"]
    assert serial.summary["out_of_fold"] == parallel.summary["out_of_fold"]
    assert (tmp_path / "a" / "oof.csv").read_text() == (tmp_path / "b" / "oof.csv").read_text()
    assert sum(f["n_held_out"] for f in serial.summary["per_fold"]) == 80 - 16


def test_the_monitor_never_sees_a_held_out_row(
    config_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every array early stopping and the plateau schedule read during a fold's training is
    recorded; none holds a held-out row. The data are continuous, so rows are unique."""
    from mlptrain.search import cv
    from mlptrain.training import batches

    seen: list[np.ndarray] = []
    scored: list[np.ndarray] = []
    real_evaluate = batches.evaluate_split
    real_scalar_metrics = cv.scalar_metrics

    def spy_evaluate(model, loss, x, y, task):  # type: ignore[no-untyped-def]
        seen.append(x.copy())
        return real_evaluate(model, loss, x, y, task)

    def spy_scalar_metrics(setup, split):  # type: ignore[no-untyped-def]
        scored.append(split.X.copy())
        return real_scalar_metrics(setup, split)

    monkeypatch.setattr(batches, "evaluate_split", spy_evaluate)
    monkeypatch.setattr(cv, "scalar_metrics", spy_scalar_metrics)
    overrides = [
        "data={dataset: regression, params: {n_samples: 90, n_features: 3}, val_size: 0.25}",
        "model.loss=mse",
        "train.early_stopping={monitor: val_r2, patience: 50}",
    ]
    result = cross_validate(config_path, folds=3, overrides=overrides, out=tmp_path / "cv")
    assert len(scored) == 3
    for fold in result.summary["per_fold"]:
        assert fold["n_monitor"] == 12 and fold["n_held_out"] == 24
    # 3 epochs per fold: each reads the train split (train R²) and the validation part.
    assert len(seen) == 3 * 3 * 2
    for fold, held in enumerate(scored):
        held_rows = {row.tobytes() for row in held}
        for x in seen[fold * 6 : (fold + 1) * 6]:
            assert held_rows.isdisjoint(row.tobytes() for row in x)
    # The same bookkeeping by row index: monitor rows come from the fold's training rows only.
    cfg = load_config(config_path, overrides)
    folds = make_folds(cfg, 3)
    for train_rows, held_out in folds.folds:
        fit_rows, val_rows = cv.monitor_rows(cfg, folds.raw, train_rows)
        assert len(np.intersect1d(val_rows, held_out)) == 0
        assert len(np.intersect1d(fit_rows, held_out)) == 0
        assert np.array_equal(np.sort(np.concatenate([fit_rows, val_rows])), train_rows)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--folds", "1"], "--folds 1: allowed: an integer from 2 to 100"),
        (["--folds", "50"], "--folds 50: the rarest class has only 40 row(s) outside the test"),
        (["--jobs", "0"], "--jobs 0: allowed: an integer >= 1"),
        (["--set", "train.epochs=0"], "train.epochs: 0 is not allowed"),
    ],
)
def test_cv_bad_input_exit_2(
    config_path: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    result = runner.invoke(app, ["cv", str(config_path), *args, "--out", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert message in result.output and result.output.startswith("error: ")
