"""The config schema: valid configs, defaults, overrides, round trips, every user-facing error."""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlptrain.config import (
    DATASETS,
    LAYER_TYPES,
    LOSSES,
    MONITORS,
    OPTIMIZERS,
    SCHEDULES,
    Config,
    apply_overrides,
    check_against_data,
    config_to_dict,
    config_to_yaml,
    diff_configs,
    load_config,
    monitor_mode,
    parse_config,
    parse_config_dict,
)
from mlptrain.errors import ConfigError, UserInputError

# Raise with MLPTRAIN_FUZZ_EXAMPLES=5000 (or HYPOTHESIS_PROFILE=long) for a longer fuzz run.
_DEFAULT_EXAMPLES = 2000 if os.environ.get("HYPOTHESIS_PROFILE") == "long" else 200
FUZZ = settings(
    max_examples=int(os.environ.get("MLPTRAIN_FUZZ_EXAMPLES", _DEFAULT_EXAMPLES)),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

BASE_DIR = Path("/srv/project/configs")
REPO_CONFIGS = sorted((Path(__file__).parent.parent.parent / "configs").glob("*.yaml"))

FULL = """\
name: digits
seed: 3
data:
  dataset: csv
  params: {}
  path: data/table.csv
  target: label
  task: classification
  test_size: 0.25
  val_size: 0.1
  scale: minmax
model:
  init: he
  layers:
    - {type: linear, units: 256}
    - relu
    - {type: dropout, p: 0.2}
    - {type: batchnorm, momentum: 0.2}
    - {type: leaky_relu, negative_slope: 0.1}
    - gelu
    - {type: linear}
  loss: cross_entropy
train:
  epochs: 50
  batch_size: 64
  dtype: float64
  optimizer: {type: sgd, lr: 0.1, momentum: 0.9, nesterov: true, weight_decay: 1e-4}
  schedule: {type: plateau, factor: 0.5, patience: 3, monitor: val_accuracy}
  clip_grad_norm: 5.0
  class_weight: {"0": 1.0, "1": 2.5}
  early_stopping: {monitor: val_f1_macro, patience: 10, min_delta: 0.001}
checkpoint:
  every: 2
  every_steps: 100
"""

MINIMAL = "data: {dataset: iris}\nmodel: {layers: [{type: linear, units: 16}, relu, linear]}\n"


def parse(text: str, overrides: tuple[str, ...] = ()) -> Config:
    return parse_config(
        text, source="cfg.yaml", base_dir=BASE_DIR, default_name="stem", overrides=overrides
    )


def problems_of(text: str, overrides: tuple[str, ...] = ()) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse(text, overrides)
    return info.value.problems


def one_problem(text: str, overrides: tuple[str, ...] = ()) -> str:
    problems = problems_of(text, overrides)
    assert len(problems) == 1, problems
    return problems[0]


def test_full_config_parses_and_round_trips() -> None:
    cfg = parse(FULL)
    assert cfg.name == "digits" and cfg.seed == 3
    assert cfg.data.path == BASE_DIR / "data" / "table.csv"
    assert [layer.type for layer in cfg.model.layers] == [
        "linear", "relu", "dropout", "batchnorm", "leaky_relu", "gelu", "linear",
    ]  # fmt: skip
    assert cfg.model.layers[3].eps == 1e-5
    assert cfg.train.optimizer.type == "sgd" and cfg.train.optimizer.weight_decay == 1e-4
    assert cfg.train.class_weight == {"0": 1.0, "1": 2.5}
    assert cfg.checkpoint.every_steps == 100
    text = config_to_yaml(cfg)
    again = parse_config(text, source="run/config.yaml", base_dir=Path("/"), default_name="x")
    assert again == cfg
    assert config_to_dict(again) == config_to_dict(cfg)


@pytest.mark.parametrize("path", REPO_CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_load_and_round_trip(path: Path) -> None:
    cfg = load_config(path)
    assert (
        parse_config(config_to_yaml(cfg), source="r", base_dir=Path("/"), default_name="r") == cfg
    )


def test_defaults_fill_in() -> None:
    cfg = parse(MINIMAL)
    assert cfg.name == "stem"
    assert cfg.seed == 0
    assert (cfg.data.task, cfg.data.test_size, cfg.data.val_size, cfg.data.scale) == (
        "auto", 0.2, 0.1, "standard",
    )  # fmt: skip
    assert cfg.data.params == {} and cfg.data.path is None
    assert cfg.model.init == "auto" and cfg.model.loss == "cross_entropy"
    assert cfg.train.epochs == 50 and cfg.train.batch_size == 64 and cfg.train.dtype == "float32"
    assert cfg.train.optimizer.type == "adam"
    assert cfg.train.optimizer.betas == [0.9, 0.999] and cfg.train.optimizer.eps == 1e-8
    assert cfg.train.schedule.type == "constant"
    assert cfg.train.early_stopping is not None
    assert cfg.train.early_stopping.monitor == "val_loss"
    assert cfg.train.early_stopping.patience == 10
    assert cfg.checkpoint.every == 1 and cfg.checkpoint.every_steps is None


def test_bare_names_and_type_defaults() -> None:
    cfg = parse(
        "data: {dataset: moons}\n"
        "model: {layers: [{type: linear, units: 8}, leaky_relu, dropout, batchnorm, linear]}\n"
        "train: {optimizer: adamw, schedule: cosine}\n"
    )
    leaky, dropout, norm = cfg.model.layers[1:4]
    assert leaky.negative_slope == 0.01 and dropout.p == 0.5
    assert (norm.momentum, norm.eps) == (0.1, 1e-5)
    assert cfg.train.optimizer.type == "adamw" and cfg.train.optimizer.weight_decay == 0.01
    assert cfg.train.schedule.warmup_epochs == 0


def test_default_loss_follows_the_task() -> None:
    layers = "model: {layers: [linear]}\n"
    assert parse("data: {dataset: diabetes}\n" + layers).model.loss == "mse"
    assert parse("data: {dataset: npz, path: a.npz, task: regression}\n" + layers).model.loss == (
        "mse"
    )
    assert parse("data: {dataset: wine}\n" + layers).model.loss == "cross_entropy"


def test_config_to_dict_is_json_safe_with_full_layers() -> None:
    data = config_to_dict(parse(FULL))
    json.dumps(data)
    assert data["model"]["layers"][1] == {"type": "relu"}
    assert data["model"]["layers"][2] == {"type": "dropout", "p": 0.2}
    assert data["model"]["layers"][-1] == {"type": "linear", "units": None}
    assert data["data"]["path"] == str(BASE_DIR / "data" / "table.csv")


def test_round_trip_of_awkward_strings() -> None:
    cfg = parse("name: '1e5'\ndata: {dataset: csv, path: 'yes', target: '2024-01-01'}\n"
                "model: {layers: [linear]}\n")  # fmt: skip
    again = parse_config(config_to_yaml(cfg), source="r", base_dir=Path("/"), default_name="x")
    assert again == cfg and again.name == "1e5" and again.data.target == "2024-01-01"


def test_with_output_units_resolves_only_the_null_last_layer() -> None:
    cfg = parse(MINIMAL)
    resolved = cfg.with_output_units(3)
    assert resolved.model.layers[-1].units == 3
    assert cfg.model.layers[-1].units is None  # the original is untouched
    assert resolved.model.layers[0].units == 16
    assert resolved.with_output_units(5).model.layers[-1].units == 3
    with pytest.raises(ValueError):
        cfg.with_output_units(0)


def test_resolved_config_loads_from_elsewhere(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "c.yaml").write_text(
        "data: {dataset: csv, path: ../d.csv}\nmodel: {layers: [linear]}\n"
    )
    cfg = load_config(tmp_path / "a" / "c.yaml")
    assert cfg.name == "c" and cfg.data.path == tmp_path / "d.csv"
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.yaml").write_text(config_to_yaml(cfg.with_output_units(2)))
    again = load_config(tmp_path / "run" / "config.yaml")
    assert again.data.path == tmp_path / "d.csv"
    assert again == cfg.with_output_units(2)


def test_parse_config_dict_accepts_a_stored_config() -> None:
    cfg = parse(FULL)
    assert parse_config_dict(config_to_dict(cfg), source="ckpt") == cfg
    with pytest.raises(ConfigError, match=r"^ckpt: train.epochs: 0 is not allowed"):
        data = config_to_dict(cfg)
        data["train"]["epochs"] = 0
        parse_config_dict(data, source="ckpt")


def test_lookup_tables_and_monitor_mode() -> None:
    assert "digits" in DATASETS and "parquet" in DATASETS and len(DATASETS) == 13
    assert set(LAYER_TYPES) == {
        "linear", "relu", "leaky_relu", "sigmoid", "tanh", "gelu", "identity", "dropout",
        "batchnorm", "ensemble", "ensemble_linear", "ensemble_mean",
    }  # fmt: skip
    assert set(OPTIMIZERS) == {"sgd", "adam", "adamw"}
    assert set(SCHEDULES) == {"constant", "step", "cosine", "plateau"}
    assert set(LOSSES) == {"cross_entropy", "mse", "bce"}
    from mlptrain.nn.losses import LOSS_TYPES, losses_for

    assert set(LOSS_TYPES) == set(LOSSES)  # the config's names and nn's entries agree
    assert losses_for("classification") == ["cross_entropy", "bce"]
    assert [LOSS_TYPES[n].head for n in ("cross_entropy", "bce", "mse")] == [
        "softmax",
        "sigmoid",
        "identity",
    ]
    modes = {name: monitor_mode(name) for name in MONITORS}
    assert modes["val_loss"] == modes["val_rmse"] == modes["train_loss"] == "min"
    assert modes["val_accuracy"] == modes["val_r2"] == modes["val_f1_macro"] == "max"
    with pytest.raises(ValueError):
        monitor_mode("val_foo")


# Error messages: file, line, key path, value, what is allowed, a suggestion.


def test_unknown_layer_type() -> None:
    text = (
        "data: {dataset: iris}\nmodel:\n  layers:\n    - relu\n    - {type: relux}\n    - linear\n"
    )
    assert one_problem(text) == (
        "cfg.yaml:5: model.layers[1].type: unknown layer 'relux'; did you mean 'relu'? "
        "allowed: batchnorm, dropout, ensemble, ensemble_linear, ensemble_mean, gelu, identity, "
        "leaky_relu, linear, relu, sigmoid, tanh"
    )


def test_unknown_bare_layer_name() -> None:
    text = "data: {dataset: iris}\nmodel:\n  layers: [relu,\n    tanhh, linear]\n"
    assert one_problem(text).startswith(
        "cfg.yaml:4: model.layers[1]: unknown layer 'tanhh'; did you mean 'tanh'? allowed: "
    )


def test_bad_field_inside_a_valid_layer() -> None:
    text = "data: {dataset: iris}\nmodel:\n  layers:\n    - {type: dropout, p: 1.5}\n    - linear\n"
    assert one_problem(text) == (
        "cfg.yaml:4: model.layers[0].p: 1.5 is not allowed; must be a number in [0, 1)"
    )


def test_unknown_key_in_a_layer() -> None:
    text = "data: {dataset: iris}\nmodel:\n  layers:\n    - {type: linear, unit: 3}\n"
    assert one_problem(text) == (
        "cfg.yaml:4: model.layers[0].unit: unknown key; did you mean 'units'? "
        "allowed keys: type, units"
    )


def test_layer_without_type_and_non_mapping_layer() -> None:
    text = "data: {dataset: iris}\nmodel:\n  layers:\n    - {units: 3}\n    - 5\n    - linear\n"
    first, second = problems_of(text)
    assert first.startswith("cfg.yaml:4: model.layers[0].type: 'type' is missing; allowed: ")
    assert second.startswith("cfg.yaml:5: model.layers[1]: 5 is not allowed; must be a mapping")


def test_unknown_section_key_with_suggestion() -> None:
    text = "data:\n  dataset: iris\n  test_sise: 0.3\nmodel: {layers: [linear]}\n"
    assert one_problem(text) == (
        "cfg.yaml:3: data.test_sise: unknown key; did you mean 'test_size'? "
        "allowed keys: categorical, columns, dataset, decimal, delimiter, drop_missing_target, "
        "encoding, fit_sample, group_column, header, missing, na_values, params, path, scale, "
        "shuffle_buffer, split_column, split_key, stream, target, task, test_path, test_size, "
        "thousands, val_path, val_size"
    )


def test_unknown_top_level_key() -> None:
    message = one_problem(MINIMAL + "trian: {epochs: 3}\n")
    assert message.startswith("cfg.yaml:3: trian: unknown key; did you mean 'train'?")


@pytest.mark.parametrize(
    ("key", "value", "name", "suggestion"),
    [
        ("data.dataset", "digitz", "dataset", "digits"),
        ("model.loss", "crossentropy", "loss", "cross_entropy"),
        ("train.optimizer.type", "adamm", "optimizer", "adam"),
        ("train.schedule.type", "cosin", "schedule", "cosine"),
        ("train.early_stopping.monitor", "val_acc", "monitor", "val_accuracy"),
    ],
)
def test_unknown_names_suggest_and_list(key: str, value: str, name: str, suggestion: str) -> None:
    message = one_problem(MINIMAL, (f"{key}={value}",))
    assert message.startswith(f"override {key}={value}: {key}: unknown {name} {value!r}; ")
    assert f"did you mean {suggestion!r}? allowed: " in message


def test_batch_size_zero() -> None:
    text = MINIMAL + "train:\n  epochs: 3\n  batch_size: 0\n"
    assert one_problem(text) == (
        "cfg.yaml:5: train.batch_size: 0 is not allowed; must be an integer from 1 to 10000000"
    )


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("epochs: abc", "train.epochs: 'abc' is not allowed; must be an integer from 1 to 1000000"),
        ("epochs: 2.5", "train.epochs: 2.5 is not allowed; must be an integer"),
        ("epochs: true", "train.epochs: true is not allowed; must be an integer"),
        ("clip_grad_norm: .nan", "train.clip_grad_norm: .nan is not allowed; must be a finite"),
        ("clip_grad_norm: -.inf", "train.clip_grad_norm: -.inf is not allowed; must be a finite"),
        ("dtype: float16", "train.dtype: unknown dtype 'float16'; did you mean 'float64'? allowed"),
        ("class_weight: {a: 0}", "train.class_weight.a: 0 is not allowed; must be a finite"),
        ("class_weight: heavy", "train.class_weight: 'heavy' is not allowed; must be null, "),
        ("early_stopping: 3", "train.early_stopping: 3 is not allowed; must be a mapping, or null"),
    ],
)
def test_type_and_range_errors_name_path_and_value(line: str, expected: str) -> None:
    assert one_problem(MINIMAL + f"train:\n  {line}\n").startswith(f"cfg.yaml:4: {expected}")


