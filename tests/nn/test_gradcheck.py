"""The gradient check itself: passes on correct modules, fails on wrong ones, leaves no trace."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mlptrain.nn import (
    GELU,
    BatchNorm1d,
    BCEWithLogits,
    LeakyReLU,
    Linear,
    MSELoss,
    Sequential,
    Sigmoid,
    SoftmaxCrossEntropy,
    Tanh,
    build_model,
)
from mlptrain.nn.gradcheck import (
    THRESHOLD,
    GradcheckResult,
    check_loss,
    check_model,
    check_module,
    noise_floor,
    relative_error,
)

EVERY_LAYER = [
    {"type": "linear", "units": 12},
    {"type": "batchnorm"},
    {"type": "relu"},
    {"type": "dropout", "p": 0.25},
    {"type": "linear", "units": 10},
    {"type": "gelu"},
    {"type": "linear", "units": 8},
    {"type": "tanh"},
    {"type": "linear", "units": 8},
    {"type": "sigmoid"},
    {"type": "linear", "units": 8},
    {"type": "leaky_relu", "negative_slope": 0.1},
    {"type": "identity"},
    {"type": "linear"},
]


class SeedPostTanh(Tanh):
    """The seed post's derivative, 1 + tanh², instead of 1 - tanh²."""

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        if self._y is None:
            raise self._missing_cache()
        return grad_out * (1 + self._y * self._y)


class MSEWithoutTheTwo(MSELoss):
    def backward(self) -> np.ndarray:
        return super().backward() / 2


def every_layer_model(seed: int = 0) -> Sequential:
    model = build_model(
        EVERY_LAYER, n_inputs=6, n_outputs=4, rng=np.random.default_rng(seed), dtype=np.float64
    )
    model.modules[0].needs_input_grad = False  # as the trainer sets it for the data layer
    return model


def data(seed: int = 1, n_samples: int = 10):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n_samples, 6)), rng.integers(0, 4, n_samples)


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_check_model_passes_on_every_layer_type(mode):
    model = getattr(every_layer_model(), mode)()
    x, labels = data()
    rows = check_model(model, SoftmaxCrossEntropy(), x, labels, rng=np.random.default_rng(2))
    names = [name for name, _ in rows]
    assert "0 Linear(6 -> 12): x" in names  # input gradient checked despite needs_input_grad
    assert "1 BatchNorm1d(12, momentum=0.1, eps=1e-05): gamma" in names
    assert "3 Dropout(p=0.25): x" in names
    assert "loss SoftmaxCrossEntropy(): output" in names
    assert names[-len(model.params) :] == list(model.params)  # "0.W", "0.b", ...
    worst = max(error for _, error in rows)
    assert worst < 1e-6, [row for row in rows if row[1] >= 1e-6]
    assert GradcheckResult(rows).passed


def test_check_model_leaves_the_model_as_it_found_it():
    model = every_layer_model()
    x, labels = data()
    model.forward(x)  # non-default running statistics
    dropout = model.modules[3]
    rng_state = dropout.rng.bit_generator.state
    state = model.state_dict()
    check_model(model, SoftmaxCrossEntropy(), x, labels, rng=np.random.default_rng(0))
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, state[name], err_msg=name)
    assert dropout.rng.bit_generator.state == rng_state
    assert model.modules[0].needs_input_grad is False
    assert model.training and model.modules[1].caching


def test_batchnorm_running_stats_untouched_by_check_module():
    rng = np.random.default_rng(0)
    bn = BatchNorm1d(3, dtype=np.float64)
    errors = check_module(bn, rng.normal(2.0, 3.0, (8, 3)), rng=rng)
    assert max(errors.values()) < 1e-6
    np.testing.assert_array_equal(bn.buffers["running_mean"], 0)
    np.testing.assert_array_equal(bn.buffers["running_var"], 1)


def test_bias_cancelled_by_batchnorm_is_not_a_false_failure():
    """Linear -> BatchNorm: the bias has zero gradient; round-off must not read as an error."""
    specs = [{"type": "linear", "units": 8}, {"type": "batchnorm"}, {"type": "linear"}]
    model = build_model(
        specs, n_inputs=6, n_outputs=4, rng=np.random.default_rng(0), dtype=np.float64
    )
    x, labels = data()
    rows = dict(check_model(model, SoftmaxCrossEntropy(), x, labels, rng=np.random.default_rng(0)))
    assert rows["0.b"] < 1e-6


