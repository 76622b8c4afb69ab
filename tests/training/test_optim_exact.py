"""The optimizer steps equal, bit for bit, the implementation they replaced (issue 14).

Each reference below is a verbatim copy of a step as it stood before the passes were cut;
any rewrite for speed must keep the same float operations in the same order per element,
so the parameters and moments after many steps must have identical bits.
"""

from __future__ import annotations

import numpy as np
import pytest

from mlptrain.nn.activations import ReLU
from mlptrain.nn.linear import Linear
from mlptrain.nn.sequential import Sequential
from mlptrain.training import optim
from mlptrain.training.optim import SGD, Adam, AdamW

STEPS = 25


def _model(dtype: type) -> Sequential:
    rng = np.random.default_rng(3)
    return Sequential(
        [
            Linear(7, 12, rng=rng, dtype=dtype),
            ReLU(),
            Linear(12, 3, rng=rng, dtype=dtype),
        ]
    )


def _old_sgd_step(opt: SGD, grad: np.ndarray, params: np.ndarray, velocity: np.ndarray) -> None:
    dtype = opt.model.dtype.type
    lr = dtype(opt.lr)
    scratch = np.empty_like(params)
    if not opt.momentum:
        np.multiply(grad, lr, out=scratch)
        params -= scratch
        return
    velocity *= dtype(opt.momentum)
    velocity += grad
    if opt.nesterov:
        np.multiply(velocity, dtype(opt.momentum), out=scratch)
        scratch += grad
    else:
        scratch[...] = velocity
    scratch *= lr
    params -= scratch


def _old_adam_step(
    opt: Adam, grad: np.ndarray, params: np.ndarray, m: np.ndarray, v: np.ndarray, t: int
) -> None:
    dtype = opt.model.dtype.type
    scratch = np.empty_like(params)
    b1, b2 = opt.beta1, opt.beta2
    m *= dtype(b1)
    np.multiply(grad, dtype(1 - b1), out=scratch)
    m += scratch
    v *= dtype(b2)
    np.multiply(grad, grad, out=scratch)
    scratch *= dtype(1 - b2)
    v += scratch
    bias1 = 1 - b1**t
    bias2 = 1 - b2**t
    np.sqrt(v, out=scratch)
    scratch *= dtype(1 / np.sqrt(bias2))
    scratch += dtype(opt.eps)
    np.divide(m, scratch, out=scratch)
    scratch *= dtype(opt.lr / bias1)
    params -= scratch


@pytest.fixture(params=[None, 16], ids=["one-block", "blocks-of-16"], autouse=True)
def block_size(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The step runs block by block (optim.CHUNK): with blocks of 16 the 135 parameters of
    the test model are 9 blocks, the last one partial, and the bits must not change."""
    if request.param is not None:
        monkeypatch.setattr(optim, "CHUNK", request.param)


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.tobytes() == b.tobytes()


def _gradients(model: Sequential, dtype: type) -> list[np.ndarray]:
    rng = np.random.default_rng(11)
    # Wide magnitudes, so rounding differences of a reordered formula would show.
    return [
        (rng.standard_normal(model.flat_grads.size) * 10.0 ** rng.uniform(-4, 2)).astype(dtype)
        for _ in range(STEPS)
    ]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "kwargs",
    [
        {"momentum": 0.0},
        {"momentum": 0.9},
        {"momentum": 0.9, "nesterov": True},
        {"momentum": 0.8, "weight_decay": 1e-2},
    ],
)
def test_sgd_matches_previous_implementation(dtype: type, kwargs: dict) -> None:
    model = _model(dtype)
    opt = SGD(model, lr=0.05, **kwargs)
    params = model.flat_params.copy()
    velocity = np.zeros_like(params)
    for grad in _gradients(model, dtype):
        model.flat_grads[...] = grad
        opt.step()
        # The reference sees the same L2-augmented gradient the step used.
        _old_sgd_step(opt, model.flat_grads.copy(), params, velocity)
        assert _same_bits(model.flat_params, params)
    if opt.momentum:
        assert _same_bits(opt.velocity, velocity)
    assert not np.array_equal(params, _model(dtype).flat_params)  # the steps did move


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cls", [Adam, AdamW])
def test_adam_matches_previous_implementation(dtype: type, cls: type) -> None:
    model = _model(dtype)
    opt = cls(model, lr=3e-3, weight_decay=0.0)
    params = model.flat_params.copy()
    m, v = np.zeros_like(params), np.zeros_like(params)
    for t, grad in enumerate(_gradients(model, dtype), start=1):
        model.flat_grads[...] = grad
        opt.step()
        _old_adam_step(opt, grad, params, m, v, t)
        assert _same_bits(model.flat_params, params), f"step {t}"
    assert _same_bits(opt.m, m) and _same_bits(opt.v, v)
