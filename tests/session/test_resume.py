"""Resume and init-from: a run continued from any checkpoint ends bit-identical to an
uninterrupted one; changed configs are refused; fine-tuning checks shapes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from mlptrain.api import fit
from mlptrain.config import load_config
from mlptrain.nn import SoftmaxCrossEntropy
from mlptrain.store.checkpoint import load_checkpoint
from mlptrain.training.setup import build
from mlptrain.training.trainer import Callbacks
from tests.conftest import assert_no_traceback

# Dropout (Generator state), batch norm (running statistics), Adam (moments, step count),
# reduce-on-plateau (schedule state) and early stopping (best weights): every piece of state
# a resume must restore.
TINY = """\
name: tiny
seed: 3
data:
  dataset: moons
  params: {n_samples: 200, noise: 0.25}
  val_size: 0.2
model:
  layers:
    - {type: linear, units: 8}
    - batchnorm
    - tanh
    - {type: dropout, p: 0.2}
    - {type: linear}
train:
  epochs: 8
  batch_size: 16
  optimizer: {type: adam, lr: 0.02}
  schedule: {type: plateau, factor: 0.5, patience: 1}
  early_stopping: {monitor: val_loss, patience: 100}
"""


class Crash(Exception):
    """Stands for a process dying between two steps."""


def crash_at(step: int) -> Callbacks:
    """Callbacks that 'kill' the run right after optimizer step ``step`` (before its save)."""
    seen = {"steps": 0}

    def on_batch(loss: float) -> None:
        seen["steps"] += 1
        if seen["steps"] == step:
            raise Crash(step)

    return Callbacks(on_batch=on_batch)


def state_of(run_dir: Path, kind: str = "last") -> dict[str, np.ndarray]:
    return load_checkpoint(run_dir / "checkpoints" / f"{kind}.safetensors").tensors


def assert_same_tensors(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert sorted(a) == sorted(b)
    for name in a:
        assert a[name].dtype == b[name].dtype, name
        assert np.array_equal(a[name], b[name]), f"{name} differs"


def epochs_logged(run_dir: Path) -> list[int]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line)["epoch"] for line in lines]


@pytest.fixture(scope="module")
def tiny_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cfg") / "tiny.yaml"
    path.write_text(TINY)
    return path


@pytest.fixture(scope="module")
def reference(tiny_config: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The uninterrupted run every resumed run must match."""
    run = fit(tiny_config, out=tmp_path_factory.mktemp("ref") / "run")
    return run.dir


def steps_of(run_dir: Path) -> int:
    return int(load_checkpoint(run_dir / "checkpoints" / "last.safetensors").meta["step"])


@pytest.mark.parametrize("crash_step", [2, 5, 8, 9, 10, 23, 40])
def test_resume_matches_uninterrupted(
    tiny_config: Path, reference: Path, tmp_path: Path, crash_step: int
) -> None:
    """Crash after any step (mid-epoch, on an epoch's last batch, at an epoch's first), with a
    checkpoint every step; the resumed run's weights, moments, best weights, epoch, step and
    Generator states equal the uninterrupted run's, bit for bit."""
    out = tmp_path / "run"
    with pytest.raises(Crash):
        fit(tiny_config, out=out, checkpoint_every_steps=1, callbacks=crash_at(crash_step))
    saved = load_checkpoint(out / "checkpoints" / "last.safetensors").meta
    assert saved["step"] == crash_step - 1
    run = fit(resume=out)
    assert_same_tensors(state_of(out), state_of(reference))
    assert_same_tensors(state_of(out, "best"), state_of(reference, "best"))
    mine = load_checkpoint(out / "checkpoints" / "last.safetensors").meta
    theirs = load_checkpoint(reference / "checkpoints" / "last.safetensors").meta
    for key in ("epoch", "step", "batch", "rng", "optimizer", "schedule", "early_stopping"):
        assert mine[key] == theirs[key], key
    assert epochs_logged(out) == list(range(1, 9))
    assert run.report["status"] == "completed"
    reference_history = [
        json.loads(x) for x in (reference / "metrics.jsonl").read_text().splitlines()
    ]
    for mine_rec, ref_rec in zip(run.history, reference_history, strict=True):
        assert mine_rec["train_loss"] == ref_rec["train_loss"]
        assert mine_rec["val_loss"] == ref_rec["val_loss"]


