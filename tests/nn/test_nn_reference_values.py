"""Layer outputs and gradients against reference values computed independently (the math
module, written-out numbers), and batch-norm running statistics over several updates."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlptrain.nn import (
    GELU,
    BatchNorm1d,
    BCEWithLogits,
    Identity,
    LeakyReLU,
    MSELoss,
    ReLU,
    Sigmoid,
    SoftmaxCrossEntropy,
    Tanh,
)
from mlptrain.nn.activations import stable_sigmoid
from mlptrain.nn.losses import log_softmax, softmax

# Points on both sides of every kink and of 1 (LeakyReLU's test is x > 0, not x > 1).
POINTS = [-40.0, -3.0, -1.0, -0.5, -1e-3, 0.0, 1e-3, 0.25, 0.5, 1.0, 2.0, 40.0]


def reference(name: str, slope: float = 0.01):
    """(value, derivative) of each activation at a scalar, from the math module."""

    def sigmoid(v):
        return 1 / (1 + math.exp(-v)) if v >= 0 else math.exp(v) / (1 + math.exp(v))

    def gelu(v):
        c = math.sqrt(2 / math.pi)
        u = c * (v + 0.044715 * v**3)
        t = math.tanh(u)
        return 0.5 * v * (1 + t), 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * c * (1 + 0.134145 * v * v)

    table = {
        "relu": lambda v: (max(v, 0.0), 1.0 if v > 0 else 0.0),
        "leaky_relu": lambda v: (v if v > 0 else slope * v, 1.0 if v > 0 else slope),
        "sigmoid": lambda v: (sigmoid(v), sigmoid(v) * (1 - sigmoid(v))),
        "tanh": lambda v: (math.tanh(v), 1 - math.tanh(v) ** 2),
        "identity": lambda v: (v, 1.0),
        "gelu": gelu,
    }
    return table[name]


MODULES = {
    "relu": ReLU,
    "leaky_relu": lambda: LeakyReLU(0.2),
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "identity": Identity,
    "gelu": GELU,
}


@pytest.mark.parametrize("name", list(MODULES))
def test_activation_values_and_gradients_match_reference(name):
    x = np.array([POINTS, [-v for v in POINTS]])
    module = MODULES[name]()
    ref = reference(name, slope=0.2)
    expected = np.array([[ref(v)[0] for v in row] for row in x])
    slopes = np.array([[ref(v)[1] for v in row] for row in x])
    y = module.forward(x)
    np.testing.assert_allclose(y, expected, rtol=1e-13, atol=1e-300)
    grad_out = np.linspace(-2.0, 3.0, x.size).reshape(x.shape)
    np.testing.assert_allclose(module.backward(grad_out), grad_out * slopes, rtol=1e-12, atol=0)


@pytest.mark.parametrize("name", list(MODULES))
def test_eval_mode_gives_the_same_values(name):
    x = np.array([POINTS])
    train_y = MODULES[name]().forward(x).copy()
    np.testing.assert_array_equal(MODULES[name]().eval().forward(x), train_y)


def test_leaky_relu_written_out():
    leaky = LeakyReLU(0.1)
    x = np.array([[-2.0, -0.5, 0.0, 0.5, 1.0, 3.0]])
    np.testing.assert_array_equal(leaky.forward(x), [[-0.2, -0.05, 0.0, 0.5, 1.0, 3.0]])
    np.testing.assert_allclose(leaky.backward(np.full((1, 6), 2.0)), [[0.2, 0.2, 0.2, 2, 2, 2]])


def test_leaky_relu_default_slope_and_zero_slope():
    x = np.array([[-3.0, 0.5]])
    np.testing.assert_allclose(LeakyReLU().forward(x), [[-0.03, 0.5]])
    assert LeakyReLU().negative_slope == 0.01
    np.testing.assert_array_equal(LeakyReLU(0.0).forward(x), [[0.0, 0.5]])
    with pytest.raises(ValueError, match="negative_slope must be >= 0, got -0.1"):
        LeakyReLU(-0.1)


def test_relu_written_out():
    relu = ReLU()
    x = np.array([[-2.0, -0.5, 0.0, 0.5, 3.0]])
    np.testing.assert_array_equal(relu.forward(x), [[0.0, 0.0, 0.0, 0.5, 3.0]])
    np.testing.assert_array_equal(relu.backward(np.full((1, 5), 7.0)), [[0, 0, 0, 7, 7]])
    np.testing.assert_array_equal(relu.eval().forward(x), [[0.0, 0.0, 0.0, 0.5, 3.0]])


def test_stable_sigmoid_written_out():
    x = np.array([-math.log(3), 0.0, math.log(3), -800.0, 800.0])
    np.testing.assert_allclose(stable_sigmoid(x), [0.25, 0.5, 0.75, 0.0, 1.0], rtol=1e-15)
    assert stable_sigmoid(x.astype(np.float32)).dtype == np.float32


def test_gelu_written_out():
    # GELU_tanh(1) = ½ (1 + tanh(√(2/π) · 1.044715))
    value = 0.5 * (1 + math.tanh(math.sqrt(2 / math.pi) * 1.044715))
    y = GELU().forward(np.array([[1.0, -1.0]]))
    np.testing.assert_allclose(y, [[value, value - 1.0]], rtol=1e-14)


def running_reference(batches, momentum, mean0, var0):
    """PyTorch's update: r ← (1 - m) r + m · s, with the unbiased batch variance."""
    mean, var = mean0.copy(), var0.copy()
    for batch in batches:
        n = batch.shape[0]
        batch_mean = batch.sum(axis=0) / n
        batch_var = ((batch - batch_mean) ** 2).sum(axis=0) / (n - 1)
        mean = (1 - momentum) * mean + momentum * batch_mean
        var = (1 - momentum) * var + momentum * batch_var
    return mean, var