def test_long_values_are_truncated() -> None:
    message = one_problem(MINIMAL + f"seed: {'x' * 500}\n")
    shown = re.search(r"seed: (.*) is not allowed", message)
    assert shown is not None and len(shown.group(1)) <= 60


def test_missing_required_keys() -> None:
    message = one_problem("data: {}\nmodel: {layers: [linear]}\n")
    assert message.startswith("cfg.yaml:1: data.dataset: is required; must be one of: blobs, ")
    assert (
        one_problem("data: {dataset: iris}\n") == "cfg.yaml: model: is required; must be a mapping"
    )


def test_empty_layer_list() -> None:
    message = one_problem("data: {dataset: iris}\nmodel:\n  layers: []\n")
    assert message.startswith("cfg.yaml:3: model.layers: [] is not allowed; must be a non-empty")


def test_last_layer_must_be_linear() -> None:
    message = one_problem("data: {dataset: iris}\nmodel:\n  layers:\n    - linear\n    - relu\n")
    assert message.startswith(
        "cfg.yaml:5: model.layers[1]: the last layer is 'relu'; the last layer must be 'linear'"
    )


@pytest.mark.parametrize(
    ("layers", "expected"),
    [
        (
            "[linear, relu, ensemble_linear]",
            "cfg.yaml:3: model.layers[2]: ensemble_linear is only allowed after an ensemble layer",
        ),
        (
            "[ensemble, linear, relu, linear]",
            "cfg.yaml:3: model.layers: an ensemble layer needs an ensemble_mean layer after it",
        ),
        (
            "[ensemble, linear, ensemble, linear, ensemble_mean]",
            "cfg.yaml:3: model.layers[2]: ensemble is not allowed inside an ensemble",
        ),
        (
            "[ensemble, linear, relu, ensemble_mean]",
            "cfg.yaml:3: model.layers[2]: the layer before ensemble_mean is 'relu'; the layer "
            "before ensemble_mean must be 'linear' (or 'ensemble_linear' inside an ensemble)",
        ),
        (
            "[ensemble, {type: ensemble_linear}, relu, ensemble_linear, ensemble_mean]",
            "cfg.yaml:3: model.layers[1].units: null is not allowed here; units may be left out "
            "only in the output layer",
        ),
    ],
)
def test_a_broken_ensemble_is_refused_with_its_line(layers: str, expected: str) -> None:
    message = one_problem(f"data: {{dataset: iris}}\nmodel:\n  layers: {layers}\n")
    assert message.startswith(expected), message


