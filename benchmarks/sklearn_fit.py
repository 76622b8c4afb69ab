"""The plain-script baseline for benchmarks/whole_process.py: W1 or W2 with scikit-learn.

    python benchmarks/sklearn_fit.py W1|W2

Loads the data (digits, or make_classification 100k×128), splits 80/20, scales, fits
MLPClassifier with the settings of benchmarks/w1.yaml / w2.yaml and prints the test accuracy:
what a user would write by hand instead of `mlptrain fit`.
"""

import sys
import warnings

from sklearn.datasets import load_digits, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

workload = sys.argv[1] if len(sys.argv) > 1 else "W1"
if workload == "W1":
    X, y = load_digits(return_X_y=True)
    hidden, batch, epochs = (256, 128), 64, 50
else:
    X, y = make_classification(
        n_samples=100_000, n_features=128, n_informative=64, n_classes=10, random_state=0
    )
    hidden, batch, epochs = (512, 256), 256, 3
X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)
scaler = StandardScaler().fit(X_tr)
clf = MLPClassifier(
    hidden_layer_sizes=hidden,
    solver="adam",
    alpha=0.0,
    batch_size=batch,
    learning_rate_init=1e-3,
    max_iter=epochs,
    tol=0.0,
    n_iter_no_change=10**9,
    shuffle=True,
    random_state=0,
)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    clf.fit(scaler.transform(X_tr).astype("float32"), y_tr)
print(f"test accuracy {clf.score(scaler.transform(X_te).astype('float32'), y_te):.4f}")
