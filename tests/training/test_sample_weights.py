"""Per-sample weights in the losses, the scalers and the Trainer (scikit-learn's sample_weight)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlptrain.data import Scaler
from mlptrain.nn import BCEWithLogits, MSELoss, SoftmaxCrossEntropy
from mlptrain.nn.gradcheck import check_loss
from mlptrain.nn.losses import Loss
from mlptrain.training.batches import iterate_batches


class Weighted(Loss):
    """``loss`` with fixed per-sample weights, in the two-argument form check_loss calls."""

    def __init__(self, loss: Loss, weight: np.ndarray) -> None:
        self.loss, self.weight = loss, weight

    def forward(self, output, target, weight=None):
        return self.loss.forward(output, target, self.weight)

    def backward(self):
        return self.loss.backward()


def case(kind: str, k: int, width: int, rng: np.random.Generator):
    class_weight = rng.uniform(0.2, 3.0, width + 1) if kind == "cross_entropy_cw" else None
    if kind.startswith("cross_entropy"):
        # logits of moderate size: near saturation (|h| ~ 10) the softmax gradient is ~1e-5 and
        # central differences cannot resolve it to 1e-6 relative
        output = rng.standard_normal((k, width + 1)) * 2
        return SoftmaxCrossEntropy(class_weight), output, rng.integers(0, width + 1, k)
    if kind == "mse":
        return MSELoss(), rng.standard_normal((k, width)), rng.standard_normal((k, width))
    return BCEWithLogits(), rng.standard_normal((k, 1)) * 2, rng.integers(0, 2, k)


@pytest.mark.parametrize("kind", ["cross_entropy", "cross_entropy_cw", "mse", "bce"])
@settings(max_examples=25, deadline=None, derandomize=True)  # no flaky CI
@given(seed=st.integers(0, 2**32 - 1), k=st.integers(1, 8), width=st.integers(1, 4))
def test_weighted_loss_gradient_matches_finite_differences(kind, seed, k, width):
    rng = np.random.default_rng(seed)
    loss, output, target = case(kind, k, width, rng)
    weight = rng.integers(0, 4, k).astype(np.float64)
    weight[0] = 0.5  # never all zero, and not only integers
    assert check_loss(Weighted(loss, weight), output, target) < 1e-6


@pytest.mark.parametrize("kind", ["cross_entropy", "mse", "bce"])
def test_integer_weights_equal_repeated_rows(kind):
    """A weight of n is the row written n times: same loss, and the same gradient summed
    over each row's copies (an independent computation: the unweighted loss on repeats)."""
    rng = np.random.default_rng(3)
    loss, output, target = case(kind, 6, 3, rng)
    weight = np.array([0, 1, 2, 3, 1, 2])
    value = loss.forward(output.copy(), target, weight.astype(float))
    grad = loss.backward().copy()
    repeats = np.repeat(np.arange(6), weight)
    reference = type(loss)().forward(output[repeats].copy(), target[repeats])
    ref_grad = type(loss)()
    ref_grad.forward(output[repeats].copy(), target[repeats])
    summed = np.zeros_like(output)
    np.add.at(summed, repeats, ref_grad.backward())
    assert value == pytest.approx(reference, rel=1e-12)
    np.testing.assert_allclose(grad, summed, rtol=1e-12, atol=1e-15)


def test_weighted_mse_by_hand():
    # rows: diff (1, 1) weight 1, diff (2, 0) weight 3 -> (1·2 + 3·4) / (2 · 4) = 14 / 8
    loss = MSELoss()
    value = loss.forward(np.array([[1.0, 1.0], [2.0, 0.0]]), np.zeros((2, 2)), np.array([1, 3.0]))
    assert value == pytest.approx(14 / 8)
    np.testing.assert_allclose(loss.backward(), [[2 / 8, 2 / 8], [12 / 8, 0]])


def test_all_zero_weights_give_no_gradient_rather_than_nan():
    loss = SoftmaxCrossEntropy()
    value = loss.forward(np.ones((3, 2)), np.array([0, 1, 0]), np.zeros(3))
    assert value == 0.0
    assert not np.any(loss.backward())


def test_weighted_scaler_equals_repeated_rows():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(7, 3)) * [1, 10, 100]
    weight = np.array([1, 0, 2, 3, 1, 1, 4])
    weighted = Scaler("standard").fit(X, weight)
    repeated = Scaler("standard").fit(np.repeat(X, weight, axis=0))
    np.testing.assert_allclose(weighted.shift, repeated.shift, rtol=1e-12)
    np.testing.assert_allclose(weighted.scale, repeated.scale, rtol=1e-12)


def test_unweighted_scaler_is_unchanged():
    """Without weights the scaler computes exactly what it always did (bit for bit)."""
    X = np.random.default_rng(1).normal(size=(50, 4))
    scaler = Scaler("standard").fit(X)
    assert np.array_equal(scaler.shift, X.mean(axis=0))
    assert np.array_equal(scaler.scale, X.std(axis=0))


def test_no_shuffle_takes_rows_in_order_and_draws_nothing():
    rng = np.random.default_rng(0)
    before = rng.bit_generator.state
    batches = iterate_batches(7, 3, rng, shuffle=False)
    assert [b.tolist() for b in batches] == [[0, 1, 2], [3, 4, 5], [6]]
    assert rng.bit_generator.state == before