def test_an_ensemble_fills_the_units_of_its_output_layer() -> None:
    cfg = parse(
        "data: {dataset: iris}\nmodel:\n  layers: [{type: ensemble, k: 4}, {type: linear, "
        "units: 8}, relu, ensemble_linear, ensemble_mean]\n"
    )
    assert cfg.model.output_index == 3
    resolved = cfg.with_output_units(3)
    assert resolved.model.layers[3].units == 3 and resolved.model.layers[0].k == 4


def test_only_the_last_layer_may_leave_units_out() -> None:
    message = one_problem("data: {dataset: iris}\nmodel:\n  layers: [linear, relu, linear]\n")
    assert message.startswith("cfg.yaml:3: model.layers[0].units: null is not allowed here;")


def test_file_datasets_need_a_path_and_others_refuse_one() -> None:
    layers = "model: {layers: [linear]}\n"
    assert one_problem("data: {dataset: csv}\n" + layers).startswith(
        "cfg.yaml:1: data.path: is required for dataset 'csv'"
    )
    assert "path is only for csv, parquet and npz" in one_problem(
        "data: {dataset: iris, path: x}\n" + layers
    )
    assert "target names a column of a csv or parquet table" in one_problem(
        "data: {dataset: npz, path: x.npz, target: y}\n" + layers
    )


