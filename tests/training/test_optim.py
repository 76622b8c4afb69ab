"""Optimizers: every update rule against the same steps written out by hand in float64.

The model is a Linear (whose W takes weight decay) followed by a BatchNorm (whose gamma and
beta, like the Linear's bias, do not). Gradients are set by hand, so each step's expected
parameters come from the textbook formula, not from the optimizer's in-place arithmetic.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlptrain.config.schema import SGD as SGDSpec
from mlptrain.config.schema import Adam as AdamSpec
from mlptrain.config.schema import AdamW as AdamWSpec
from mlptrain.nn import BatchNorm1d, Linear, MSELoss, Sequential
from mlptrain.training.optim import SGD, Adam, AdamW, clip_grad_norm, make_optimizer

RTOL = 1e-13


def small_model(seed: int = 0) -> Sequential:
    rng = np.random.default_rng(seed)
    model = Sequential([Linear(3, 2, rng=rng, dtype=np.float64), BatchNorm1d(2, dtype=np.float64)])
    model.flat_params[...] = rng.standard_normal(model.flat_params.size)
    return model


def decay_mask(model: Sequential) -> np.ndarray:
    """1 on the entries of Linear weight matrices, 0 on biases and batch-norm parameters."""
    mask = [
        np.full(p.size, 1.0 if name.endswith(".W") else 0.0) for name, p in model.params.items()
    ]
    return np.concatenate(mask)


def gradients(n_steps: int, size: int, seed: int = 1) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(size) for _ in range(n_steps)]


def run(optimizer, model: Sequential, grads: list[np.ndarray]) -> list[np.ndarray]:
    """Set each gradient, step, and record the parameters after every step."""
    trajectory = []
    for grad in grads:
        model.flat_grads[...] = grad
        optimizer.step()
        trajectory.append(model.flat_params.copy())
    return trajectory


def test_decay_mask_covers_only_linear_weights():
    mask = decay_mask(small_model())
    assert mask.sum() == 6  # W is 3 x 2; b (2), gamma (2), beta (2) are not decayed
    assert mask.size == 12


def test_plain_sgd_step():
    model = small_model()
    theta = model.flat_params.copy()
    grads = gradients(3, theta.size)
    trajectory = run(SGD(model, lr=0.1), model, grads)
    for grad, after in zip(grads, trajectory, strict=True):
        theta = theta - 0.1 * grad
        np.testing.assert_allclose(after, theta, rtol=RTOL)


@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_sgd_steps(nesterov):
    model = small_model()
    theta = model.flat_params.copy()
    grads = gradients(4, theta.size)
    lr, mu = 0.05, 0.9
    trajectory = run(SGD(model, lr=lr, momentum=mu, nesterov=nesterov), model, grads)
    velocity = np.zeros_like(theta)
    for grad, after in zip(grads, trajectory, strict=True):
        velocity = mu * velocity + grad
        theta = theta - lr * (grad + mu * velocity if nesterov else velocity)
        np.testing.assert_allclose(after, theta, rtol=RTOL)


def test_nesterov_differs_from_classical_momentum():
    grads = gradients(2, small_model().flat_params.size)
    classical = run(SGD(m := small_model(), lr=0.1, momentum=0.9), m, grads)[-1]
    nesterov = run(SGD(m := small_model(), lr=0.1, momentum=0.9, nesterov=True), m, grads)[-1]
    assert np.abs(classical - nesterov).max() > 0.01


@pytest.mark.parametrize("momentum", [0.0, 0.5])
def test_sgd_l2_decays_only_linear_weights(momentum):
    model = small_model()
    theta = model.flat_params.copy()
    mask = decay_mask(model)
    grads = gradients(3, theta.size)
    lr, decay = 0.1, 0.3
    optimizer = SGD(model, lr=lr, momentum=momentum, weight_decay=decay)
    trajectory = run(optimizer, model, grads)
    velocity = np.zeros_like(theta)
    for grad, after in zip(grads, trajectory, strict=True):
        velocity = momentum * velocity + grad + decay * mask * theta
        theta = theta - lr * velocity
        np.testing.assert_allclose(after, theta, rtol=RTOL)


def test_sgd_with_zero_gradient_and_decay_shrinks_weights_geometrically():
    model = small_model()
    theta = model.flat_params.copy()
    mask = decay_mask(model)
    run(SGD(model, lr=0.1, weight_decay=0.5), model, [np.zeros_like(theta)] * 3)
    # Each step multiplies W by (1 - lr·λ) = 0.95; everything else stays.
    expected = np.where(mask == 1, theta * 0.95**3, theta)
    np.testing.assert_allclose(model.flat_params, expected, rtol=RTOL)


def adam_reference(theta, grads, lr, b1, b2, eps, l2=0.0, decoupled=0.0, mask=None):
    """Adam / AdamW as written in Kingma & Ba and Loshchilov & Hutter, one step at a time."""
    mask = np.ones_like(theta) if mask is None else mask
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    trajectory = []
    for t, grad in enumerate(grads, start=1):
        theta = theta - lr * decoupled * mask * theta
        g = grad + l2 * mask * theta
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat = m / (1 - b1**t)
        v_hat = v / (1 - b2**t)
        theta = theta - lr * m_hat / (np.sqrt(v_hat) + eps)
        trajectory.append(theta)
    return trajectory


def test_adam_first_step_is_lr_times_sign():
    """With bias correction m̂ = g and v̂ = g², so step one moves every weight by lr·g/(|g|+ε)."""
    model = small_model()
    theta = model.flat_params.copy()
    grad = gradients(1, theta.size)[0]
    run(Adam(model, lr=0.01, eps=1e-8), model, [grad])
    np.testing.assert_allclose(model.flat_params, theta - 0.01 * grad / (np.abs(grad) + 1e-8))
    assert np.abs(model.flat_params - theta).min() > 0.0099


@pytest.mark.parametrize("betas", [(0.9, 0.999), (0.5, 0.8)])
def test_adam_steps_with_bias_correction(betas):
    model = small_model()
    theta = model.flat_params.copy()
    grads = gradients(5, theta.size)
    trajectory = run(Adam(model, lr=0.01, betas=betas, eps=1e-6), model, grads)
    expected = adam_reference(theta, grads, 0.01, *betas, 1e-6)
    for after, reference in zip(trajectory, expected, strict=True):
        np.testing.assert_allclose(after, reference, rtol=RTOL)


def test_adam_eps_matters_for_tiny_gradients():
    model = small_model()
    theta = model.flat_params.copy()
    grad = np.full(theta.size, 1e-3)
    run(Adam(model, lr=1.0, eps=1e-3), model, [grad])
    np.testing.assert_allclose(model.flat_params, theta - 0.5)  # 1e-3 / (1e-3 + 1e-3)


def test_adam_weight_decay_is_l2_in_the_gradient():
    model = small_model()
    theta = model.flat_params.copy()
    grads = gradients(3, theta.size)
    trajectory = run(Adam(model, lr=0.01, weight_decay=0.2), model, grads)
    expected = adam_reference(theta, grads, 0.01, 0.9, 0.999, 1e-8, l2=0.2, mask=decay_mask(model))
    for after, reference in zip(trajectory, expected, strict=True):
        np.testing.assert_allclose(after, reference, rtol=RTOL)


def test_adamw_decay_is_decoupled():
    model = small_model()
    theta = model.flat_params.copy()
    grads = gradients(3, theta.size)
    trajectory = run(AdamW(model, lr=0.01, weight_decay=0.2), model, grads)
    mask = decay_mask(model)
    expected = adam_reference(theta, grads, 0.01, 0.9, 0.999, 1e-8, decoupled=0.2, mask=mask)
    for after, reference in zip(trajectory, expected, strict=True):
        np.testing.assert_allclose(after, reference, rtol=RTOL)
    # Decoupled decay is not L2: the two give different weights after the same steps.
    l2 = adam_reference(theta, grads, 0.01, 0.9, 0.999, 1e-8, l2=0.2, mask=mask)[-1]
    assert np.abs(trajectory[-1] - l2).max() > 1e-4


def test_adamw_with_zero_gradient_only_shrinks_the_weights():
    model = small_model()
    theta = model.flat_params.copy()
    run(AdamW(model, lr=0.1, weight_decay=0.5), model, [np.zeros_like(theta)] * 2)
    expected = np.where(decay_mask(model) == 1, theta * 0.95**2, theta)
    np.testing.assert_allclose(model.flat_params, expected, rtol=RTOL)


def test_a_changed_learning_rate_applies_from_the_next_step():
    """The trainer sets ``optimizer.lr`` from the schedule before each epoch."""
    model = small_model()
    theta = model.flat_params.copy()
    grads = gradients(2, theta.size)
    optimizer = SGD(model, lr=0.1)
    run(optimizer, model, grads[:1])
    optimizer.lr = 0.01
    run(optimizer, model, grads[1:])
    np.testing.assert_allclose(model.flat_params, theta - 0.1 * grads[0] - 0.01 * grads[1])


def test_clip_grad_norm_scales_to_max_norm_and_returns_the_norm_before():
    model = small_model()
    grad = np.arange(1.0, 13.0)
    model.flat_grads[...] = grad
    norm = clip_grad_norm(model, max_norm=2.0)
    assert norm == pytest.approx(math.sqrt(sum(i * i for i in range(1, 13))), rel=1e-15)
    np.testing.assert_allclose(model.flat_grads, grad * 2.0 / norm, rtol=1e-11)
    assert float(np.linalg.norm(model.flat_grads)) == pytest.approx(2.0, rel=1e-11)


def test_clip_grad_norm_leaves_small_gradients_alone():
    model = small_model()
    grad = np.full(12, 0.1)  # norm 0.346
    model.flat_grads[...] = grad
    assert clip_grad_norm(model, max_norm=1.0) == pytest.approx(math.sqrt(12) * 0.1, rel=1e-15)
    np.testing.assert_array_equal(model.flat_grads, grad)


@pytest.mark.parametrize(
    "make",
    [
        lambda m: SGD(m, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
        lambda m: SGD(m, lr=0.05, momentum=0.9),
        lambda m: Adam(m, lr=0.05, weight_decay=0.01),
        lambda m: AdamW(m, lr=0.05, weight_decay=0.01),
    ],
    ids=["nesterov", "momentum", "adam", "adamw"],
)
def test_state_round_trip_continues_the_same_steps(make):
    """Three steps, save, restore into a fresh optimizer on a copy, two more steps: the
    same parameters, bit for bit, as five uninterrupted steps."""
    grads = gradients(5, small_model().flat_params.size)
    straight = small_model()
    run(make(straight), straight, grads)

    first = small_model()
    optimizer = make(first)
    run(optimizer, first, grads[:3])
    arrays = {name: a.copy() for name, a in optimizer.state_arrays().items()}
    meta = dict(optimizer.state_meta())
    resumed = small_model()
    resumed.flat_params[...] = first.flat_params
    again = make(resumed)
    again.load_state_arrays(arrays)
    again.load_state_meta(meta)
    assert again.state_meta() == meta
    run(again, resumed, grads[3:])
    np.testing.assert_array_equal(resumed.flat_params, straight.flat_params)


def test_state_meta_counts_steps_and_keeps_lr():
    model = small_model()
    optimizer = Adam(model, lr=0.02)
    run(optimizer, model, gradients(3, model.flat_params.size))
    assert optimizer.state_meta() == {"step_count": 3, "lr": 0.02}


@pytest.mark.parametrize(
    ("spec", "reference"),
    [
        (
            SGDSpec(lr=0.1, momentum=0.5, nesterov=True, weight_decay=0.2),
            lambda m: SGD(m, lr=0.1, momentum=0.5, nesterov=True, weight_decay=0.2),
        ),
        (SGDSpec(lr=0.1), lambda m: SGD(m, lr=0.1)),
        (
            AdamSpec(lr=0.01, betas=[0.8, 0.9], eps=1e-4, weight_decay=0.1),
            lambda m: Adam(m, lr=0.01, betas=(0.8, 0.9), eps=1e-4, weight_decay=0.1),
        ),
        (
            AdamWSpec(lr=0.01, betas=[0.8, 0.9], eps=1e-4, weight_decay=0.1),
            lambda m: AdamW(m, lr=0.01, betas=(0.8, 0.9), eps=1e-4, weight_decay=0.1),
        ),
    ],
    ids=["sgd-nesterov", "sgd", "adam", "adamw"],
)
def test_make_optimizer_passes_every_setting(spec, reference):
    grads = gradients(3, small_model().flat_params.size)
    built = small_model()
    optimizer = make_optimizer(spec, built)
    assert type(optimizer) is type(reference(small_model()))
    run(optimizer, built, grads)
    expected = small_model()
    run(reference(expected), expected, grads)
    np.testing.assert_array_equal(built.flat_params, expected.flat_params)


def convex_problem(seed: int = 0):
    """Least squares on a well-conditioned design: a convex loss with a unique minimum."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((64, 4))
    y = x @ np.array([[1.5], [-2.0], [0.5], [1.0]]) + 0.3
    model = Sequential([Linear(4, 1, rng=rng, dtype=np.float64)], head="identity")
    return model, x, y


