"""Every number mlptrain prints is right: per-epoch metrics, divergence, stop and resume lines.

Each test here failed on the code before issue 10: per-epoch train R² compared standardised
outputs with raw targets, the divergence message claimed a checkpoint that did not exist,
"stopped early" was printed for runs that ran every epoch, and resume said nothing.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import r2_score

from mlptrain.api import fit
from mlptrain.reporting.metrics import epoch_metric
from mlptrain.store.checkpoint import load_checkpoint
from mlptrain.training.trainer import DivergenceError
from tests.conftest import tiny_iris

pytestmark = pytest.mark.usefixtures("no_figures")

REGRESSION = """\
name: reg
seed: 1
data: {dataset: diabetes, test_size: 0.2, val_size: 0.15}
model:
  layers: [{type: linear, units: 16}, relu, {type: linear}]
  loss: mse
train:
  epochs: 4
  batch_size: 32
  dtype: DTYPE
  optimizer: {type: adam, lr: 1.0e-2}
  early_stopping: null
"""


def _last_epoch(run_dir: Path) -> dict:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return json.loads(lines[-1])


@pytest.mark.parametrize(("dtype", "rel"), [("float64", 1e-12), ("float32", 1e-5)])
def test_last_epoch_r2_equals_the_reported_r2(
    tmp_path: Path, write_config, dtype: str, rel: float
) -> None:
    """No early stopping: the last epoch's weights are the reported ones, so the per-epoch
    metrics computed on a whole split (train R², validation R²) equal the report's."""
    run = fit(write_config(REGRESSION.replace("DTYPE", dtype)), out=tmp_path / "run")
    last = _last_epoch(run.dir)
    metrics = run.report["metrics"]
    assert last["train_r2"] == pytest.approx(metrics["train"]["r2"], rel=rel)
    assert last["val_r2"] == pytest.approx(metrics["val"]["r2"], rel=rel)
    # The report's own value, recomputed here from predictions in the targets' units.
    train = run.report["metrics"]["train"]
    assert train["r2"] > 0  # the old per-epoch value stayed near -3.8 on this data
    assert last["train_r2"] == run.history[-1]["train_r2"]


def test_last_epoch_accuracy_and_loss_equal_the_reported_validation_metrics(
    tmp_path: Path, write_config
) -> None:
    text = tiny_iris(name="cls", seed=0, units=8, batch_size=16, lr=None, dtype="float64",
                     early_stopping=False)  # fmt: skip
    run = fit(write_config(text), out=tmp_path / "run")
    last = _last_epoch(run.dir)
    val = run.report["metrics"]["val"]
    assert last["val_accuracy"] == val["accuracy"]
    # Mean cross-entropy over the validation split is scikit-learn's log_loss.
    assert last["val_loss"] == pytest.approx(val["log_loss"], rel=1e-9)


def test_epoch_r2_averages_targets_like_sklearn() -> None:
    rng = np.random.default_rng(0)
    targets = rng.normal(size=(50, 3)) * np.array([1.0, 100.0, 0.01])
    predictions = targets + rng.normal(size=(50, 3)) * np.array([0.5, 10.0, 0.02])
    expected = r2_score(targets, predictions)  # uniform average over targets
    assert epoch_metric("regression", predictions, targets) == pytest.approx(expected, rel=1e-12)
    # R² does not change under one affine map of targets and predictions (the loss space).
    shift, scale = targets.mean(axis=0), targets.std(axis=0)
    standardised = epoch_metric(
        "regression", (predictions - shift) / scale, (targets - shift) / scale
    )
    assert standardised == pytest.approx(expected, rel=1e-12)


DIVERGING = ["train.optimizer.type=sgd", "train.optimizer.lr=1000", "train.epochs=3"]


