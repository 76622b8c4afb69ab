"""Per-layer training diagnostics and the end-of-run warnings."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlptrain.nn.build import build_model
from mlptrain.nn.losses import SoftmaxCrossEntropy
from mlptrain.reporting.diagnostics import LayerDiagnostics, layer_name, warnings_from_history
from mlptrain.training.optim import make_optimizer


def _tiny(layers, rng_seed=0):
    rng = np.random.default_rng(rng_seed)
    model = build_model(layers, n_inputs=3, n_outputs=2, rng=rng, dtype=np.float64)
    return model


def _step(model, loss, optimizer, diag, x, y):
    out = model.forward(x)
    loss.forward(out, y)
    model.backward(loss.backward())
    diag.observe()
    optimizer.step()


def test_numbers_match_a_direct_computation():
    from mlptrain.config import SGD

    model = _tiny(
        [
            {"type": "linear", "units": 4},
            "relu",
            {"type": "linear", "units": 4},
            "tanh",
            {"type": "linear"},
        ]
    )
    model.train()
    loss = SoftmaxCrossEntropy()
    optimizer = make_optimizer(SGD(lr=0.1), model)
    diag = LayerDiagnostics(model, every=1)
    rng = np.random.default_rng(1)
    batches = [(rng.standard_normal((5, 3)) * 3, rng.integers(0, 2, 5)) for _ in range(3)]
    grad_norms, ratios, alive, saturated, seen = [], [], np.zeros(4, bool), 0, 0
    for x, y in batches:
        before = model.modules[0].params["W"].copy()
        out = model.forward(x)
        loss.forward(out, y)
        model.backward(loss.backward())
        grad_norms.append(np.linalg.norm(model.modules[0].grads["W"]))
        relu_out = np.maximum(x @ model.modules[0].params["W"] + model.modules[0].params["b"], 0)
        alive |= (relu_out > 0).any(axis=0)
        tanh_out = model.modules[3]._y
        saturated += int((np.abs(tanh_out) > 0.99).sum())
        seen += tanh_out.size
        diag.observe()
        optimizer.step()
        after = model.modules[0].params["W"]
        ratios.append(np.linalg.norm(after - before) / np.linalg.norm(before))
    layers = diag.end_epoch()
    assert list(layers) == [layer_name(i, m) for i, m in enumerate(model.modules)]
    first = layers["0 Linear(3 -> 4)"]
    assert first["grad_norm"] == pytest.approx(np.mean(grad_norms), rel=1e-12)
    assert first["update_ratio"] == pytest.approx(np.mean(ratios), rel=1e-12)
    assert first["weight_norm"] == pytest.approx(np.linalg.norm(model.modules[0].params["W"]))
    assert layers["1 ReLU()"]["dead_fraction"] == pytest.approx(1 - alive.mean())
    assert layers["3 Tanh()"]["saturated_fraction"] == pytest.approx(saturated / seen)
    # the next epoch starts afresh
    assert diag.end_epoch()["0 Linear(3 -> 4)"]["grad_norm"] is None


def test_dead_relu_and_saturated_sigmoid_are_detected():
    model = _tiny(
        [
            {"type": "linear", "units": 4},
            "relu",
            {"type": "linear", "units": 2},
            "sigmoid",
            {"type": "linear"},
        ]
    )
    model.modules[0].params["b"][:2] = -1e6  # units 0 and 1 can never fire
    model.modules[2].params["b"][:] = 1e3  # the sigmoid is pinned at 1
    model.train()
    diag = LayerDiagnostics(model, every=1)
    model.forward(np.random.default_rng(0).standard_normal((8, 3)))
    diag.observe()
    layers = diag.end_epoch()
    assert layers["1 ReLU()"]["dead_fraction"] >= 0.5
    assert layers["3 Sigmoid()"]["saturated_fraction"] == 1.0


def test_sampling_observes_the_first_step_of_each_epoch():
    model = _tiny([{"type": "linear", "units": 4}, "relu", {"type": "linear"}])
    model.train()
    loss = SoftmaxCrossEntropy()
    from mlptrain.config import Adam

    optimizer = make_optimizer(Adam(), model)
    diag = LayerDiagnostics(model, every=4)
    x, y = np.ones((2, 3)), np.array([0, 1])
    _step(model, loss, optimizer, diag, x, y)
    layers = diag.end_epoch()
    assert layers["0 Linear(3 -> 4)"]["grad_norm"] > 0
    assert layers["0 Linear(3 -> 4)"]["update_ratio"] > 0


def _history(n, **series):
    return [{"epoch": i + 1, **{k: v[i] for k, v in series.items()}} for i in range(n)]


def test_no_warnings_for_a_healthy_history():
    layers = {
        "0 Linear(4 -> 8)": {"grad_norm": 0.1, "weight_norm": 3.0, "update_ratio": 1e-3},
        "1 ReLU()": {"dead_fraction": 0.1},
        "2 Linear(8 -> 3)": {"grad_norm": 0.2, "weight_norm": 2.0, "update_ratio": 2e-3},
    }
    history = _history(
        10,
        train_loss=np.linspace(1, 0.1, 10),
        # levelled off (lowest at epoch 9): a loss still falling at the last epoch is a note
        val_loss=[*np.linspace(1, 0.2, 9), 0.2001],
        layers=[layers] * 10,
    )
    assert warnings_from_history(history) == []
    assert warnings_from_history([]) == []


def test_dead_relu_warning():
    layers = {"1 ReLU()": {"dead_fraction": 0.75}}
    (warning,) = warnings_from_history(_history(2, layers=[layers, layers]))
    assert "1 ReLU()" in warning and "75%" in warning and "dead" in warning


def test_vanishing_gradient_warning():
    layers = {"0 Linear(4 -> 8)": {"grad_norm": 1e-7}, "2 Linear(8 -> 3)": {"grad_norm": 1e-2}}
    (warning,) = warnings_from_history(_history(3, layers=[layers] * 3))
    assert warning.startswith("vanishing gradients") and "0 Linear(4 -> 8)" in warning


@pytest.mark.parametrize(("ratio", "word"), [(1e-7, "too low"), (0.5, "too high")])
def test_update_ratio_warning(ratio, word):
    layers = {"0 Linear(4 -> 3)": {"update_ratio": ratio}}
    (warning,) = warnings_from_history(_history(2, layers=[layers] * 2))
    assert word in warning and "0 Linear(4 -> 3)" in warning


def test_overfitting_warning_names_the_epoch_it_began():
    val = [1.0, 0.8, 0.6, 0.5, 0.55, 0.6, 0.7, 0.8]
    train = [1.0, 0.8, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1]
    (warning,) = warnings_from_history(_history(8, train_loss=train, val_loss=val))
    assert warning.startswith("overfitting from epoch 5")
    # validation loss that merely wobbles is not overfitting
    assert (
        warnings_from_history(
            _history(8, train_loss=train, val_loss=[*val[:4], 0.51, 0.5, 0.52, 0.51])
        )
        == []
    )


def test_no_overfitting_warning_when_the_kept_weights_predate_it():
    val = [1.0, 0.8, 0.6, 0.5, 0.55, 0.6, 0.7, 0.8]
    train = [1.0, 0.8, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1]
    history = _history(8, train_loss=train, val_loss=val)
    assert warnings_from_history(history, kept_epoch=4) == []  # early stopping kept epoch 4
    (warning,) = warnings_from_history(history, kept_epoch=8)  # the last, overfitted weights
    assert warning.startswith("overfitting from epoch 5")


def test_training_records_layers_and_reports_warnings(tmp_path):
    import mlptrain

    run = mlptrain.fit("configs/iris.yaml", overrides=["train.epochs=3"], out=tmp_path / "run")
    layers = run.history[-1]["layers"]
    assert set(layers["0 Linear(4 -> 32)"]) == {"grad_norm", "weight_norm", "update_ratio"}
    assert 0 <= layers["1 Tanh()"]["saturated_fraction"] <= 1
    assert all(math.isfinite(v) for v in layers["0 Linear(4 -> 32)"].values())
    assert isinstance(run.report["warnings"], list)
