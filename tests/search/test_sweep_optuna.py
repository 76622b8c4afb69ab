"""Optuna-driven sweeps: TPE sampling, pruning, resume from storage, two workers on one study,
and the monitors the sampler and the pruner may not see."""

from __future__ import annotations

import json
import math
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlptrain.api import fit
from mlptrain.cli import app
from mlptrain.search import build_spec, latest_records, run_sweep
from mlptrain.search.pruning import PruningObserver
from mlptrain.search.study import (
    WORKER_ATTR,
    distributions,
    make_pruner,
    open_study,
    study_ref,
)
from mlptrain.training.trainer import Callbacks

optuna = pytest.importorskip("optuna")

from tests.conftest import sweep_on_two_machines, tiny_iris  # noqa: E402

CONFIG = tiny_iris(epochs=3)
EVERY_DISTRIBUTION = [
    "--random", "train.optimizer.lr=loguniform(1e-3,0.3)",
    "--random", "train.optimizer.weight_decay=uniform(0,0.01)",
    "--random", "model.layers[0].units=randint(2,9)",
    "--random", "model.layers[1]=choice(tanh,relu)",
    "--grid", "train.batch_size=16,32",
]  # fmt: skip
runner = CliRunner()


@pytest.fixture(scope="module")
def config_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cfg") / "tiny.yaml"
    path.write_text(CONFIG)
    return path


