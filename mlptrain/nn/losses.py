"""Losses: each returns the mean over the batch, and its backward is the gradient of that mean.

See docs/derivations.md#losses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlptrain.nn.activations import stable_sigmoid


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """log softmax by log-sum-exp: subtracting the row max keeps exp in (0, 1]."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, stable for logits of any magnitude."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    e /= e.sum(axis=1, keepdims=True)
    return e


class Loss:
    """A loss caches what its backward needs in ``forward`` and returns a Python float."""

    def forward(
        self, output: np.ndarray, target: np.ndarray, weight: np.ndarray | None = None
    ) -> float:
        """``weight``: optional per-sample weights (k,); the loss is then their weighted mean."""
        raise NotImplementedError

    def backward(self) -> np.ndarray:
        raise NotImplementedError

    def __call__(
        self, output: np.ndarray, target: np.ndarray, weight: np.ndarray | None = None
    ) -> float:
        return self.forward(output, target, weight)

    def _missing_cache(self) -> RuntimeError:
        return RuntimeError(f"{type(self).__name__}.backward() called before forward()")

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _sample_weights(
    class_weight: np.ndarray | None,
    labels: np.ndarray,
    dtype: np.dtype,
    weight: np.ndarray | None = None,
) -> np.ndarray | None:
    """Each row's weight: its class's weight times its own sample weight (None: all 1)."""
    per_class = None if class_weight is None else class_weight.astype(dtype, copy=False)[labels]
    if weight is None:
        return per_class
    weight = np.asarray(weight, dtype=dtype).reshape(-1)
    return weight if per_class is None else per_class * weight


def _weighted_total(weights: np.ndarray) -> np.floating:
    total = weights.sum()
    if not total > 0:
        # all-zero weights would divide 0 by 0: the batch then carries no loss and no gradient
        return weights.dtype.type(1)
    return total


class SoftmaxCrossEntropy(Loss):
    """L = (1/k) Σ_i -log softmax(h_i)[t_i] over a batch of k integer labels t.

    Weighted by class and/or sample: L = Σ_i w_i ℓ_i / Σ_i w_i (the weighted mean), with
    w_i = class_weight[t_i] · sample_weight_i.
    Backward: dL/dh = (softmax(h) - onehot(t)) / k, or row i scaled by w_{t_i} / Σ w when
    weighted. Per sample the post's o - t is right; the 1/k comes from the batch mean
    (docs/derivations.md#losses).
    """

    def __init__(self, class_weight: np.ndarray | None = None) -> None:
        self.class_weight = None if class_weight is None else np.asarray(class_weight, float)
        self._probs: np.ndarray | None = None
        self._labels: np.ndarray | None = None
        self._row_scale: np.ndarray | None = None

    def forward(
        self, output: np.ndarray, target: np.ndarray, weight: np.ndarray | None = None
    ) -> float:
        """output: logits (k, classes); target: int labels (k,); weight: (k,) -> mean loss."""
        labels = np.asarray(target).reshape(-1)  # a (k, 1) column must not fancy-index to (k, k)
        k = output.shape[0]
        logp = log_softmax(output)
        picked = -logp[np.arange(k), labels]
        weights = _sample_weights(self.class_weight, labels, output.dtype, weight)
        if weights is None:
            loss = picked.mean()
            self._row_scale = None
        else:
            total = _weighted_total(weights)
            loss = (weights * picked).sum() / total
            self._row_scale = (weights / total)[:, None]
        # exp(log p) is the softmax itself, already shifted: no second max/exp pass.
        self._probs = np.exp(logp)
        self._labels = labels
        return float(loss)

    def backward(self) -> np.ndarray:
        if self._probs is None or self._labels is None:
            raise self._missing_cache()
        grad = self._probs
        k = grad.shape[0]
        grad[np.arange(k), self._labels] -= 1
        if self._row_scale is None:
            grad *= grad.dtype.type(1 / k)
        else:
            grad *= self._row_scale
        self._probs = None  # grad reused the buffer; a second backward would be wrong
        return grad

    def __repr__(self) -> str:
        weighted = "" if self.class_weight is None else "class_weight=..."
        return f"SoftmaxCrossEntropy({weighted})"


