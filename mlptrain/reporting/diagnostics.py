"""Training diagnostics: per-layer health numbers for each epoch, and plain-language warnings.

``LayerDiagnostics`` runs inside the training loop: ``observe()`` once per optimizer step
(after backward, before the step), ``end_epoch()`` once per epoch, which returns the dict
stored as ``record["layers"]``::

    {"0 Linear(64 -> 256)": {"grad_norm": .., "weight_norm": .., "update_ratio": ..},
     "1 ReLU()": {"dead_fraction": ..}, "3 Tanh()": {"saturated_fraction": ..}}

- ``grad_norm``: ‖∂L/∂W‖ (the raw gradient, before clipping), mean over the observed steps.
- ``weight_norm``: ‖W‖ at the end of the epoch.
- ``update_ratio``: ‖ΔW‖ / ‖W‖ of one optimizer step, mean over the observed steps; ~1e-3 is
  the usual healthy value.
- ``dead_fraction``: share of a ReLU's units that were 0 for every sample of every observed
  batch of the epoch (they got no gradient at all).
- ``saturated_fraction``: share of sigmoid/tanh outputs within 1% of the ends of the range,
  where the derivative is nearly 0.

It is cheap by construction: it reads arrays the modules already hold, through their public
``inspect_cache()`` hook (ReLU's cached mask, the cached outputs of Sigmoid/Tanh), and the
gradient views of the flat buffer, and keeps one copy of the weights
to measure ΔW. Observing every step costs ~10% of an epoch of configs/digits.yaml, so by
default every 4th step is observed (and always the first of each epoch): ~3-4%. The step
statistics are then means over the observed steps, and "dead" means zero for every sample
of the observed batches.
``warnings_from_history`` turns a finished history into advice for the end-of-run summary.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from mlptrain.nn.registry import ACTIVE_MASK, PROBABILITY, SQUASHING, is_linear, layer_of
from mlptrain.nn.sequential import Sequential

# A sigmoid/tanh output counts as saturated beyond this share of its half-range.
SATURATION = 0.99
DEAD_WARN = 0.5
VANISHING_RATIO = 1e-3
UPDATE_RATIO_LOW = 1e-5
UPDATE_RATIO_HIGH = 1e-1
# Validation loss must have risen this much (relative) above its minimum to call it overfitting.
OVERFIT_RISE = 0.05
OVERFIT_MIN_EPOCHS = 3
# Observe every 4th step (and always an epoch's first): every step cost ~10% of the digits
# config's CPU time per epoch, every 4th ~3-4% (measured in process time, one BLAS thread).
DEFAULT_EVERY = 4


def layer_name(index: int, module: object) -> str:
    """The key of a layer in ``record["layers"]``: ``"0 Linear(64 -> 256)"``."""
    return f"{index} {module!r}"


def _has(module: Any, fact: str) -> bool:
    """Whether the registry entry of ``module``'s layer type carries a lint fact."""
    entry = layer_of(module)
    return entry is not None and fact in entry.lint