def test_nesterov_needs_momentum_and_betas_are_checked() -> None:
    assert "Nesterov momentum needs" in one_problem(
        MINIMAL, ("train.optimizer={type: sgd, nesterov: true}",)
    )
    assert one_problem(MINIMAL, ("train.optimizer.betas=[0.9, 1.0]",)) == (
        "override train.optimizer.betas=[0.9, 1.0]: train.optimizer.betas[1]: 1.0 is not allowed; "
        "must be a list [beta1, beta2] of two numbers, each in [0, 1)"
    )
    assert "betas: [0.9] is not allowed" in one_problem(MINIMAL, ("train.optimizer.betas=[0.9]",))


def test_loss_task_and_class_weight_cross_checks() -> None:
    text = "data: {dataset: iris, task: regression}\nmodel:\n  layers: [linear]\n  loss: bce\n"
    assert one_problem(text) == (
        "cfg.yaml:4: model.loss: 'bce' is not allowed with data.task 'regression'; allowed: mse"
    )
    text = "data: {dataset: iris, task: classification}\nmodel: {layers: [linear], loss: mse}\n"
    assert "'mse' is not allowed with data.task 'classification'" in one_problem(text)
    text = "data: {dataset: diabetes}\nmodel: {layers: [linear]}\ntrain: {class_weight: balanced}\n"
    assert one_problem(text).startswith(
        "cfg.yaml:3: train.class_weight: 'balanced' is not allowed with loss 'mse'"
    )


