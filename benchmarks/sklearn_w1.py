"""The plain-script baseline for benchmarks/whole_process.py: W1 with scikit-learn.

Loads digits, splits 80/20, scales, fits MLPClassifier with the settings of benchmarks/w1.yaml
and prints the test accuracy.
"""

import warnings

from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

X, y = load_digits(return_X_y=True)
X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)
scaler = StandardScaler().fit(X_tr)
clf = MLPClassifier(
    hidden_layer_sizes=(256, 128),
    solver="adam",
    alpha=0.0,
    batch_size=64,
    learning_rate_init=1e-3,
    max_iter=50,
    tol=0.0,
    n_iter_no_change=10**9,
    shuffle=True,
    random_state=0,
)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    clf.fit(scaler.transform(X_tr).astype("float32"), y_tr)
print(f"test accuracy {clf.score(scaler.transform(X_te).astype('float32'), y_te):.4f}")