@pytest.mark.parametrize(
    "make",
    [
        lambda m: SGD(m, lr=0.1),
        lambda m: SGD(m, lr=0.05, momentum=0.9),
        lambda m: SGD(m, lr=0.05, momentum=0.9, nesterov=True),
        lambda m: SGD(m, lr=0.1, weight_decay=1e-3),
        lambda m: Adam(m, lr=0.1),
        lambda m: Adam(m, lr=0.1, weight_decay=1e-3),
        lambda m: AdamW(m, lr=0.1, weight_decay=1e-3),
    ],
    ids=["sgd", "momentum", "nesterov", "sgd-l2", "adam", "adam-l2", "adamw"],
)
def test_every_optimizer_lowers_a_convex_loss(make):
    model, x, y = convex_problem()
    loss = MSELoss()
    optimizer = make(model)
    start = loss.forward(model.forward(x), y)
    losses = []
    for _ in range(60):
        losses.append(loss.forward(model.forward(x), y))
        model.backward(loss.backward())
        optimizer.step()
    final = loss.forward(model.forward(x), y)
    assert final < 1e-2 * start, (start, final)
    assert losses[5] < losses[0]


def test_defaults():
    model = small_model()
    assert SGD(model).state_meta() == {"step_count": 0, "lr": 0.01}
    assert Adam(model).state_meta() == {"step_count": 0, "lr": 1e-3}
    theta = model.flat_params.copy()
    grads = gradients(2, theta.size)
    run(Adam(model), model, grads)
    expected = adam_reference(theta, grads, 1e-3, 0.9, 0.999, 1e-8)[-1]
    np.testing.assert_allclose(model.flat_params, expected, rtol=RTOL)
    model.flat_params[...] = theta
    run(SGD(model), model, grads)  # no momentum, no decay
    np.testing.assert_allclose(model.flat_params, theta - 0.01 * (grads[0] + grads[1]), rtol=RTOL)