def test_monitor_must_fit_the_loss_and_the_validation_split() -> None:
    text = "data: {dataset: diabetes}\nmodel: {layers: [linear]}\n"
    message = one_problem(text, ("train.early_stopping.monitor=val_accuracy",))
    assert "train.early_stopping.monitor: 'val_accuracy' is not allowed for regression" in message
    message = one_problem(MINIMAL, ("data.val_size=0",))
    # the monitor is a default, so there is no line to cite
    assert message.startswith("cfg.yaml: train.early_stopping.monitor: 'val_loss' is not allowed")
    assert "no validation split" in message
    parse(MINIMAL, ("data.val_size=0", "train.early_stopping.monitor=train_loss"))


def test_every_problem_of_a_file_is_reported_together() -> None:
    text = (
        "data:\n"
        "  dataset: digits\n"
        "  test_size: 1.5\n"
        "model:\n"
        "  layers:\n"
        "    - {type: linear, units: -3}\n"
        "    - relux\n"
        "    - linear\n"
        "train:\n"
        "  batch_size: 0\n"
        "  optimizer: {type: adam, lr: .inf}\n"
        "checkpoint: {every: 0}\n"
    )
    with pytest.raises(ConfigError) as info:
        parse(text)
    assert [p.split(": ")[0:2] for p in info.value.problems] == [
        ["cfg.yaml:3", "data.test_size"],
        ["cfg.yaml:6", "model.layers[0].units"],
        ["cfg.yaml:7", "model.layers[1]"],
        ["cfg.yaml:10", "train.batch_size"],
        ["cfg.yaml:11", "train.optimizer.lr"],
        ["cfg.yaml:12", "checkpoint.every"],
    ]
    assert str(info.value).startswith("6 problems in the config:\n  - cfg.yaml:3: ")
    assert info.value.source == "cfg.yaml" and info.value.exit_code == 2


def test_yaml_errors_surface_through_parse_config() -> None:
    with pytest.raises(ConfigError, match=r"^cfg.yaml:2: data: duplicate key 'data'"):
        parse("data: {dataset: iris}\ndata: {dataset: wine}\n")


def test_load_config_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: {dataset: iris}\nmodel: {layers: [linear]}\ntrain: {epochs: 0}\n")
    with pytest.raises(ConfigError) as info:
        load_config(bad)
    assert str(info.value) == (
        f"{bad}:3: train.epochs: 0 is not allowed; must be an integer from 1 to 1000000"
    )
    assert isinstance(info.value, UserInputError)


# Overrides.


def test_overrides_nested_index_null_and_flow_values() -> None:
    cfg = parse(
        MINIMAL,
        (
            "train.optimizer.lr=3e-3",
            "model.layers[0].units=128",
            "train.early_stopping=null",
            "train.schedule={type: step, step_size: 5}",
            "data.params.noise=0.1",
            "model.layers[1].type=tanh",
            "seed=7",
        ),
    )
    assert cfg.train.optimizer.lr == 0.003
    assert cfg.model.layers[0].units == 128 and cfg.model.layers[1].type == "tanh"
    assert cfg.train.early_stopping is None
    assert cfg.train.schedule.type == "step" and cfg.train.schedule.step_size == 5
    assert cfg.data.params == {"noise": 0.1} and cfg.seed == 7


