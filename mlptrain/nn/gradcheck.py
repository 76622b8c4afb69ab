"""Gradient check: hand-derived backward passes against central finite differences.

For a module f and a random upstream gradient ``df`` (CS231n style), the scalar
``L(θ) = Σ f(θ) · df`` has the gradient that ``backward(df)`` claims to compute, and

    dL/dθ_i ≈ (L(θ + h e_i) - L(θ - h e_i)) / 2h        (error O(h²) + O(eps·|L|/h)).

Comparison, for each tensor (input "x" or a parameter), over the coordinates checked:

    relative error = max_i |a_i - n_i| / max(max_i |a_i| + max_i |n_i|, floor)

with ``a`` analytic and ``n`` numeric. This norm-wise form is used rather than the CS231n
element-wise ``|a - n| / max(|a|, |n|)`` because the latter is dominated by coordinates whose
true gradient is ~0 (dead ReLU units, cancellations), where finite differences only return
round-off noise and the element-wise ratio is meaningless.

The floor makes the comparison scale-aware, like torch.autograd.gradcheck's
``|a - n| <= atol + rtol · |n|``: passing at threshold τ means
``max|a - n| < τ · max(gradient magnitude, floor)``, a relative tolerance τ on the gradient
and an absolute one, τ · floor, set by the resolution of the differences. That resolution is
the round-off of one evaluation, ε · S, divided by the step: ``floor = 1e7 · ε · S / h`` with
ε the float64 machine epsilon and S the size of the terms the objective is computed from, the
largest seen over the perturbed evaluations: Σ|f · df| + max|x| · Σ|df| for a module (not
|Σ f · df|, which can cancel to nearly 0 while each term still carries its round-off; the
second term for intermediates as large as the input that cancel to a small output, as GELU's
½x(1 + tanh u) does at x = -5), |L| + max|output| for a loss
(log-sum-exp and max(z, 0) - z·t subtract terms as large as the biggest logit, so a loss of
1e-6 can carry round-off of ε · |logit|). So a gradient too small for finite differences to
resolve (a confidently right prediction, a Linear bias that a following BatchNorm cancels
exactly, BatchNorm over two samples) is compared in absolute terms instead of giving a
meaningless relative error; a wrong derivative still scores far above the threshold, because
its error is a sizeable fraction of the gradient, not of ε / h.
Float64 with h = 1e-6 gives errors around 1e-8..1e-10 for a correct backward; a wrong
derivative gives errors of order 0.1.

Only a random, seeded subset of coordinates is perturbed (``max_coords`` per tensor) so that
large layers stay fast. During a check, buffers (batch-norm running statistics) and dropout
Generators are restored before every perturbed forward, so every forward draws the same dropout
mask, the check is of one function, and the model is left as it was found.
See docs/derivations.md#gradient-check.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlptrain.nn.dropout import Dropout
from mlptrain.nn.losses import Loss
from mlptrain.nn.module import Module
from mlptrain.nn.sequential import Sequential

THRESHOLD = 1e-5
MAX_COORDS = 64
# The noise floor of the denominator is this many times the finite-difference round-off.
NOISE_FLOOR_FACTOR = 1e7
_EPS = float(np.finfo(np.float64).eps)
_TINY = float(np.finfo(np.float64).tiny)


def relative_error(analytic: np.ndarray, numeric: np.ndarray, floor: float = 0.0) -> float:
    """max|a - n| / max(max|a| + max|n|, floor); 0 for two empty or all-zero arrays."""
    analytic = np.asarray(analytic, dtype=np.float64)
    numeric = np.asarray(numeric, dtype=np.float64)
    if analytic.shape != numeric.shape:
        raise ValueError(f"shapes differ: analytic {analytic.shape}, numeric {numeric.shape}")
    if analytic.size == 0:
        return 0.0
    scale = np.abs(analytic).max() + np.abs(numeric).max()
    return float(np.abs(analytic - numeric).max() / max(scale, floor, _TINY))


def _submodules(module: Module) -> list[Module]:
    """The module itself and, for containers, every module inside (depth first)."""
    found = [module]
    for child in getattr(module, "modules", []):
        found.extend(_submodules(child))
    return found


def _require_float64(what: str, arrays: dict[str, np.ndarray]) -> None:
    for name, array in arrays.items():
        if np.asarray(array).dtype != np.float64:
            raise ValueError(
                f"gradcheck needs float64 for {what}, got {np.asarray(array).dtype} for "
                f"{name!r}: build the model with dtype=float64 (float32 round-off swamps "
                "finite differences)"
            )


def _require_module_float64(module: Module, x: np.ndarray) -> None:
    _require_float64("the input", {"x": x})
    for sub in _submodules(module):
        _require_float64(repr(sub), {**sub.params, **sub.buffers})


def _coords(shape: tuple[int, ...], rng: np.random.Generator, max_coords: int | None) -> tuple:
    """A seeded random subset of indices into an array of ``shape``, as an index tuple."""
    size = int(np.prod(shape, dtype=np.int64))
    if max_coords is None or size <= max_coords:
        flat = np.arange(size)
    else:
        flat = np.sort(rng.choice(size, size=max_coords, replace=False))
    return np.unravel_index(flat, shape)


def noise_floor(scale: float, h: float) -> float:
    """The denominator floor of ``relative_error`` for an objective whose terms are of size
    ``scale``, differenced with step ``h`` (module docstring)."""
    return NOISE_FLOOR_FACTOR * _EPS * scale / h


def _numeric_grad(
    array: np.ndarray, coords: tuple, evaluate: Callable[[], tuple[float, float]], h: float
) -> tuple[np.ndarray, float]:
    """Central differences of ``evaluate()`` wrt ``array[coords]``, perturbing in place.

    ``evaluate`` returns the objective and the size of the terms it was computed from.
    Returns the estimates and the noise floor for ``relative_error`` (module docstring).
    Each coordinate is restored to its saved value, not by subtracting h, so that no drift
    accumulates in the parameters.
    """
    numeric = np.empty(len(coords[0]), dtype=np.float64)
    scale = 0.0
    for j, index in enumerate(zip(*coords, strict=True)):
        saved = array[index]
        array[index] = saved + h
        plus, plus_scale = evaluate()
        array[index] = saved - h
        minus, minus_scale = evaluate()
        array[index] = saved
        numeric[j] = (plus - minus) / (2 * h)
        scale = max(scale, plus_scale, minus_scale)
    return numeric, noise_floor(scale, h)


def _loss_and_scale(loss: Loss, output: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    value = loss.forward(output, target)
    return value, abs(value) + float(np.abs(output).max(initial=0.0))


@contextmanager
def _held_state(module: Module) -> Iterator[Callable[[], None]]:
    """Force caching and input gradients; yield a reset of buffers and dropout Generators.

    Resetting the Generators to their state on entry makes every forward redraw the same
    dropout mask. On exit every flag, buffer and dropout Generator is as it was on entry and
    no forward cache is left behind.
    """
    modules = _submodules(module)
    buffers = [(buf, buf.copy()) for m in modules for buf in m.buffers.values()]
    flags = [(m, m.caching, getattr(m, "needs_input_grad", None)) for m in modules]
    dropouts = [(m, m.rng.bit_generator.state) for m in modules if isinstance(m, Dropout)]

    def reset_buffers() -> None:
        for buf, saved in buffers:
            buf[...] = saved
        for m, rng_state in dropouts:
            m.rng.bit_generator.state = rng_state

    try:
        for m in modules:
            m.requires_grad(True)
            if getattr(m, "needs_input_grad", None) is False:
                m.needs_input_grad = True
        yield reset_buffers
    finally:
        reset_buffers()
        for m, caching, needs_input_grad in flags:
            m.caching = caching
            if needs_input_grad is not None:
                m.needs_input_grad = needs_input_grad
        for m in modules:
            m.clear_cache()


def check_module(
    module: Module,
    x: np.ndarray,
    *,
    rng: np.random.Generator,
    h: float = 1e-6,
    max_coords: int | None = MAX_COORDS,
) -> dict[str, float]:
    """Relative error of ``module.backward`` for the input ("x") and every parameter key.

    The module is checked in its current mode (train or eval); in eval mode the cache is
    kept for the duration of the check. ``rng`` draws the upstream gradient and the subset of
    coordinates (at most ``max_coords`` per tensor; None checks all). Raises ValueError
    unless the input and all parameters and buffers are float64.
    """
    _require_module_float64(module, x)
    with _held_state(module) as reset_buffers:
        x_ref = np.array(x, dtype=np.float64, copy=True)
        y = module.forward(x_ref)
        upstream = rng.standard_normal(y.shape)
        grad_x = module.backward(upstream.copy())
        analytic = {"x": np.array(grad_x, copy=True)}
        analytic.update({key: g.copy() for key, g in module.grads.items()})

        x_work = x_ref.copy()
        input_size = float(np.abs(x_ref).max(initial=0.0))
        upstream_size = float(np.abs(upstream).sum())

        def objective_of(inputs: np.ndarray) -> Callable[[], tuple[float, float]]:
            def objective() -> tuple[float, float]:
                reset_buffers()
                terms = module.forward(inputs) * upstream
                # Intermediates as large as the input can cancel to a small output (GELU's
                # ½x(1 + tanh u) at x = -5): their round-off, ε·|x| per element, counts too.
                scale = np.sum(np.abs(terms)) + input_size * upstream_size
                return float(np.sum(terms)), float(scale)

            return objective

        errors: dict[str, float] = {}
        targets: list[tuple[str, np.ndarray, Callable[[], tuple[float, float]]]] = [
            ("x", x_work, objective_of(x_work))
        ]
        targets += [(key, p, objective_of(x_ref)) for key, p in module.params.items()]
        for key, array, objective in targets:
            coords = _coords(array.shape, rng, max_coords)
            numeric, floor = _numeric_grad(array, coords, objective, h)
            errors[key] = relative_error(analytic[key][coords], numeric, floor)
    return errors


def check_loss(
    loss: Loss,
    output: np.ndarray,
    target: np.ndarray,
    *,
    h: float = 1e-6,
    rng: np.random.Generator | None = None,
    max_coords: int | None = None,
) -> float:
    """Relative error of ``loss.backward()`` (the gradient wrt ``output``).

    All coordinates are checked unless ``max_coords`` is given (then ``rng`` picks them).
    """
    _require_float64("the loss output", {"output": output})
    output_work = np.array(output, dtype=np.float64, copy=True)
    loss.forward(output_work.copy(), target)
    analytic = np.array(loss.backward(), copy=True)
    if max_coords is not None and rng is None:
        raise ValueError("check_loss with max_coords needs rng to choose the coordinates")
    coords = _coords(
        output_work.shape, rng if rng is not None else np.random.default_rng(0), max_coords
    )

    def objective() -> tuple[float, float]:
        return _loss_and_scale(loss, output_work, target)

    numeric, floor = _numeric_grad(output_work, coords, objective, h)
    return relative_error(analytic[coords], numeric, floor)


def check_model(
    model: Sequential,
    loss: Loss,
    x: np.ndarray,
    target: np.ndarray,
    *,
    rng: np.random.Generator,
    h: float = 1e-6,
    max_coords: int | None = MAX_COORDS,
) -> list[tuple[str, float]]:
    """Every layer alone, the loss, then the whole stack with the loss.

    Rows: ``("0 Linear(64 -> 128): x", err)``, ``("0 Linear(64 -> 128): W", err)``, … for each
    layer on the activations the model feeds it; ``("loss SoftmaxCrossEntropy(): output", err)``;
    then one row per model parameter by its name (``"0.W"``, ``"0.b"``, …) for the gradient of
    the loss through the whole stack. Dropout masks are redrawn identically; a first Linear with
    ``needs_input_grad=False`` is switched on for the check; the model's buffers, dropout
    Generators and flags are restored afterwards.
    """
    _require_module_float64(model, x)
    rows: list[tuple[str, float]] = []
    with _held_state(model) as reset_buffers:
        activations = np.array(x, dtype=np.float64, copy=True)
        for index, layer in enumerate(model.modules):
            for key, error in check_module(
                layer, activations, rng=rng, h=h, max_coords=max_coords
            ).items():
                rows.append((f"{index} {layer!r}: {key}", error))
            activations = layer.forward(activations)
        reset_buffers()
        if model.training:  # an ensemble's training output has a block of rows per member
            target = model.repeat(target)
        rows.append(
            (
                f"loss {loss!r}: output",
                check_loss(loss, activations, target, h=h, rng=rng, max_coords=max_coords),
            )
        )

        x_ref = np.array(x, dtype=np.float64, copy=True)
        # The Generators were reset above: this forward redraws the per-layer pass's masks.
        loss.forward(model.forward(x_ref), target)
        model.backward(loss.backward())
        analytic = {name: g.copy() for name, g in model.grads.items()}

        def objective() -> tuple[float, float]:
            reset_buffers()
            return _loss_and_scale(loss, model.forward(x_ref), target)

        for name, param, _ in model.parameters():
            coords = _coords(param.shape, rng, max_coords)
            numeric, floor = _numeric_grad(param, coords, objective, h)
            rows.append((name, relative_error(analytic[name][coords], numeric, floor)))
    return rows


@dataclass
class GradcheckResult:
    """Rows of (name, relative error) with a pass/fail verdict at ``threshold``."""

    rows: list[tuple[str, float]]
    threshold: float = THRESHOLD
    failures: list[str] = field(init=False)

    def __post_init__(self) -> None:
        self.failures = [name for name, error in self.rows if not error < self.threshold]

    @property
    def passed(self) -> bool:
        return not self.failures

    def table(self) -> str:
        """A plain-text table: name, relative error, PASS/FAIL; a summary line last."""
        width = max([len("name"), *(len(name) for name, _ in self.rows)])
        lines = [f"{'name':<{width}}  {'rel. error':>10}  result"]
        for name, error in self.rows:
            verdict = "PASS" if error < self.threshold else "FAIL"
            lines.append(f"{name:<{width}}  {error:>10.2e}  {verdict}")
        summary = (
            f"all {len(self.rows)} checks pass (threshold {self.threshold:.0e})"
            if self.passed
            else f"{len(self.failures)} of {len(self.rows)} checks FAIL "
            f"(threshold {self.threshold:.0e})"
        )
        lines.append(summary)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for reports."""
        return {
            "threshold": self.threshold,
            "passed": self.passed,
            "rows": [
                {"name": name, "relative_error": error, "passed": error < self.threshold}
                for name, error in self.rows
            ],
        }