def _sweep(config: Path, out: Path, *args: str) -> object:
    result = runner.invoke(app, ["sweep", str(config), *args, "--out", str(out)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def test_tpe_samples_every_distribution_reproducibly(config_path: Path, tmp_path: Path) -> None:
    runs = []
    for name in ("a", "b"):
        result = _sweep(
            config_path, tmp_path / name, "--search", "tpe", *EVERY_DISTRIBUTION, "--trials", "5"
        )
        assert result.exit_code == 0, result.output
        runs.append(latest_records(tmp_path / name))
    first, second = runs
    assert len(first) == 5 and all(r["status"] == "completed" for r in first.values())
    for record in first.values():
        params = record["params"]
        lr, decay = params["train.optimizer.lr"], params["train.optimizer.weight_decay"]
        assert isinstance(lr, float) and 1e-3 <= lr <= 0.3
        assert isinstance(decay, float) and 0 <= decay <= 0.01
        units = params["model.layers[0].units"]
        assert isinstance(units, int) and 2 <= units <= 9
        assert params["model.layers[1]"] in ("tanh", "relu")
        assert params["train.batch_size"] in (16, 32)
        # The trial really trained with the sampled values: its config says so.
        stored = (tmp_path / "a" / record["trial"] / "config.yaml").read_text()
        assert f"units: {units}" in stored and f"batch_size: {params['train.batch_size']}" in stored
        assert record["epochs"] == 3
    # Seeded from the config's seed: the same command samples the same values.
    assert [r["params"] for r in first.values()] == [r["params"] for r in second.values()]
    # The values differ between trials (five identical samples would mean no sampling).
    assert len({r["params"]["train.optimizer.lr"] for r in first.values()}) == 5
    # The study holds the same values under the same names (what optuna-dashboard shows).
    spec = build_spec(grid=["train.batch_size=16,32"], search="tpe", trials=5)
    study = optuna.load_study(
        study_name=_study_name(tmp_path / "a"), storage=f"sqlite:///{tmp_path / 'a/study.db'}"
    )
    assert {t.number: t.params for t in study.trials} == {
        r["index"]: r["params"] for r in first.values()
    }
    assert set(distributions(spec)) == {"train.batch_size"}


def _study_name(sweep_dir: Path) -> str:
    names = optuna.get_all_study_names(storage=f"sqlite:///{sweep_dir / 'study.db'}")
    assert len(names) == 1
    return names[0]


def test_non_scalar_grid_values_become_choices(config_path: Path, tmp_path: Path) -> None:
    result = _sweep(
        config_path, tmp_path, "--search", "tpe", "--trials", "3",
        "--grid", "model.layers=[{type: linear, units: 3}, tanh, {type: linear}],"
        "[{type: linear, units: 5}, relu, {type: linear}]",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    for record in latest_records(tmp_path).values():
        assert record["params"]["model.layers"][0]["units"] in (3, 5)


class ScriptedReporter:
    """An Optuna-like trial that asks to prune from a given epoch on."""

    def __init__(self, prune_from: int) -> None:
        self.prune_from = prune_from
        self.reported: list[tuple[float, int]] = []

    def report(self, value: float, step: int) -> None:
        self.reported.append((value, step))

    def should_prune(self) -> bool:
        return self.reported[-1][1] >= self.prune_from


def test_pruned_run_stops_at_that_epoch_and_keeps_its_files(
    config_path: Path, tmp_path: Path
) -> None:
    from mlptrain.store.checkpoint import load_checkpoint
    from mlptrain.training.observers import compose

    reporter = ScriptedReporter(prune_from=2)
    observer = PruningObserver(reporter, "val_loss", minimise=True)
    seen: list[int] = []
    # Another observer (a tracker) composed first still sees every epoch.
    tracker = Callbacks(on_epoch_end=lambda record: seen.append(record["epoch"]))
    run = fit(
        config_path, out=tmp_path / "run", overrides=["train.epochs=6"], figures=False,
        callbacks=compose(tracker, observer.callbacks()),
    )  # fmt: skip
    assert observer.pruned_at == 2 and seen == [1, 2]
    assert run.report["status"] == "pruned"
    assert [r["epoch"] for r in run.history] == [1, 2]
    assert [step for _, step in reporter.reported] == [1, 2]
    assert [v for v, _ in reporter.reported] == [r["val_loss"] for r in run.history]
    last = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.safetensors")
    assert last.meta["epoch"] == 2
    assert (tmp_path / "run" / "checkpoints" / "best.safetensors").is_file()
    metrics = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert len(metrics) == 2


def test_median_pruner_prunes_a_bad_trial_at_the_expected_epoch() -> None:
    """Five good trials complete; a trial reporting a worse value is pruned at the first epoch
    after the warm-up (epochs // 10 = 2 epochs for 20), i.e. at epoch 3."""
    study = optuna.create_study(direction="minimize", pruner=make_pruner("median", 20))
    for _ in range(5):
        trial = study.ask()
        for epoch in range(1, 21):
            trial.report(1.0 / epoch, epoch)
        study.tell(trial, 1.0 / 20)
    trial = study.ask()
    observer = PruningObserver(trial, "val_loss", minimise=True)
    from mlptrain.training.trainer import StopTraining

    with pytest.raises(StopTraining, match="pruned"):
        for epoch in range(1, 21):
            observer.on_epoch_end({"epoch": epoch, "val_loss": 5.0})
    assert observer.pruned_at == 3
    # A good trial is never pruned.
    good = PruningObserver(study.ask(), "val_loss", minimise=True)
    for epoch in range(1, 21):
        good.on_epoch_end({"epoch": epoch, "val_loss": 0.5 / epoch})
    assert good.pruned_at is None
    # A non-finite value is reported as the worst possible one, never as NaN.
    worst = PruningObserver(ScriptedReporter(99), "val_accuracy", minimise=False)
    worst.on_epoch_end({"epoch": 1, "val_accuracy": None})
    assert worst.reporter.reported == [(-math.inf, 1)]  # type: ignore[attr-defined]


def test_sweep_with_median_pruning_prunes_the_hopeless_setting(
    config_path: Path, tmp_path: Path
) -> None:
    """Grid order: five seeds of a good learning rate, then five of a useless one (1e-7, the
    loss cannot move): those are pruned at epoch 2, the first after the warm-up of 10 epochs."""
    result = _sweep(
        config_path, tmp_path, "--grid", "train.optimizer.lr=0.05,1e-7", "--seeds", "5",
        "--prune", "median", "--set", "train.epochs=10",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    records = sorted(latest_records(tmp_path).values(), key=lambda r: r["index"])
    assert [r["status"] for r in records] == ["completed"] * 5 + ["pruned"] * 5
    assert [r["epochs"] for r in records] == [10] * 5 + [2] * 5
    summary = json.loads((tmp_path / "sweep.json").read_text())
    assert summary["counts"]["pruned"] == 5
    assert summary["epochs"] == 5 * 10 + 5 * 2
    bad = [row for row in summary["leaderboard"] if row["params"]["train.optimizer.lr"] == 1e-7]
    assert bad[0]["pruned"] == 5 and bad[0]["epochs"] == 10 and bad[0]["mean"] is None
    assert "5 trial(s) pruned; 60 epochs trained in all" in result.output
    html = (tmp_path / "sweep.html").read_text()
    assert "Optimisation history" in html
    # Rerunning skips pruned trials as finished ones.
    again = _sweep(
        config_path, tmp_path, "--grid", "train.optimizer.lr=0.05,1e-7", "--seeds", "5",
        "--prune", "median", "--set", "train.epochs=10",
    )  # fmt: skip
    assert "skipped 10 finished trial(s)" in again.output


def test_interrupted_tpe_sweep_resumes_from_storage(
    config_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlptrain.search.trial as execute

    spec = build_spec(random=["train.optimizer.lr=loguniform(1e-3,0.3)"], search="tpe", trials=4)
    real = execute.run_trial
    calls = []

    def interrupted_third(*args: object, **kwargs: object) -> dict:
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(execute, "run_trial", interrupted_third)
    from mlptrain.training.signals import SweepInterrupted

    with pytest.raises(SweepInterrupted, match="2 finished trial"):
        run_sweep(config_path, spec, out=tmp_path)
    monkeypatch.setattr(execute, "run_trial", real)
    before = latest_records(tmp_path)
    assert len(before) == 2
    # A trial a killed process left RUNNING (its pid is gone) must not block the budget.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    from mlptrain.config import config_to_dict, load_config
    from mlptrain.search.study import default_storage

    base = config_to_dict(load_config(config_path))
    study = open_study(study_ref(base, spec, default_storage(tmp_path), "val_loss", 4))
    lost = study.ask()
    study._storage.set_trial_user_attr(
        lost._trial_id, WORKER_ATTR, f"{socket.gethostname()}:{dead.pid}"
    )

    result = run_sweep(config_path, spec, out=tmp_path)  # the same command again
    assert sorted(result.skipped) == sorted(before)
    assert len(result.ran) == 2
    after = latest_records(tmp_path)
    assert len(after) == 4 and all(r["status"] == "completed" for r in after.values())
    for tid, record in before.items():
        assert after[tid] == record  # finished trials are not run again
    states = [t.state for t in optuna.load_study(
        study_name=study.study_name, storage=default_storage(tmp_path)
    ).trials]  # fmt: skip
    assert states.count(optuna.trial.TrialState.COMPLETE) == 4
    assert states.count(optuna.trial.TrialState.FAIL) == 2  # the interrupted and the lost one
    assert result.summary["n_trials"] == 4


def test_two_processes_share_one_study_and_run_exactly_n_trials(
    config_path: Path, tmp_path: Path
) -> None:
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    ran = sweep_on_two_machines(config_path, storage, tmp_path)
    ids = [tid for records in ran for tid in records]
    assert len(ids) == 7 and len(set(ids)) == 7  # exactly N between them, none twice
    numbers = sorted(r["index"] for records in ran for r in records.values())
    study = optuna.load_study(study_name=_study_name_of(storage), storage=storage)
    finished = [
        t for t in study.trials if t.state.is_finished() and "mlptrain_record" in t.user_attrs
    ]
    assert sorted(t.number for t in finished) == numbers
    assert len([t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]) == 7
    # Each machine's leaderboard covers the study as it was when that machine finished: the
    # last one to finish sees all N trials.
    totals = []
    for i in range(2):
        summary = json.loads((tmp_path / f"machine{i}" / "sweep.json").read_text())
        assert summary["n_trials"] >= len(ran[i])
        assert summary["counts"]["completed"] == summary["n_trials"]
        totals.append(summary["n_trials"])
    assert max(totals) == 7


def _study_name_of(storage: str) -> str:
    names = optuna.get_all_study_names(storage=storage)
    assert len(names) == 1
    return names[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--search", "tpe", "--grid", "train.optimizer.lr=0.1,0.2", "--monitor", "test_accuracy"],
         "a sweep never ranks on the test split"),
        (["--grid", "train.optimizer.lr=0.1,0.01", "--prune", "median", "--monitor", "test_loss"],
         "a sweep never ranks on the test split"),
        (["--search", "tpe", "--grid", "train.optimizer.lr=0.1,0.2", "--monitor", "train_loss"],
         "--monitor train_loss: the TPE sampler and the pruner must see only validation"),
        (["--grid", "train.optimizer.lr=0.1,0.01", "--prune", "median", "--monitor",
          "val_f1_macro"], "--prune median compares the metric every epoch"),
        (["--search", "tpe", "--grid", "train.optimizer.lr=0.1,0.2", "--seeds", "2"], "--search tpe runs one seed per trial"),
        (["--search", "bayes"], "--search 'bayes': allowed: grid, random, tpe"),
        (["--prune", "always"], "--prune 'always': allowed: none, median, hyperband"),
        (["--search", "grid", "--random", "train.optimizer.lr=uniform(0.1,0.2)"],
         "--search grid: --random is given too"),
        (["--search", "random", "--grid", "train.optimizer.lr=0.1,0.2"],
         "--search random needs at least one --random"),
        (["--search", "tpe"], "--search tpe needs a space to search"),
        (["--grid", "train.optimizer.lr=0.1,0.2", "--storage", "sqlite:///x.db"],
         "--storage applies to --search tpe or --prune"),
        (["--search", "tpe", "--grid", "train.optimizer.lr=0.1,0.2", "--storage", "nonsense"],
         "--storage 'nonsense': not a database URL"),
        (["--search", "tpe", "--grid", "train.optimizer.lr=0.1,0.2", "--shard", "0/2"],
         "--shard: --search tpe splits its trials through the study"),
        (["--search", "tpe", "--grid", "train.optimizer.lr=0.1,0.2", "--set", "data.val_size=0",
          "--set", "train.early_stopping=null"],
         "needs a validation split to watch"),
        (["--grid", "train.optimizer.lr=0.1,0.2", "--figures", "some"],
         "--figures 'some': allowed: best, all, none"),
    ],
)  # fmt: skip
def test_refusals_exit_2(config_path: Path, tmp_path: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["sweep", str(config_path), *args, "--out", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not list(tmp_path.glob("t0*"))  # refused before any trial ran


def test_unreachable_storage_exit_2(config_path: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, [
        "sweep", str(config_path), "--search", "tpe", "--grid", "train.optimizer.lr=0.1,0.2",
        "--storage", "nosuchdialect://localhost/db", "--out", str(tmp_path),
    ])  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "--storage nosuchdialect://localhost/db: cannot open the Optuna storage" in result.output
