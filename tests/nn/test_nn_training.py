"""Sequential: names, flat buffers, state round trips, prediction; and a real training run."""

from __future__ import annotations

import time

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from mlptrain.nn import Linear, ReLU, Sequential, SoftmaxCrossEntropy, build_model
from mlptrain.nn.sequential import StateDictError

SPECS = [
    {"type": "linear", "units": 5},
    {"type": "batchnorm"},
    {"type": "relu"},
    {"type": "dropout", "p": 0.2},
    {"type": "linear"},
]


def small_model(seed: int = 0, head: str = "softmax", n_outputs: int = 3) -> Sequential:
    return build_model(
        SPECS, n_inputs=4, n_outputs=n_outputs, rng=np.random.default_rng(seed), head=head
    )


def one_step(model: Sequential, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((8, 4)).astype(np.float32)
    loss = SoftmaxCrossEntropy()
    loss.forward(model.forward(x), rng.integers(0, 3, 8))
    model.backward(loss.backward())


def test_parameter_names_and_count():
    model = small_model()
    names = [name for name, _, _ in model.parameters()]
    assert names == ["0.W", "0.b", "1.gamma", "1.beta", "4.W", "4.b"]
    assert model.flat_params.size == 4 * 5 + 5 + 5 + 5 + 5 * 3 + 3
    assert model.flat_params.size == sum(p.size for _, p, _ in model.parameters())


def test_grads_stay_views_of_the_flat_buffer_after_backward():
    model = small_model()
    one_step(model)
    one_step(model, seed=1)
    for name, param, grad in model.parameters():
        assert np.shares_memory(grad, model.flat_grads), name
        assert np.shares_memory(param, model.flat_params), name
    assert np.any(model.flat_grads != 0)
    model.flat_params -= 0.1 * model.flat_grads  # one vectorised step reaches every layer
    np.testing.assert_array_equal(model.modules[0].params["W"], model.params["0.W"])


def test_sequential_backward_writes_not_accumulates():
    model = small_model()
    # Hold the dropout masks: the second step redraws them from the same Generator states.
    states = {k: g.bit_generator.state for k, g in model.dropout_generators().items()}
    one_step(model)
    first = model.flat_grads.copy()
    for key, generator in model.dropout_generators().items():
        generator.bit_generator.state = states[key]
    one_step(model)
    np.testing.assert_array_equal(model.flat_grads, first)


def test_state_dict_round_trip_includes_batchnorm_buffers():
    trained = small_model(seed=0)
    for step in range(3):
        one_step(trained, seed=step)
        trained.flat_params -= 0.1 * trained.flat_grads
    state = trained.state_dict()
    assert {"1.running_mean", "1.running_var"} <= set(state)
    assert not np.array_equal(state["1.running_mean"], 0)
    fresh = small_model(seed=1)
    fresh.load_state_dict(state)
    for name, value in fresh.state_dict().items():
        np.testing.assert_array_equal(value, state[name])
    x = np.random.default_rng(5).standard_normal((6, 4))
    np.testing.assert_array_equal(fresh.predict_proba(x), trained.predict_proba(x))
    state["0.W"][...] = 0  # state_dict returns copies, not views
    assert np.any(trained.params["0.W"] != 0)


def test_load_state_dict_names_the_mismatch():
    model = small_model()
    state = model.state_dict()
    state["4.W"] = np.zeros((5, 7), dtype=np.float32)
    with pytest.raises(StateDictError, match=r"4\.W.*\(5, 7\).*\(5, 3\)"):
        model.load_state_dict(state)
    del state["4.W"]
    with pytest.raises(StateDictError, match=r"4\.W: missing"):
        model.load_state_dict(state)


def test_predict_and_predict_proba_heads():
    x = np.random.default_rng(0).standard_normal((7, 4))
    softmax_model = small_model().train()
    proba = softmax_model.predict_proba(x)
    assert proba.shape == (7, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_array_equal(softmax_model.predict(x), proba.argmax(axis=1))
    assert softmax_model.training  # predict runs in eval mode and restores the mode
    assert all(module.training for module in softmax_model.modules)

    sigmoid_model = small_model(head="sigmoid", n_outputs=1)
    proba = sigmoid_model.predict_proba(x)
    assert proba.shape == (7, 2)
    np.testing.assert_array_equal(sigmoid_model.predict(x), proba.argmax(axis=1))
    np.testing.assert_allclose(proba[:, 0], 1 - proba[:, 1], rtol=1e-6)
    logits = sigmoid_model.forward_eval(x)[:, 0]
    np.testing.assert_allclose(proba[:, 1], 1 / (1 + np.exp(-logits)), rtol=1e-6)

    regression = small_model(head="identity", n_outputs=2)
    assert regression.predict(x).shape == (7, 2)
    with pytest.raises(ValueError, match="classifier"):
        regression.predict_proba(x)


def test_repr_shows_layer_shapes():
    text = repr(small_model())
    assert "Linear(4 -> 5)" in text
    assert "Linear(5 -> 3)" in text
    assert "BatchNorm1d(5" in text
    assert "Dropout(p=0.2)" in text


def test_digits_sgd_reaches_95_percent():
    """The 'done when' of the nn issue: hand-derived modules learn a real task, fast."""
    start = time.perf_counter()
    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        digits.data, digits.target, test_size=0.2, stratify=digits.target, random_state=0
    )
    scaler = StandardScaler().fit(x_train)
    x_train = scaler.transform(x_train).astype(np.float32)
    x_test = scaler.transform(x_test).astype(np.float32)

    rng = np.random.default_rng(0)
    first = Linear(64, 128, rng=rng, init="he")
    first.needs_input_grad = False  # the data needs no gradient
    model = Sequential([first, ReLU(), Linear(128, 10, rng=rng, init="glorot")])
    loss = SoftmaxCrossEntropy()
    learning_rate, batch_size = np.float32(0.1), 32
    for _ in range(20):
        order = rng.permutation(len(x_train))
        for start_row in range(0, len(order), batch_size):
            rows = order[start_row : start_row + batch_size]
            loss.forward(model.forward(x_train[rows]), y_train[rows])
            model.backward(loss.backward())
            model.flat_params -= learning_rate * model.flat_grads

    accuracy = (model.predict(x_test) == y_test).mean()
    elapsed = time.perf_counter() - start
    assert model.flat_params.dtype == np.float32
    assert accuracy > 0.95, accuracy
    assert elapsed < 10, elapsed
