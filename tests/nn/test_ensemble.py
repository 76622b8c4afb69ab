"""The ensemble layers (ensemble, ensemble_linear, ensemble_mean): values against per-member
loops, gradients against finite differences in float64, and PyTorch where it is installed."""

from __future__ import annotations

import numpy as np
import pytest

from mlptrain.nn import (
    EnsembleInput,
    EnsembleLinear,
    EnsembleMean,
    SoftmaxCrossEntropy,
    build_model,
)
from mlptrain.nn.gradcheck import THRESHOLD, check_model, check_module

K, N, D, H, C = 3, 5, 4, 6, 3


def _input(rng: np.random.Generator) -> EnsembleInput:
    layer = EnsembleInput(K, D, rng=rng, dtype=np.float64)
    layer.params["r"][...] = rng.standard_normal((K, D))  # not just signs
    return layer


def test_ensemble_input_scales_one_copy_per_member() -> None:
    rng = np.random.default_rng(0)
    layer = _input(rng)
    x = rng.standard_normal((N, D))
    y = layer.forward(x)
    assert y.shape == (K * N, D)
    for m in range(K):
        for b in range(N):
            np.testing.assert_array_equal(y[m * N + b], layer.params["r"][m] * x[b])


def test_ensemble_input_starts_from_random_signs() -> None:
    r = EnsembleInput(8, 50, rng=np.random.default_rng(1)).params["r"]
    assert set(np.unique(r)) == {-1.0, 1.0}
    assert 0.35 < float(np.mean(r > 0)) < 0.65


def test_ensemble_linear_is_one_linear_map_per_member() -> None:
    rng = np.random.default_rng(2)
    layer = EnsembleLinear(K, D, H, rng=rng, dtype=np.float64)
    layer.params["b"][...] = rng.standard_normal((K, H))
    x = rng.standard_normal((K * N, D))
    y = layer.forward(x)
    for m in range(K):
        rows = slice(m * N, (m + 1) * N)
        expected = x[rows] @ layer.params["W"][m] + layer.params["b"][m]
        np.testing.assert_allclose(y[rows], expected, rtol=1e-12, atol=1e-12)


def test_ensemble_linear_draws_each_member_on_its_own() -> None:
    W = EnsembleLinear(4, 30, 20, rng=np.random.default_rng(3), init="he").params["W"]
    assert W.shape == (4, 30, 20)
    assert not np.array_equal(W[0], W[1])
    # He: variance 2 / fan_in per member
    assert abs(float(W.var()) - 2 / 30) < 0.15 * 2 / 30


def test_ensemble_mean_passes_members_in_training_and_averages_in_evaluation() -> None:
    x = np.random.default_rng(4).standard_normal((K * N, C))
    layer = EnsembleMean(K)
    assert layer.forward(x) is x
    layer.eval()
    expected = sum(x[m * N : (m + 1) * N] for m in range(K)) / K
    np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-12)


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("which", ["input", "linear", "mean"])
def test_gradients_match_finite_differences(which: str, mode: str) -> None:
    rng = np.random.default_rng(5)
    if which == "input":
        layer, x = _input(rng), rng.standard_normal((N, D))
    elif which == "linear":
        layer = EnsembleLinear(K, D, H, rng=rng, dtype=np.float64)
        layer.params["b"][...] = rng.standard_normal((K, H))
        x = rng.standard_normal((K * N, D))
    else:
        layer, x = EnsembleMean(K), rng.standard_normal((K * N, C))
    if mode == "eval":
        layer.eval().requires_grad()
    errors = check_module(layer, x, rng=rng, max_coords=None)
    assert set(errors) == {"x", *layer.params}
    assert all(error < THRESHOLD for error in errors.values()), errors


def test_a_wrong_member_gradient_is_caught() -> None:
    """The check can fail: an adapter gradient summed over the wrong axis is refused."""

    class Wrong(EnsembleInput):
        def backward(self, grad_out: np.ndarray) -> np.ndarray | None:
            dx = super().backward(grad_out)
            self.grads["r"][...] = self.grads["r"][::-1]  # members' gradients swapped
            return dx

    rng = np.random.default_rng(6)
    layer = Wrong(K, D, rng=rng, dtype=np.float64)
    layer.params["r"][...] = rng.standard_normal((K, D))
    errors = check_module(layer, rng.standard_normal((N, D)), rng=rng, max_coords=None)
    assert errors["r"] > 1e-2 and errors["x"] < THRESHOLD


SPECS = [
    {"type": "ensemble", "k": K},
    {"type": "linear", "units": H},
    "relu",
    {"type": "ensemble_linear", "units": H},
    "tanh",
    {"type": "ensemble_linear"},
    "ensemble_mean",
]


def _model():
    return build_model(
        SPECS, n_inputs=D, n_outputs=C, rng=np.random.default_rng(7), dtype=np.float64
    )


def test_whole_stack_with_the_loss_matches_finite_differences() -> None:
    """Training mode: the loss is the mean of the members' losses (targets repeated)."""
    rng = np.random.default_rng(8)
    model = _model()
    rows = check_model(
        model,
        SoftmaxCrossEntropy(),
        rng.standard_normal((N, D)),
        rng.integers(0, C, N),
        rng=rng,
        max_coords=None,
    )
    assert len(rows) > 10 and all(error < THRESHOLD for _, error in rows), rows


