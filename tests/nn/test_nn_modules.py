"""Layers: gradients against finite differences, known values, dtype, the module contract."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mlptrain.nn import (
    GELU,
    BatchNorm1d,
    Dropout,
    Identity,
    LeakyReLU,
    Linear,
    ReLU,
    Sigmoid,
    Tanh,
    build_model,
)
from mlptrain.nn.gradcheck import check_module
from mlptrain.nn.registry import auto_scheme

MODULE_NAMES = [
    "Linear",
    "ReLU",
    "LeakyReLU",
    "Sigmoid",
    "Tanh",
    "GELU",
    "Identity",
    "Dropout",
    "BatchNorm1d",
]
KINKED = {"ReLU", "LeakyReLU"}
TOLERANCE = 1e-6


def make_module(name: str, n_in: int, n_out: int, rng: np.random.Generator, dtype=np.float64):
    """A module of the named type taking ``n_in`` features, with non-trivial state."""
    if name == "Linear":
        module = Linear(n_in, n_out, rng=rng, dtype=dtype)
        module.params["b"][...] = rng.standard_normal(n_out)
        return module
    if name == "BatchNorm1d":
        module = BatchNorm1d(n_in, dtype=dtype)
        module.params["gamma"][...] = rng.uniform(0.5, 2.0, n_in)
        module.params["beta"][...] = rng.standard_normal(n_in)
        module.buffers["running_mean"][...] = rng.standard_normal(n_in)
        module.buffers["running_var"][...] = rng.uniform(0.5, 2.0, n_in)
        return module
    if name == "LeakyReLU":
        return LeakyReLU(0.1)
    if name == "Dropout":
        return Dropout(0.4, rng=np.random.default_rng(rng.integers(2**32)))
    return {"ReLU": ReLU, "Sigmoid": Sigmoid, "Tanh": Tanh, "GELU": GELU, "Identity": Identity}[
        name
    ]()


def away_from_kinks(x: np.ndarray, rng: np.random.Generator, margin: float = 1e-3) -> np.ndarray:
    """Resample entries with |x| < margin, so finite differences never straddle a kink."""
    x = x.copy()
    small = np.abs(x) < margin
    while small.any():
        x[small] = rng.standard_normal(int(small.sum()))
        small = np.abs(x) < margin
    return x


def random_input(name, shape, rng, dtype=np.float64):
    x = rng.standard_normal(shape) * 2
    if name in KINKED:
        x = away_from_kinks(x, rng)
    return x.astype(dtype)


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("name", MODULE_NAMES)
@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_samples=st.integers(1, 6),
    n_in=st.integers(1, 6),
    n_out=st.integers(1, 6),
)
# BatchNorm1d over two samples: the output hardly depends on x (gradient ~1e-4, objective
# cancelling to ~0.1), which once read as a relative error of 1.7e-6.
@example(seed=101044188, n_samples=2, n_in=2, n_out=1)
# GELU at x = -5.0, -5.4: an output of ~1e-6 computed as ½x(1 + tanh u), with 1 + tanh u
# cancelling; once read as a relative error of 2.9e-5.
@example(seed=125, n_samples=1, n_in=2, n_out=1)
def test_backward_matches_finite_differences(name, mode, seed, n_samples, n_in, n_out):
    rng = np.random.default_rng(seed)
    module = make_module(name, n_in, n_out, rng)
    if mode == "eval":
        module.eval().requires_grad()  # eval mode caches nothing unless asked to
    x = random_input(name, (n_samples, n_in), rng)
    errors = check_module(module, x, rng=rng)
    assert set(errors) == {"x", *module.params}
    assert all(error < TOLERANCE for error in errors.values()), errors


def test_gradcheck_keeps_eval_cache_without_requires_grad():
    rng = np.random.default_rng(0)
    module = make_module("BatchNorm1d", 4, 4, rng).eval()
    errors = check_module(module, rng.standard_normal((5, 4)), rng=rng)
    assert max(errors.values()) < TOLERANCE
    assert module.caching is False


def one_pass(module, x, grad_out):
    module.forward(x)
    return module.backward(grad_out)


def test_sigmoid_known_values():
    sigmoid = Sigmoid()
    assert sigmoid.forward(np.zeros((1, 1)))[0, 0] == 0.5
    assert sigmoid.backward(np.ones((1, 1)))[0, 0] == 0.25


def test_tanh_known_values():
    tanh = Tanh()
    assert one_pass(tanh, np.zeros((1, 1)), np.ones((1, 1)))[0, 0] == 1.0
    x = np.linspace(-3, 3, 13).reshape(1, -1)
    grad = one_pass(tanh, x, np.ones_like(x))
    np.testing.assert_allclose(grad, 1 - np.tanh(x) ** 2, rtol=1e-14)
    assert np.all(grad <= 1)  # the seed post's 1 + tan² would exceed 1


def test_relu_subgradient_at_zero():
    relu = ReLU()
    grad = one_pass(relu, np.array([[-1.0, 0.0, 2.0]]), np.ones((1, 3)))
    np.testing.assert_array_equal(grad, [[0.0, 0.0, 1.0]])


def test_leaky_relu_slopes():
    leaky = LeakyReLU(0.2)
    y = leaky.forward(np.array([[-2.0, 3.0]]))
    np.testing.assert_allclose(y, [[-0.4, 3.0]])
    np.testing.assert_allclose(leaky.backward(np.ones((1, 2))), [[0.2, 1.0]])


def test_gelu_known_values():
    gelu = GELU()
    assert gelu.forward(np.zeros((1, 1)))[0, 0] == 0.0
    assert gelu.backward(np.ones((1, 1)))[0, 0] == 0.5
    x = np.linspace(-4, 4, 41)
    exact = np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x])
    np.testing.assert_allclose(gelu.forward(x[None, :])[0], exact, atol=1e-3)


def test_linear_worked_by_hand():
    linear = Linear(3, 2, dtype=np.float64)
    linear.params["W"][...] = [[1.0, 0.0], [0.0, 1.0], [1.0, -1.0]]
    linear.params["b"][...] = [0.5, -0.5]
    x = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    y = linear.forward(x)
    np.testing.assert_array_equal(y, [[4.5, -1.5], [10.5, -1.5]])
    grad_out = np.array([[1.0, 2.0], [3.0, -1.0]])
    grad_x = linear.backward(grad_out)
    np.testing.assert_array_equal(linear.grads["W"], [[13.0, -2.0], [17.0, -1.0], [21.0, 0.0]])
    np.testing.assert_array_equal(linear.grads["b"], [4.0, 1.0])  # n = 2 entries, not m = 3
    np.testing.assert_array_equal(grad_x, [[1.0, 2.0, -1.0], [3.0, -1.0, 4.0]])


def test_linear_skips_input_gradient_when_asked():
    linear = Linear(3, 2, dtype=np.float64)
    linear.needs_input_grad = False
    assert one_pass(linear, np.ones((2, 3)), np.ones((2, 2))) is None
    np.testing.assert_array_equal(linear.grads["b"], [2.0, 2.0])


@pytest.mark.parametrize("name", MODULE_NAMES)
def test_float32_stays_float32(name):
    rng = np.random.default_rng(1)
    module = make_module(name, 5, 3, rng, dtype=np.float32)
    x = random_input(name, (4, 5), rng, dtype=np.float32)
    for mode in ("train", "eval"):
        getattr(module, mode)().requires_grad()
        y = module.forward(x)
        grad_x = module.backward(np.ones_like(y))
        assert y.dtype == np.float32, mode
        assert grad_x.dtype == np.float32, mode
        for key in module.params:
            assert module.params[key].dtype == np.float32
            assert module.grads[key].dtype == np.float32
        for buffer in module.buffers.values():
            assert buffer.dtype == np.float32


@pytest.mark.parametrize("name", MODULE_NAMES)
def test_backward_before_forward_raises(name):
    module = make_module(name, 3, 2, np.random.default_rng(0))
    with pytest.raises(RuntimeError, match="before forward"):
        module.backward(np.ones((2, 2 if name == "Linear" else 3)))


@pytest.mark.parametrize("name", MODULE_NAMES)
def test_eval_forward_caches_nothing(name):
    rng = np.random.default_rng(0)
    module = make_module(name, 3, 2, rng)
    x = random_input(name, (4, 3), rng)
    y = module.forward(x)  # a training-mode cache that eval() must drop
    module.eval()
    with pytest.raises(RuntimeError, match="before forward"):
        module.backward(np.ones_like(y))
    module.forward(x)
    with pytest.raises(RuntimeError, match="before forward"):
        module.backward(np.ones_like(y))


@pytest.mark.parametrize("name", MODULE_NAMES)
def test_backward_writes_and_does_not_accumulate(name):
    rng = np.random.default_rng(3)
    module = make_module(name, 4, 3, rng)
    x = random_input(name, (5, 4), rng)
    grad_out = rng.standard_normal(module.forward(x).shape)
    grads_before = {key: g for key, g in module.grads.items()}
    first = module.backward(grad_out)
    first_grads = {key: g.copy() for key, g in module.grads.items()}
    second = module.backward(grad_out)
    np.testing.assert_array_equal(first, second)
    for key, grad in module.grads.items():
        np.testing.assert_array_equal(grad, first_grads[key])
        assert grad is grads_before[key]  # written in place, never rebound


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("name", MODULE_NAMES)
def test_inputs_and_grad_out_are_not_mutated(name, mode):
    rng = np.random.default_rng(4)
    module = make_module(name, 4, 3, rng)
    getattr(module, mode)().requires_grad()
    x = random_input(name, (5, 4), rng)
    x_copy = x.copy()
    y = module.forward(x)
    grad_out = rng.standard_normal(y.shape)
    grad_copy = grad_out.copy()
    module.backward(grad_out)
    np.testing.assert_array_equal(x, x_copy)
    np.testing.assert_array_equal(grad_out, grad_copy)


def test_dropout_inverted_scaling_and_eval_identity():
    dropout = Dropout(0.3, rng=np.random.default_rng(0))
    x = np.ones((2000, 50))
    y = dropout.forward(x)
    assert abs((y == 0).mean() - 0.3) < 0.01
    assert abs(y.mean() - 1.0) < 0.02  # expected activation preserved by the 1/(1-p) scale
    np.testing.assert_allclose(y[y != 0], 1 / 0.7)
    np.testing.assert_array_equal(dropout.backward(np.ones_like(x)), y)
    dropout.eval()
    np.testing.assert_array_equal(dropout.forward(x), x)


def test_dropout_masks_reproducible_from_seed():
    x = np.ones((20, 30))

    def masks(seed):
        dropout = Dropout(0.5, rng=np.random.default_rng(seed))
        return dropout.forward(x), dropout.forward(x)

    first, second = masks(11)
    again = masks(11)
    np.testing.assert_array_equal(first, again[0])
    np.testing.assert_array_equal(second, again[1])
    assert not np.array_equal(first, second)  # a fresh mask at every forward
    assert not np.array_equal(first, masks(12)[0])


def test_batchnorm_train_normalises_and_updates_running_stats():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, size=(500, 4))
    bn = BatchNorm1d(4, momentum=0.1, dtype=np.float64)
    y = bn.forward(x)
    np.testing.assert_allclose(y.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=0), 1, atol=1e-4)
    np.testing.assert_allclose(bn.buffers["running_mean"], 0.1 * x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(
        bn.buffers["running_var"], 0.9 + 0.1 * x.var(axis=0, ddof=1), rtol=1e-12
    )


def test_batchnorm_eval_uses_running_stats():
    rng = np.random.default_rng(1)
    bn = make_module("BatchNorm1d", 3, 3, rng)
    running_before = {k: v.copy() for k, v in bn.buffers.items()}
    x = rng.standard_normal((6, 3))
    y = bn.eval().forward(x)
    mean, var = running_before["running_mean"], running_before["running_var"]
    expected = (x - mean) / np.sqrt(var + bn.eps) * bn.params["gamma"] + bn.params["beta"]
    np.testing.assert_allclose(y, expected, rtol=1e-12)
    for key, value in bn.buffers.items():
        np.testing.assert_array_equal(value, running_before[key])


def test_batchnorm_backward_follows_the_forward_mode():
    """An eval-mode forward, then train(): backward must still use the eval-mode formula."""
    rng = np.random.default_rng(2)
    bn = make_module("BatchNorm1d", 3, 3, rng)
    x, grad_out = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    bn.eval().requires_grad()
    bn.forward(x)
    expected = bn.backward(grad_out)
    bn.forward(x)
    bn.train()
    np.testing.assert_allclose(bn.backward(grad_out), expected)


def test_seeded_init_reproducible():
    first = Linear(20, 30, rng=np.random.default_rng(7)).params["W"]
    again = Linear(20, 30, rng=np.random.default_rng(7)).params["W"]
    other = Linear(20, 30, rng=np.random.default_rng(8)).params["W"]
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_he_and_glorot_scales():
    rng = np.random.default_rng(0)
    he = Linear(400, 300, rng=rng, dtype=np.float64, init="he").params["W"]
    assert abs(he.std() / math.sqrt(2 / 400) - 1) < 0.02
    assert abs(he.mean()) < 0.01
    glorot = Linear(400, 300, rng=rng, dtype=np.float64, init="glorot").params["W"]
    limit = math.sqrt(6 / 700)
    assert np.abs(glorot).max() <= limit
    assert np.abs(glorot).max() > 0.99 * limit
    assert abs(glorot.std() / (limit / math.sqrt(3)) - 1) < 0.02


def test_auto_init_picks_by_next_activation():
    assert auto_scheme("relu") == "he"
    assert auto_scheme("tanh") == "glorot"
    assert auto_scheme(None) == "glorot"
    specs = [
        {"type": "linear", "units": 300},
        {"type": "dropout", "p": 0.1},
        {"type": "relu"},
        {"type": "linear", "units": 300},
        {"type": "tanh"},
        {"type": "linear"},
    ]
    model = build_model(
        specs, n_inputs=100, n_outputs=300, rng=np.random.default_rng(0), dtype=np.float64
    )
    w_relu, w_tanh, w_out = (model.modules[i].params["W"] for i in (0, 3, 5))
    assert abs(w_relu.std() / math.sqrt(2 / 100) - 1) < 0.03  # He, past the dropout
    for w, fan_in in ((w_tanh, 300), (w_out, 300)):  # Glorot: bounded by the limit
        limit = math.sqrt(6 / (fan_in + 300))
        assert np.abs(w).max() <= limit
        assert abs(w.std() / (limit / math.sqrt(3)) - 1) < 0.03


def test_training_outputs_are_fresh_arrays_unless_reuse_is_opted_in():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3))
    for module in (Linear(3, 2, rng=rng, dtype=np.float64), ReLU()):
        module.train()
        first = module.forward(x if module.__class__ is Linear else x[:, :2])
        second = module.forward(x if module.__class__ is Linear else x[:, :2] + 1)
        assert not np.shares_memory(first, second), module
        module.reuse_outputs(True)
        third = module.forward(x if module.__class__ is Linear else x[:, :2])
        fourth = module.forward(x if module.__class__ is Linear else x[:, :2] + 1)
        assert np.shares_memory(third, fourth), module  # documented opt-in: one buffer


def test_relu_backward_overwrites_the_incoming_gradient_only_with_reuse_opted_in():
    x = np.array([[-1.0, 2.0, 0.0], [3.0, -4.0, 5.0]])
    g = np.array([[10.0, 20.0, 30.0], [40.0, 50.0, 60.0]])
    expected = np.array([[0.0, 20.0, 0.0], [40.0, 0.0, 60.0]])  # g where x > 0, else 0
    relu = ReLU().train()
    relu.forward(x)
    given = g.copy()
    out = relu.backward(given)
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(given, g)  # the caller's array is left alone
    assert not np.shares_memory(out, given)
    relu.reuse_outputs(True)
    relu.forward(x)
    out = relu.backward(given)
    np.testing.assert_array_equal(out, expected)
    assert out is given  # the training loop's gradient buffer, reused in place


def test_inspect_cache_exposes_read_only_views_of_what_forward_kept():
    x = np.array([[-1.0, 2.0], [3.0, -4.0]])
    relu = ReLU().train()
    assert relu.inspect_cache() == {}
    relu.forward(x)
    active = relu.inspect_cache()["active"]
    np.testing.assert_array_equal(active, [[False, True], [True, False]])
    with pytest.raises(ValueError):
        active[0, 0] = True
    tanh = Tanh().train()
    tanh.forward(x)
    np.testing.assert_array_equal(tanh.inspect_cache()["output"], np.tanh(x))
    tanh.eval()
    assert tanh.inspect_cache() == {}


def test_identity_and_dropout_set_every_attribute_in_init():
    for module in (Identity(), Dropout(0.5)):
        with pytest.raises(RuntimeError, match="backward\\(\\) called before forward"):
            module.backward(np.ones((2, 2)))