def test_overrides_give_bare_names_fields() -> None:
    text = (
        "data: {dataset: iris}\nmodel: {layers: [linear, relu, linear]}\ntrain: {optimizer: sgd}\n"
    )
    cfg = parse(text, ("model.layers[0].units=4", "train.optimizer.momentum=0.9"))
    assert cfg.model.layers[0].units == 4 and cfg.train.optimizer.momentum == 0.9


def test_apply_overrides_does_not_mutate_its_input() -> None:
    raw = {"train": {"optimizer": {"lr": 0.1}}, "model": {"layers": [{"type": "linear"}]}}
    out = apply_overrides(raw, ["train.optimizer.lr=0.2", "model.layers[0].units=3", "x.y=[1, 2]"])
    assert raw == {"train": {"optimizer": {"lr": 0.1}}, "model": {"layers": [{"type": "linear"}]}}
    assert out["train"]["optimizer"]["lr"] == 0.2
    assert out["model"]["layers"][0] == {"type": "linear", "units": 3}
    assert out["x"] == {"y": [1, 2]}


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("train.epochs", "override train.epochs: no '=' in the override; allowed: key.path=value"),
        ("train..epochs=3", "override train..epochs=3: 'train..epochs' is not a key path"),
        ("model.layers[x].units=3", "is not a key path"),
        ("model.layers[9].units=3", "index [9] is out of range; model.layers has 3 items"),
        ("data.dataset.name=3", "data.dataset is 'iris', not a mapping; cannot set key 'name'"),
        ("seed[0]=1", "seed is not set, so it has no items to index"),
        ("seed=", "the value is empty"),
        ("seed=[1", "invalid YAML"),
        ("seed=!!python/object/apply:os.system [ls]", "tag '!!python/object/apply:os.system'"),
    ],
)
def test_malformed_overrides_name_the_override(override: str, expected: str) -> None:
    message = one_problem(MINIMAL, (override,))
    assert message.startswith(f"override {override}")
    assert expected in message


def test_several_malformed_overrides_are_reported_together() -> None:
    assert len(problems_of(MINIMAL, ("a", "b", "model.layers[7]=relu"))) == 3


def test_schema_errors_from_overrides_cite_the_override() -> None:
    problems = problems_of(
        MINIMAL,
        ("train.batch_size=0", "trainn.epochs=3", "model.layers[0]={type: linear, units: 0}"),
    )
    assert problems == [
        "override model.layers[0]={type: linear, units: 0}: model.layers[0].units: 0 is not allowed; "
        "must be an integer >= 1, or null",
        "override train.batch_size=0: train.batch_size: 0 is not allowed; "
        "must be an integer from 1 to 10000000",
        "override trainn.epochs=3: trainn: unknown key; did you mean 'train'? "
        "allowed keys: checkpoint, data, model, name, seed, track, train",
    ]


def test_a_later_override_replaces_an_earlier_one() -> None:
    cfg = parse(MINIMAL, ("train.epochs=0", "train.epochs=5"))
    assert cfg.train.epochs == 5


# Checks against the data.


def test_check_against_data_accepts_a_matching_config() -> None:
    check_against_data(parse(MINIMAL), task="classification", n_classes=3)
    check_against_data(parse("data: {dataset: diabetes}\nmodel: {layers: [linear]}\n"),
                       task="regression", n_classes=None)  # fmt: skip


def test_check_against_data_loss_and_task() -> None:
    cfg = parse(
        "data: {dataset: csv, path: x.csv}\nmodel:\n  layers: [linear]\n  loss: cross_entropy\n"
    )
    with pytest.raises(ConfigError) as info:
        check_against_data(cfg.for_task("regression"), task="regression", n_classes=None)
    message = str(info.value)
    assert message.startswith("cfg.yaml:4: model.loss: 'cross_entropy' is not allowed: ")
    assert "the data is regression (dataset 'csv'); allowed: mse" in message
    assert "train.early_stopping" not in message  # val_loss works for both tasks


def test_a_loss_left_out_follows_the_task_the_data_has() -> None:
    """Issue 21 case 11: a file's task is known once read; the omitted loss follows it."""
    cfg = parse("data: {dataset: csv, path: x.csv}\nmodel:\n  layers: [linear]\n")
    assert cfg.model.loss is None
    regression = cfg.for_task("regression")
    assert regression.model.loss == "mse"
    check_against_data(regression, task="regression", n_classes=None)  # no refusal
    assert cfg.for_task("classification").model.loss == "cross_entropy"
    # a written loss or a known task is never changed
    written = parse("data: {dataset: csv, path: x.csv}\nmodel: {layers: [linear], loss: bce}\n")
    assert written.for_task("classification").model.loss == "bce"
    assert parse("data: {dataset: diabetes}\nmodel: {layers: [linear]}\n").model.loss == "mse"
    assert parse("data: {dataset: iris}\nmodel: {layers: [linear]}\n").model.loss == "cross_entropy"
    task = "data: {dataset: csv, path: x.csv, task: regression}\nmodel: {layers: [linear]}\n"
    assert parse(task).model.loss == "mse"