def test_check_fails_on_the_seed_post_tanh_derivative():
    rng = np.random.default_rng(0)
    wrong = SeedPostTanh()
    assert check_module(wrong, rng.standard_normal((4, 5)), rng=rng)["x"] > THRESHOLD

    model = every_layer_model()
    model.modules[7] = SeedPostTanh()
    x, labels = data()
    rows = dict(check_model(model, SoftmaxCrossEntropy(), x, labels, rng=rng))
    assert rows["7 SeedPostTanh(): x"] > THRESHOLD
    for upstream in ("0.W", "4.W", "6.W"):  # everything whose gradient flows through it
        assert rows[upstream] > THRESHOLD, upstream
    for downstream in ("8.W", "13.W", "13.b"):
        assert rows[downstream] < 1e-6, downstream
    result = GradcheckResult(list(rows.items()))
    assert not result.passed
    assert "7 SeedPostTanh(): x" in result.failures


def test_check_loss_fails_on_a_wrong_loss_gradient():
    rng = np.random.default_rng(0)
    output, target = rng.standard_normal((5, 2)), rng.standard_normal((5, 2))
    assert check_loss(MSELoss(), output, target) < 1e-6
    assert check_loss(MSEWithoutTheTwo(), output, target) > 0.1


def test_float32_is_refused():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="float64"):
        check_module(Linear(3, 2, dtype=np.float32), rng.standard_normal((2, 3)), rng=rng)
    with pytest.raises(ValueError, match="float64"):
        check_module(Tanh(), rng.standard_normal((2, 3)).astype(np.float32), rng=rng)
    with pytest.raises(ValueError, match="float64"):
        check_loss(MSELoss(), np.zeros((2, 2), np.float32), np.zeros((2, 2)))
    model = build_model(EVERY_LAYER, n_inputs=6, n_outputs=4, rng=rng)
    x, labels = data()
    with pytest.raises(ValueError, match="float64"):
        check_model(model, SoftmaxCrossEntropy(), x, labels, rng=rng)


def test_large_layers_check_a_seeded_subset():
    rng = np.random.default_rng(0)
    layer = Linear(200, 100, rng=rng, dtype=np.float64)
    x = rng.standard_normal((8, 200))
    first = check_module(layer, x, rng=np.random.default_rng(5))
    again = check_module(layer, x, rng=np.random.default_rng(5))
    assert first == again
    assert max(first.values()) < 1e-6


def test_relative_error_definition():
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0
    assert relative_error(np.array([1.0, -2.0]), np.array([1.0, -2.0])) == 0.0
    assert relative_error(np.array([1.0, 2.0]), np.array([1.0, 2.2])) == pytest.approx(0.2 / 4.2)
    # the floor: differences far below it do not count as relative errors
    assert relative_error(np.array([0.0]), np.array([1e-12]), floor=1e-3) == pytest.approx(1e-9)


def test_result_table():
    result = GradcheckResult([("0 Linear(2 -> 3): W", 3e-10), ("0.W", 2e-3)])
    table = result.table()
    lines = table.splitlines()
    assert lines[0].split() == ["name", "rel.", "error", "result"]
    assert "3.00e-10" in lines[1] and lines[1].endswith("PASS")
    assert "2.00e-03" in lines[2] and lines[2].endswith("FAIL")
    assert "1 of 2 checks FAIL" in lines[-1]
    assert result.failures == ["0.W"]
    assert result.to_dict()["rows"][0] == {
        "name": "0 Linear(2 -> 3): W",
        "relative_error": 3e-10,
        "passed": True,
    }
    assert GradcheckResult([("a", 1e-9)]).table().endswith("all 1 checks pass (threshold 1e-05)")


def test_noise_floor_scales_with_the_terms_and_the_step():
    eps = np.finfo(np.float64).eps
    assert noise_floor(1.0, 1e-6) == pytest.approx(1e7 * eps / 1e-6)
    assert noise_floor(8.0, 1e-6) == pytest.approx(8 * noise_floor(1.0, 1e-6))
    assert noise_floor(1.0, 1e-4) == pytest.approx(noise_floor(1.0, 1e-6) / 100)


# Deliberately wrong derivatives, each a mistake a hand derivation can make. The check must
# flag every one of them, on every input, with the scale-aware floor in place.


