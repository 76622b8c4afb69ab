"""Sweeps: local (--jobs), Dask, resume, shards, failures, reports and every bad flag."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file
from typer.testing import CliRunner

from mlptrain.cli import app
from mlptrain.config import load_config
from mlptrain.config.yamlsafe import parse_yaml_value
from mlptrain.errors import UserInputError
from mlptrain.search import (
    SweepSpec,
    build_spec,
    expand_trials,
    latest_records,
    parse_distribution,
    run_sweep,
)
from mlptrain.search.spec import yaml_text
from tests.conftest import assert_no_traceback, tiny_iris

CONFIG = tiny_iris(epochs=2)
GRID = ["--grid", "model.layers[0].units=4,8", "--grid", "train.optimizer.lr=1e-2,3e-2"]
runner = CliRunner()


@pytest.fixture(scope="module")
def config_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cfg") / "tiny.yaml"
    path.write_text(CONFIG)
    return path


@pytest.fixture(scope="module")
def full_sweep(config_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference: 4 trials through the CLI in 2 loky worker processes."""
    out = tmp_path_factory.mktemp("sweeps") / "full"
    result = runner.invoke(
        app, ["sweep", str(config_path), *GRID, "--jobs", "2", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    return out


def _weights(run_dir: Path) -> dict[str, np.ndarray]:
    return load_file(run_dir / "checkpoints" / "best.safetensors")


def _test_metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "report.json").read_text())["metrics"]["test"]


def _assert_same_trials(a: Path, b: Path, ids: list[str]) -> None:
    for trial in ids:
        assert _test_metrics(a / trial) == _test_metrics(b / trial)
        wa, wb = _weights(a / trial), _weights(b / trial)
        assert wa.keys() == wb.keys()
        for key in wa:
            np.testing.assert_array_equal(wa[key], wb[key])


def test_local_sweep_writes_runs_and_reports(full_sweep: Path) -> None:
    records = latest_records(full_sweep)
    assert len(records) == 4
    assert {r["status"] for r in records.values()} == {"completed"}
    units = set()
    for trial in records:
        cfg = load_config(full_sweep / trial / "config.yaml")  # an ordinary, resolved run
        units.add(cfg.model.layers[0].units)
        assert cfg.model.layers[-1].units == 3
        assert records[trial]["params"]["model.layers[0].units"] == cfg.model.layers[0].units
        assert cfg.train.optimizer.lr == records[trial]["params"]["train.optimizer.lr"]
    assert units == {4, 8}
    summary = json.loads((full_sweep / "sweep.json").read_text())
    assert summary["monitor"] == "val_loss"
    board = summary["leaderboard"]
    means = [row["mean"] for row in board]
    assert means == sorted(means) and board[0]["rank"] == 1
    best = load_config(full_sweep / "best.yaml")  # validates: ready for mlptrain fit
    assert best.seed == 3
    assert best.model.layers[0].units == board[0]["params"]["model.layers[0].units"]
    html = (full_sweep / "sweep.html").read_text()
    assert "data:image/png;base64," in html and "<script" not in html
    assert (full_sweep / "sweep.png").read_bytes().startswith(b"\x89PNG")
    assert "| rank | parameters | val_loss |" in (full_sweep / "sweep.md").read_text()


def test_test_metrics_are_shown_in_their_own_column_and_never_rank(full_sweep: Path) -> None:
    summary = json.loads((full_sweep / "sweep.json").read_text())
    assert summary["monitor"] == "val_loss" and summary["info_metric"] == "test_accuracy"
    records = latest_records(full_sweep)
    for row in summary["leaderboard"]:
        values = [records[t]["metrics"]["test_accuracy"] for t in row["trials"]]
        assert row["info_mean"] == pytest.approx(np.mean(values), abs=1e-15)
        assert row["info_std"] == pytest.approx(np.std(values), abs=1e-15)
        # every test accuracy is the run's own report value
        for trial in row["trials"]:
            report = json.loads((full_sweep / trial / "report.json").read_text())
            assert (
                records[trial]["metrics"]["test_accuracy"] == report["metrics"]["test"]["accuracy"]
            )
    md = (full_sweep / "sweep.md").read_text()
    assert "| rank | parameters | val_loss | test_accuracy (information, not ranked) |" in md
    assert "test_accuracy (information, not ranked)" in (full_sweep / "sweep.html").read_text()