def test_training_loss_is_the_mean_of_the_members_losses() -> None:
    rng = np.random.default_rng(9)
    model = _model()
    x, y = rng.standard_normal((N, D)), rng.integers(0, C, N)
    loss = SoftmaxCrossEntropy()
    assert model.members == K
    together = loss.forward(model.forward(x), model.repeat(y))
    logits = model.forward(x).reshape(K, N, C)
    alone = [loss.forward(logits[m], y) for m in range(K)]
    assert together == pytest.approx(np.mean(alone), rel=1e-12)


def test_prediction_is_the_softmax_of_the_mean_logit() -> None:
    rng = np.random.default_rng(10)
    model = _model()
    x = rng.standard_normal((N, D))
    member_logits = model.forward(x).reshape(K, N, C)  # training mode: one block per member
    mean = member_logits.mean(axis=0)
    expected = np.exp(mean) / np.exp(mean).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(model.predict_proba(x), expected, rtol=1e-12)
    assert model.training  # predict restored the mode


def test_packed_members_learn_independently() -> None:
    """With no shared layer, member m's gradients depend on member m's rows only."""
    rng = np.random.default_rng(11)
    specs = [{"type": "ensemble", "k": 2}, {"type": "ensemble_linear"}, "ensemble_mean"]
    model = build_model(specs, n_inputs=D, n_outputs=C, rng=rng, dtype=np.float64)
    x, y = rng.standard_normal((N, D)), rng.integers(0, C, N)
    loss = SoftmaxCrossEntropy()
    loss.forward(model.forward(x), model.repeat(y))
    model.backward(loss.backward())
    before = model.grads["1.W"].copy()
    model.params["1.W"][1] += rng.standard_normal((D, C))  # member 1 changes, not member 0
    loss.forward(model.forward(x), model.repeat(y))
    model.backward(loss.backward())
    np.testing.assert_allclose(model.grads["1.W"][0], before[0], rtol=1e-12)
    assert not np.allclose(model.grads["1.W"][1], before[1])


def test_matches_pytorch() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(12)
    model = _model()
    x, y = rng.standard_normal((N, D)), rng.integers(0, C, N)
    loss = SoftmaxCrossEntropy()
    loss.forward(model.forward(x), model.repeat(y))
    model.backward(loss.backward())

    p = {name: torch.tensor(v, requires_grad=True) for name, v in model.params.items()}
    t = torch.tensor(x)
    h = (p["0.r"][:, None, :] * t[None]).reshape(K * N, D)
    h = torch.relu(h @ p["1.W"] + p["1.b"]).reshape(K, N, H)
    h = torch.tanh(torch.bmm(h, p["3.W"]) + p["3.b"][:, None, :])
    out = (torch.bmm(h, p["5.W"]) + p["5.b"][:, None, :]).reshape(K * N, C)
    target = torch.tensor(np.concatenate([y] * K))
    reference = torch.nn.functional.cross_entropy(out, target)
    reference.backward()
    assert reference.item() == pytest.approx(loss.forward(model.forward(x), model.repeat(y)))
    for name, tensor in p.items():
        np.testing.assert_allclose(model.grads[name], tensor.grad.numpy(), rtol=1e-10, atol=1e-12)
    with torch.no_grad():
        mean = out.reshape(K, N, C).mean(0)
        np.testing.assert_allclose(
            model.predict_proba(x), torch.softmax(mean, 1).numpy(), rtol=1e-10
        )


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        ([{"type": "ensemble_linear"}], "ensemble_linear is only allowed after an ensemble"),
        (["ensemble", "linear"], "needs an ensemble_mean layer after it"),
        (["ensemble", "ensemble", "linear", "ensemble_mean"], "not allowed inside an ensemble"),
    ],
)
def test_a_broken_ensemble_is_refused_by_the_builder(specs: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_model(specs, n_inputs=D, n_outputs=C, rng=np.random.default_rng(0))


def test_the_model_summary_shows_member_rows() -> None:
    from mlptrain.reporting.report import model_summary
    from mlptrain.reporting.tables import shape_text

    rows = model_summary(_model(), D)
    assert [r["members"] for r in rows] == [K, K, K, K, K, K, 1]
    assert [shape_text(r) for r in rows][::3] == [f"({K}·n, {D})", f"({K}·n, {H})", "(n, 3)"]
    assert sum(r["params"] for r in rows) == _model().flat_params.size


def test_input_weight_norms_read_each_input_across_the_members() -> None:
    """A packed ensemble's first weights are (k, in, out): an input's norm spans the members."""
    from mlptrain.reporting.report import input_weight_norms

    specs = [{"type": "ensemble", "k": K}, {"type": "ensemble_linear"}, "ensemble_mean"]
    model = build_model(specs, n_inputs=D, n_outputs=C, rng=np.random.default_rng(13))
    W = model.modules[1].params["W"].astype(np.float64)
    rows = input_weight_norms(model, [("a", 0, 1), ("rest", 1, D)])
    norms = {row["column"]: row["norm"] for row in rows}
    assert norms["a"] == pytest.approx(np.sqrt(np.sum(W[:, 0] ** 2)))
    assert norms["rest"] == pytest.approx(np.sqrt(np.sum(W[:, 1:] ** 2)))
