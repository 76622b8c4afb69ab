"""Issue 21, cases 6, 7, 10 and 12: one check, one rule, one writer, one loss at the edges.

6. A NaN in the Python API's X or y gets the message the CLI's files get (column, row), not
   "overflow after scaling", and a NaN target is named as one.
7. A label that only the test (or validation) rows have is refused, for arrays as for files.
10. A class label holding '|' keeps report.md's per-class table in its columns.
12. log_loss is computed from the logits exactly: it equals the unweighted training loss, so a
    diverging run's val_log_loss is not clipped to a small number next to a huge val_loss.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import mlptrain
from mlptrain.errors import DataError
from mlptrain.nn.activations import stable_sigmoid
from mlptrain.nn.build import build_model
from mlptrain.nn.losses import BCEWithLogits, SoftmaxCrossEntropy
from mlptrain.reporting.metrics import classification_metrics
from mlptrain.reporting.tables import markdown_table

CONFIG = {
    "model": {"layers": [{"type": "linear", "units": 4}, "relu", "linear"]},
    "train": {"epochs": 2},
}


def _fit(tmp_path: Path, **arrays):
    return mlptrain.fit(
        CONFIG, out=tmp_path / "run", overwrite=True, figures=False, html=False, **arrays
    )


def test_nan_in_x_is_named_with_its_column_and_row(tmp_path: Path) -> None:
    X = np.random.default_rng(0).normal(size=(40, 3))
    X[7, 2] = np.nan
    with pytest.raises(DataError) as info:
        _fit(tmp_path, X=X, y=np.arange(40) % 2)
    assert str(info.value) == (
        "X, y: 1 missing or non-finite value (NaN, inf or empty) in features, in column 'x2' "
        "(1); first at row index 7; mlptrain does not impute: drop or fill those rows"
    )


def test_nan_in_a_regression_target_is_a_target_problem(tmp_path: Path) -> None:
    X = np.random.default_rng(0).normal(size=(40, 3))
    y = X[:, 0].copy()
    y[[4, 9]] = [np.nan, np.inf]
    with pytest.raises(DataError) as info:
        _fit(tmp_path, X=X, y=y)
    assert str(info.value) == (
        "X, y: 2 missing or non-finite target values (NaN or inf) in y; first at row index 4; "
        "drop or fill those rows"
    )


def test_a_label_only_the_test_rows_have_is_refused(tmp_path: Path) -> None:
    X = np.random.default_rng(0).normal(size=(60, 3))
    with pytest.raises(DataError) as info:
        _fit(tmp_path, X=X, y=np.arange(60) % 2, X_test=X[:4], y_test=np.array([0, 1, 2, 2]))
    assert str(info.value) == (
        "arrays X, y, the test rows: 1 label(s) not seen in training: 2; the model knows 0, 1; "
        "no training row has it, so the model could never predict it: move such rows to "
        "training or drop them"
    )


def test_a_label_with_a_bar_stays_in_its_column(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 2))
    y = np.array(["a|b", "plain", "c"])[np.argmax(X @ rng.normal(size=(2, 3)), axis=1)]
    run = _fit(tmp_path, X=X, y=y)
    md = (run.dir / "report.md").read_text()
    assert "| a\\|b |" in md  # the label, escaped, in the per-class table and the matrix
    tables: list[list[str]] = [[]]
    for line in md.splitlines():
        if line.startswith("|"):
            tables[-1].append(line)
        elif tables[-1]:
            tables.append([])
    for table in filter(None, tables):  # every row has its header's number of cells
        widths = {line.replace("\\|", "").count("|") for line in table}
        assert len(widths) == 1, table


def test_markdown_table_escapes_bars_and_line_breaks() -> None:
    assert markdown_table(["x"], [["a|b\nc"], [0.5], [None]]) == [
        "| x |",
        "|---|",
        "| a\\|b c |",
        "| 0.5000 |",
        "| – |",
    ]


@pytest.mark.parametrize("head", ["softmax", "sigmoid"])
def test_log_loss_is_the_training_loss_even_for_huge_logits(head: str) -> None:
    rng = np.random.default_rng(0)
    n_out = 3 if head == "softmax" else 1
    model = build_model(
        [{"type": "linear"}], n_inputs=4, n_outputs=n_out, rng=rng, dtype=np.float64, head=head
    )
    x = rng.normal(size=(50, 4)) * 1e5  # logits around 1e5: probabilities round to 0 and 1
    labels = rng.integers(0, 3 if head == "softmax" else 2, 50)
    logits = model.forward_eval(x)
    loss = SoftmaxCrossEntropy() if head == "softmax" else BCEWithLogits()
    target = labels if head == "softmax" else labels.reshape(-1, 1).astype(np.float64)
    expected = loss.forward(logits, target)
    log_proba = model.predict_log_proba(x)
    names = [str(i) for i in range(log_proba.shape[1])]
    assert classification_metrics(labels, log_proba, names)["log_loss"] == pytest.approx(
        expected, rel=1e-12
    )
    assert expected > 1e3  # not clipped to ~36 as a log loss of clipped probabilities would be
    small = x / 1e5
    reference = (
        np.log(model.predict_proba(small))
        if head == "softmax"
        else np.log(np.stack([1 - stable_sigmoid(model.forward_eval(small).ravel()),
                              stable_sigmoid(model.forward_eval(small).ravel())], axis=1))
    )  # fmt: skip
    np.testing.assert_allclose(model.predict_log_proba(small), reference, rtol=1e-10)
