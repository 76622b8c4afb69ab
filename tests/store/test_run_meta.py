"""RunMeta, the typed run state of a checkpoint: what a run writes reads back field for field,
the JSON a checkpoint stores keeps its keys and their order, and a malformed run state is one
CheckpointError naming the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import safetensors

from mlptrain.api import fit
from mlptrain.errors import CheckpointError
from mlptrain.store.checkpoint import save_checkpoint
from mlptrain.store.run_meta import RunMeta, load_run_checkpoint

# the keys of a run's checkpoint in the order every mlptrain so far has written them
ON_DISK_ORDER = [
    "mlptrain_version", "config", "task", "head", "n_features", "feature_names", "classes",
    "scale", "table", "data_fingerprint", "epoch", "step", "seconds", "metrics", "batch",
    "epoch_loss", "epoch_hits", "epoch_rows", "rng", "optimizer", "schedule", "early_stopping",
    "stopped_early", "kind",
]  # fmt: skip


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = {
        "seed": 0,
        "data": {"dataset": "iris"},
        "model": {"layers": [{"type": "linear", "units": 6}, "relu", "linear"]},
        "train": {"epochs": 2, "batch_size": 32},
    }
    return fit(config, out=tmp_path_factory.mktemp("meta") / "run", figures=False).dir


def stored_meta_text(path: Path) -> str:
    """The ``meta`` JSON text exactly as it is in the file, read with safetensors itself."""
    with safetensors.safe_open(path, "np") as handle:
        return handle.metadata()["meta"]


def test_the_checkpoint_json_is_what_to_json_writes_byte_for_byte(run: Path) -> None:
    path = run / "checkpoints" / "last.safetensors"
    text = stored_meta_text(path)
    meta = load_run_checkpoint(path).meta
    assert list(json.loads(text)) == ON_DISK_ORDER
    # the file's text is json.dumps of to_json: the same bytes as before the type existed
    assert json.dumps(meta.to_json(), allow_nan=False) == text
    assert RunMeta.from_json(json.loads(text), path) == meta


def test_fields_hold_what_the_run_was(run: Path) -> None:
    raw = json.loads(stored_meta_text(run / "checkpoints" / "last.safetensors"))
    meta = load_run_checkpoint(run / "checkpoints" / "last.safetensors").meta
    assert (meta.task, meta.n_features, meta.kind) == ("classification", 4, "last")
    assert meta.classes == ["setosa", "versicolor", "virginica"] and meta.epoch == 2
    # 150 iris rows less the default 20% test and 10% val: ceil(105 / 32) = 4 steps an epoch
    assert meta.step == 2 * 4 == raw["step"]
    assert meta.feature_names == raw["feature_names"] and len(meta.feature_names) == 4
    assert meta.data_config == {**raw["config"]["data"]} and meta.data_config["dataset"] == "iris"
    assert meta.optimizer["step_count"] == 8
    best = load_run_checkpoint(run / "checkpoints" / "best.safetensors").meta
    assert best.kind == "best" and "kind" in best.to_json() and "estimator" not in best.to_json()


def test_an_older_checkpoint_without_the_optional_fields_loads(run: Path, tmp_path: Path) -> None:
    ckpt = load_run_checkpoint(run / "checkpoints" / "best.safetensors")
    required = {"config", "task", "n_features", "epoch", "step", "rng", "optimizer", "schedule"}
    old = {k: v for k, v in ckpt.meta.to_json().items() if k in required}
    save_checkpoint(tmp_path / "old.safetensors", ckpt.tensors, old)
    meta = load_run_checkpoint(tmp_path / "old.safetensors").meta
    assert meta.feature_names == [] and meta.classes is None and meta.kind is None
    assert (meta.seconds, meta.batch, meta.stopped_early, meta.mlptrain_version) == (
        0.0,
        0,
        False,
        "unknown",
    )
    assert meta.n_features == 4 and meta.epoch == ckpt.meta.epoch


MALFORMED: dict[str, tuple[Any, str]] = {
    "no task": (lambda m: m.pop("task"), "has no 'task'"),
    "null config": (lambda m: m.update(config=None), "has no 'config'"),
    "text width": (
        lambda m: m.update(n_features="4"),
        "'n_features' is a string, expected a non-negative integer",
    ),
    "negative epoch": (
        lambda m: m.update(epoch=-1),
        "'epoch' is the number -1, expected a non-negative integer",
    ),
    "bool step": (lambda m: m.update(step=True), "'step' is true, expected a non-negative"),
    "config a list": (lambda m: m.update(config=[1]), "'config' is a list, expected an object"),
    "name not text": (
        lambda m: m.update(feature_names=["a", 1, "c", "d"]),
        "'feature_names' must be a list of strings",
    ),
    "classes an object": (
        lambda m: m.update(classes={"0": "a"}),
        "'classes' is an object, expected a list",
    ),
    "seconds text": (lambda m: m.update(seconds="1.5"), "'seconds' is a string, expected a number"),
}


@pytest.mark.parametrize("damage", list(MALFORMED))
def test_a_malformed_run_state_is_one_error_naming_the_field(
    run: Path, tmp_path: Path, damage: str
) -> None:
    """A re-signed checkpoint (its SHA-256 proves integrity, not good intent)."""
    change, problem = MALFORMED[damage]
    ckpt = load_run_checkpoint(run / "checkpoints" / "best.safetensors")
    meta = ckpt.meta.to_json()
    change(meta)
    bad = tmp_path / "bad.safetensors"
    save_checkpoint(bad, ckpt.tensors, meta)
    with pytest.raises(CheckpointError) as caught:
        load_run_checkpoint(bad)
    message = str(caught.value)
    assert message.startswith(f"{bad}: not a valid mlptrain checkpoint: its run state")
    assert problem in message and "\n" not in message


def test_unknown_keys_are_ignored_and_not_written_back(run: Path) -> None:
    ckpt = load_run_checkpoint(run / "checkpoints" / "best.safetensors")
    meta = RunMeta.from_json({**ckpt.meta.to_json(), "from_the_future": 1}, "x")
    assert meta == ckpt.meta and "from_the_future" not in meta.to_json()
