"""What a new user stumbled on (issue 16): one-line option errors, --set semantics, init, inspect."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mlptrain.config import load_config
from mlptrain.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
FRUIT = ROOT / "data" / "example_fruit.csv"


def run_module(*args: object, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mlptrain", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def test_python_dash_m_runs_the_cli():
    result = run_module("--version")
    assert result.returncode == 0 and result.stdout.startswith("mlptrain ")
    result = run_module("datasets")
    assert result.returncode == 0 and "digits" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["evaluate", "somewhere", "--split", "dev"],
            "error: Invalid value for '--split': 'dev' is not one of 'train', 'val', 'test' "
            "(see mlptrain evaluate --help)",
        ),
        (
            ["fit", "x.yaml", "--no-such-flag"],
            "error: No such option: --no-such-flag (see mlptrain fit --help)",
        ),
        (["evaluate"], "error: Missing argument 'path' (see mlptrain evaluate --help)"),
    ],
)
def test_option_errors_are_one_line_with_exit_2(cli, args, message):
    result = cli(*args)
    assert result.exit_code == 2
    assert result.stderr.strip() == message
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_option_error_through_a_real_process_has_no_traceback():
    result = run_module("evaluate", "somewhere", "--split", "dev")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "error: Invalid value for '--split': 'dev' is not one of 'train', 'val', 'test' "
        "(see mlptrain evaluate --help)"
    ]


def test_bare_command_still_shows_its_help(cli):
    result = cli()
    assert "Usage: mlptrain" in result.output and "fit" in result.output


@pytest.fixture
def fruit_config(tmp_path: Path) -> Path:
    folder = tmp_path / "configs"
    folder.mkdir()
    path = folder / "fruit.yaml"
    path.write_text(
        f"data: {{dataset: csv, path: {FRUIT}}}\n"
        "model: {layers: [{type: linear, units: 8}, relu, {type: linear, units: 4}]}\n"
    )
    return path


def test_set_data_path_is_relative_to_the_current_directory(fruit_config, tmp_path, monkeypatch):
    (tmp_path / "byo").mkdir()
    (tmp_path / "byo" / "cat.csv").write_text("a,b\n1,2\n")
    monkeypatch.chdir(tmp_path)
    cfg = load_config(fruit_config, ["data.path=byo/cat.csv"])
    assert cfg.data.path == tmp_path / "byo" / "cat.csv"


def test_data_path_in_the_file_stays_relative_to_the_file(tmp_path, monkeypatch):
    folder = tmp_path / "configs"
    folder.mkdir()
    path = folder / "c.yaml"
    path.write_text("data: {dataset: csv, path: tables/t.csv}\nmodel: {layers: [{type: linear}]}\n")
    monkeypatch.chdir(tmp_path)
    assert load_config(path).data.path == folder / "tables" / "t.csv"


@pytest.mark.parametrize(
    ("override", "field", "expected"),
    [
        ("data.target=no", ("data", "target"), "no"),
        ("data.target=2024", ("data", "target"), "2024"),
        ("name=2024", ("name",), "2024"),
        ("name=true", ("name",), "true"),
    ],
)
def test_a_string_field_takes_an_override_as_typed(fruit_config, override, field, expected):
    cfg = load_config(fruit_config, [override])
    value = cfg
    for part in field:
        value = getattr(value, part)
    assert value == expected


def test_a_number_field_still_refuses_a_string(fruit_config):
    with pytest.raises(ConfigError, match=r"train\.epochs"):
        load_config(fruit_config, ["train.epochs=many"])


def test_negative_index_counts_from_the_end(fruit_config):
    cfg = load_config(fruit_config, ["model.layers[-1].units=3", "model.layers[-3].units=16"])
    assert cfg.model.layers[-1].units == 3 and cfg.model.layers[0].units == 16


def test_negative_index_out_of_range_names_the_range(fruit_config):
    with pytest.raises(ConfigError) as info:
        load_config(fruit_config, ["model.layers[-4].units=3"])
    assert (
        "override model.layers[-4].units=3: index [-4] is out of range; model.layers has 3 items "
        "(allowed: 0 to 2, or -1 to -3 from the end)"
    ) in str(info.value)


def test_init_suggests_the_closest_dataset(cli, tmp_path):
    result = cli("init", tmp_path / "w.yaml", "--dataset", "winee")
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "error: dataset 'winee': unknown dataset; did you mean 'wine'? allowed: blobs,"
    )
    assert not (tmp_path / "w.yaml").exists()


def test_init_target_column_is_written_and_trains(cli, tmp_path):
    table = tmp_path / "target_first.csv"
    table.write_text(
        "label,x1,x2\n" + "".join(f"{'ab'[i % 2]},{i % 7},{(i * 3) % 5}\n" for i in range(60))
    )
    path = tmp_path / "t.yaml"
    result = cli("init", path, "--dataset", "csv", "--data", table, "--target", "label")
    assert result.exit_code == 0, result.output
    text = path.read_text()
    assert '  target: "label"   # the target column' in text
    cfg = load_config(path)
    assert cfg.data.target == "label"
    result = cli("fit", path, "--set", "train.epochs=1", "--out", tmp_path / "run", "-q")
    assert result.exit_code == 0, result.output


def test_init_names_the_default_target_column(cli, tmp_path):
    path = tmp_path / "fruit.yaml"
    assert cli("init", path, "--dataset", "csv", "--data", FRUIT).exit_code == 0
    header = FRUIT.read_text().splitlines()[0].split(",")
    assert f'  target: "{header[-1]}"   # the target column' in path.read_text()


def test_init_target_errors(cli, tmp_path):
    result = cli("init", tmp_path / "a.yaml", "--dataset", "csv", "--data", FRUIT, "--target", "x")
    assert result.exit_code == 2 and "target column 'x' not found" in result.stderr
    result = cli("init", tmp_path / "b.yaml", "--dataset", "iris", "--target", "x")
    assert result.exit_code == 2
    assert "a target column is only for dataset csv; 'iris' has its target built in" in (
        result.stderr
    )


def test_inspect_names_the_integrity_failure_once(cli, digits_run, tmp_path):
    good = (digits_run.dir / "checkpoints" / "best.safetensors").read_bytes()
    damaged = tmp_path / "damaged.safetensors"
    damaged.write_bytes(good[:-1] + bytes([good[-1] ^ 0xFF]))
    result = cli("inspect", damaged)
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert line.count("integrity check failed") == 1
    assert line == (
        f"error: {damaged}: integrity check failed: tensors and metadata do not match their "
        "SHA-256; the file is damaged (use another checkpoint or train again)"
    )


def test_progress_bar_postfix_fits_a_120_column_terminal():
    import io

    from mlptrain.training.progress import ConsoleProgress, short_record

    record = {
        "epoch": 300, "lr": 0.001, "train_loss": 0.123456, "train_accuracy": 0.96523,
        "val_loss": 0.2, "val_accuracy": 0.95, "layers": [], "seconds": 0.3,
    }  # fmt: skip
    postfix = short_record(record)
    assert postfix == "loss 0.1235 acc 0.9652 val_loss 0.2000 val_acc 0.9500"
    # tqdm's fixed text around the postfix at its widest for a long run, with a 1-cell bar
    line = f"epoch 300/300: 100%|#| 1000/1000 [01:00<00:00, 999.99it/s, {postfix}]"
    assert len(line) <= 120
    stream = io.StringIO()
    callbacks = ConsoleProgress(stream=stream, bar=True).callbacks()
    callbacks.on_epoch_start(300, 300, 2)
    callbacks.on_batch(0.5)
    callbacks.on_batch(0.4)
    callbacks.on_epoch_end(record)
    assert stream.getvalue().rstrip().endswith(f"{postfix}]")


def test_fit_several_configs_trains_each_then_compares(cli, tmp_path, configs_dir):
    out = tmp_path / "runs"
    result = cli(
        "fit", configs_dir / "iris.yaml", configs_dir / "wine.yaml",
        "--set", "train.epochs=2", "--out", out, "--no-figures", "-q",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"[1/2] {configs_dir / 'iris.yaml'}"
    assert f"[2/2] {configs_dir / 'wine.yaml'}" in lines
    assert (out / "iris" / "report.json").is_file() and (out / "wine" / "report.json").is_file()
    from mlptrain.reporting.compare import compare_runs, comparison_table

    table = comparison_table(compare_runs([out / "iris", out / "wine"]))
    assert result.stdout.endswith(table)


def test_fit_several_configs_checks_all_before_training(cli, tmp_path, configs_dir):
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: {dataset: iris}\nmodel: {layers: [relux]}\n")
    out = tmp_path / "runs"
    result = cli("fit", configs_dir / "iris.yaml", bad, "--out", out, "--no-figures", "-q")
    assert result.exit_code == 2
    assert "unknown layer 'relux'; did you mean 'relu'?" in result.stderr
    assert not out.exists()


def test_fit_several_configs_refuses_shared_run_dirs_and_resume(cli, tmp_path, configs_dir):
    other = tmp_path / "iris.yaml"
    other.write_text((configs_dir / "iris.yaml").read_text())
    result = cli("fit", configs_dir / "iris.yaml", other, "--out", tmp_path / "runs")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"error: --out {tmp_path / 'runs'}: configs named iris would share a run directory "
        "(runs go to OUT/<config file name>); rename one, or leave out --out"
    )
    result = cli("fit", configs_dir / "iris.yaml", other, "--resume", tmp_path)
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: --resume continues one run; give no CONFIG with it"


def test_sweep_key_typo_fails_before_anything_is_written(cli, tmp_path, configs_dir):
    out = tmp_path / "sweep"
    result = cli(
        "sweep", configs_dir / "iris.yaml", "--grid", "train.optimzer.lr=0.1,0.2", "--out", out
    )
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"error: {configs_dir / 'iris.yaml'}: swept value train.optimzer.lr=0.1: train.optimzer: "
        "unknown key; did you mean 'optimizer'? allowed keys: batch_size, class_weight, "
        "clip_grad_norm, dtype, early_stopping, epochs, optimizer, schedule, shuffle"
    )
    assert not out.exists()


def test_sweep_bad_value_names_the_trial_value(cli, tmp_path, configs_dir):
    out = tmp_path / "sweep"
    result = cli("sweep", configs_dir / "iris.yaml", "--grid", "train.optimizer.lr=0.1,-1",
                 "--out", out)  # fmt: skip
    assert result.exit_code == 2
    assert "swept value train.optimizer.lr=-1: train.optimizer.lr: -1 is not allowed" in (
        result.stderr
    )
    assert not out.exists()


def test_interrupted_sweep_says_the_same_command_resumes_it(
    cli, tmp_path, configs_dir, monkeypatch
):
    import mlptrain.api

    real_fit = mlptrain.api.fit
    calls = {"n": 0}

    def ctrl_c_in_the_second_trial(cfg, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real_fit(cfg, **kwargs)

    monkeypatch.setattr(mlptrain.api, "fit", ctrl_c_in_the_second_trial)
    out = tmp_path / "sweep"
    args = ["sweep", configs_dir / "iris.yaml", "--grid", "train.optimizer.lr=0.01,0.02",
            "--set", "train.epochs=2", "--out", out]  # fmt: skip
    result = cli(*args)
    assert result.exit_code == 130
    assert result.stderr.strip().splitlines()[-1] == (
        f"interrupted: 1 finished trial(s) are kept in {out / 'results.jsonl'}; run the "
        "same command again to resume (finished trials are skipped)"
    )
    monkeypatch.undo()
    again = cli(*args)
    assert again.exit_code == 0, again.output
    assert "skipped 1 finished trial(s)" in again.stdout


def test_missing_data_file_says_what_the_path_is_relative_to(cli, tmp_path, monkeypatch):
    folder = tmp_path / "configs"
    folder.mkdir()
    config = folder / "c.yaml"
    config.write_text("data: {dataset: csv, path: tables/t.csv}\nmodel: {layers: [linear]}\n")
    monkeypatch.chdir(tmp_path)
    result = cli("fit", config, "--out", tmp_path / "run")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"error: {folder / 'tables' / 't.csv'}: file not found; a data.path written in a config "
        "file is relative to that file's folder, one given as an override to the current "
        "directory"
    )
    result = cli("fit", config, "--set", "data.path=t.csv", "--out", tmp_path / "run")
    assert result.exit_code == 2 and f"error: {tmp_path / 't.csv'}: file not found;" in (
        result.stderr
    )
