"""scikit-learn's own estimator checks over both estimators, with no expected failures.

Instances are small (one hidden layer of 16, a few epochs) so the whole suite stays quick;
float64 so that check_sample_weight_equivalence_* compares predictions of a weighted fit and
a fit on repeated rows at rtol 1e-7 (full-batch training: batch_size "auto" covers the
check's 15 to 60 rows, so the two fits take the same steps up to rounding).
"""

from __future__ import annotations

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from mlptrain.sklearn import MLPClassifier, MLPRegressor

ESTIMATORS = [
    MLPClassifier(hidden_layer_sizes=(16,), max_iter=30, learning_rate_init=0.05, dtype="float64"),
    MLPRegressor(hidden_layer_sizes=(16,), max_iter=60, learning_rate_init=0.05, dtype="float64"),
]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    """One of scikit-learn's estimator checks; each raises (AssertionError, ValueError, ...)
    when the estimator breaks the contract it checks, which fails this test."""
    check(estimator)
