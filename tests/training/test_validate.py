"""Config validation, the model summary, the layer lint and gradcheck of configs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlptrain.errors import ConfigError, UserInputError
from mlptrain.training.validate import gradcheck_config, lint_layers, validate_config
from tests.conftest import assert_no_traceback

CONFIGS = sorted(Path("configs").glob("*.yaml"))


def test_summary_of_a_shipped_config():
    result = validate_config("configs/wine.yaml")
    assert result.warnings == []
    assert result.n_features == 13 and len(result.classes) == 3
    assert result.total_params == 13 * 64 + 64 + 64 * 3 + 3
    table = result.table()
    assert "Linear(64 -> 3)" in table and "(None, 3)" in table and "Total params: 1,091" in table


def _warns(layers, **kw):
    kw.setdefault("loss", "cross_entropy")
    return lint_layers(layers, **kw)


def test_lint_two_linears_without_activation():
    (w,) = _warns([{"type": "linear", "units": 8}, "dropout", {"type": "linear"}])
    assert "two linear layers with no activation" in w and "layers[0]" in w and "layers[2]" in w
    assert _warns([{"type": "linear", "units": 8}, "relu", {"type": "linear"}]) == []


def test_lint_activation_or_dropout_after_the_last_linear():
    warnings = _warns([{"type": "linear"}, "relu", "dropout"], loss="mse")
    assert len(warnings) == 2 and all("after the last linear layer" in w for w in warnings)


def test_lint_sigmoid_before_cross_entropy():
    (w,) = _warns([{"type": "linear"}, "sigmoid"])
    assert "sigmoid before the cross_entropy loss" in w and "squashes twice" in w


def test_lint_bce_with_more_than_one_output():
    (w,) = _warns([{"type": "linear", "units": 3}], loss="bce")
    assert "bce with 3 outputs" in w


@pytest.mark.parametrize(("init", "act"), [("he", "tanh"), ("he", "sigmoid"), ("glorot", "relu")])
def test_lint_init_mismatch(init, act):
    (w,) = _warns([{"type": "linear", "units": 8}, act, {"type": "linear"}], init=init)
    assert f"model.init: {init} with {act}" in w
    assert _warns([{"type": "linear", "units": 8}, act, {"type": "linear"}], init="auto") == []


def test_lint_batchnorm_after_dropout():
    layers = [{"type": "linear", "units": 8}, "relu", "dropout", "batchnorm", {"type": "linear"}]
    (w,) = _warns(layers)
    assert "batchnorm right after dropout" in w


def test_validate_raises_the_fit_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: {dataset: diabetes}\nmodel: {layers: [linear], loss: cross_entropy}\n")
    with pytest.raises(ConfigError, match="loss"):
        validate_config(bad)


@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
def test_gradcheck_passes_on_every_shipped_config(config):
    result = gradcheck_config(config, samples=4)
    assert result.passed, result.table()
    assert any(name.startswith("loss ") for name, _ in result.rows)


def test_gradcheck_fails_on_a_wrong_backward(monkeypatch):
    from mlptrain.nn.activations import ReLU

    original = ReLU.backward
    monkeypatch.setattr(ReLU, "backward", lambda self, g: original(self, g) * 1.5)
    result = gradcheck_config("configs/wine.yaml", samples=4)
    assert not result.passed and any("ReLU" in name for name in result.failures)


def test_gradcheck_needs_two_samples():
    with pytest.raises(UserInputError, match="at least 2"):
        gradcheck_config("configs/wine.yaml", samples=1)


def test_lint_an_activation_as_the_first_layer():
    (w,) = _warns(["relu", {"type": "linear"}])
    assert w.startswith("model.layers[0]: relu as the first layer")


def test_lint_two_activations_in_a_row():
    (w,) = _warns([{"type": "linear", "units": 8}, "relu", "tanh", {"type": "linear"}])
    assert w.startswith(
        "model.layers[1] and model.layers[2]: two activations in a row (relu, tanh)"
    )
    # one activation between linear layers, or dropout in between, is no such pair
    assert _warns([{"type": "linear", "units": 8}, "relu", "dropout", {"type": "linear"}]) == []


ONE_SAMPLE_CLASS = """\
data: {{dataset: csv, path: {path}, test_size: 0.25, val_size: 0}}
model: {{layers: [{{type: linear, units: 4}}, relu, {{type: linear}}]}}
train: {{epochs: 1, early_stopping: null}}
"""


def test_validate_runs_the_split_checks_fit_runs(tmp_path, cli):
    rows = ["x,label"] + [f"{i},a" for i in range(6)] + [f"{i},b" for i in range(5)] + ["9,c"]
    data = tmp_path / "d.csv"
    data.write_text("\n".join(rows) + "\n")
    config = tmp_path / "c.yaml"
    config.write_text(ONE_SAMPLE_CLASS.format(path=data))
    fitted = cli("fit", config, "--out", tmp_path / "run")
    validated = cli("validate", config)
    assert fitted.exit_code == validated.exit_code == 2
    message = "class 'c' has only 1 sample(s); a stratified train/test split needs at least 2"
    assert message in fitted.stderr and message in validated.stderr
    assert_no_traceback(validated)


def test_validate_prints_the_classes_with_their_counts(cli):
    from sklearn.datasets import load_wine

    wine = load_wine()
    counts = np.bincount(wine.target)
    expected = ", ".join(f"{name} {n}" for name, n in zip(wine.target_names, counts, strict=True))
    result = cli("validate", "configs/wine.yaml")
    assert result.exit_code == 0, result.stderr
    assert f"Classes (samples): {expected}\n" in result.stdout
    assert list(counts) == [59, 71, 48]


def test_fit_prints_the_lint_warnings_before_training(tmp_path, cli):
    config = tmp_path / "c.yaml"
    config.write_text(
        "data: {dataset: iris}\nmodel: {layers: [relu, {type: linear, units: 8}, relu, tanh, "
        "{type: linear}]}\ntrain: {epochs: 1}\n"
    )
    validated = cli("validate", config)
    warnings = [line.strip() for line in validated.stdout.splitlines() if "warning: " in line]
    assert len(warnings) == 2
    fitted = cli("fit", config, "--out", tmp_path / "run", "--no-figures")
    assert fitted.exit_code == 0, fitted.stderr
    lines = fitted.stdout.splitlines()
    assert lines[:2] == warnings
    assert lines[2].startswith("trained ")
