"""Run figures: which PNGs each kind of report gets, that they are real PNGs, and no leaks."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlptrain.reporting.figures import make_figures
from mlptrain.reporting.figures.series import layer_series
from mlptrain.reporting.metrics import classification_metrics, regression_metrics
from mlptrain.reporting.report import build_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
LABELS = ["setosa", "<b>x</b>", "virginica"]
EPOCHS = 12


def _config(loss: str) -> dict[str, Any]:
    return {
        "seed": 7,
        "model": {"loss": loss, "init": "he"},
        "train": {
            "optimizer": {"type": "adam", "lr": 0.003, "weight_decay": 0.0},
            "schedule": {"type": "cosine", "t_max": EPOCHS},
            "epochs": EPOCHS,
            "batch_size": 32,
            "dtype": "float32",
        },
    }


def _layers(epoch: int) -> dict[str, dict[str, float]]:
    decay = 0.8**epoch
    return {
        "0 Linear(4 -> 16)": {
            "grad_norm": 2.0 * decay,
            "weight_norm": 3 + 0.1 * epoch,
            "update_ratio": 3e-3 * decay,
        },
        "1 ReLU()": {"dead_fraction": 0.02 * epoch},
        "2 Tanh()": {"saturated_fraction": 0.1 + 0.01 * epoch},
        "3 Linear(16 -> 3)": {
            "grad_norm": 0.0 if epoch == 1 else decay,
            "weight_norm": 1.5,
            "update_ratio": 1e-3,
        },
    }


def _history(headline: str, *, layers: bool) -> list[dict[str, Any]]:
    records = []
    for epoch in range(1, EPOCHS + 1):
        record: dict[str, Any] = {
            "epoch": epoch,
            "lr": 0.003 * 0.5 * (1 + np.cos(np.pi * (epoch - 1) / EPOCHS)),
            "train_loss": 1.2 / epoch,
            f"train_{headline}": 1 - 0.5 / epoch,
            "val_loss": 1.3 / epoch + 0.01 * epoch,
            f"val_{headline}": 1 - 0.6 / epoch,
            "seconds": 0.05,
        }
        if layers:
            record["layers"] = _layers(epoch)
        records.append(record)
    # A non-finite value is stored as null in report.json; plots must step over it.
    records[3]["val_loss"] = None
    return records


def _data(task: str) -> dict[str, Any]:
    return {
        "source": "iris" if task == "classification" else "diabetes",
        "task": task,
        "n_features": 4,
        "n_train": 90,
        "n_val": 30,
        "n_test": 30,
        "classes": LABELS if task == "classification" else None,
    }


MODEL_ROWS = [
    {"index": 0, "layer": "Linear(4 -> 16)", "output_shape": [None, 16], "params": 80},
    {"index": 1, "layer": "ReLU()", "output_shape": [None, 16], "params": 0},
    {"index": 2, "layer": "Tanh()", "output_shape": [None, 16], "params": 0},
    {"index": 3, "layer": "Linear(16 -> 3)", "output_shape": [None, 3], "params": 51},
]


def classification_report(*, layers: bool = False, **overrides: Any) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 10)
    proba = rng.dirichlet(np.ones(3), size=30)
    proba[np.arange(30), labels] += 0.6  # mostly right, with some confusions
    proba /= proba.sum(axis=1, keepdims=True)
    test = classification_metrics(labels, np.log(proba), LABELS)
    return build_report(
        name="iris-mlp",
        config=_config("cross_entropy"),
        data=_data("classification"),
        model_rows=MODEL_ROWS,
        history=_history("accuracy", layers=layers),
        metrics={"train": {"accuracy": 0.97}, "val": {"accuracy": 0.93}, "test": test},
        best_epoch=9,
        seconds=1.5,
        version="0.1.0",
        **overrides,
    )


def regression_report(*, layers: bool = False, predictions: bool = True) -> dict[str, Any]:
    rng = np.random.default_rng(1)
    y_true = rng.normal(150, 60, size=80)
    y_pred = y_true + rng.normal(0, 25, size=80)
    report = build_report(
        name="diabetes-mlp",
        config=_config("mse"),
        data=_data("regression"),
        model_rows=MODEL_ROWS,
        history=_history("r2", layers=layers),
        metrics={"test": regression_metrics(y_true, y_pred)},
        best_epoch=10,
        seconds=2.0,
    )
    if predictions:
        y_pred_list: list[float | None] = y_pred.tolist()
        y_pred_list[5] = None  # a non-finite prediction, stored as null
        report["predictions"] = {"test": {"y_true": y_true.tolist(), "y_pred": y_pred_list}}
    return report


def _assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, path
    assert len(data) > 5_000, f"{path} is suspiciously small ({len(data)} bytes)"
    width, height = struct.unpack(">II", data[16:24])  # IHDR
    assert 300 < width < 2_500 and 200 < height < 2_500, (path, width, height)


@pytest.fixture
def no_leaked_figures() -> Any:
    import matplotlib.pyplot as plt

    before = set(plt.get_fignums())
    yield
    assert set(plt.get_fignums()) == before


@pytest.fixture(scope="module")
def classification_figures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import matplotlib.pyplot as plt

    before = set(plt.get_fignums())
    out_dir = tmp_path_factory.mktemp("run") / "figures"  # not yet created
    figures = make_figures(classification_report(layers=True), out_dir)
    assert set(plt.get_fignums()) == before, "make_figures left figures open"
    return figures


def test_classification_figures(classification_figures: dict[str, Path]) -> None:
    assert list(classification_figures) == [
        "curves",
        "lr",
        "confusion",
        "per_class",
        "diagnostics",
    ]
    out_dir = classification_figures["curves"].parent
    for name, path in classification_figures.items():
        assert path == out_dir / f"{name}.png"
        _assert_png(path)
    # Atomic writes leave no temporary files behind.
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(
        f"{name}.png" for name in classification_figures
    )


def test_regression_figures_from_report_json(tmp_path: Path, no_leaked_figures: None) -> None:
    """The report as read back from report.json (nulls, plain lists), as `mlptrain report`
    sees it."""
    import json

    report = json.loads(json.dumps(regression_report(), allow_nan=False))
    figures = make_figures(report, tmp_path)
    assert list(figures) == ["curves", "lr", "pred_vs_true", "residuals"]
    for path in figures.values():
        _assert_png(path)


def test_regression_without_predictions_skips_those_figures(tmp_path: Path) -> None:
    report = regression_report(predictions=False)
    for record in report["training"]["history"]:
        record["val_loss"] = None  # a whole series of nulls is skipped, not drawn as empty
    figures = make_figures(report, tmp_path)
    assert list(figures) == ["curves", "lr"]
    assert not (tmp_path / "pred_vs_true.png").exists()
    _assert_png(figures["curves"])


def test_no_diagnostics_without_layer_records(tmp_path: Path) -> None:
    report = classification_report()
    report["metrics"] = {}  # keeps the test fast: only the curves are left to draw
    assert list(make_figures(report, tmp_path)) == ["curves", "lr"]


def test_empty_history_and_failed_run(tmp_path: Path) -> None:
    report = classification_report(status="failed", error="loss became NaN at epoch 1")
    report["training"]["history"] = []
    report["metrics"] = {}
    assert make_figures(report, tmp_path) == {}


def test_hostile_and_many_labels_still_render(tmp_path: Path, no_leaked_figures: None) -> None:
    """A malformed mathtext label ($\\frac{$) must not make savefig raise; 21 classes
    drop the cell annotations of the confusion matrix."""
    report = classification_report()
    report["training"]["history"] = []
    test = report["metrics"]["test"]
    n = 21
    names = [f"class_{i}" for i in range(n - 1)] + ["$\\frac{$ very long label name indeed"]
    test["labels"] = names
    test["confusion_matrix"] = (np.eye(n, dtype=int) * 5 + 1).tolist()
    test["per_class"] = [
        {"label": name, "precision": 0.8, "recall": 0.7, "f1": 0.75, "support": 6} for name in names
    ]
    figures = make_figures(report, tmp_path)
    assert list(figures) == ["confusion", "per_class"]
    for path in figures.values():
        _assert_png(path)


def test_does_not_switch_the_matplotlib_backend(tmp_path: Path) -> None:
    """Notebook users keep their backend and their open figures."""
    import matplotlib
    import matplotlib.pyplot as plt

    report = classification_report()
    report["metrics"] = {}
    backend = matplotlib.get_backend()
    fig = plt.figure()
    try:
        make_figures(report, tmp_path)
        assert matplotlib.get_backend() == backend
        assert plt.fignum_exists(fig.number)
    finally:
        plt.close(fig)


def test_layer_series_skips_nulls_and_keeps_model_order() -> None:
    history = [
        {
            "epoch": 1,
            "layers": {
                "0 Linear(4 -> 8)": {"grad_norm": None, "weight_norm": 1.0},
                "1 ReLU()": {"dead_fraction": 0.5},
            },
        },
        {"epoch": 2},  # an epoch without diagnostics
        {
            "epoch": 3,
            "layers": {
                "0 Linear(4 -> 8)": {"grad_norm": 0.5, "weight_norm": 1.5},
                "1 ReLU()": "not a dict",
            },
        },
    ]
    series, layers = layer_series(history)
    assert layers == ["0 Linear(4 -> 8)", "1 ReLU()"]
    assert series["grad_norm"] == {"0 Linear(4 -> 8)": ([3.0], [0.5])}
    assert series["weight_norm"]["0 Linear(4 -> 8)"] == ([1.0, 3.0], [1.0, 1.5])
    assert series["dead_fraction"] == {"1 ReLU()": ([1.0], [0.5])}


def test_constant_learning_rate_draws_no_figure(tmp_path: Path) -> None:
    """A flat learning-rate line says nothing: no lr figure for a constant schedule."""
    from mlptrain.reporting.figures.curves import learning_rate

    report = classification_report()
    assert learning_rate(report) is not None  # the cosine history above varies
    for record in report["training"]["history"]:
        record["lr"] = 0.003
    assert learning_rate(report) is None
    drawn = make_figures(report, tmp_path)
    assert "lr" not in drawn and "curves" in drawn


def test_report_md_links_the_figures_it_has(tmp_path: Path) -> None:
    from mlptrain.reporting.report import write_reports

    report = classification_report()
    write_reports(tmp_path, report)
    drawn = sorted(p.name for p in (tmp_path / "figures").glob("*.png"))
    text = (tmp_path / "report.md").read_text()
    links = [line for line in text.splitlines() if line.startswith("![")]
    assert sorted(line.split("(figures/")[1].rstrip(")") for line in links) == drawn
    assert "## Figures" in text and len(drawn) >= 3
    (tmp_path / "nofig").mkdir()
    write_reports(tmp_path / "nofig", report, figures=False)
    assert "## Figures" not in (tmp_path / "nofig" / "report.md").read_text()
