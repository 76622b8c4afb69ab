"""report.html: self-contained (no scripts, no URLs), escaped, and carrying every figure."""

from __future__ import annotations

import base64
import re
import struct
import zlib
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlptrain.reporting.figures import make_figures
from mlptrain.reporting.html import render_html, write_html
from mlptrain.reporting.metrics import classification_metrics, regression_metrics
from mlptrain.reporting.report import build_report

HOSTILE = "<b>x</b>"
LABELS = ["setosa", HOSTILE, "virginica"]


def _config() -> dict[str, Any]:
    return {
        "seed": 3,
        "model": {"loss": "cross_entropy", "init": "he"},
        "train": {
            "optimizer": {"type": "adam", "lr": 0.001},
            "schedule": {"type": "step", "step_size": 5, "gamma": 0.5},
            "epochs": 20,
            "batch_size": 16,
            "dtype": "float32",
        },
    }


def _history(headline: str, epochs: int, *, layers: bool = False) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for epoch in range(1, epochs + 1):
        record: dict[str, Any] = {
            "epoch": epoch,
            "lr": 0.001 * 0.5 ** ((epoch - 1) // 5),
            "train_loss": 1.0 / epoch,
            f"train_{headline}": 1 - 0.4 / epoch,
            "val_loss": 1.1 / epoch,
            f"val_{headline}": 1 - 0.5 / epoch,
            "seconds": 0.01,
        }
        if layers:
            record["layers"] = {
                "0 Linear(4 -> 8)": {
                    "grad_norm": 1 / epoch,
                    "weight_norm": 2.0,
                    "update_ratio": 1e-3,
                },
                "1 ReLU()": {"dead_fraction": 0.01 * epoch},
            }
        records.append(record)
    records[2]["val_loss"] = None  # non-finite values are stored as null
    return records


def _data(task: str) -> dict[str, Any]:
    return {
        "source": "data/flowers.csv",
        "task": task,
        "n_features": 4,
        "n_train": 90,
        "n_val": 30,
        "n_test": 30,
        "classes": LABELS if task == "classification" else None,
    }


ROWS = [
    {"index": 0, "layer": "Linear(4 -> 8)", "output_shape": [None, 8], "params": 40},
    {"index": 1, "layer": "ReLU()", "output_shape": [None, 8], "params": 0},
    {"index": 2, "layer": "Linear(8 -> 3)", "output_shape": [None, 3], "params": 27},
]


def classification_report(**overrides: Any) -> dict[str, Any]:
    labels = np.repeat(np.arange(3), 10)
    proba = np.full((30, 3), 0.1)
    proba[np.arange(30), labels] = 0.8
    proba[0] = [0.1, 0.8, 0.1]  # one mistake, so the confusion matrix has an off-diagonal
    test = classification_metrics(labels, np.log(proba), LABELS)
    options: dict[str, Any] = {
        "history": _history("accuracy", 20),
        "metrics": {"val": {"accuracy": 0.9}, "test": test},
        "best_epoch": 17,
        "seconds": 75.0,
        "version": "0.1.0",
    }
    options.update(overrides)
    return build_report(
        name="flowers", config=_config(), data=_data("classification"), model_rows=ROWS, **options
    )


def regression_report(*, layers: bool = False) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    y_true = rng.normal(size=40)
    y_pred = y_true + rng.normal(scale=0.3, size=40)
    config = _config()
    config["model"]["loss"] = "mse"
    report = build_report(
        name="houses",
        config=config,
        data=_data("regression"),
        model_rows=ROWS,
        history=_history("r2", 8, layers=layers),
        metrics={"test": regression_metrics(y_true, y_pred)},
        best_epoch=8,
    )
    report["predictions"] = {"test": {"y_true": y_true.tolist(), "y_pred": y_pred.tolist()}}
    return report


def _png(path: Path, width: int = 40, height: int = 30) -> Path:
    """A small valid PNG (one grey image), so most page tests need no matplotlib; the
    regression test below goes through make_figures for the real thing."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        body = kind + payload
        return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    pixels = zlib.compress(b"".join(b"\x00" + b"\x80" * width for _ in range(height)))
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )
    return path


FIGURE_NAMES = ("curves", "lr", "confusion", "per_class", "diagnostics")


@pytest.fixture(scope="module")
def classification_page(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Path]]:
    report = classification_report()
    report["training"]["history"] = _history("accuracy", 20, layers=True)
    report["warnings"] = ["Validation loss rose for 6 epochs: the model is overfitting <here>."]
    out = tmp_path_factory.mktemp("cls")
    figures = {name: _png(out / f"{name}.png", 40 + i, 30) for i, name in enumerate(FIGURE_NAMES)}
    return render_html(report, figures), figures


class _Collector(HTMLParser):
    """Every tag and attribute, to check the page as a browser would parse it."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += [(tag, name, value) for name, value in attrs]


def _parse(page: str) -> _Collector:
    collector = _Collector()
    collector.feed(page)
    collector.close()
    return collector


def _assert_self_contained(page: str) -> None:
    lowered = page.lower()
    assert "<script" not in lowered
    assert "http://" not in lowered and "https://" not in lowered
    assert "@import" not in lowered and "url(" not in lowered  # no CSS fetches either
    assert re.findall(r'src="(?!data:image/png;base64,)', page) == []
    parsed = _parse(page)
    assert "script" not in parsed.tags and "link" not in parsed.tags and "iframe" not in parsed.tags
    for tag, name, value in parsed.attrs:
        assert not name.startswith("on"), (tag, name)  # no inline event handlers
        if name in ("src", "href"):
            assert value is not None
            assert value.startswith(("data:image/png;base64,", "#")), (tag, name, value[:40])


def test_classification_page_is_self_contained(classification_page: Any) -> None:
    page, _ = classification_page
    assert page.startswith("<!doctype html>")
    _assert_self_contained(page)
    assert "prefers-color-scheme: dark" in page
    assert "max-width: 100%" in page


def test_every_figure_is_embedded_as_a_data_uri(classification_page: Any) -> None:
    page, figures = classification_page
    for name, path in figures.items():
        assert "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode() in page
        assert f'id="fig-{name}"' in page
    # In reading order: training figures, then results.
    positions = [page.index(f'id="fig-{name}"') for name in FIGURE_NAMES]
    assert positions[:2] == sorted(positions[:2]) and positions[4] < positions[2] < positions[3]
    assert re.search(r'<img src="data:[^"]+" alt="learning curves" width="40" height="30">', page)


def test_hostile_label_is_escaped(classification_page: Any) -> None:
    page, _ = classification_page
    assert HOSTILE not in page
    assert "&lt;b&gt;x&lt;/b&gt;" in page
    # Shown in the class list, the per-class table and both axes of the confusion table.
    assert page.count("&lt;b&gt;x&lt;/b&gt;") >= 4


def test_report_content_is_all_there(classification_page: Any) -> None:
    page, _ = classification_page
    for text in (
        "flowers",
        "Data",
        "data/flowers.csv",
        "Model",
        "Linear(4 -&gt; 8)",  # user-visible layer names are escaped too
        "Total parameters",
        "adam (lr=0.001)",
        "step (step_size=5, gamma=0.5)",
        "Learning curve",
        "Metrics per split",
        "balanced_accuracy",
        "Per class (test)",
        "Confusion matrix",
        "1 min 15 s",
    ):
        assert text in page, text
    # The best epoch is always among the sampled learning-curve rows, and highlighted.
    assert re.search(r'<tr class="best"><td class="num">17</td>', page)
    assert "Run failed" not in page


def test_warnings_are_shown_escaped(classification_page: Any) -> None:
    page, _ = classification_page
    assert 'class="diagnostics"' in page and "Diagnostics" in page
    assert "overfitting &lt;here&gt;." in page


def test_no_warnings_box_when_there_are_none() -> None:
    page = render_html(classification_report(), {})
    assert 'class="diagnostics"' not in page
    _assert_self_contained(page)


def test_failed_run_shows_banner_with_escaped_error() -> None:
    report = classification_report(
        status="failed", error="loss became NaN at epoch 3 <script>alert(1)</script>"
    )
    page = render_html(report, {})
    assert "Run failed" in page and 'role="alert"' in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    _assert_self_contained(page)


def test_failed_run_without_history_or_metrics_renders() -> None:
    page = render_html(classification_report(status="failed", history=[], metrics={}), {})
    assert "Run failed" in page and "Learning curve" not in page


def test_regression_page(tmp_path: Path) -> None:
    report = regression_report()
    figures = make_figures(report, tmp_path)
    assert {"pred_vs_true", "residuals"} <= set(figures)
    path = write_html(tmp_path, report, figures)
    assert path == tmp_path / "report.html"
    page = path.read_text(encoding="utf-8")
    _assert_self_contained(page)
    for path in figures.values():
        assert base64.b64encode(path.read_bytes()).decode() in page
    assert "R²" in page and "Per class" not in page
    # Atomic write: no temporary file left next to the report.
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_unknown_missing_and_non_png_figures(tmp_path: Path) -> None:
    png = tmp_path / "extra.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00\x00\x01\x00" * 2)
    fake = tmp_path / "fake.png"
    fake.write_bytes(b"<svg onload=alert(1)>")
    page = render_html(
        classification_report(),
        {"extra": png, "curves": fake, "lr": tmp_path / "missing.png"},
    )
    assert "Other figures" in page and page.count("data:image/png;base64,") == 1
    assert "svg" not in page