def test_state_array_names_are_the_checkpoint_names():
    """Checkpoints store these buffers as ``optim.<name>.<param>``."""
    model = small_model()
    assert set(Adam(model).state_arrays()) == {"m", "v"}
    assert set(AdamW(model).state_arrays()) == {"m", "v"}
    assert set(SGD(model, momentum=0.9).state_arrays()) == {"velocity"}
    assert SGD(model).state_arrays() == {}  # plain SGD has no state to save


@pytest.mark.parametrize("make", [SGD, lambda m: SGD(m, momentum=0.9), Adam])
def test_step_count(make):
    model = small_model()
    optimizer = make(model)
    run(optimizer, model, gradients(3, model.flat_params.size))
    assert optimizer.state_meta()["step_count"] == 3


def test_clip_grad_norm_at_exactly_max_norm_changes_nothing():
    model = small_model()
    grad = np.zeros(12)
    grad[:2] = [3.0, 4.0]
    model.flat_grads[...] = grad
    assert clip_grad_norm(model, max_norm=5.0) == 5.0
    np.testing.assert_array_equal(model.flat_grads, grad)


def test_clip_grad_norm_never_raises_the_norm_of_tiny_gradients():
    model = small_model()
    model.flat_grads[...] = np.full(12, 1.5e-12 / math.sqrt(12))  # norm 1.5e-12
    clip_grad_norm(model, max_norm=1e-12)
    assert float(np.linalg.norm(model.flat_grads)) <= 1e-12