def test_monitor_auto_is_the_tasks_headline_score() -> None:
    text = "data: {dataset: csv, path: x.csv}\nmodel: {layers: [linear]}\n"
    cfg = parse(text + "train: {early_stopping: {monitor: auto, patience: 3}}\n")
    assert cfg.train.early_stopping.monitor == "auto"
    regression = cfg.for_task("regression").train.early_stopping
    assert (regression.monitor, regression.patience) == ("val_r2", 3)
    assert cfg.for_task("classification").train.early_stopping.monitor == "val_accuracy"


@pytest.mark.parametrize(
    ("dataset", "layer", "task", "n_classes", "n_targets", "expected"),
    [
        (
            "iris",
            "{type: linear, units: 5}",
            "classification",
            3,
            None,
            "5 is not allowed: the data has 3 classes (cross_entropy); must be 3 (or leave units out)",
        ),
        (
            "iris",
            "{type: linear, units: 2}",
            "classification",
            3,
            None,
            "2 is not allowed: the data has 3 classes (cross_entropy); must be 3 (or leave units out)",
        ),
        (
            "diabetes",
            "{type: linear, units: 3}",
            "regression",
            None,
            1,
            "3 is not allowed: the data has 1 target column (mse); must be 1 (or leave units out)",
        ),
    ],
)
def test_output_units_the_data_cannot_fill_are_refused(
    dataset: str,
    layer: str,
    task: str,
    n_classes: int | None,
    n_targets: int | None,
    expected: str,
) -> None:
    """Issue 21 case 4: refused before training, with the line, the value and what it must be."""
    cfg = parse(f"data: {{dataset: {dataset}}}\nmodel:\n  layers:\n    - {layer}\n")
    with pytest.raises(ConfigError) as info:
        check_against_data(cfg, task=task, n_classes=n_classes, n_targets=n_targets)
    assert str(info.value) == f"cfg.yaml:4: model.layers[0].units: {expected}"
    right = parse(f"data: {{dataset: {dataset}}}\nmodel:\n  layers: [linear]\n")
    check_against_data(right, task=task, n_classes=n_classes, n_targets=n_targets)


def test_bce_needs_one_output_unit() -> None:
    cfg = parse(
        "data: {dataset: breast_cancer}\nmodel:\n  layers: [{type: linear, units: 2}]\n  loss: bce\n"
    )
    with pytest.raises(ConfigError) as info:
        check_against_data(cfg, task="classification", n_classes=2)
    assert "model.layers[0].units: 2 is not allowed: bce reads one logit per row; must be 1" in str(
        info.value
    )


def test_monitor_auto_needs_a_validation_split() -> None:
    text = (
        "data: {dataset: csv, path: x.csv, val_size: 0}\nmodel: {layers: [linear]}\n"
        "train: {early_stopping: {monitor: auto}}\n"
    )
    with pytest.raises(ConfigError) as info:
        parse(text)
    assert "train.early_stopping.monitor: 'auto' is not allowed while data.val_size is 0" in str(
        info.value
    )


def test_check_against_data_bce_needs_two_classes() -> None:
    text = "data: {dataset: iris}\nmodel:\n  layers: [linear]\n  loss: bce\n"
    check_against_data(parse(text), task="classification", n_classes=2)
    with pytest.raises(ConfigError, match=r"cfg.yaml:4: model.loss: 'bce' needs exactly 2 classes"):
        check_against_data(parse(text), task="classification", n_classes=3)


def test_check_against_data_class_weight_labels() -> None:
    text = MINIMAL + "train:\n  class_weight:\n    '0': 1.0\n    '7': 2.0\n"
    with pytest.raises(ConfigError) as info:
        check_against_data(parse(text), task="classification", n_classes=3)
    assert str(info.value) == (
        "cfg.yaml:6: train.class_weight.7: '7' is not a class of the data; allowed labels: 0, 1, 2"
    )
    cfg = parse(MINIMAL + "train: {class_weight: {setosa: 2.0, setsa: 1.0}}\n")
    with pytest.raises(ConfigError, match="did you mean 'setosa'"):
        check_against_data(cfg, task="classification", n_classes=2, classes=["setosa", "virginica"])