class MSELoss(Loss):
    """L = mean over all elements of (y - t)²; dL/dy = 2 (y - t) / (number of elements).

    With sample weights w (k,): L = Σ_i w_i Σ_j (y_ij - t_ij)² / (m Σ_i w_i) for m outputs,
    and dL/dy_ij = 2 w_i (y_ij - t_ij) / (m Σ_i w_i).
    """

    def __init__(self) -> None:
        self._diff: np.ndarray | None = None
        self._row_scale: np.ndarray | None = None

    def forward(
        self, output: np.ndarray, target: np.ndarray, weight: np.ndarray | None = None
    ) -> float:
        target = np.asarray(target, dtype=output.dtype).reshape(output.shape)
        diff = output - target
        self._diff = diff
        if weight is None:
            self._row_scale = None
            return float(np.mean(diff * diff))
        weights = np.asarray(weight, dtype=output.dtype).reshape(-1)
        n_outputs = diff.size // max(len(diff), 1)
        scale = weights / (_weighted_total(weights) * n_outputs)
        self._row_scale = scale[:, None]
        return float(np.sum(scale * (diff * diff).reshape(len(diff), -1).sum(axis=1)))

    def backward(self) -> np.ndarray:
        if self._diff is None:
            raise self._missing_cache()
        diff = self._diff
        if self._row_scale is not None:
            return (diff.reshape(len(diff), -1) * (2 * self._row_scale)).reshape(diff.shape)
        return diff * diff.dtype.type(2 / diff.size)


class BCEWithLogits(Loss):
    """Binary cross-entropy on one logit z per sample, target t ∈ {0, 1}.

    ℓ = max(z, 0) - z·t + log(1 + e^{-|z|}), which equals -[t log σ(z) + (1-t) log(1-σ(z))]
    without ever taking log of 0 or exp of a large number. L = mean ℓ (weighted mean with
    class weights); dL/dz = (σ(z) - t) / k.
    """

    def __init__(self, class_weight: np.ndarray | None = None) -> None:
        self.class_weight = None if class_weight is None else np.asarray(class_weight, float)
        self._z: np.ndarray | None = None
        self._t: np.ndarray | None = None
        self._row_scale: np.ndarray | None = None

    def forward(
        self, output: np.ndarray, target: np.ndarray, weight: np.ndarray | None = None
    ) -> float:
        """output: logits (k, 1); target: labels 0/1 (k,); weight: (k,) -> mean loss."""
        z = output.reshape(-1)
        labels = np.asarray(target).reshape(-1)  # (k, 1) targets would broadcast to (k, k)
        t = labels.astype(output.dtype, copy=False)
        per_sample = np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))
        weights = _sample_weights(self.class_weight, labels.astype(np.intp), output.dtype, weight)
        if weights is None:
            loss = per_sample.mean()
            self._row_scale = None
        else:
            total = _weighted_total(weights)
            loss = (weights * per_sample).sum() / total
            self._row_scale = (weights / total)[:, None]
        self._z, self._t = output, t
        return float(loss)

    def backward(self) -> np.ndarray:
        if self._z is None or self._t is None:
            raise self._missing_cache()
        # Work on the flat logits and reshape at the end: (k,) logits must not broadcast
        # against (k, 1) targets into a (k, k) gradient.
        grad = stable_sigmoid(self._z.reshape(-1)) - self._t
        if self._row_scale is None:
            grad *= grad.dtype.type(1 / grad.shape[0])
        else:
            grad *= self._row_scale.reshape(-1)
        return grad.reshape(self._z.shape)

    def __repr__(self) -> str:
        return "BCEWithLogits()"


@dataclass(frozen=True)
class LossType:
    """One loss a config can name, declared once: its class, the head that turns its outputs
    into predictions, its task, and whether it reads one logit per row (binary only)."""

    name: str
    loss: type[Loss]
    head: str  # "softmax" | "sigmoid" | "identity" (Sequential's Head)
    task: str  # "classification" | "regression"
    one_logit: bool = False

    def make(self, class_weights: np.ndarray | None = None) -> Loss:
        """The loss; class weights apply to classification losses only."""
        if self.task == "regression":
            return self.loss()
        return self.loss(class_weights)  # type: ignore[call-arg]


LOSS_TYPES: dict[str, LossType] = {
    entry.name: entry
    for entry in (
        LossType("cross_entropy", SoftmaxCrossEntropy, "softmax", "classification"),
        LossType("mse", MSELoss, "identity", "regression"),
        LossType("bce", BCEWithLogits, "sigmoid", "classification", one_logit=True),
    )
}
LOSSES: dict[str, type[Loss]] = {name: entry.loss for name, entry in LOSS_TYPES.items()}


def losses_for(task: str) -> list[str]:
    """The names of the losses of ``task``, in declaration order."""
    return [name for name, entry in LOSS_TYPES.items() if entry.task == task]
