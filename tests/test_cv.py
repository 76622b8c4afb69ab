"""Cross-validation: folds leave the test rows out; mean ± std match a direct computation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.model_selection import StratifiedKFold
from typer.testing import CliRunner

from mlptrain.cli import app
from mlptrain.config import load_config
from mlptrain.data import LabelEncoder, Prepared, Scaler, Split, load_raw, split_indices
from mlptrain.reporting.metrics import classification_metrics
from mlptrain.search.cv import cross_validate, make_folds
from mlptrain.training.setup import build
from mlptrain.training.trainer import Trainer

CONFIG = """\
name: tiny
seed: 5
data: {dataset: iris, test_size: 0.2, val_size: 0.1}
model:
  layers: [{type: linear, units: 6}, tanh, {type: linear}]
train:
  epochs: 3
  batch_size: 16
  optimizer: {type: adam, lr: 3.0e-2}
  early_stopping: null
"""
runner = CliRunner()


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(CONFIG)
    return path


def _direct_fold_scores(config_path: Path, n_folds: int) -> list[dict[str, float]]:
    """Each fold trained here by hand, from scikit-learn's splitter and the data primitives."""
    cfg = load_config(config_path)
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
        fit_rows, held_rows = pool[fit_pos], pool[held_pos]
        scaler = Scaler("standard").fit(raw.X[fit_rows])

        def part(rows: np.ndarray, scaler: Scaler = scaler) -> Split:
            return Split(scaler.transform(raw.X[rows], np.float32), labels[rows])

        data = Prepared(
            task="classification", train=part(fit_rows), val=part(held_rows),
            test=part(test), encoder=encoder, scaler=scaler,
            feature_names=list(raw.feature_names), n_features=4, n_outputs_hint=3,
            source="iris",
        )  # fmt: skip
        setup = build(cfg, data=data)
        Trainer(setup).run()
        metrics = classification_metrics(
            data.val.y, setup.model.predict_proba(data.val.X), ["0", "1", "2"]
        )
        scores.append({k: metrics[k] for k in ("accuracy", "log_loss", "f1_macro")})
    return scores


def test_cv_mean_std_match_direct_computation(config_path: Path, tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["cv", str(config_path), "--folds", "3", "--out", str(tmp_path / "cv")]
    )
    assert result.exit_code == 0, result.output
    assert "3-fold cross-validation of tiny" in result.output
    summary = json.loads((tmp_path / "cv" / "cv.json").read_text())
    direct = _direct_fold_scores(config_path, 3)
    for name in ("accuracy", "log_loss", "f1_macro"):
        values = [fold[name] for fold in direct]
        assert [f["metrics"][name] for f in summary["per_fold"]] == values
        assert summary["metrics"][name]["mean"] == pytest.approx(np.mean(values), abs=1e-15)
        assert summary["metrics"][name]["std"] == pytest.approx(np.std(values), abs=1e-15)
    assert "| accuracy |" in (tmp_path / "cv" / "cv.md").read_text()


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
    assert set(serial.summary["metrics"]) == {"mse", "rmse", "mae", "r2"}
    assert serial.summary["per_fold"] == parallel.summary["per_fold"]
    assert sum(f["n_val"] for f in serial.summary["per_fold"]) == 80 - 16


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
