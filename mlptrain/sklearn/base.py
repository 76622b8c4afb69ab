"""What both estimators share: parameters, fit/partial_fit on the engine, fitted attributes,
pickling through the checkpoint's tensors.

The estimator keeps one ``Setup`` (model, optimizer, schedule, random streams) after fit;
``warm_start`` and ``partial_fit`` keep training that same Setup, so the weights *and* the
optimizer's moments carry over. scikit-learn's conventions are followed where they exist:
attributes set in fit end with ``_``, parameters are stored untouched, validation happens in
fit, inputs are checked with ``validate_data``.
"""

from __future__ import annotations

import math
import warnings
from numbers import Integral
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

import mlptrain.sklearn.engine as engine
import mlptrain.sklearn.persist as persist
from mlptrain.nn.registry import is_linear
from mlptrain.sklearn.params import PARAMETER_CONSTRAINTS, config_dict
from mlptrain.training.schedule import make_schedule
from mlptrain.training.setup import Setup, build
from mlptrain.training.stopping import EarlyStopping
from mlptrain.training.trainer import Callbacks, TrainState

# Sparse input (a OneHotEncoder's output, say) is accepted as scikit-learn's MLP accepts it,
# and made dense: every layer is a dense matrix product.
SPARSE_FORMATS = ("csr", "csc")


def dense(X: Any) -> np.ndarray:
    return X.toarray() if hasattr(X, "toarray") else X


