"""mlptrain: config-driven MLP training on hand-derived NumPy modules.

The notebook API is importable from the package itself::

    import mlptrain
    run = mlptrain.fit("configs/digits.yaml", overrides=["train.epochs=5"])
    model = mlptrain.load(run.dir)

``fit``, ``evaluate`` and ``load`` are loaded from :mod:`mlptrain.api` on first use, so
``import mlptrain`` (and with it ``mlptrain --help``) does not pull in NumPy or scikit-learn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["Predictor", "Run", "__version__", "evaluate", "fit", "load", "set_threshold"]
_API_NAMES = frozenset(__all__) - {"__version__"}

if TYPE_CHECKING:
    from mlptrain.api import Predictor, Run, evaluate, fit, load, set_threshold


def __getattr__(name: str) -> Any:
    if name in _API_NAMES:
        from mlptrain import api

        value = getattr(api, name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'mlptrain' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_API_NAMES})
