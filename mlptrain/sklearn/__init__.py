"""mlptrain as scikit-learn estimators: ``MLPClassifier`` and ``MLPRegressor``, drop-ins for
``sklearn.neural_network``'s, trained by mlptrain's engine (the same ``Trainer`` as
``mlptrain fit``), and ``load`` for what ``save`` wrote.

| module | what it holds |
|---|---|
| ``params`` | the parameters' constraints and their translation into a config |
| ``engine`` | arrays to ``Prepared``, ``build`` and the ``Trainer``; snapshots |
| ``base`` | what both estimators share: fit, partial_fit, attributes, pickling |
| ``estimators`` | ``MLPClassifier``, ``MLPRegressor`` |
| ``persist`` | ``save`` (safetensors checkpoint) and ``to_run_dir`` |
| ``loading`` | ``load`` |
"""

from mlptrain.sklearn.estimators import MLPClassifier, MLPRegressor
from mlptrain.sklearn.loading import load

__all__ = ["MLPClassifier", "MLPRegressor", "load"]
