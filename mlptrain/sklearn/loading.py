"""``load``: an estimator back from the checkpoint ``save`` wrote (safetensors, no pickle)."""

from __future__ import annotations

from pathlib import Path

from mlptrain.sklearn.base import MLPBase
from mlptrain.sklearn.estimators import MLPClassifier, MLPRegressor
from mlptrain.sklearn.persist import restore_estimator
from mlptrain.store.run_meta import load_run_checkpoint

ESTIMATORS: dict[str, type[MLPBase]] = {
    "MLPClassifier": MLPClassifier,
    "MLPRegressor": MLPRegressor,
}


def load(path: str | Path) -> MLPBase:
    """The fitted estimator saved at ``path``: parameters, weights, optimizer state and fitted
    attributes, ready to predict or to continue training (``warm_start``, ``partial_fit``)."""
    return restore_estimator(ESTIMATORS, load_run_checkpoint(path))