class MLPBase(BaseEstimator):
    """Shared by ``MLPClassifier`` and ``MLPRegressor``; not used on its own."""

    _parameter_constraints: dict = dict(PARAMETER_CONSTRAINTS)
    _task = ""  # "classification" | "regression", set by the subclasses

    def __init__(
        self,
        hidden_layer_sizes: Any = (100,),
        activation: str = "relu",
        *,
        solver: str = "adam",
        alpha: float = 0.0001,
        batch_size: int | str = "auto",
        learning_rate: str = "constant",
        learning_rate_init: float = 0.001,
        max_iter: int = 200,
        shuffle: bool = True,
        random_state: Any = None,
        tol: float = 1e-4,
        verbose: bool = False,
        warm_start: bool = False,
        momentum: float = 0.9,
        nesterovs_momentum: bool = True,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        n_iter_no_change: int | float = 10,
        dropout: float = 0.0,
        batch_norm: bool = False,
        dtype: str = "float32",
        layers: list | None = None,
        init: str = "glorot",
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.dtype = dtype
        self.layers = layers
        self.init = init

    # ------------------------------------------------------------------ for the subclasses

    def _targets(
        self, y: np.ndarray, *, first: bool, incremental: bool, classes: Any
    ) -> np.ndarray:
        """Check ``y`` and set the target attributes (``classes_``, ``n_outputs_``)."""
        raise NotImplementedError

    def _n_outputs(self) -> int:
        raise NotImplementedError

    # ------------------------------------------------------------------ fitting

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> MLPBase:
        """Train for up to ``max_iter`` epochs (fewer when ``tol``/``n_iter_no_change`` stop it).

        With ``warm_start=True`` and a fitted model, training continues from the current
        weights and optimizer state; otherwise it starts from a fresh initialisation.
        """
        return self._fit(X, y, sample_weight, incremental=False, classes=None)

    def _partial_fit(self, X: Any, y: Any, sample_weight: Any, classes: Any) -> MLPBase:
        if not hasattr(self, "_setup"):
            self._validate_params()
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)

    def _fit(
        self, X: Any, y: Any, sample_weight: Any, *, incremental: bool, classes: Any
    ) -> MLPBase:
        first = not hasattr(self, "_setup") or not (incremental or self.warm_start)
        regression = self._task == "regression"
        X, y = validate_data(
            self,
            X,
            y,
            reset=first,
            accept_sparse=SPARSE_FORMATS,
            dtype=(np.float64, np.float32),
            multi_output=regression,
            y_numeric=regression,
        )
        X = dense(X)
        targets = self._targets(y, first=first, incremental=incremental, classes=classes)
        weights = None
        if sample_weight is not None:
            weights = _check_sample_weight(
                sample_weight, X, dtype=np.float64, ensure_non_negative=True
            )
        if first:
            # scikit-learn's random_state: an int is the seed itself (so the same seed gives
            # the same weights as `mlptrain fit` with that seed); None draws a fresh one.
            rs = self.random_state
            self._seed = (
                int(rs) if isinstance(rs, Integral) else int(check_random_state(rs).randint(2**31))
            )
        raw_config = config_dict(
            self.get_params(),
            task=self._task,
            n_samples=len(X),
            seed=self._seed,
            mean_weight=1.0 if weights is None else float(weights.mean()),
        )
        if incremental:
            raw_config["data"]["val_size"] = 0.0  # partial_fit never holds rows out
            raw_config["train"]["early_stopping"] = None
        cfg = engine.make_config(raw_config, self._n_outputs())
        val_rows = None
        if self.early_stopping and not incremental:
            _, val_rows = engine.validation_rows(
                targets, task=self._task, fraction=self.validation_fraction, seed=self._seed
            )
        data = engine.prepare_arrays(
            # As validated (float32 or float64): the scaler casts it once to the run's dtype,
            # with no float64 copy in between.
            X,
            targets,
            task=self._task,
            dtype=self.dtype,
            sample_weight=weights,
            classes=self._encoder_classes() if self._task == "classification" else None,
            val_rows=val_rows,
            feature_names=self._feature_names(X.shape[1]),
        )
        if first:
            self._setup = build(cfg, data)
            self._reset_attributes()
        else:
            self._continue(cfg, data)
        try:
            if incremental:
                history = [engine.one_epoch(self._setup, self.n_iter_)]
            else:
                state = engine.train(
                    self._setup, self._callbacks(), restore_best=self.early_stopping
                )
                history = state.history
        finally:
            self._setup.data = engine.without_rows(self._setup.data)
        self._record(history, n_samples=len(X))
        if incremental:
            return self
        if state.epoch >= self.max_iter and not state.stopped_early:
            warnings.warn(
                f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the "
                "optimization hasn't converged yet.",
                ConvergenceWarning,
                stacklevel=3,
            )
        return self

    def _continue(self, cfg: Any, data: Any) -> None:
        """Keep training the same model: new data, this call's schedule and stopping rule."""
        setup: Setup = self._setup
        if [layer.model_dump() for layer in cfg.model.layers] != [
            layer.model_dump() for layer in setup.config.model.layers
        ]:
            raise ValueError(
                "warm_start and partial_fit continue the fitted network, but the layer "
                "parameters (hidden_layer_sizes, activation, layers, dropout, batch_norm) "
                "changed since; set warm_start=False to start a new one"
            )
        if cfg.train.dtype != setup.config.train.dtype:
            raise ValueError(
                f"dtype changed from {setup.config.train.dtype!r} to {cfg.train.dtype!r} since "
                "the last fit; set warm_start=False to start a new network"
            )
        setup.config = cfg
        setup.data = data
        optimizer = setup.optimizer
        optimizer.lr = cfg.train.optimizer.lr
        optimizer.weight_decay = cfg.train.optimizer.weight_decay
        setup.schedule = make_schedule(
            cfg.train.schedule, base_lr=optimizer.lr, epochs=cfg.train.epochs
        )
        es = cfg.train.early_stopping
        setup.stopper = EarlyStopping(es.monitor, es.patience, es.min_delta) if es else None

    def _callbacks(self) -> Callbacks | None:
        if not self.verbose:
            return None
        headline = "accuracy" if self._task == "classification" else "r2"

        def report(record: dict[str, Any]) -> None:
            line = f"Iteration {self.n_iter_ + record['epoch']}, loss = {record['train_loss']:.8f}"
            if record.get(f"val_{headline}") is not None:
                line += f", validation {headline} = {record[f'val_{headline}']:.6f}"
            print(line)

        return Callbacks(on_epoch_end=report)

    def _encoder_classes(self) -> np.ndarray | None:
        return None

    def _feature_names(self, n_features: int) -> list[str]:
        names = getattr(self, "feature_names_in_", None)
        return (
            [str(n) for n in names] if names is not None else [f"x{j}" for j in range(n_features)]
        )

    def _reset_attributes(self) -> None:
        self.loss_curve_: list[float] = []
        self.n_iter_ = 0
        self.t_ = 0
        self._history: list[dict[str, Any]] = []
        self.validation_scores_: list[float] | None = [] if self.early_stopping else None
        self.best_validation_score_: float | None = None
        self.best_loss_: float | None = None

    def _record(self, history: list[dict[str, Any]], *, n_samples: int) -> None:
        """Fitted attributes from the Trainer's epoch records, as scikit-learn names them."""
        headline = "accuracy" if self._task == "classification" else "r2"
        for record in history:
            self.loss_curve_.append(float(record["train_loss"]))
            score = record.get(f"val_{headline}")
            if self.validation_scores_ is not None and "val_loss" in record:
                self.validation_scores_.append(float(score) if score is not None else -math.inf)
            entry = {k: v for k, v in record.items() if k != "layers"}
            entry["epoch"] = len(self._history) + 1
            self._history.append(entry)
        self.n_iter_ += len(history)
        self.t_ += n_samples * len(history)
        if self.validation_scores_:
            self.best_validation_score_ = max(self.validation_scores_)
            self.best_loss_ = None
        else:
            self.best_loss_ = min(self.loss_curve_)
        self.n_layers_ = len(self.coefs_) + 1

    # ------------------------------------------------------------------ fitted model

    @property
    def coefs_(self) -> list[np.ndarray]:
        """Weight matrices (n_in, n_out) of the linear layers: views of the trained weights."""
        check_is_fitted(self)
        return [m.params["W"] for m in self._setup.model.modules if is_linear(m)]

    @property
    def intercepts_(self) -> list[np.ndarray]:
        """Bias vectors (n_out,) of the linear layers: views of the trained weights."""
        check_is_fitted(self)
        return [m.params["b"] for m in self._setup.model.modules if is_linear(m)]

    def _model_inputs(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(
            self, X, reset=False, accept_sparse=SPARSE_FORMATS, dtype=(np.float64, np.float32)
        )
        return np.ascontiguousarray(dense(X), dtype=self._setup.dtype)

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "_setup")

    # ------------------------------------------------------------------ persistence

    def __getstate__(self) -> dict[str, Any]:
        # The model's parameters are views into one flat buffer, which pickle would copy
        # apart; the checkpoint's tensors rebuild the same Setup exactly instead.
        # a copy: object.__getstate__ returns the instance's own __dict__
        state = dict(super().__getstate__())
        setup = state.pop("_setup", None)
        if setup is not None:
            state["_snapshot"] = engine.snapshot(setup, TrainState())
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        snapshot = state.pop("_snapshot", None)
        super().__setstate__(state)
        if snapshot is not None:
            self._setup = engine.setup_from(*snapshot)

    def save(self, path: Any) -> None:
        """Write the fitted estimator to ``path`` as an mlptrain safetensors checkpoint
        (weights, optimizer state, parameters, fitted attributes; no pickle). Read it back
        with ``mlptrain.sklearn.load``; ``mlptrain.load`` and ``mlptrain predict`` read it too."""
        persist.save(self, path)

    def to_run_dir(
        self,
        path: Any,
        X: Any,
        y: Any,
        *,
        X_test: Any = None,
        y_test: Any = None,
        overwrite: bool = False,
        figures: bool = True,
    ) -> Any:
        """Write an ordinary run directory (config.yaml, data.npz, checkpoints, metrics.jsonl,
        reports) so that ``mlptrain evaluate``, ``predict``, ``report`` and ``export`` work on
        this model. ``X``, ``y``: the data it was fitted on (an estimator keeps no data);
        ``X_test``, ``y_test``: held-out rows for the report's test metrics (without them the
        test split is the training rows, and the report says so)."""
        return persist.to_run_dir(
            self, path, X, y, X_test=X_test, y_test=y_test, overwrite=overwrite, figures=figures
        )