def test_trials_show_their_validation_metrics(full_sweep: Path) -> None:
    """accuracy, roc_auc and log_loss on validation beside each trial's ranked value, each the
    trial's own report value."""
    summary = json.loads((full_sweep / "sweep.json").read_text())
    shown = ["val_accuracy", "val_roc_auc", "val_log_loss"]
    assert summary["shown_metrics"] == shown
    md = (full_sweep / "sweep.md").read_text()
    assert "| trial | parameters | seed | status | value | " + " | ".join(shown) + " |" in md
    html = (full_sweep / "sweep.html").read_text()
    for trial in summary["trials"]:
        val = json.loads((full_sweep / trial["trial"] / "report.json").read_text())["metrics"]
        cells = [f"{val['val'][m.removeprefix('val_')]:.4g}" for m in shown]
        row = [l for l in md.splitlines() if l.startswith(f"| {trial['trial']} |")]
        assert len(row) == 1 and " | ".join(cells) in row[0]
        assert "".join(f"<td>{c}</td>" for c in cells) in html


def test_dask_cluster_gives_identical_trials(
    full_sweep: Path, config_path: Path, tmp_path: Path
) -> None:
    distributed = pytest.importorskip("dask.distributed")
    spec = build_spec(grid=GRID[1::2])
    with distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
    ) as cluster:
        result = run_sweep(config_path, spec, out=tmp_path, scheduler=cluster.scheduler_address)
    assert sorted(result.ran) == sorted(latest_records(full_sweep))
    assert not result.failed
    _assert_same_trials(full_sweep, tmp_path, result.ran)
    # the client wrote the workers' files: an ordinary, loadable run directory
    assert (tmp_path / result.ran[0] / "config.yaml").exists()