class LayerDiagnostics:
    """Accumulates per-layer statistics over an epoch's steps; see the module docstring."""

    def __init__(self, model: Sequential, *, every: int = DEFAULT_EVERY) -> None:
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        self.model = model
        self.every = every
        self._linears = [(layer_name(i, m), m) for i, m in enumerate(model.modules) if is_linear(m)]
        self._relus = [
            (layer_name(i, m), m) for i, m in enumerate(model.modules) if _has(m, ACTIVE_MASK)
        ]
        self._squashers = [
            (layer_name(i, m), m) for i, m in enumerate(model.modules) if _has(m, SQUASHING)
        ]
        # The flat parameter buffer before the last observed step (one copy, one op), and a
        # scratch buffer for ΔW: per-layer views of both are laid out like model.params.
        self._before_flat = np.empty_like(model.flat_params)
        self._delta_flat = np.empty_like(model.flat_params)
        before_views = model.views_of(self._before_flat)
        delta_views = model.views_of(self._delta_flat)
        index_of = {id(m): i for i, m in enumerate(model.modules)}
        self._before = [before_views[f"{index_of[id(m)]}.W"].ravel() for _, m in self._linears]
        self._delta = [delta_views[f"{index_of[id(m)]}.W"].ravel() for _, m in self._linears]
        self._pending = False
        self._reset()

    def _reset(self) -> None:
        self._calls = 0  # so the first step of every epoch is observed
        self._steps = 0
        self._updates = 0
        self._grad_sums = [0.0] * len(self._linears)
        self._ratio_sums = [0.0] * len(self._linears)
        self._alive: list[np.ndarray | None] = [None] * len(self._relus)
        self._saturated = [0] * len(self._squashers)
        self._seen = [0] * len(self._squashers)

    def _measure_updates(self) -> None:
        """‖W_now − W_before‖ / ‖W_before‖ for the step taken since the last snapshot."""
        np.subtract(self.model.flat_params, self._before_flat, out=self._delta_flat)
        for j in range(len(self._linears)):
            before, delta = self._before[j], self._delta[j]
            norm = math.sqrt(float(np.dot(before, before)))
            change = math.sqrt(float(np.dot(delta, delta)))
            self._ratio_sums[j] += change / norm if norm > 0 else 0.0
        self._updates += 1
        self._pending = False

    def observe(self) -> None:
        """Call after backward and before the optimizer step."""
        if self._pending:
            self._measure_updates()
        self._calls += 1
        if (self._calls - 1) % self.every:
            return
        self._steps += 1
        for j, (_, module) in enumerate(self._linears):
            grad = module.grads["W"].ravel()
            self._grad_sums[j] += math.sqrt(float(np.dot(grad, grad)))
        np.copyto(self._before_flat, self.model.flat_params)
        self._pending = True
        for j, (_, module) in enumerate(self._relus):
            # The mask [x > 0] that ReLU caches for its backward: no extra pass over the batch.
            mask = module.inspect_cache().get("active")
            if mask is None:
                continue
            active = np.asarray(mask.any(axis=0))  # the stubs allow a scalar for 1-D masks
            alive = self._alive[j]
            if alive is None:
                self._alive[j] = active
            else:
                np.logical_or(alive, active, out=alive)
        for j, (_, module) in enumerate(self._squashers):
            output = module.inspect_cache().get("output")
            if output is None:
                continue
            if not _has(module, PROBABILITY):  # tanh: saturated near -1 and 1
                edge = output.dtype.type(SATURATION)
                self._saturated[j] += int(np.count_nonzero(np.abs(output) > edge))
            else:
                low = output.dtype.type((1 - SATURATION) / 2)
                self._saturated[j] += int(
                    np.count_nonzero(output < low) + np.count_nonzero(output > 1 - low)
                )
            self._seen[j] += output.size

    def end_epoch(self) -> dict[str, dict[str, float | None]]:
        """The epoch's ``record["layers"]``, in model order; resets for the next epoch."""
        if self._pending:
            self._measure_updates()
        layers: dict[str, dict[str, float | None]] = {}
        for index, module in enumerate(self.model.modules):
            layers_key = layer_name(index, module)
            if is_linear(module):
                j = [m for _, m in self._linears].index(module)
                weight = module.params["W"].ravel()
                layers[layers_key] = {
                    "grad_norm": _mean(self._grad_sums[j], self._steps),
                    "weight_norm": _finite(math.sqrt(float(np.dot(weight, weight)))),
                    "update_ratio": _mean(self._ratio_sums[j], self._updates),
                }
            elif _has(module, ACTIVE_MASK):
                alive = self._alive[[m for _, m in self._relus].index(module)]
                layers[layers_key] = {
                    "dead_fraction": None if alive is None else 1.0 - float(alive.mean())
                }
            elif _has(module, SQUASHING):
                j = [m for _, m in self._squashers].index(module)
                layers[layers_key] = {
                    "saturated_fraction": _mean(self._saturated[j], self._seen[j])
                }
        self._reset()
        return layers


def _finite(value: float) -> float | None:
    """JSON has no NaN or inf: such values are recorded as null."""
    return value if math.isfinite(value) else None


def _mean(total: float, count: int) -> float | None:
    return _finite(total / count) if count else None


def _linear_series(history: list[dict[str, Any]], quantity: str) -> dict[str, list[float]]:
    """Linear layer name -> the finite values of ``quantity`` over the epochs, in model order."""
    series: dict[str, list[float]] = {}
    for record in history:
        for name, stats in (record.get("layers") or {}).items():
            if not isinstance(stats, dict) or quantity not in stats:
                continue
            value = stats[quantity]
            values = series.setdefault(name, [])
            if isinstance(value, int | float) and math.isfinite(value):
                values.append(float(value))
    return {name: values for name, values in series.items() if values}