def test_resume_from_epoch_checkpoint_after_mid_epoch_crash(
    tiny_config: Path, reference: Path, tmp_path: Path
) -> None:
    """Without step checkpoints, a crash mid-epoch loses that epoch's steps; resume redoes
    them from the epoch checkpoint and still matches, and metrics.jsonl has no duplicates."""
    out = tmp_path / "run"
    with pytest.raises(Crash):
        fit(tiny_config, out=out, callbacks=crash_at(30))
    done = load_checkpoint(out / "checkpoints" / "last.safetensors").meta["epoch"]
    assert 0 < done < 8
    # A crash between the metrics append and the checkpoint rename leaves an extra epoch.
    with (out / "metrics.jsonl").open("a") as handle:
        handle.write(json.dumps({"epoch": done + 1, "train_loss": 0.0}) + "\n")
        handle.write('{"epoch": 9, "trai')  # and a torn final line
    fit(resume=out)
    assert_same_tensors(state_of(out), state_of(reference))
    assert epochs_logged(out) == list(range(1, 9))


def test_resume_keeps_early_stopping_best_weights(tmp_path: Path, write_config) -> None:
    """Early stopping stops on patience; the best weights written before a crash are the
    ones the resumed run reports and keeps."""
    config = write_config(
        TINY.replace("patience: 100", "patience: 2").replace("epochs: 8", "epochs: 40")
    )
    reference = fit(config, out=tmp_path / "ref")
    assert reference.report["training"]["stopped_early"]
    total = steps_of(reference.dir)
    out = tmp_path / "run"
    with pytest.raises(Crash):
        fit(config, out=out, checkpoint_every_steps=1, callbacks=crash_at(total - 3))
    resumed = fit(resume=out)
    assert resumed.report["training"]["best_epoch"] == reference.report["training"]["best_epoch"]
    assert_same_tensors(resumed.model.state_dict(), reference.model.state_dict())
    assert_same_tensors(state_of(out, "best"), state_of(reference.dir, "best"))
    assert resumed.report["metrics"] == reference.report["metrics"]


def test_resume_missing_best_is_named(tiny_config: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    with pytest.raises(Crash):
        fit(tiny_config, out=out, checkpoint_every_steps=1, callbacks=crash_at(20))
    (out / "checkpoints" / "best.safetensors").unlink()
    from mlptrain.errors import CheckpointError

    with pytest.raises(CheckpointError, match=r"best\.safetensors: missing; early stopping"):
        fit(resume=out)


def test_resume_cli_prints_summary_and_allows_more_epochs(
    tiny_config: Path, tmp_path: Path, cli
) -> None:
    out = tmp_path / "run"
    with pytest.raises(Crash):
        fit(tiny_config, out=out, checkpoint_every_steps=4, callbacks=crash_at(14))
    result = cli("fit", "--resume", out, "--set", "train.epochs=10", "-q")
    assert result.exit_code == 0, result.stderr
    assert "trained tiny for 10 epochs" in result.stdout
    assert epochs_logged(out) == list(range(1, 11))
    assert "epochs: 10" in (out / "config.yaml").read_text()


def test_resume_from_checkpoint_file(
    tiny_config: Path, reference: Path, tmp_path: Path, cli
) -> None:
    out = tmp_path / "run"
    with pytest.raises(Crash):
        fit(tiny_config, out=out, checkpoint_every_steps=1, callbacks=crash_at(12))
    result = cli("fit", "--resume", out / "checkpoints" / "last.safetensors", "-q")
    assert result.exit_code == 0, result.stderr
    assert_same_tensors(state_of(out), state_of(reference))


def test_resume_refuses_changed_config(tiny_config: Path, tmp_path: Path, cli) -> None:
    out = tmp_path / "run"
    with pytest.raises(Crash):
        fit(tiny_config, out=out, checkpoint_every_steps=1, callbacks=crash_at(3))
    before = (out / "checkpoints" / "last.safetensors").read_bytes()
    result = cli("fit", "--resume", out, "--set", "train.optimizer.lr=0.5", "--set", "seed=4")
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "error: --resume: cannot change seed, train.optimizer.lr of a run "
    )
    assert "--init-from" in result.stderr
    assert_no_traceback(result)
    assert (out / "checkpoints" / "last.safetensors").read_bytes() == before


def test_resume_refuses_fewer_epochs_than_done(tiny_config: Path, tmp_path: Path, cli) -> None:
    out = tmp_path / "run"
    with pytest.raises(Crash):
        fit(tiny_config, out=out, callbacks=crash_at(40))
    result = cli("fit", "--resume", out, "--set", "train.epochs=2")
    assert result.exit_code == 2
    assert "already completed" in result.stderr and "train.epochs >= " in result.stderr