def test_check_against_data_monitors() -> None:
    # a classification loss already rules out regression monitors before any data is read
    with pytest.raises(
        ConfigError, match=r"^override train.early_stopping.monitor=val_r2: .* for cl"
    ):
        parse(MINIMAL, ("train.early_stopping.monitor=val_r2",))
    cfg = parse(
        "data: {dataset: csv, path: x.csv}\nmodel: {layers: [linear], loss: cross_entropy}\n"
        "train: {early_stopping: {monitor: val_accuracy}}\n"
    )
    with pytest.raises(ConfigError) as info:
        check_against_data(cfg, task="regression", n_classes=None)
    assert len(info.value.problems) == 2  # the loss and the monitor


# diff_configs.


def test_diff_configs_lists_changed_paths() -> None:
    a = config_to_dict(parse(MINIMAL))
    b = config_to_dict(parse(MINIMAL, ("train.optimizer.lr=0.01", "model.layers[0].units=32")))
    assert diff_configs(a, a) == []
    assert diff_configs(a, b) == ["model.layers[0].units", "train.optimizer.lr"]
    assert diff_configs({"a": 1, "b": [1, 2]}, {"a": 1.0, "b": [1], "c": None}) == ["b", "c"]
    assert diff_configs({"a": True}, {"a": 1}) == ["a"]


# Property tests: whatever comes in, the answer is a Config or a ConfigError.


@FUZZ
@given(st.text(max_size=400))
def test_random_text_gives_config_or_config_error(text: str) -> None:
    with contextlib.suppress(ConfigError):
        assert isinstance(parse(text), Config)


@FUZZ
@given(
    st.lists(
        st.tuples(st.integers(0, len(FULL)), st.integers(0, 3), st.text(max_size=3)), max_size=4
    )
)
def test_mutated_valid_config_gives_config_or_config_error(
    edits: list[tuple[int, int, str]],
) -> None:
    """Small edits of a valid file reach far more of the schema than random text does."""
    text = FULL
    for position, n_deleted, inserted in edits:
        text = text[:position] + inserted + text[position + n_deleted :]
    with contextlib.suppress(ConfigError):
        assert isinstance(parse(text), Config)


_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=10),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)
_FIELDS = [
    ("train", "batch_size"), ("train", "epochs"), ("data", "test_size"), ("data", "val_size"),
    ("seed",), ("checkpoint", "every"), ("train", "clip_grad_norm"), ("data", "scale"),
    ("train", "optimizer"), ("model", "layers"), ("train", "early_stopping"), ("data", "dataset"),
]  # fmt: skip


@FUZZ
@given(st.sampled_from(_FIELDS), _VALUES)
def test_random_values_in_any_field_give_config_or_config_error(
    path: tuple[str, ...], value: object
) -> None:
    raw = {"data": {"dataset": "iris"}, "model": {"layers": ["relu", "linear"]}}
    node = raw
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node[path[-1]] = value
    try:
        parse_config_dict(raw, source="fuzz")
    except ConfigError as exc:
        assert all(p.startswith("fuzz") for p in exc.problems)


def _bad_values(low_ok: float, integer: bool) -> st.SearchStrategy[object]:
    """Values that a field with lower bound ``low_ok`` (or integer type) must refuse."""
    bad = st.one_of(
        st.just(math.nan),
        st.just(math.inf),
        st.just(-math.inf),
        st.text(max_size=8),
        st.booleans(),
        st.floats(max_value=low_ok, exclude_max=True, allow_nan=False),
    )
    if integer:
        return st.one_of(bad, st.integers(max_value=int(low_ok) - 1), st.just(2.5))
    return bad


@FUZZ
@given(
    st.sampled_from(
        [
            ("train.batch_size", 1, True),
            ("train.epochs", 1, True),
            ("train.optimizer.lr", math.ulp(0.0), False),
            ("data.test_size", 0.0, False),  # 0 is allowed: no test split
            ("model.layers[0].units", 1, True),
        ]
    ).flatmap(lambda spec: st.tuples(st.just(spec[0]), _bad_values(spec[1], spec[2]))),
)
def test_invalid_values_always_name_the_key_path(case: tuple[str, object]) -> None:
    key, value = case
    raw = {
        "data": {"dataset": "iris"},
        "model": {"layers": [{"type": "linear", "units": 4}, "linear"]},
        "train": {"optimizer": {"type": "adam"}},
    }
    parts = re.findall(r"(\w+)|\[(\d+)\]", key)
    node: object = raw
    path = [int(index) if index else name for name, index in parts]
    for part in path[:-1]:
        node = node[part]  # type: ignore[index]
    node[path[-1]] = value  # type: ignore[index]
    with pytest.raises(ConfigError) as info:
        parse_config_dict(raw, source="fuzz")
    assert len(info.value.problems) == 1
    assert info.value.problems[0].startswith(f"fuzz: {key}: ")