def _dead_relu_warnings(history: list[dict[str, Any]]) -> list[str]:
    layers = history[-1].get("layers") or {}
    out = []
    for name, stats in layers.items():
        dead = stats.get("dead_fraction") if isinstance(stats, dict) else None
        if isinstance(dead, int | float) and dead > DEAD_WARN:
            out.append(
                f"layer {name}: {dead:.0%} of its ReLU units are dead (zero for every sample "
                f"in epoch {history[-1].get('epoch', len(history))}) and no longer learn; try "
                "a smaller learning rate, leaky_relu, or batchnorm before the activation"
            )
    return out


def _vanishing_warning(history: list[dict[str, Any]]) -> list[str]:
    grads = _linear_series(history, "grad_norm")
    if len(grads) < 2:
        return []
    names = list(grads)
    first, last = names[0], names[-1]
    first_norm = float(np.mean(grads[first]))
    last_norm = float(np.mean(grads[last]))
    if last_norm > 0 and first_norm < VANISHING_RATIO * last_norm:
        return [
            f"vanishing gradients: the first layer's gradient norm ({first_norm:.2e}, "
            f"{first}) is below {VANISHING_RATIO:g} x the last layer's ({last_norm:.2e}, "
            f"{last}), so the early layers barely learn; prefer relu/gelu to sigmoid/tanh in "
            "deep stacks, use init: auto, or add batchnorm"
        ]
    return []


def _update_ratio_warnings(history: list[dict[str, Any]]) -> list[str]:
    out = []
    for name, values in _linear_series(history, "update_ratio").items():
        ratio = float(np.mean(values))
        if ratio < UPDATE_RATIO_LOW:
            out.append(
                f"layer {name}: updates are tiny (mean update/weight ratio {ratio:.1e}, "
                f"healthy is about 1e-3); the learning rate is probably too low "
                "(train.optimizer.lr)"
            )
        elif ratio > UPDATE_RATIO_HIGH:
            out.append(
                f"layer {name}: updates are huge (mean update/weight ratio {ratio:.1e}, "
                f"healthy is about 1e-3); the learning rate is probably too high "
                "(train.optimizer.lr)"
            )
    return out


def _overfitting_warning(history: list[dict[str, Any]], kept_epoch: int | None) -> list[str]:
    recorded = [
        (int(r.get("epoch", i + 1)), r.get("train_loss"), r.get("val_loss"))
        for i, r in enumerate(history)
    ]
    points = [
        (e, float(t), float(v))
        for e, t, v in recorded
        if isinstance(t, int | float) and isinstance(v, int | float)
    ]
    if len(points) < OVERFIT_MIN_EPOCHS + 1:
        return []
    best = min(range(len(points)), key=lambda i: points[i][2])
    best_epoch, best_train, best_val = points[best]
    last_epoch, last_train, last_val = points[-1]
    after = len(points) - 1 - best
    rose = last_val > best_val + OVERFIT_RISE * abs(best_val)
    if kept_epoch is not None and kept_epoch <= best_epoch:
        return []  # the weights kept (early stopping) predate the overfitting: nothing to fix
    if after >= OVERFIT_MIN_EPOCHS and rose and last_train < best_train:
        began = points[best + 1][0]
        return [
            f"overfitting from epoch {began}: validation loss rose from {best_val:.4g} "
            f"(epoch {best_epoch}) to {last_val:.4g} (epoch {last_epoch}) while training "
            f"loss fell from {best_train:.4g} to {last_train:.4g}; use early stopping on "
            "val_loss, more dropout or weight_decay, or a smaller model"
        ]
    return []


def warnings_from_history(
    history: list[dict[str, Any]], *, kept_epoch: int | None = None
) -> list[str]:
    """Plain-language problems seen in a run's per-epoch records (empty when all is well).

    ``kept_epoch``: the epoch whose weights the run kept; overfitting after it is no warning.
    """
    if not history:
        return []
    return [
        *_dead_relu_warnings(history),
        *_vanishing_warning(history),
        *_update_ratio_warnings(history),
        *_overfitting_warning(history, kept_epoch),
        *_still_improving_warning(history),
    ]


def _still_improving_warning(history: list[dict[str, Any]]) -> list[str]:
    """The loss early stopping would watch (validation, else training) is least at the last
    epoch: the run ended while the model was still improving."""
    key = "val_loss" if all("val_loss" in r for r in history) else "train_loss"
    losses = [v for r in history if isinstance(v := r.get(key), int | float)]
    if len(history) < 2 or len(losses) < len(history):
        return []
    if int(np.argmin(losses)) != len(losses) - 1:
        return []
    last = history[-1].get("epoch", len(history))
    return [
        f"still improving at the last epoch: {key} is lowest at the last epoch ({last}); more "
        f"epochs may help (e.g. train.epochs: {2 * last})"
    ]
