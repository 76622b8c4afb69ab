"""``MLPClassifier`` and ``MLPRegressor``: drop-ins for scikit-learn's, on mlptrain's engine."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import _check_partial_fit_first_call, check_classification_targets

from mlptrain.data import target_array
from mlptrain.nn.losses import log_softmax
from mlptrain.sklearn.base import MLPBase


class MLPClassifier(ClassifierMixin, MLPBase):
    """A multi-layer perceptron classifier trained by mlptrain (softmax + cross-entropy).

    Parameters are scikit-learn's ``MLPClassifier``'s (``solver`` adds ``adamw``,
    ``learning_rate`` is a schedule: ``constant``, ``cosine``, ``step``, ``plateau``;
    ``lbfgs``, ``invscaling``, ``power_t`` and ``max_fun`` do not exist here), plus
    ``dropout``, ``batch_norm``, ``dtype``, ``init`` and ``layers`` (a layer list in the
    config's syntax, which replaces ``hidden_layer_sizes`` and ``activation``).
    docs/sklearn.md lists every parameter and where the behaviour differs.
    """

    _task = "classification"
    classes_: np.ndarray  # set by the first fit (or partial_fit's classes=)

    def _targets(
        self, y: np.ndarray, *, first: bool, incremental: bool, classes: Any
    ) -> np.ndarray:
        check_classification_targets(y)
        labels = target_array(y, "y")
        if incremental:
            # Requires classes= on the first call, and the same classes on later ones.
            if _check_partial_fit_first_call(self, classes):
                self.classes_ = np.unique(target_array(self.classes_, "classes"))
        elif first:
            self.classes_ = np.unique(labels)
        unseen = np.setdiff1d(np.unique(labels), self._encoder_classes())
        if len(unseen):
            raise ValueError(
                f"y holds labels {unseen.tolist()} that are not in classes_ "
                f"{self.classes_.tolist()}; the classes are fixed by the first fit (or by "
                "partial_fit's classes=); set warm_start=False to start over"
            )
        if len(self.classes_) < 2:
            raise ValueError(
                f"the classifier needs samples of at least 2 classes; y holds only one class "
                f"({self.classes_[0]!r})"
            )
        return labels

    def _encoder_classes(self) -> np.ndarray:
        return np.asarray(self.classes_)

    def _n_outputs(self) -> int:
        return len(self.classes_)

    def _reset_attributes(self) -> None:
        super()._reset_attributes()
        self.n_outputs_ = len(self.classes_)
        self.out_activation_ = "softmax"

    def partial_fit(
        self, X: Any, y: Any, classes: Any = None, sample_weight: Any = None
    ) -> MLPClassifier:
        """One epoch over (X, y), continuing the current model; ``classes`` (every label the
        model will ever see) is required on the first call."""
        return self._partial_fit(X, y, sample_weight, classes)  # type: ignore[return-value]

    def _logits(self, X: Any) -> np.ndarray:
        inputs = self._model_inputs(X)  # checks first that the model is fitted
        return self._setup.model.forward_eval(inputs).astype(np.float64)

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """log of the class probabilities (n_samples, n_classes), by log-sum-exp (no log 0)."""
        return log_softmax(self._logits(X))

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (n_samples, n_classes), columns in the order of ``classes_``."""
        return np.exp(self.predict_log_proba(X))

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class label of each sample, as given in y."""
        indices = self._logits(X).argmax(axis=1)  # checks first that the model is fitted
        return self.classes_[indices]

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        # Sparse X is accepted (and made dense), so the sparse checks run too.
        tags.input_tags.sparse = True
        # One label per sample: multi-label (indicator y) is not supported.
        tags.classifier_tags.multi_label = False
        tags.target_tags.multi_output = False
        return tags


class MLPRegressor(RegressorMixin, MLPBase):
    """A multi-layer perceptron regressor trained by mlptrain (identity output, squared error).

    Targets are standardised for training (mean and standard deviation of the training rows,
    weighted by ``sample_weight``) and predictions mapped back, as ``mlptrain fit`` does;
    ``loss_curve_`` is therefore in standardised units. Parameters: see ``MLPClassifier``.
    """

    _task = "regression"

    def _targets(
        self, y: np.ndarray, *, first: bool, incremental: bool, classes: Any
    ) -> np.ndarray:
        y = np.asarray(y, dtype=np.float64)
        n_outputs = 1 if y.ndim == 1 else y.shape[1]
        if first:
            self.n_outputs_ = n_outputs
            self.out_activation_ = "identity"
        elif n_outputs != self.n_outputs_:
            raise ValueError(
                f"y has {n_outputs} target(s) but the fitted model predicts {self.n_outputs_}; "
                "set warm_start=False to start over"
            )
        return y

    def _n_outputs(self) -> int:
        return self.n_outputs_

    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> MLPRegressor:
        """One epoch over (X, y), continuing the current model."""
        return self._partial_fit(X, y, sample_weight, None)  # type: ignore[return-value]

    def predict(self, X: Any) -> np.ndarray:
        """Predicted values: (n_samples,) for one target, else (n_samples, n_targets)."""
        inputs = self._model_inputs(X)  # checks first that the model is fitted
        out = self._setup.trained.predict(inputs).astype(np.float64)
        return out.ravel() if self.n_outputs_ == 1 else out

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        # Several targets at once are trained as one network with one output per target.
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags
