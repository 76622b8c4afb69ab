"""Issue 23: the probabilities a classifier's report keeps, and the ROC, precision-recall,
calibration and threshold figures drawn from them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import mlptrain
from mlptrain.reporting.figures import make_figures
from mlptrain.reporting.figures.ranking import MAX_CURVE_CLASSES, scores_of
from mlptrain.session.directory import resolve_checkpoint
from mlptrain.store.layout import REPORT_JSON
from mlptrain.store.run_meta import load_run_checkpoint
from mlptrain.training.run_state import setup_from_checkpoint

RANKING = {"roc", "pr", "calibration", "threshold"}


def _report(n_classes: int, n_rows: int = 120, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, n_rows)
    logits = rng.standard_normal((n_rows, n_classes)) + 2 * np.eye(n_classes)[labels]
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    classes = [f"c{k}" for k in range(n_classes)]
    metrics = {"threshold": 0.5} if n_classes == 2 else {}
    return {
        "task": "classification",
        "metrics": {"test": metrics},
        "predictions": {
            "test": {
                "n_rows": n_rows,
                "classes": classes,
                "y_true": labels.tolist(),
                "proba": proba.round(6).tolist(),
            }  # fmt: skip
        },
    }


@pytest.mark.parametrize(
    ("n_classes", "drawn"),
    [(2, RANKING), (3, RANKING - {"threshold"}), (MAX_CURVE_CLASSES + 1, set())],
)
def test_which_ranking_figures_a_classifier_gets(tmp_path: Path, n_classes, drawn) -> None:
    written = make_figures(_report(n_classes, n_rows=40 * n_classes), tmp_path, RANKING)
    assert set(written) == drawn
    for path in written.values():
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_regression_and_broken_samples_draw_no_ranking_figure(tmp_path: Path) -> None:
    regression = {"task": "regression", "metrics": {}, "predictions": {"test": {}}}
    assert make_figures(regression, tmp_path, RANKING) == {}
    ragged = _report(2)
    ragged["predictions"]["test"]["proba"][3] = [0.5]
    assert scores_of(ragged) is None
    wrong_label = _report(2)
    wrong_label["predictions"]["test"]["y_true"][0] = 7
    assert scores_of(wrong_label) is None


def test_a_fit_keeps_the_test_probabilities_the_model_gives(tmp_path: Path, no_figures) -> None:
    """The kept sample is the test rows' labels and the best model's probabilities of them,
    rebuilt independently from the run's checkpoint."""
    run = mlptrain.fit(
        "configs/breast_cancer.yaml", overrides=["train.epochs=3"], out=tmp_path / "run",
        html=False,
    )  # fmt: skip
    report = json.loads((run.dir / REPORT_JSON).read_text())
    kept = report["predictions"]["test"]
    setup = setup_from_checkpoint(load_run_checkpoint(resolve_checkpoint(run.dir)))
    test = setup.data.test
    assert kept["classes"] == [str(c) for c in setup.data.encoder.classes]
    assert kept["n_rows"] == report["data"]["n_test"] == len(test.y) == len(kept["y_true"])
    assert kept["y_true"] == test.y.tolist()
    np.testing.assert_allclose(kept["proba"], setup.trained.predict_proba(test.X), atol=1e-6)
    # the run's test metrics, recomputed by scikit-learn from the model's own probabilities
    from sklearn import metrics

    proba = setup.trained.predict_proba(test.X).astype(np.float64)
    reported = report["metrics"]["test"]
    assert reported["roc_auc"] == pytest.approx(metrics.roc_auc_score(test.y, proba[:, 1]))
    assert reported["average_precision"] == pytest.approx(
        metrics.average_precision_score(test.y, proba[:, 1])
    )
    assert reported["brier"] == pytest.approx(metrics.brier_score_loss(test.y, proba[:, 1]))
    assert reported["mcc"] == pytest.approx(metrics.matthews_corrcoef(test.y, proba.argmax(axis=1)))


def test_the_figures_curves_are_sklearns() -> None:
    from sklearn import metrics

    from mlptrain.reporting.figures.ranking import pr_points, roc_points

    rng = np.random.default_rng(4)
    positive = rng.random(300) < 0.3
    score = np.round(rng.random(300) * 0.6 + 0.4 * positive, 2)  # ties included
    fpr, tpr = roc_points(positive, score)
    want_fpr, want_tpr, _ = metrics.roc_curve(positive, score, drop_intermediate=False)
    np.testing.assert_allclose(fpr, want_fpr)
    np.testing.assert_allclose(tpr, want_tpr)
    assert np.trapezoid(tpr, fpr) == pytest.approx(metrics.roc_auc_score(positive, score))
    precision, recall, cuts = pr_points(positive, score)
    want_p, want_r, want_cuts = metrics.precision_recall_curve(positive, score)
    np.testing.assert_allclose(precision, want_p[:-1][::-1])
    np.testing.assert_allclose(recall, want_r[:-1][::-1])
    np.testing.assert_allclose(cuts, want_cuts[::-1])
    ap = np.sum(np.diff(recall, prepend=0.0) * precision)
    assert ap == pytest.approx(metrics.average_precision_score(positive, score))
