"""The estimators' constructor parameters: scikit-learn's names, defaults and constraints, and
their translation into an mlptrain config (the engine only ever sees a ``Config``).

Where scikit-learn and mlptrain mean the same thing the name and default are scikit-learn's, so
swapping the import is enough; what only mlptrain has (``dropout``, ``batch_norm``, ``dtype``,
``layers``, ``init``, the ``adamw`` solver and the ``cosine``/``step``/``plateau`` schedules) is
added with defaults that change nothing.
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any

from sklearn.utils._param_validation import Interval, Options, StrOptions

from mlptrain.config import OPTIMIZERS, SCHEDULES, schema
from mlptrain.config.vocabulary import TASK_LOSSES
from mlptrain.nn.batchnorm import BatchNorm1d
from mlptrain.nn.dropout import Dropout
from mlptrain.nn.init import INITIALIZERS
from mlptrain.nn.registry import LAYERS

# The activations a layer stack may use: the registry's activation entries.
ACTIVATIONS = {name: entry for name, entry in LAYERS.items() if entry.role == "activation"}

# scikit-learn's name for the logistic sigmoid; every other activation keeps mlptrain's name.
ACTIVATION_ALIASES = {"logistic": "sigmoid"}
ACTIVATION_NAMES = frozenset({*ACTIVATIONS, *ACTIVATION_ALIASES})

# The value of batch_size="auto", as in scikit-learn: min(200, n_samples).
AUTO_BATCH = 200

PARAMETER_CONSTRAINTS: dict[str, list[Any]] = {
    "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
    "activation": [StrOptions(set(ACTIVATION_NAMES))],
    "solver": [StrOptions(set(OPTIMIZERS))],
    "alpha": [Interval(Real, 0, None, closed="left")],
    "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
    "learning_rate": [StrOptions(set(SCHEDULES))],
    "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
    "max_iter": [Interval(Integral, 1, 1_000_000, closed="both")],
    "shuffle": ["boolean"],
    "random_state": ["random_state"],
    "tol": [Interval(Real, 0, None, closed="left")],
    "verbose": ["verbose"],
    "warm_start": ["boolean"],
    # mlptrain's SGD needs momentum < 1 (a momentum of 1 never forgets a gradient)
    "momentum": [Interval(Real, 0, 1, closed="left")],
    "nesterovs_momentum": ["boolean"],
    "early_stopping": ["boolean"],
    "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
    "beta_1": [Interval(Real, 0, 1, closed="left")],
    "beta_2": [Interval(Real, 0, 1, closed="left")],
    "epsilon": [Interval(Real, 0, None, closed="neither")],
    "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), Options(Real, {math.inf})],
    "dropout": [Interval(Real, 0, 1, closed="left")],
    "batch_norm": ["boolean"],
    "dtype": [StrOptions({"float32", "float64"})],
    "layers": [list, None],
    "init": [StrOptions({"auto", *INITIALIZERS})],
}


def batch_size_for(batch_size: int | str, n_samples: int) -> int:
    """scikit-learn's rule: "auto" is min(200, n); a larger size is clipped to n."""
    if batch_size == "auto":
        return max(1, min(AUTO_BATCH, n_samples))
    return max(1, min(int(batch_size), n_samples))


def hidden_layers(params: dict[str, Any]) -> list[Any]:
    """The config's layer list: ``layers`` as given, or the short form's hidden layers
    (linear, then batch norm, activation and dropout when asked for) and the output layer."""
    if params["layers"] is not None:
        return list(params["layers"])
    sizes = params["hidden_layer_sizes"]
    sizes = [sizes] if isinstance(sizes, Integral) else list(sizes)
    activation = ACTIVATION_ALIASES.get(params["activation"], params["activation"])
    layers: list[Any] = []
    for units in sizes:
        if isinstance(units, bool) or not isinstance(units, Integral) or units < 1:
            raise ValueError(f"hidden_layer_sizes must be > 0, got {params['hidden_layer_sizes']}.")
        # The config's own layer models write the entries (one registry of layer names).
        layers.append(schema.LinearLayer(units=int(units)).model_dump())
        if params["batch_norm"]:
            layers.append(schema.layer_model(BatchNorm1d)().model_dump())
        layers.append({"type": activation})
        if params["dropout"]:
            layers.append(schema.layer_model(Dropout)(p=float(params["dropout"])).model_dump())
    layers.append(schema.LinearLayer().model_dump())
    return layers