def test_fit_needs_config_or_resume_not_both(tiny_config: Path, tmp_path: Path, cli) -> None:
    neither = cli("fit")
    assert neither.exit_code == 2
    assert neither.stderr.startswith("error: a CONFIG file is required (or --resume RUN_DIR")
    both = cli("fit", tiny_config, "--resume", tmp_path)
    assert both.exit_code == 2
    assert "cannot be combined with a CONFIG" in both.stderr


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d, "no checkpoint to resume from (checkpoints/last.safetensors is missing)"),
        (lambda d: d / "nope", "no such run directory or checkpoint file"),
        (lambda d: d / "loose.safetensors", "must lie in a run directory's checkpoints/ folder"),
    ],
)
def test_resume_bad_target(tmp_path: Path, cli, make, message: str) -> None:
    (tmp_path / "loose.safetensors").write_bytes(b"x")
    result = cli("fit", "--resume", make(tmp_path))
    assert result.exit_code == 2
    assert message in result.stderr
    assert_no_traceback(result)


def test_resume_from_best_is_refused(reference: Path, cli) -> None:
    result = cli("fit", "--resume", reference / "checkpoints" / "best.safetensors")
    assert result.exit_code == 2
    assert "'best' checkpoint holds no optimizer state" in result.stderr


def test_resume_with_changed_data_is_refused(tmp_path: Path, write_config) -> None:
    """A CSV edited after the run was started: resuming would silently train on other data."""
    from mlptrain.errors import DataError

    csv = tmp_path / "d.csv"
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 3))
    y = (X[:, 0] > 0).astype(int)

    def write(X: np.ndarray) -> None:
        rows = [f"{r[0]},{r[1]},{r[2]},{t}" for r, t in zip(X, y, strict=True)]
        csv.write_text("\n".join(["a,b,c,label", *rows]) + "\n")

    write(X)
    config = write_config(
        "name: c\ndata: {dataset: csv, path: d.csv, target: label}\n"
        "model: {layers: [{type: linear, units: 4}, relu, linear]}\n"
        "train: {epochs: 4, batch_size: 16, early_stopping: null}\n"
    )
    with pytest.raises(Crash):
        fit(config, out=tmp_path / "run", callbacks=crash_at(9))
    write(X * 2)
    with pytest.raises(DataError, match="the data differs from the data"):
        fit(resume=tmp_path / "run")


def test_init_from_starts_from_source_weights(
    reference: Path, tiny_config: Path, tmp_path: Path
) -> None:
    """Fine-tuning: the new run's first step starts from the source's best weights."""
    starts: list[dict[str, np.ndarray]] = []
    from mlptrain.training.trainer import Trainer

    original = Trainer.run

    def spy(self):
        starts.append(self.setup.model.state_dict())
        return original(self)

    Trainer.run = spy  # type: ignore[method-assign]
    try:
        run = fit(tiny_config, out=tmp_path / "ft", init_from=reference, overrides=["seed=9"])
    finally:
        Trainer.run = original  # type: ignore[method-assign]
    best = {
        k[len("model.") :]: v
        for k, v in state_of(reference, "best").items()
        if k.startswith("model.")
    }
    assert_same_tensors(starts[0], best)
    assert run.report["status"] == "completed"


def test_init_from_names_the_mismatch(reference: Path, tmp_path: Path, cli, write_config) -> None:
    config = write_config(TINY.replace("units: 8", "units: 5"))
    result = cli("fit", config, "--out", tmp_path / "ft", "--init-from", reference)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --init-from: ")
    assert "model.0.W: checkpoint has (2, 8), model expects (2, 5)" in result.stderr
    assert_no_traceback(result)
    assert not (tmp_path / "ft").exists()


def test_init_from_missing_checkpoint(tiny_config: Path, tmp_path: Path, cli) -> None:
    result = cli("fit", tiny_config, "--out", tmp_path / "ft", "--init-from", tmp_path / "none")
    assert result.exit_code == 2
    assert "no such run directory or checkpoint file" in result.stderr


def test_checkpoint_every_steps_in_config(tmp_path: Path, write_config) -> None:
    """checkpoint.every_steps in the config writes `last` mid-epoch (batch > 0)."""
    config = write_config(TINY + "checkpoint: {every: 100, every_steps: 5}\n")
    with pytest.raises(Crash):
        fit(config, out=tmp_path / "run", callbacks=crash_at(13))
    meta = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.safetensors").meta
    assert meta["step"] == 10
    assert meta["batch"] == 10 - meta["epoch"] * 8


def test_checkpoint_every_steps_option_is_validated(tiny_config: Path, cli) -> None:
    result = cli("fit", tiny_config, "--checkpoint-every-steps", "0")
    assert result.exit_code == 2
    assert "--checkpoint-every-steps" in result.stderr