def test_resume_skips_finished_and_reruns_missing(
    full_sweep: Path, config_path: Path, tmp_path: Path
) -> None:
    out = tmp_path / "resumed"
    shutil.copytree(full_sweep, out)
    lines = (out / "results.jsonl").read_text().splitlines()
    (out / "results.jsonl").write_text("\n".join(lines[:2]) + "\n")  # interrupted after 2
    done = [json.loads(line)["trial"] for line in lines[:2]]
    result = runner.invoke(app, ["sweep", str(config_path), *GRID, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "skipped 2 finished trial(s)" in result.output
    for trial in done:
        assert trial not in result.output
    assert len((out / "results.jsonl").read_text().splitlines()) == 4
    _assert_same_trials(full_sweep, out, list(latest_records(out)))
    again = runner.invoke(app, ["sweep", str(config_path), *GRID, "--out", str(out)])
    assert again.exit_code == 0 and "skipped 4 finished trial(s)" in again.output


def test_shards_union_equals_full_sweep(
    full_sweep: Path, config_path: Path, tmp_path: Path
) -> None:
    spec = build_spec(grid=GRID[1::2])
    first = run_sweep(config_path, spec, out=tmp_path, shard=(0, 2))
    second = run_sweep(config_path, spec, out=tmp_path, shard=(1, 2))
    assert set(first.ran).isdisjoint(second.ran)
    assert sorted(first.ran + second.ran) == sorted(latest_records(full_sweep))
    assert [t.index % 2 for t in first.trials if t.id in first.ran] == [0, 0]
    _assert_same_trials(full_sweep, tmp_path, first.ran + second.ran)
    assert second.summary["counts"]["completed"] == 4  # the last shard sees all results


def test_failed_trial_is_recorded_and_counted(
    config_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A trial that fails while it runs (its config is valid: bad configs are refused before
    # the sweep starts); trials run in this process with --jobs 1.
    import mlptrain.api
    from mlptrain.errors import RunError

    real_fit = mlptrain.api.fit

    def fit_failing_at_lr_3e_2(cfg, **kwargs):
        if cfg.train.optimizer.lr == 3e-2:
            raise RunError("training diverged: simulated for this test")
        return real_fit(cfg, **kwargs)

    monkeypatch.setattr(mlptrain.api, "fit", fit_failing_at_lr_3e_2)
    args = [
        "sweep",
        str(config_path),
        "--grid",
        "train.optimizer.lr=1e-2,3e-2",
        "--out",
        str(tmp_path),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert "1 of 2 trial(s) failed" in result.output
    records = list(latest_records(tmp_path).values())
    failed = [r for r in records if r["status"] == "failed"]
    assert len(failed) == 1
    assert failed[0]["error"] == "training diverged: simulated for this test"
    summary = json.loads((tmp_path / "sweep.json").read_text())
    assert summary["counts"] == {"completed": 1, "pruned": 0, "failed": 1, "pending": 0}
    # a rerun retries only the failed trial
    again = runner.invoke(app, args)
    assert again.exit_code == 1 and "skipped 1 finished trial(s)" in again.output
    assert len((tmp_path / "results.jsonl").read_text().splitlines()) == 3


def test_seeds_and_spec_file(config_path: Path, tmp_path: Path) -> None:
    spec_file = tmp_path / "sweep.yaml"
    spec_file.write_text("grid:\n  train.optimizer.lr: [0.01]\nseeds: 2\nmonitor: val_accuracy\n")
    result = runner.invoke(
        app, ["sweep", str(config_path), "--spec", str(spec_file), "--out", str(tmp_path / "s")]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "s" / "sweep.json").read_text())
    assert summary["monitor"] == "val_accuracy" and summary["mode"] == "max"
    (row,) = summary["leaderboard"]
    values = [t["monitor"] for t in summary["trials"]]
    assert [t["seed"] for t in summary["trials"]] == [3, 4]
    assert row["mean"] == pytest.approx(np.mean(values)) and row["std"] == pytest.approx(
        np.std(values)
    )


def test_expansion_is_deterministic_and_seeded() -> None:
    spec = build_spec(
        grid=["model.layers[0].units=8,16"],
        random=["train.optimizer.lr=loguniform(1e-4,1e-1)", "train.batch_size=randint(2,4)"],
        trials=5,
        seeds=2,
    )
    trials = expand_trials(spec, base_seed=7)
    assert len(trials) == 2 * 5 * 2
    assert [t.id for t in trials] == [t.id for t in expand_trials(spec, base_seed=7)]
    assert [t.id for t in trials] != [t.id for t in expand_trials(spec, base_seed=8)]
    assert len({t.id for t in trials}) == len(trials)
    lrs = [t.params["train.optimizer.lr"] for t in trials]
    assert all(1e-4 <= lr <= 1e-1 and type(lr) is float for lr in lrs)
    assert {t.params["train.batch_size"] for t in trials} <= {2, 3, 4}
    assert trials[0].overrides[-1] == "seed=7" and trials[1].overrides[-1] == "seed=8"
    for trial in trials:  # every override reads back to the exact sampled value
        for text in trial.overrides:
            key, _, value = text.partition("=")
            expected = trial.seed if key == "seed" else trial.params[key]
            assert parse_yaml_value(value, "test") == expected


def test_grid_points_come_in_scikit_learns_parameter_grid_order() -> None:
    """The grid is expanded without importing scikit-learn (1.5 s of the sweep's process
    before its workers start), in ParameterGrid's order, on which the trial ids and indices
    (and so resumes and shards) depend."""
    from sklearn.model_selection import ParameterGrid

    grid = [
        "train.optimizer.lr=1e-3,1e-2,1e-1",
        "model.layers[0].units=4,8",
        "data.test_size=0.2,0.3",
        "train.batch_size=16",
    ]
    trials = expand_trials(build_spec(grid=grid), base_seed=0)
    expected = list(ParameterGrid(build_spec(grid=grid).grid))
    assert [t.params for t in trials] == expected
    assert len(trials) == 12


def test_distributions_parse_without_eval() -> None:
    assert parse_distribution("loguniform(1e-4, 1e-1)").args == (1e-4, 1e-1)
    assert parse_distribution("randint(1,3)").sampler().support() == (1, 3)
    assert parse_distribution("choice(relu, [1, 2], 0.5)").args == ("relu", [1, 2], 0.5)
    assert parse_distribution("uniform(0,2)").sampler().support() == (0, 2)
    for value in (1e-3, 0.1, 3, "a,b", [1, 2], True, None):
        assert parse_yaml_value(yaml_text(value), "t") == value
    assert SweepSpec().keys == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--grid", "units"], "--grid units: no '=' in the option; allowed: --grid key.path=v1"),
        (["--grid", "bad key=1"], "'bad key' is not a key path"),
        (["--grid", "train.epochs="], "no values after '='"),
        (["--grid", "train.epochs=1,1"], "a value is given twice"),
        (["--grid", "seed=1,2"], "the seed is swept with --seeds N"),
        (["--random", "train.optimizer.lr=normal(0,1)"], "unknown distribution 'normal'"),
        (["--random", "train.optimizer.lr=loguniform(0,1)"], "needs 0 < low < high"),
        (["--random", "train.optimizer.lr=uniform(1)"], "uniform takes 2 arguments"),
        (["--random", "train.optimizer.lr=uniform(2,1)"], "needs low < high"),
        (["--random", "train.optimizer.lr=loguniform(1e-3,1e-1"], "is not a distribution"),
        (["--random", "train.batch_size=randint(1.5,4)"], "'1.5' is not an integer"),
        (["--random", "train.optimizer.lr=uniform(a,1)"], "'a' is not a number"),
        (["--random", "train.optimizer.lr=__import__('os')"], "unknown distribution '__import__'"),
        (["--random", "train.optimizer.lr=choice()"], "choice() needs at least one value"),
        (
            ["--grid", "train.epochs=1", "--random", "train.epochs=randint(1,2)"],
            "both --grid and --random",
        ),
        (["--grid", "train.epochs=1,2", "--trials", "3"], "--trials 3: applies to --random only"),
        (["--seeds", "0"], "--seeds 0: allowed: an integer from 1 to 1000"),
        ([], "nothing to sweep"),
        (["--seeds", "2", "--shard", "2/2"], "--shard '2/2': allowed: i/N with 0 <= i < N"),
        (["--seeds", "2", "--monitor", "accuracy"], "--monitor 'accuracy': allowed"),
        (
            ["--seeds", "2", "--monitor", "test_accuracy"],
            "--monitor 'test_accuracy': a sweep never ranks on the test split",
        ),
        (
            ["--seeds", "2", "--set", "data.val_size=0", "--set", "train.early_stopping=null"],
            "data.val_size is 0 (no validation split): ranking on the test split would pick "
            "the settings that fit the test rows; keep data.val_size > 0, or use `mlptrain cv`",
        ),
        (
            ["--grid", "data.val_size=0,0.2", "--set", "train.early_stopping=null"],
            "keep data.val_size > 0",
        ),
        (["--seeds", "2", "--jobs", "0"], "--jobs 0: allowed: an integer >= 1"),
        (["--seeds", "2", "--jobs", "2", "--scheduler", "tcp://h:1"], "--jobs applies to local"),
        (["--seeds", "2", "--set", "train.epochs=0"], "train.epochs: 0 is not allowed"),
    ],
)
def test_bad_flags_exit_2(config_path: Path, tmp_path: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["sweep", str(config_path), *args, "--out", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert result.output.startswith("error: ")
    assert_no_traceback(result)


def test_bad_spec_file_exit_2(config_path: Path, tmp_path: Path) -> None:
    spec_file = tmp_path / "sweep.yaml"
    spec_file.write_text("grid:\n  train.epochs: [1]\nsweep_over: 3\n")
    result = runner.invoke(app, ["sweep", str(config_path), "--spec", str(spec_file)])
    assert result.exit_code == 2
    assert "sweep.yaml:3: sweep_over: unknown key; allowed: grid, random, trials" in result.output
    spec_file.write_text("random:\n  train.optimizer.lr: gauss(1,2)\n")
    result = runner.invoke(app, ["sweep", str(config_path), "--spec", str(spec_file)])
    assert result.exit_code == 2
    assert "sweep.yaml:2: random.train.optimizer.lr: unknown distribution 'gauss'" in result.output


def test_other_sweep_in_out_dir_exit_2(full_sweep: Path, config_path: Path) -> None:
    result = runner.invoke(
        app, ["sweep", str(config_path), "--grid", "train.epochs=1,2", "--out", str(full_sweep)]
    )
    assert result.exit_code == 2
    assert "holds a different sweep" in result.output


def test_scheduler_without_dask_exit_2(
    config_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "dask.distributed", None)  # import now fails
    result = runner.invoke(
        app,
        ["sweep", str(config_path), "--seeds", "2", "--scheduler", "tcp://127.0.0.1:1",
         "--out", str(tmp_path)],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "install mlptrain[dask]" in result.output
    assert not (tmp_path / "results.jsonl").exists()


def test_build_spec_rejects_in_library() -> None:
    with pytest.raises(UserInputError, match="nothing to sweep"):
        build_spec()


def test_unreachable_scheduler_exit_1(
    config_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("dask.distributed")
    import mlptrain.search.cluster

    monkeypatch.setattr(mlptrain.search.cluster, "CONNECT_TIMEOUT", "1s")
    result = runner.invoke(
        app,
        ["sweep", str(config_path), "--seeds", "2", "--scheduler", "tcp://127.0.0.1:1",
         "--out", str(tmp_path)],
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "--scheduler tcp://127.0.0.1:1: cannot connect to the Dask scheduler" in result.output


def test_trials_match_plain_fits_bit_for_bit(full_sweep: Path, tmp_path: Path) -> None:
    """A trial (data prepared once per worker, checkpoints written once at the end) keeps the
    same weights, checkpoints and metrics as the same config fitted alone."""
    from mlptrain.api import fit
    from mlptrain.store.checkpoint import load_checkpoint

    for trial in sorted(latest_records(full_sweep)):
        alone = fit(full_sweep / trial / "config.yaml", out=tmp_path / trial, figures=False).dir
        for kind in ("best", "last"):
            a = load_checkpoint(full_sweep / trial / "checkpoints" / f"{kind}.safetensors")
            b = load_checkpoint(alone / "checkpoints" / f"{kind}.safetensors")
            assert a.tensors.keys() == b.tensors.keys()
            for key in a.tensors:
                np.testing.assert_array_equal(a.tensors[key], b.tensors[key])
            assert a.meta["epoch"] == b.meta["epoch"] and a.meta["step"] == b.meta["step"]
        assert (full_sweep / trial / "metrics.jsonl").read_text().count("\n") == 2
        assert _test_metrics(full_sweep / trial) == _test_metrics(alone)


def test_only_the_best_trial_gets_figures_by_default(full_sweep: Path, config_path: Path,
                                                      tmp_path: Path) -> None:  # fmt: skip
    summary = json.loads((full_sweep / "sweep.json").read_text())
    best_row = summary["best"]
    with_html = sorted(p.parent.name for p in full_sweep.glob("t*/report.html"))
    assert len(with_html) == 1 and with_html[0] in best_row["trials"]
    assert list((full_sweep / with_html[0] / "figures").glob("*.png"))
    for trial in latest_records(full_sweep):
        assert (full_sweep / trial / "report.json").is_file()
        if trial != with_html[0]:
            assert not (full_sweep / trial / "figures").exists()
    # --figures all draws every trial's; --figures none nobody's.
    every = runner.invoke(app, ["sweep", str(config_path), "--grid", "train.optimizer.lr=1e-2,3e-2",
                                "--figures", "all", "--out", str(tmp_path / "all")])  # fmt: skip
    assert every.exit_code == 0, every.output
    assert len(list((tmp_path / "all").glob("t*/report.html"))) == 2
    none = runner.invoke(app, ["sweep", str(config_path), "--grid", "train.optimizer.lr=1e-2,3e-2",
                               "--figures", "none", "--out", str(tmp_path / "none")])  # fmt: skip
    assert none.exit_code == 0, none.output
    assert not list((tmp_path / "none").glob("t*/report.html"))
    # A trial's report can be drawn later, as for any run.
    trial = next(iter(latest_records(tmp_path / "none")))
    drawn = runner.invoke(app, ["report", str(tmp_path / "none" / trial)])
    assert drawn.exit_code == 0, drawn.output
    assert (tmp_path / "none" / trial / "report.html").is_file()


def test_data_is_prepared_once_per_worker(config_path: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    import mlptrain.data as data_module
    import mlptrain.search.trial as execute

    calls: list[int] = []
    real = data_module.prepare

    def counting(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(data_module, "prepare", counting)
    monkeypatch.setattr(execute, "_DATA_CACHE", {})
    spec = build_spec(grid=["train.optimizer.lr=1e-2,3e-2,1e-1"], seeds=2)
    result = run_sweep(config_path, spec, out=tmp_path, figures="none")
    assert len(result.ran) == 6 and not result.failed
    assert len(calls) == 2  # one per seed (the seed chooses the split), not one per trial
    # A trial that changes the data section gets its own preparation.
    spec = build_spec(grid=["data.test_size=0.2,0.3"])
    run_sweep(config_path, spec, out=tmp_path / "data", figures="none")
    assert len(calls) == 3  # test_size 0.2 with seed 3 was cached already


def test_sweep_html_links_each_trial_to_its_report(full_sweep: Path) -> None:
    """Every finished trial is a link to its own report: report.html where it was drawn (the
    best trial's, by default), report.md otherwise."""
    page = (full_sweep / "sweep.html").read_text()
    records = latest_records(full_sweep)
    best = json.loads((full_sweep / "sweep.json").read_text())["best"]["trials"][0]
    for trial_id in records:
        name = "report.html" if (full_sweep / trial_id / "report.html").is_file() else "report.md"
        assert (full_sweep / trial_id / name).is_file()
        assert f"<a href='{trial_id}/{name}'>{trial_id}</a>" in page
    assert f"<a href='{best}/report.html'>" in page


def test_the_best_trials_report_rereads_the_data_only_for_a_trial_of_an_earlier_process(
    config_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The best trial's report.html is drawn at the end of the sweep. A trial this process has
    just trained is drawn without loading the data again to fingerprint it (for a sweep over
    a large table that was a second read of the whole table); a best trial from an earlier
    run of the sweep (a resume) is checked against the data as ``mlptrain report`` checks."""
    import mlptrain.data.splits as splits

    checked: list[str] = []
    real = splits.fingerprint_for

    def counting(data_cfg: object, *, seed: int) -> object:
        checked.append("data")
        return real(data_cfg, seed=seed)  # type: ignore[arg-type]

    monkeypatch.setattr(splits, "fingerprint_for", counting)
    spec = build_spec(grid=["train.optimizer.lr=1e-2,3e-2"])
    first = run_sweep(config_path, spec, out=tmp_path, figures="best")
    assert len(first.ran) == 2 and checked == []
    best = json.loads((tmp_path / "sweep.json").read_text())["best"]["trials"][0]
    (tmp_path / best / "report.html").unlink()
    again = run_sweep(config_path, spec, out=tmp_path, figures="best")  # a resume: nothing to run
    assert again.ran == [] and checked == ["data"]
    assert (tmp_path / best / "report.html").is_file()