class SigmoidWithoutOneMinusY(Sigmoid):
    def backward(self, grad_out):
        return grad_out * self._y


class LeakyReluWithoutSlope(LeakyReLU):
    def backward(self, grad_out):
        return np.where(self._positive, grad_out, 0.0)


class GeluWithoutTheTanhTerm(GELU):
    def backward(self, grad_out):
        return grad_out * 0.5 * (1 + self._t)


class BatchNormIgnoringTheVariance(BatchNorm1d):
    """Drops the x̂·Σ(g·x̂) term: the gradient through σ² is forgotten."""

    def backward(self, grad_out):
        super().backward(grad_out)
        g = grad_out * self.params["gamma"]
        return self._inv_std * (g - g.mean(axis=0))


class LinearAveragingWeightGradient(Linear):
    def backward(self, grad_out):
        grad_x = super().backward(grad_out)
        self.grads["W"] /= grad_out.shape[0]
        return grad_x


class CrossEntropyWithoutBatchMean(SoftmaxCrossEntropy):
    def backward(self):
        k = self._probs.shape[0]
        return super().backward() * k


class BceWithTheSignFlipped(BCEWithLogits):
    def backward(self):
        return -super().backward()


WRONG_MODULES = {
    "tanh 1 + tanh²": (lambda rng: SeedPostTanh(), "x"),
    "sigmoid y": (lambda rng: SigmoidWithoutOneMinusY(), "x"),
    "leaky_relu no slope": (lambda rng: LeakyReluWithoutSlope(0.1), "x"),
    "gelu half": (lambda rng: GeluWithoutTheTanhTerm(), "x"),
    "batchnorm no variance term": (
        lambda rng: BatchNormIgnoringTheVariance(4, dtype=np.float64),
        "x",
    ),
    "linear mean W": (
        lambda rng: LinearAveragingWeightGradient(4, 3, rng=rng, dtype=np.float64),
        "W",
    ),
}


@pytest.mark.parametrize("wrong", list(WRONG_MODULES))
@pytest.mark.parametrize("seed", range(5))
def test_check_module_fails_wrong_derivatives(wrong, seed):
    rng = np.random.default_rng(seed)
    make, key = WRONG_MODULES[wrong]
    errors = check_module(make(rng), rng.standard_normal((6, 4)) * 2, rng=rng)
    assert errors[key] > 100 * THRESHOLD, errors


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_samples=st.integers(1, 6), n_in=st.integers(1, 6))
@example(seed=101044188, n_samples=2, n_in=2)
@example(seed=3, n_samples=1, n_in=1)
@example(seed=117, n_samples=1, n_in=1)
def test_seed_post_tanh_fails_on_any_input(seed, n_samples, n_in):
    """Any input but near 0: there tanh is 0 and 1 + tanh² equals 1 - tanh² (seed 117 drew
    an |x| small enough for the two to agree within the threshold)."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n_samples, n_in)) * 2
    x = np.sign(z) * (0.25 + np.abs(z))
    assert check_module(SeedPostTanh(), x, rng=rng)["x"] > THRESHOLD
    assert check_module(Tanh(), x, rng=rng)["x"] < 1e-6


@pytest.mark.parametrize("seed", range(5))
def test_check_loss_fails_wrong_loss_gradients(seed):
    rng = np.random.default_rng(seed)
    logits, labels = rng.standard_normal((5, 3)) * 3, rng.integers(0, 3, 5)
    assert check_loss(CrossEntropyWithoutBatchMean(), logits, labels) > 0.1
    z, t = rng.standard_normal((5, 1)) * 3, rng.integers(0, 2, 5)
    assert check_loss(BceWithTheSignFlipped(), z, t) > 0.1


def test_tiny_but_wrong_gradients_are_still_caught():
    """The confident example whose true gradient is ~1e-6: a gradient off by a factor of two
    (or of the wrong sign) there is still flagged, so the floor does not hide real errors."""
    logits, labels = np.array([[6.12275736, -7.66699509]]), np.array([0])
    assert check_loss(SoftmaxCrossEntropy(), logits, labels) < 1e-6

    class Doubled(SoftmaxCrossEntropy):
        def backward(self):
            return 2 * super().backward()

    assert check_loss(Doubled(), logits, labels) > THRESHOLD
    assert check_loss(BceWithTheSignFlipped(), np.array([[13.0]]), np.array([1])) > THRESHOLD
