"""Config validation, the model summary, the layer lint and gradcheck of configs."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlptrain.errors import ConfigError, UserInputError
from mlptrain.training.validate import gradcheck_config, lint_layers, validate_config

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