@pytest.mark.parametrize("momentum", [0.1, 0.35])
def test_batchnorm_running_statistics_over_several_batches(momentum):
    rng = np.random.default_rng(5)
    bn = BatchNorm1d(3, momentum=momentum, dtype=np.float64)
    mean0, var0 = np.array([0.5, -1.0, 2.0]), np.array([1.5, 0.25, 4.0])
    bn.buffers["running_mean"][...] = mean0
    bn.buffers["running_var"][...] = var0
    batches = [rng.normal(loc, 2.0, (n, 3)) for loc, n in ((1.0, 8), (-2.0, 5), (4.0, 11))]
    for batch in batches:
        bn.forward(batch)
    mean, var = running_reference(batches, momentum, mean0, var0)
    np.testing.assert_allclose(bn.buffers["running_mean"], mean, rtol=1e-13)
    np.testing.assert_allclose(bn.buffers["running_var"], var, rtol=1e-13)
    # eval normalises with exactly these statistics
    x = rng.standard_normal((4, 3))
    expected = (x - mean) / np.sqrt(var + 1e-5)
    np.testing.assert_allclose(bn.eval().forward(x), expected, rtol=1e-12)


def test_batchnorm_single_sample_batch_keeps_running_var_finite():
    bn = BatchNorm1d(2, momentum=0.5, dtype=np.float64)
    bn.forward(np.array([[3.0, -1.0]]))
    # one sample: batch variance 0 (no n/(n-1) correction possible)
    np.testing.assert_allclose(bn.buffers["running_mean"], [1.5, -0.5])
    np.testing.assert_allclose(bn.buffers["running_var"], [0.5, 0.5])


def test_batchnorm_train_forward_and_parameter_gradients_written_out():
    bn = BatchNorm1d(1, eps=0.0, dtype=np.float64)
    bn.params["gamma"][...] = 2.0
    bn.params["beta"][...] = 1.0
    x = np.array([[1.0], [3.0]])  # mean 2, biased var 1: x̂ = -1, +1
    np.testing.assert_allclose(bn.forward(x), [[-1.0], [3.0]])
    grad_x = bn.backward(np.array([[1.0], [4.0]]))
    np.testing.assert_allclose(bn.grads["gamma"], [3.0])  # -1·1 + 1·4
    np.testing.assert_allclose(bn.grads["beta"], [5.0])
    # g = γ·dy = (2, 8); Σg = 10; Σ g x̂ = 6; dx = ½ (2g - 10 - x̂·6) = (0, 0)
    np.testing.assert_allclose(grad_x, [[0.0], [0.0]], atol=1e-15)


def test_batchnorm_eval_backward_written_out():
    bn = BatchNorm1d(2, eps=0.0, dtype=np.float64)
    bn.buffers["running_var"][...] = [4.0, 0.25]
    bn.params["gamma"][...] = [3.0, 1.0]
    bn.eval().requires_grad()
    bn.forward(np.array([[1.0, 1.0]]))
    np.testing.assert_allclose(bn.backward(np.array([[1.0, 1.0]])), [[1.5, 2.0]])


