"""``mlptrain fit`` and ``mlptrain evaluate`` end to end, through the CLI, on shortened configs.

What a run directory holds, that evaluate reproduces report.json exactly, that the same
config and seed give bit-identical weights, and every bad-config and bad-data error (message
and exit code).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from mlptrain.config import load_config
from mlptrain.store.checkpoint import load_checkpoint
from tests.conftest import assert_no_traceback

# Training and its files are under test here, not the PNG figures (see conftest.py).
pytestmark = pytest.mark.usefixtures("no_figures")

RUN_FILES = (
    "config.yaml",
    "metrics.jsonl",
    "report.json",
    "report.md",
    "checkpoints/last.safetensors",
    "checkpoints/best.safetensors",
)
CLASSIFICATION_METRICS = {
    "accuracy",
    "balanced_accuracy",
    "precision_macro",
    "recall_macro",
    "f1_macro",
    "precision_weighted",
    "recall_weighted",
    "f1_weighted",
    "log_loss",
    "per_class",
    "confusion_matrix",
}
REGRESSION_METRICS = {"mse", "rmse", "mae", "r2"}
EPOCH_KEYS = ["epoch", "lr", "train_loss", "val_loss", "seconds"]


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def report_of(run_dir: Path) -> dict:
    return json.loads((run_dir / "report.json").read_text())


def tensors(path: Path) -> dict[str, np.ndarray]:
    return load_checkpoint(path).tensors


def assert_same_tensors(a: Path, b: Path) -> None:
    left, right = tensors(a), tensors(b)
    assert left.keys() == right.keys()
    assert any(k.startswith("model.") for k in left)
    for name in left:
        assert left[name].dtype == right[name].dtype, name
        assert np.array_equal(left[name], right[name]), name


def without_seconds(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]


def assert_user_error(result, *fragments: str, code: int = 2) -> None:
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert_no_traceback(result)
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)


@pytest.fixture(scope="module")
def digits_cli(cli, configs_dir, tmp_path_factory):
    """``mlptrain fit configs/digits.yaml --set train.epochs=2 --out …`` run once, figures and
    all (module scope: set up before the function-scoped ``no_figures``)."""
    out = tmp_path_factory.mktemp("cli") / "digits"
    result = cli("fit", configs_dir / "digits.yaml", "--set", "train.epochs=2", "--out", out)
    assert result.exit_code == 0, result.output
    return result, out


# --- fit: the happy path --------------------------------------------------------------------


def test_fit_prints_test_metrics_and_the_run_directory(digits_cli) -> None:
    result, out = digits_cli
    lines = result.stdout.splitlines()
    assert lines[0].startswith("trained digits for 2 epochs in ")
    assert "test metrics:" in lines
    test = report_of(out)["metrics"]["test"]
    assert f"  accuracy           {test['accuracy']:.4f}" in lines
    assert f"  log_loss           {test['log_loss']:.4f}" in lines
    assert lines[-1] == f"run directory: {out}"


def test_fit_prints_one_plain_line_per_epoch_when_not_a_tty(digits_cli) -> None:
    result, _ = digits_cli
    epoch_lines = [line for line in result.stderr.splitlines() if line.startswith("epoch")]
    assert [line.split("  ")[0] for line in epoch_lines] == ["epoch 1/2", "epoch 2/2"]
    assert "train_loss" in epoch_lines[0] and "val_accuracy" in epoch_lines[0]
    assert "\r" not in result.stderr and "it/s" not in result.stderr  # no progress bar


def test_run_directory_holds_config_metrics_checkpoints_and_reports(digits_cli) -> None:
    _, out = digits_cli
    for name in RUN_FILES:
        assert (out / name).is_file(), name
    assert load_checkpoint(out / "checkpoints" / "last.safetensors").meta["epoch"] == 2
    assert "data:image/png;base64," in (out / "report.html").read_text()


def test_run_config_is_resolved(digits_cli, configs_dir) -> None:
    _, out = digits_cli
    assert load_config(configs_dir / "digits.yaml").model.layers[-1].units is None
    resolved = load_config(out / "config.yaml")
    assert resolved.model.layers[-1].units == 10  # one per digit class
    assert resolved.train.epochs == 2  # the --set is in it


def test_fitting_the_run_config_again_gives_identical_weights(cli, digits_cli, tmp_path) -> None:
    _, out = digits_cli
    again = tmp_path / "again"
    result = cli("fit", out / "config.yaml", "--out", again, "--quiet")
    assert result.exit_code == 0, result.output
    for kind in ("best", "last"):
        assert_same_tensors(
            out / "checkpoints" / f"{kind}.safetensors",
            again / "checkpoints" / f"{kind}.safetensors",
        )
    assert without_seconds(records(out / "metrics.jsonl")) == without_seconds(
        records(again / "metrics.jsonl")
    )


def test_metrics_jsonl_has_one_record_per_epoch(digits_cli) -> None:
    _, out = digits_cli
    rows = records(out / "metrics.jsonl")
    assert [row["epoch"] for row in rows] == [1, 2]
    for row in rows:
        scalars = {k: row[k] for k in EPOCH_KEYS + ["train_accuracy", "val_accuracy"]}
        assert all(isinstance(v, int | float) and math.isfinite(v) for v in scalars.values())
        assert 0 <= row["train_accuracy"] <= 1 and row["seconds"] >= 0
    # cosine warm-up over 2 epochs: the learning rate rises
    assert rows[0]["lr"] < rows[1]["lr"]


def test_report_json_holds_classification_metrics_of_every_split(digits_cli) -> None:
    _, out = digits_cli
    report = report_of(out)
    assert report["task"] == "classification" and report["status"] == "completed"
    assert report["data"]["n_train"] + report["data"]["n_val"] + report["data"]["n_test"] == 1797
    assert set(report["metrics"]) == {"train", "val", "test"}
    for split in report["metrics"].values():
        assert set(split) >= CLASSIFICATION_METRICS
        assert len(split["per_class"]) == 10
        assert np.asarray(split["confusion_matrix"]).shape == (10, 10)
    test = report["metrics"]["test"]
    assert np.asarray(test["confusion_matrix"]).sum() == report["data"]["n_test"]
    assert report["training"]["history"] == records(out / "metrics.jsonl")


def test_report_json_holds_regression_metrics(diabetes_run) -> None:
    report = report_of(diabetes_run.dir)
    assert report["task"] == "regression"
    for split in report["metrics"].values():
        assert set(split) >= REGRESSION_METRICS
        assert split["rmse"] == pytest.approx(math.sqrt(split["mse"]))
    row = records(diabetes_run.dir / "metrics.jsonl")[0]
    assert set(EPOCH_KEYS + ["train_r2", "val_r2"]) <= set(row)


def test_report_md_has_data_model_training_and_metrics(digits_cli) -> None:
    _, out = digits_cli
    text = (out / "report.md").read_text()
    data = report_of(out)["data"]
    for fragment in (
        "## Data",
        f"| {data['n_features']} | {data['n_train']} | {data['n_val']} | {data['n_test']} |",
        "## Model",
        "Linear(64 -> 256)",
        "Total parameters:",
        "- optimizer: adam (lr=0.001",
        "- schedule: cosine",
        "### Learning curve",
        "## Metrics",
        "| accuracy |",
        "### Per class (test)",
        "### Confusion matrix (test",
    ):
        assert fragment in text, fragment


def test_report_md_names_the_real_labels(fruit_run) -> None:
    text = (fruit_run.dir / "report.md").read_text()
    assert "Classes (4): apple, banana, lemon, orange" in text
    assert "|  | apple | banana | lemon | orange |" in text  # confusion matrix header
    assert "\n| apple | " in text  # a per-class row and a confusion-matrix row


def test_fit_without_out_writes_under_runs_name(cli, configs_dir, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli("fit", configs_dir / "iris.yaml", "--set", "train.epochs=2", "--quiet")
    assert result.exit_code == 0, result.output
    last = result.stdout.splitlines()[-1]
    assert last.startswith("run directory: runs/iris/")
    assert (tmp_path / last.removeprefix("run directory: ") / "report.json").is_file()


def test_quiet_prints_only_the_summary(cli, configs_dir, tmp_path) -> None:
    result = cli(
        "fit", configs_dir / "iris.yaml", "--set", "train.epochs=2", "--out", tmp_path / "r", "-q"
    )
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert result.stdout.startswith("trained iris for 2 epochs")
    assert "epoch 1/2" not in result.output


def test_existing_non_empty_out_is_refused_without_overwrite(cli, configs_dir, tmp_path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    result = cli("fit", configs_dir / "iris.yaml", "--set", "train.epochs=2", "--out", out)
    assert_user_error(
        result,
        f"error: run directory {out} already exists and is not empty; choose another --out, "
        "or pass --overwrite",
    )
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_overwrite_replaces_a_previous_run(cli, configs_dir, tmp_path) -> None:
    out = tmp_path / "run"
    args = ("fit", configs_dir / "iris.yaml", "--set", "train.epochs=2", "--out", out, "-q")
    assert cli(*args).exit_code == 0
    first = tensors(out / "checkpoints" / "best.safetensors")
    result = cli(*args, "--overwrite")
    assert result.exit_code == 0, result.output
    # the old metrics are replaced, not appended to
    assert [row["epoch"] for row in records(out / "metrics.jsonl")] == [1, 2]
    second = tensors(out / "checkpoints" / "best.safetensors")
    assert all(np.array_equal(first[k], second[k]) for k in first)


def test_empty_existing_out_is_accepted(cli, configs_dir, tmp_path) -> None:
    out = tmp_path / "empty"
    out.mkdir()
    result = cli("fit", configs_dir / "iris.yaml", "--set", "train.epochs=2", "--out", out, "-q")
    assert result.exit_code == 0, result.output


def test_out_that_is_a_file_is_refused(cli, configs_dir, tmp_path) -> None:
    out = tmp_path / "a_file"
    out.write_text("x")
    result = cli("fit", configs_dir / "iris.yaml", "--out", out)
    assert_user_error(result, f"error: --out {out}: exists and is not a directory")


# --- reproducibility --------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_same_config_and_seed_give_bit_identical_runs(cli, configs_dir, tmp_path, dtype) -> None:
    runs = [tmp_path / "a", tmp_path / "b"]
    for out in runs:
        result = cli(
            "fit",
            configs_dir / "digits.yaml",
            "--set",
            "train.epochs=2",
            "--set",
            f"train.dtype={dtype}",
            "--out",
            out,
            "-q",
        )
        assert result.exit_code == 0, result.output
    assert tensors(runs[0] / "checkpoints" / "best.safetensors")["model.0.W"].dtype == dtype
    for kind in ("best", "last"):
        assert_same_tensors(*(out / "checkpoints" / f"{kind}.safetensors" for out in runs))
    first, second = (records(out / "metrics.jsonl") for out in runs)
    assert without_seconds(first) == without_seconds(second)
    assert len(first) == 2


def test_another_seed_gives_other_weights(cli, configs_dir, tmp_path) -> None:
    outs = []
    for seed in (0, 1):
        out = tmp_path / str(seed)
        args = ("--set", "train.epochs=1", "--set", f"seed={seed}", "--out", out, "-q")
        assert cli("fit", configs_dir / "iris.yaml", *args).exit_code == 0
        outs.append(tensors(out / "checkpoints" / "best.safetensors")["model.0.W"])
    assert not np.array_equal(*outs)


# --- evaluate ---------------------------------------------------------------------------------


def evaluate_json(cli, *args: object) -> dict:
    result = cli("evaluate", *args, "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_evaluate_reproduces_report_json_exactly(cli, digits_run, split) -> None:
    result = evaluate_json(cli, digits_run.dir, "--split", split)
    report = report_of(digits_run.dir)
    assert result["split"] == split and result["task"] == "classification"
    assert result["n_samples"] == report["data"][f"n_{split}"]
    assert result["metrics"] == report["metrics"][split]  # exactly, not approximately


def test_evaluate_defaults_to_the_test_split(cli, digits_run) -> None:
    result = evaluate_json(cli, digits_run.dir)
    assert result["split"] == "test"
    assert result["metrics"] == report_of(digits_run.dir)["metrics"]["test"]


def test_evaluate_a_checkpoint_file(cli, digits_run) -> None:
    best = digits_run.dir / "checkpoints" / "best.safetensors"
    result = evaluate_json(cli, best)
    assert result["checkpoint"] == str(best)
    assert result["metrics"] == report_of(digits_run.dir)["metrics"]["test"]


def test_evaluate_reproduces_a_regression_report_exactly(cli, diabetes_run) -> None:
    result = evaluate_json(cli, diabetes_run.dir)
    assert result["task"] == "regression"
    assert result["metrics"] == report_of(diabetes_run.dir)["metrics"]["test"]


def test_evaluate_reports_string_labels(cli, fruit_run) -> None:
    result = evaluate_json(cli, fruit_run.dir, "--split", "val")
    assert result["metrics"]["labels"] == ["apple", "banana", "lemon", "orange"]
    assert result["metrics"] == report_of(fruit_run.dir)["metrics"]["val"]


def test_evaluate_table_format(cli, digits_run) -> None:
    result = cli("evaluate", digits_run.dir)
    assert result.exit_code == 0, result.output
    test = report_of(digits_run.dir)["metrics"]["test"]
    lines = result.stdout.splitlines()
    assert lines[0].startswith("test split of ") and lines[0].endswith("(360 samples):")
    assert f"  accuracy           {test['accuracy']:.4f}" in lines


def test_evaluate_markdown_format(cli, fruit_run) -> None:
    result = cli("evaluate", fruit_run.dir, "--format", "md", "--split", "train")
    assert result.exit_code == 0, result.output
    test = report_of(fruit_run.dir)["metrics"]["train"]
    assert f"| accuracy | {test['accuracy']:.4f} |" in result.stdout
    assert "### Per class (train)" in result.stdout
    assert "|  | apple | banana | lemon | orange |" in result.stdout


def test_evaluate_missing_path(cli, tmp_path) -> None:
    missing = tmp_path / "nope"
    assert_user_error(
        cli("evaluate", missing), f"error: {missing}: no such run directory or checkpoint file"
    )


def test_evaluate_a_directory_that_is_not_a_run(cli, tmp_path) -> None:
    assert_user_error(
        cli("evaluate", tmp_path),
        f"error: {tmp_path}: not a run directory (no checkpoints/best.safetensors)",
    )


def test_evaluate_a_file_that_is_not_a_checkpoint(cli, digits_run) -> None:
    report = digits_run.dir / "report.json"
    assert_user_error(cli("evaluate", report), f"error: {report}: not a valid mlptrain checkpoint")


@pytest.mark.parametrize(
    ("option", "value", "allowed"),
    [("--split", "validation", "'train', 'val', 'test'"), ("--format", "xml", "'table', 'json'")],
)
def test_evaluate_bad_choice_is_a_usage_error(cli, digits_run, option, value, allowed) -> None:
    result = cli("evaluate", digits_run.dir, option, value)
    assert result.exit_code == 2
    assert f"Invalid value for '{option}'" in result.stderr
    assert f"{value!r} is not one of {allowed}" in result.stderr


def test_evaluate_val_split_of_a_run_without_one(cli, configs_dir, tmp_path) -> None:
    out = tmp_path / "noval"
    sets = ["data.val_size=0", "train.early_stopping=null", "train.epochs=1"]
    args = [a for s in sets for a in ("--set", s)]
    assert cli("fit", configs_dir / "iris.yaml", *args, "--out", out, "-q").exit_code == 0
    assert_user_error(
        cli("evaluate", out, "--split", "val"),
        "error: --split val: this run has no val split (data.val_size is 0)",
    )


# --- bad configs ------------------------------------------------------------------------------

LAYERS = "  layers: [{type: linear, units: 8}, relu, linear]\n"
BAD_CONFIGS = {
    "unknown key": (
        f"data: {{dataset: iris}}\nmodel:\n{LAYERS}train:\n  epoch: 2\n",
        ["cfg.yaml:5: train.epoch: unknown key; did you mean 'epochs'? allowed keys: batch_size"],
    ),
    "misspelled layer": (
        "data: {dataset: iris}\nmodel:\n  layers:\n    - {type: linear, units: 8}\n"
        "    - relux\n    - linear\n",
        [
            "cfg.yaml:5: model.layers[1]: unknown layer 'relux'; did you mean 'relu'? "
            "allowed: batchnorm, dropout, ensemble"
        ],
    ),
    "zero batch size": (
        f"data: {{dataset: iris}}\nmodel:\n{LAYERS}train:\n  batch_size: 0\n",
        ["cfg.yaml:5: train.batch_size: 0 is not allowed; must be an integer from 1 to"],
    ),
    "nan learning rate": (
        f"data: {{dataset: iris}}\nmodel:\n{LAYERS}train:\n  optimizer: {{type: adam, lr: .nan}}\n",
        ["cfg.yaml:5: train.optimizer.lr: .nan is not allowed; must be a finite number > 0"],
    ),
    "empty layers": (
        "data: {dataset: iris}\nmodel:\n  layers: []\n",
        ["cfg.yaml:3: model.layers: [] is not allowed; must be a non-empty list of layers"],
    ),
    "mse on a classification dataset": (
        f"data: {{dataset: iris}}\nmodel:\n{LAYERS}  loss: mse\n",
        [
            "cfg.yaml:4: model.loss: 'mse' is not allowed: the data is classification "
            "(dataset 'iris'); allowed: cross_entropy, bce"
        ],
    ),
    "bce on three classes": (
        f"data: {{dataset: wine}}\nmodel:\n{LAYERS}  loss: bce\n",
        [
            "cfg.yaml:4: model.loss: 'bce' needs exactly 2 classes but the data has 3; "
            "allowed: cross_entropy"
        ],
    ),
    "several problems": (
        "data: {dataset: iris}\nmodel:\n  layers: [linear, relux, linear]\n"
        "train:\n  batch_size: 0\n  optimizer: {type: adam, lr: .nan}\n  learning_rate: 3\n",
        [
            "error: 4 problems in the config:\n",
            "  - cfg.yaml:3: model.layers[1]: unknown layer 'relux'",
            "  - cfg.yaml:5: train.batch_size: 0 is not allowed",
            "  - cfg.yaml:6: train.optimizer.lr: .nan is not allowed",
            "  - cfg.yaml:7: train.learning_rate: unknown key",
        ],
    ),
}


@pytest.mark.parametrize("case", list(BAD_CONFIGS))
def test_bad_config_is_one_clear_error(cli, tmp_path, monkeypatch, case) -> None:
    text, fragments = BAD_CONFIGS[case]
    monkeypatch.chdir(tmp_path)  # the messages name the config as given: cfg.yaml
    Path("cfg.yaml").write_text(text)
    result = cli("fit", "cfg.yaml", "--out", "run")
    assert_user_error(result, *fragments)
    assert result.stderr.startswith("error: ")
    assert not (tmp_path / "run").exists()  # refused before any run directory is made


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "train.epochs",
            "error: --set train.epochs: no '=' in the override; allowed: key.path=value",
        ),
        (
            "train.epoch=2",
            "error: --set train.epoch=2: train.epoch: unknown key; did you mean 'epochs'?",
        ),
        (
            "train.batch_size=0",
            "error: --set train.batch_size=0: train.batch_size: 0 is not allowed; must be an "
            "integer from 1",
        ),
        (
            "model.loss=mse",
            "error: --set model.loss=mse: model.loss: 'mse' is not allowed: the data is "
            "classification",
        ),
    ],
)
def test_bad_set_override(cli, configs_dir, tmp_path, override, message) -> None:
    result = cli("fit", configs_dir / "iris.yaml", "--set", override, "--out", tmp_path / "r")
    assert_user_error(result, message)
    assert not (tmp_path / "r").exists()


def test_missing_config_file(cli, tmp_path) -> None:
    missing = tmp_path / "missing.yaml"
    assert_user_error(cli("fit", missing), f"error: {missing}: no such file; allowed: a YAML")


def test_directory_as_config_is_a_usage_error(cli, configs_dir) -> None:
    result = cli("fit", configs_dir)
    assert_user_error(result, "Invalid value for 'config'", "is a directory")


# --- bad data ---------------------------------------------------------------------------------


def data_config(tmp_path: Path, data: str) -> Path:
    path = tmp_path / "cfg.yaml"
    path.write_text(
        f"name: bad\ndata: {data}\nmodel:\n  layers: [{{type: linear, units: 4}}, relu, linear]\n"
        "train: {epochs: 1}\n"
    )
    return path


def write_csv(path: Path, header: str, rows: list[str]) -> None:
    path.write_text("\n".join([header, *rows]) + "\n")


def two_class_rows(n: int, extra: str = "") -> list[str]:
    return [f"{i * 0.1:.1f},{(i % 7) * 0.3:.1f}{extra},{'x' if i % 2 else 'y'}" for i in range(n)]


def test_csv_file_missing(cli, tmp_path) -> None:
    cfg = data_config(tmp_path, "{dataset: csv, path: nothere.csv}")
    assert_user_error(cli("fit", cfg), f"error: {tmp_path / 'nothere.csv'}: file not found")


def test_csv_target_column_missing(cli, tmp_path) -> None:
    write_csv(tmp_path / "d.csv", "a,b,label", two_class_rows(30))
    cfg = data_config(tmp_path, "{dataset: csv, path: d.csv, target: fruit}")
    assert_user_error(
        cli("fit", cfg),
        f"error: {tmp_path / 'd.csv'}: target column 'fruit' not found; the columns are 'a', "
        "'b', 'label'",
    )


def test_csv_text_column_is_categorical_and_gaps_are_imputed(cli, tmp_path) -> None:
    """Words and gaps, once errors, are what tables hold: a text column is one-hot encoded and
    gaps are imputed (tests/data/test_tables*.py test the details)."""
    rows = [f"{i},{'red' if i % 3 else 'blue'},{'x' if i % 2 else 'y'}" for i in range(30)]
    rows[3] = ",red,x"  # empty cell
    rows[9] = "nan,,y"
    write_csv(tmp_path / "d.csv", "a,colour,label", rows)
    result = cli("fit", data_config(tmp_path, "{dataset: csv, path: d.csv}"), "--out",
                 tmp_path / "run", "--no-figures")  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    columns = {
        c["name"]: (c["kind"], c["n_missing"], c["n_levels"]) for c in report["data"]["columns"]
    }
    assert columns["a"] == ("numeric", 2, None)
    assert columns["colour"] == ("categorical", 1, 2)


def test_csv_with_one_class_only(cli, tmp_path) -> None:
    write_csv(tmp_path / "d.csv", "a,b,label", [f"{i % 7},{i * 0.5},x" for i in range(30)])
    cfg = data_config(tmp_path, "{dataset: csv, path: d.csv}")
    assert_user_error(
        cli("fit", cfg),
        "only one class ('x') in the target; classification needs at least 2 classes",
    )


def test_too_few_samples_of_a_class_for_the_split(cli, tmp_path) -> None:
    write_csv(tmp_path / "d.csv", "a,b,label", ["1,2,x", "3,4,y", "5,6,y", "7,8,y"])
    cfg = data_config(tmp_path, "{dataset: csv, path: d.csv}")
    assert_user_error(
        cli("fit", cfg),
        "class 'x' has only 1 sample(s); a stratified train/validation/test split needs at "
        "least 3 per class",
    )


def test_too_few_samples_for_a_regression_split(cli, tmp_path) -> None:
    write_csv(tmp_path / "d.csv", "a,y", ["1,0.5", "2,0.7"])
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("data: {dataset: csv, path: d.csv}\nmodel: {layers: [linear], loss: mse}\n")
    assert_user_error(
        cli("fit", cfg),
        "too few samples for the split: 2 samples with test_size=0.2 and val_size=0.1 give "
        "0 train / 1 validation / 1 test rows; need at least",
    )


def test_undefined_metrics_are_null_not_a_crash(cli, tmp_path) -> None:
    """Three rows split 1/1/1: R² of one sample is undefined, recorded as null."""
    write_csv(tmp_path / "d.csv", "a,y", ["1,0.5", "2,0.7", "3,0.1"])
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(
        "data: {dataset: csv, path: d.csv}\nmodel: {layers: [linear], loss: mse}\n"
        "train: {epochs: 1, early_stopping: null}\n"
    )
    out = tmp_path / "run"
    with pytest.warns(Warning):  # scikit-learn warns that R² is not defined
        result = cli("fit", cfg, "--out", out)
    assert result.exit_code == 0, result.output
    assert re.search(r"^  r2 +undefined$", result.stdout, re.MULTILINE)
    test = report_of(out)["metrics"]["test"]
    assert test["r2"] is None and math.isfinite(test["mse"])
    with pytest.warns(Warning):
        assert evaluate_json(cli, out)["metrics"] == test


def test_npz_with_x_and_y_of_different_lengths(cli, tmp_path) -> None:
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", X=rng.normal(size=(40, 3)), y=np.arange(39) % 2)
    cfg = data_config(tmp_path, "{dataset: npz, path: d.npz}")
    assert_user_error(
        cli("fit", cfg),
        f"error: {tmp_path / 'd.npz'}: X has 40 rows but y has 39; they need one label per sample",
    )