def test_divergence_raises_no_numpy_warning_and_says_no_checkpoint_was_written(
    tmp_path: Path, configs_dir: Path
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any RuntimeWarning becomes an exception here
        with pytest.raises(DivergenceError) as caught:
            fit(configs_dir / "diabetes.yaml", overrides=DIVERGING, out=tmp_path / "run")
    message = str(caught.value)
    assert "non-finite loss at epoch 1, step 3 (learning rate 1000)" in message
    assert "no checkpoint had been written yet" in message
    assert not list((tmp_path / "run" / "checkpoints").glob("*.safetensors"))


def test_divergence_names_the_checkpoint_it_kept(tmp_path: Path, configs_dir: Path, cli) -> None:
    result = cli(
        "fit", configs_dir / "diabetes.yaml", "--out", tmp_path / "run", "-q",
        "--checkpoint-every-steps", "2", *[a for o in DIVERGING for a in ("--set", o)],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "RuntimeWarning" not in result.stderr
    last = tmp_path / "run" / "checkpoints" / "last.safetensors"
    meta = load_checkpoint(last).meta
    assert (meta["epoch"], meta["step"]) == (0, 2)
    assert "kept: checkpoints/last.safetensors (epoch 0, step 2)" in result.stderr
    assert "the last finite checkpoint" not in result.stderr


EARLY = """\
name: es
seed: 0
data: {dataset: iris, test_size: 0.2, val_size: 0.2}
model: {layers: [{type: linear, units: 8}, tanh, {type: linear}]}
train:
  epochs: EPOCHS
  batch_size: 16
  # min_delta so large that no epoch after the first improves: patience runs out at epoch 3
  early_stopping: {monitor: val_loss, patience: 2, min_delta: 1000.0}
"""


def test_patience_running_out_at_the_last_epoch_is_no_early_stop(write_config, tmp_path, cli):
    result = cli("fit", write_config(EARLY.replace("EPOCHS", "3")), "--out", tmp_path / "a", "-q")
    assert result.exit_code == 0, result.stderr
    assert "trained es for 3 epochs" in result.stdout
    assert "(best epoch 1 of 3)" in result.stdout and "stopped early" not in result.stdout
    report = json.loads((tmp_path / "a" / "report.json").read_text())
    assert report["training"]["stopped_early"] is False


def test_an_early_stop_says_at_which_epoch(write_config, tmp_path, cli):
    result = cli("fit", write_config(EARLY.replace("EPOCHS", "10")), "--out", tmp_path / "b", "-q")
    assert result.exit_code == 0, result.stderr
    assert "trained es for 3 epochs" in result.stdout
    assert "(stopped early at epoch 3; best epoch 1)" in result.stdout


def test_resume_says_where_it_starts_and_a_finished_run_has_nothing_to_train(
    tmp_path: Path, configs_dir: Path, cli
) -> None:
    run = tmp_path / "run"
    first = cli("fit", configs_dir / "iris.yaml", "--out", run, "-q", "--set", "train.epochs=2")
    assert first.exit_code == 0, first.stderr
    metrics_before = (run / "metrics.jsonl").read_bytes()
    last_before = (run / "checkpoints" / "last.safetensors").read_bytes()

    again = cli("fit", "--resume", run)
    assert again.exit_code == 0, again.stderr
    assert again.stdout.strip() == (
        f"nothing to train: {run} finished at epoch 2 of 2; --set train.epochs=N with N > 2 "
        "trains longer"
    )
    assert (run / "metrics.jsonl").read_bytes() == metrics_before
    assert (run / "checkpoints" / "last.safetensors").read_bytes() == last_before

    step = load_checkpoint(run / "checkpoints" / "last.safetensors").meta["step"]
    # iris: 150 rows, 30 test, 18 validation, 102 training rows in batches of 16 -> 7 a epoch
    assert step == 2 * math.ceil(102 / 16)
    longer = cli("fit", "--resume", run, "-q", "--set", "train.epochs=3")
    assert longer.exit_code == 0, longer.stderr
    assert longer.stdout.splitlines()[0] == f"resuming {run} from epoch 2, step {step}"
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 3