def test_batchnorm_default_momentum_and_two_sample_batches():
    bn = BatchNorm1d(1, dtype=np.float64)
    assert bn.momentum == 0.1
    bn.forward(np.array([[1.0], [3.0]]))  # mean 2, unbiased variance 2 (n/(n-1) = 2)
    np.testing.assert_allclose(bn.buffers["running_mean"], [0.2])
    np.testing.assert_allclose(bn.buffers["running_var"], [0.9 + 0.2])


def test_batchnorm_rejects_the_wrong_number_of_features():
    bn = BatchNorm1d(3, dtype=np.float64)
    with pytest.raises(ValueError, match=r"BatchNorm1d\(3, .*\) expects 3 input features"):
        bn.forward(np.ones((4, 2)))


def test_softmax_shifts_each_row_by_its_own_max():
    """Rows of very different scales: a shift by the global max would underflow row two."""
    logits = np.array([[1000.0, 999.0], [0.0, -1.0]])
    expected_row = [-math.log1p(math.exp(-1)), -1 - math.log1p(math.exp(-1))]
    np.testing.assert_allclose(log_softmax(logits), [expected_row, expected_row], rtol=1e-14)
    p = 1 / (1 + math.exp(-1))
    np.testing.assert_allclose(softmax(logits), [[p, 1 - p], [p, 1 - p]], rtol=1e-14)


def test_weighted_bce_is_the_weighted_mean():
    z = np.array([[-1.0], [0.5], [2.0]])
    labels = np.array([0, 1, 1])
    weights = np.array([2.0, 0.5])
    per_sample = [math.log1p(math.exp(-1.0)), math.log1p(math.exp(-0.5)), math.log1p(math.exp(-2))]
    w = [2.0, 0.5, 0.5]
    loss = BCEWithLogits(weights)
    expected = sum(a * b for a, b in zip(w, per_sample, strict=True)) / 3.0
    assert loss.forward(z, labels) == pytest.approx(expected, rel=1e-14)
    sig = [1 / (1 + math.exp(1.0)), 1 / (1 + math.exp(-0.5)), 1 / (1 + math.exp(-2.0))]
    grad = [w[i] * (sig[i] - labels[i]) / 3.0 for i in range(3)]
    np.testing.assert_allclose(loss.backward(), np.array(grad)[:, None], rtol=1e-13)


def test_losses_accept_column_targets():
    rng = np.random.default_rng(0)
    logits, labels = rng.standard_normal((4, 3)), np.array([0, 2, 1, 2])
    flat, column = SoftmaxCrossEntropy(), SoftmaxCrossEntropy()
    assert column.forward(logits, labels[:, None]) == flat.forward(logits, labels)
    np.testing.assert_array_equal(column.backward(), flat.backward())
    output, target = rng.standard_normal((4, 1)), rng.standard_normal(4)
    mse_flat, mse_column = MSELoss(), MSELoss()
    assert mse_flat.forward(output, target) == mse_column.forward(output, target[:, None])
    assert mse_flat.forward(output, target) == pytest.approx(np.mean((output[:, 0] - target) ** 2))
    np.testing.assert_array_equal(mse_flat.backward(), mse_column.backward())


def test_mse_float32_output_with_float64_targets_stays_float32():
    loss = MSELoss()
    loss.forward(np.ones((3, 1), np.float32), np.array([0.5, 1.0, 2.0]))
    assert loss.backward().dtype == np.float32


def test_loss_call_repr_and_message():
    rng = np.random.default_rng(1)
    output, labels = rng.standard_normal((3, 2)), np.array([0, 1, 1])
    assert SoftmaxCrossEntropy()(output, labels) == SoftmaxCrossEntropy().forward(output, labels)
    assert repr(MSELoss()) == "MSELoss()"
    assert repr(BCEWithLogits()) == "BCEWithLogits()"
    assert repr(SoftmaxCrossEntropy()) == "SoftmaxCrossEntropy()"
    assert repr(SoftmaxCrossEntropy(np.ones(2))) == "SoftmaxCrossEntropy(class_weight=...)"
    with pytest.raises(RuntimeError, match=r"^MSELoss\.backward\(\) called before forward\(\)$"):
        MSELoss().backward()


def test_cross_entropy_second_backward_raises():
    """backward reuses the probabilities' buffer for the gradient: a second call must not
    return a gradient computed from it."""
    loss = SoftmaxCrossEntropy()
    loss.forward(np.array([[1.0, 2.0]]), np.array([0]))
    loss.backward()
    with pytest.raises(RuntimeError, match="before forward"):
        loss.backward()