def _optimizer(params: dict[str, Any], batch_size: int, mean_weight: float) -> dict[str, Any]:
    solver, lr = params["solver"], float(params["learning_rate_init"])
    alpha = float(params["alpha"])
    # scikit-learn adds alpha·W to the (weighted) summed batch gradient before dividing by
    # the batch's total weight: the same step as mlptrain's L2 weight decay of alpha / (that
    # total) on the mean gradient; the total is batch_size · mean sample weight (so weights
    # of 2 act as rows written twice). AdamW's decay is decoupled from the gradient: alpha
    # is its decay as is.
    l2 = alpha / (batch_size * mean_weight)
    if solver == "sgd":
        momentum = float(params["momentum"])
        return {
            "type": "sgd",
            "lr": lr,
            "momentum": momentum,
            "nesterov": bool(params["nesterovs_momentum"]) and momentum > 0,
            "weight_decay": l2,
        }
    return {
        "type": solver,
        "lr": lr,
        "betas": [float(params["beta_1"]), float(params["beta_2"])],
        "eps": float(params["epsilon"]),
        "weight_decay": alpha if solver == "adamw" else l2,
    }


def monitors(task: str, early_stopping: bool) -> str:
    """What "no improvement" is measured on: scikit-learn's validation score (accuracy, R²)
    with early stopping, else the training loss."""
    if not early_stopping:
        return "train_loss"
    return "val_accuracy" if task == "classification" else "val_r2"


def config_dict(
    params: dict[str, Any], *, task: str, n_samples: int, seed: int, mean_weight: float = 1.0
) -> dict[str, Any]:
    """The mlptrain config (as a dict) that trains what the estimator's parameters say;
    ``mean_weight``: the mean sample weight of the rows (1 without sample weights)."""
    batch_size = batch_size_for(params["batch_size"], n_samples)
    patience = params["n_iter_no_change"]
    stopping = None
    if not math.isinf(patience):
        # scikit-learn stops once more than n_iter_no_change epochs in a row failed to
        # improve by tol: after n_iter_no_change + 1 of them, mlptrain's patience.
        stopping = {
            "monitor": monitors(task, params["early_stopping"]),
            "patience": int(patience) + 1,
            "min_delta": float(params["tol"]),
        }
    schedule: dict[str, Any] = {"type": params["learning_rate"]}
    if params["learning_rate"] == "plateau":
        schedule["monitor"] = "val_loss" if params["early_stopping"] else "train_loss"
    return {
        "name": "sklearn-estimator",
        "seed": seed,
        # The rows come from the arrays passed to fit; the path is a placeholder that
        # to_run_dir replaces with the run directory's data file.
        "data": {
            "dataset": "npz",
            "path": "data.npz",
            "task": task,
            "val_size": float(params["validation_fraction"]) if params["early_stopping"] else 0.0,
            "scale": "none",
        },
        "model": {
            "init": params["init"],
            "layers": hidden_layers(params),
            "loss": TASK_LOSSES[task],
        },
        "train": {
            "epochs": int(params["max_iter"]),
            "batch_size": batch_size,
            "shuffle": bool(params["shuffle"]),
            "dtype": params["dtype"],
            "optimizer": _optimizer(params, batch_size, mean_weight),
            "schedule": schedule,
            "early_stopping": stopping,
        },
    }