# The resume tests compare a resumed run with an uninterrupted one made by the same code, so
# they would pass with a broken optimizer, schedule or early stopping. These anchors pin the
# uninterrupted reference run itself against computations made here.


def test_reference_first_steps_match_adam_by_hand(
    tiny_config: Path, reference: Path, tmp_path: Path
) -> None:
    """The first three steps of the reference run, redone here: the shuffle permutation from
    the seed, forward and backward through the (separately gradient-checked) modules, and
    Adam with bias correction written out in float64."""
    out = tmp_path / "run"
    with pytest.raises(Crash):
        fit(tiny_config, out=out, checkpoint_every_steps=1, callbacks=crash_at(4))
    after_three = state_of(out)

    setup = build(load_config(tiny_config))
    model, data = setup.model, setup.data
    order = np.random.default_rng(3).spawn(2)[1].permutation(len(data.train.y))
    loss = SoftmaxCrossEntropy()
    theta = model.flat_params.astype(np.float64)
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    lr, b1, b2, eps = 0.02, 0.9, 0.999, 1e-8
    for t in range(1, 4):
        batch = order[(t - 1) * 16 : t * 16]
        loss.forward(model.forward(data.train.X[batch]), data.train.y[batch])
        model.backward(loss.backward())
        g = model.flat_grads.astype(np.float64)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        theta = theta - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
        model.flat_params[...] = theta
    for name, value in model.params.items():
        if name == "0.b":
            # Its gradient is round-off (the batch norm after it cancels any bias exactly),
            # which Adam scales up to steps of lr·g/(|g| + eps): not comparable across dtypes.
            continue
        np.testing.assert_allclose(after_three[f"model.{name}"], value, rtol=1e-4, atol=1e-5)
    # (The running mean follows that bias, so only the running variance is comparable.)
    np.testing.assert_allclose(
        after_three["model.1.running_var"], model.state_dict()["1.running_var"], rtol=1e-5
    )
    moved = np.abs(after_three["model.4.W"] - build(load_config(tiny_config)).model.params["4.W"])
    assert moved.max() > 0.05  # up to three Adam steps of about lr = 0.02 each


def test_reference_schedule_and_best_epoch_follow_its_own_val_loss(reference: Path) -> None:
    """Reduce-on-plateau (factor 0.5, patience 1) and the best checkpoint, recomputed from the
    validation losses the reference run logged."""
    history = [json.loads(x) for x in (reference / "metrics.jsonl").read_text().splitlines()]
    lr, best, bad, expected_lr = 0.02, math.inf, 0, []
    for record in history:
        expected_lr.append(lr)
        if record["val_loss"] < best:
            best, bad = record["val_loss"], 0
        else:
            bad += 1
            if bad > 1:
                lr, bad = lr * 0.5, 0
    assert [r["lr"] for r in history] == pytest.approx(expected_lr, rel=1e-15)
    losses = [r["val_loss"] for r in history]
    best_meta = load_checkpoint(reference / "checkpoints" / "best.safetensors").meta
    assert best_meta["epoch"] == losses.index(min(losses)) + 1
    n_train = len(build(load_config(reference / "config.yaml")).data.train.y)
    assert steps_of(reference) == 8 * math.ceil(n_train / 16)


def test_resume_of_a_checkpoint_without_mask_states_is_refused(cli, tmp_path: Path) -> None:
    """A checkpoint from before the mask generators' states were stored as rng.masks (an
    earlier 0.1.0 development version named them rng.dropout) cannot resume bit for bit."""
    from mlptrain.store.checkpoint import save_checkpoint

    config = tmp_path / "c.yaml"
    config.write_text(
        "data: {dataset: iris}\n"
        "model: {layers: [{type: linear, units: 8}, relu, {type: dropout, p: 0.2}, linear]}\n"
        "train: {epochs: 3}\n"
    )
    out = tmp_path / "run"
    fit(config, out=out, overrides=["train.epochs=1"])
    last = out / "checkpoints" / "last.safetensors"
    ckpt = load_checkpoint(last)
    meta = dict(ckpt.meta)
    meta["rng"] = {**meta["rng"], "dropout": meta["rng"]["masks"]}
    del meta["rng"]["masks"]
    save_checkpoint(last, ckpt.tensors, meta)
    result = cli("fit", "--resume", out, "--set", "train.epochs=3")
    assert result.exit_code == 2
    assert_no_traceback(result)
    assert "holds no mask generator states (rng.masks)" in result.stderr
    assert "start from its weights with --init-from" in result.stderr
