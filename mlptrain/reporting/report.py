"""Evaluation reports: the metrics of a model on its splits, as report.json and report.md.

``build_report`` gathers everything into one JSON-safe dict; the Markdown is rendered from
that dict alone, so ``mlptrain report`` can rebuild it from report.json at any time.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mlptrain.data import Prepared, Split
from mlptrain.data.coded import in_chunks
from mlptrain.nn.registry import layer_of
from mlptrain.nn.sequential import Sequential
from mlptrain.reporting.diagnostics import warnings_from_history
from mlptrain.reporting.environment import environment
from mlptrain.reporting.markdown import render_markdown
from mlptrain.reporting.metrics import (
    HEADLINE,
    SCALAR_METRICS,
    classification_metrics,
    regression_metrics,
)
from mlptrain.store.atomic import atomic_write_text
from mlptrain.store.layout import FIGURE_DIR, REPORT_JSON, REPORT_MD
from mlptrain.timings import phase

if TYPE_CHECKING:
    from mlptrain.reporting.figures.worker import FigureDrawer


def _targets_model(model: Any) -> Any:
    """``model`` must predict in the targets' units: a ``TrainedModel`` (``Setup.trained``,
    ``Predictor.trained``). A bare regression stack predicts standardised values, so passing
    one is a programming error, refused loudly rather than reported wrongly."""
    if isinstance(model, Sequential) and model.head == "identity":
        raise TypeError(
            "regression metrics need predictions in the targets' units: pass the "
            "TrainedModel (setup.trained or predictor.trained), not the bare Sequential"
        )
    return model


def split_metrics(
    model: Any, task: str, split: Split, class_names: list[str] | None
) -> dict[str, Any]:
    """All report metrics of ``model`` (a ``TrainedModel``) on one split (eval mode);
    undefined ones are None."""
    model = _targets_model(model)
    if task == "classification":
        log_proba = in_chunks(model.predict_log_proba, split.X)
        threshold = getattr(model, "threshold", None)
        metrics = classification_metrics(split.y, log_proba, class_names or [], threshold)
    else:
        metrics = regression_metrics(split.y, in_chunks(model.predict, split.X))
    return finite_or_none(metrics)


def baseline_metrics(
    task: str, train_y: np.ndarray, split: Split, class_names: list[str] | None
) -> dict[str, Any]:
    """The report metrics, on ``split``, of the model that ignores the features: the training
    rows' class shares as every row's probabilities (it predicts the majority class; scikit-
    learn's ``DummyClassifier(strategy="prior")``), or the training rows' mean
    (``DummyRegressor()``). A model that learned anything beats it."""
    if task == "classification":
        names = class_names or []
        counts = np.bincount(np.asarray(train_y, dtype=np.int64), minlength=len(names))
        with np.errstate(divide="ignore"):
            log_prior = np.log(counts / counts.sum())
        log_proba = np.broadcast_to(log_prior, (len(split.y), len(log_prior)))
        return finite_or_none(classification_metrics(split.y, log_proba, names))
    train = np.asarray(train_y, dtype=np.float64)
    target = np.asarray(split.y, dtype=np.float64)
    mean = np.broadcast_to(train.mean(axis=0), target.shape)
    return finite_or_none(regression_metrics(split.y, mean))


BASELINE_STRATEGY = {"classification": "majority class", "regression": "training mean"}


def finite_or_none(value: Any) -> Any:
    """NaN/inf (e.g. R² of a one-sample split) become None: JSON has no NaN, and None == None
    lets ``evaluate`` reproduce report.json exactly."""
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite_or_none(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def model_summary(model: Sequential, n_inputs: int) -> list[dict[str, Any]]:
    """One row per module: index, name, output shape and parameter count (like Keras);
    ``members``: rows per sample in its output (k inside an ensemble, else 1)."""
    rows = []
    width, members = n_inputs, 1
    for index, module in enumerate(model.modules):
        width = getattr(module, "out_features", width)
        entry = layer_of(module)
        if entry is not None and entry.role == "ensemble":  # opens or closes an ensemble
            members = int(getattr(module, "k", 1)) if members == 1 else 1
        rows.append(
            {
                "index": index,
                "layer": repr(module),
                "output_shape": [None, width],
                "members": members,
                "params": int(sum(p.size for p in module.params.values())),
            }
        )
    return rows


def build_report(
    *,
    name: str,
    config: dict[str, Any],
    data: dict[str, Any],
    model_rows: list[dict[str, Any]],
    history: list[dict[str, Any]],
    metrics: dict[str, dict[str, Any]],
    status: str = "completed",
    best_epoch: int | None = None,
    stopped_early: bool = False,
    seconds: float = 0.0,
    error: str | None = None,
    version: str = "",
) -> dict[str, Any]:
    return {
        "name": name,
        "status": status,
        "error": error,
        "mlptrain_version": version,
        "task": data["task"],
        "data": data,
        "model": {
            "layers": model_rows,
            "total_params": int(sum(row["params"] for row in model_rows)),
            "loss": config["model"]["loss"],
            "init": config["model"]["init"],
        },
        "optimizer": config["train"]["optimizer"],
        "schedule": config["train"]["schedule"],
        "training": {
            "epochs_run": len(history),
            "epochs_configured": config["train"]["epochs"],
            "best_epoch": best_epoch,
            "stopped_early": stopped_early,
            "seconds": seconds,
            "batch_size": config["train"]["batch_size"],
            "dtype": config["train"]["dtype"],
            "seed": config["seed"],
            "history": history,
        },
        "metrics": metrics,
        "config": config,  # the resolved config: every setting the run used
        "environment": environment(version),
        # plain-language problems seen in the per-layer diagnostics and the learning curves
        "warnings": warnings_from_history(history, kept_epoch=best_epoch),
    }


def input_weight_norms(
    model: Sequential, groups: list[tuple[str, int, int]]
) -> list[dict[str, Any]]:
    """Per input column (a numeric feature, or all one-hot columns of a categorical one), the
    Frobenius norm of its rows of the first linear layer's W (in, out), largest first: which
    columns the network leans on. Inputs are scaled (numeric) or 0/1 (one-hot), so the norms
    are comparable; a categorical column's norm grows with its number of levels."""
    first = next((m for m in model.modules if "W" in getattr(m, "params", {})), None)
    if first is None:
        return []
    W = np.asarray(first.params["W"], dtype=np.float64)
    if W.ndim == 3:  # an ensemble_linear (k, in, out): each input's row across the members
        W = W.transpose(1, 0, 2).reshape(W.shape[1], -1)
    rows = [
        {
            "column": name,
            "encoded_columns": stop - start,
            "norm": float(np.sqrt(np.sum(W[start:stop] ** 2))),
        }
        for name, start, stop in groups
    ]
    return sorted(rows, key=lambda row: -row["norm"])


def write_reports(
    run_dir: Path,
    report: dict[str, Any],
    *,
    figures: bool = True,
    html: bool = True,
    drawer: FigureDrawer | None = None,
) -> None:
    """report.json, report.md, the figures and report.html, each written atomically (old or
    new, never partial). JSON and Markdown come first: they must exist even if a figure fails.
    ``html=False`` (a sweep's trials) writes neither figures nor report.html; ``drawer`` (a
    fit's) may draw the figures in its worker process."""
    with phase("report files"):
        atomic_write_text(
            run_dir / REPORT_JSON, json.dumps(report, indent=2, allow_nan=False) + "\n"
        )
        atomic_write_text(run_dir / REPORT_MD, render_markdown(report))
    if not html:
        return
    from mlptrain.reporting.figures import make_figures
    from mlptrain.reporting.html import write_html

    # the phase says where the figures were drawn: waiting for the worker, or drawing here
    in_worker = drawer is not None and drawer.worker is not None
    with phase("figures (worker)" if figures and in_worker else "figures"):
        if not figures:
            drawn = {}
        elif drawer is not None:
            drawn = drawer.draw(report, run_dir / FIGURE_DIR)
        else:
            drawn = make_figures(report, run_dir / FIGURE_DIR)
    with phase("report files"):
        if drawn:  # report.md was written first, so it exists even if a figure failed
            atomic_write_text(run_dir / REPORT_MD, render_markdown(report, drawn))
        write_html(run_dir, report, drawn)


def headline(report: dict[str, Any], split: str = "test") -> tuple[str, float | None]:
    name = HEADLINE[report["task"]]
    return name, report["metrics"].get(split, {}).get(name)


def format_metrics_table(metrics: dict[str, Any], task: str) -> str:
    """A plain-text table of one split's scalar metrics, for the terminal."""
    names = [m for m in SCALAR_METRICS[task] if m in metrics]
    width = max(len(n) for n in names)
    return "\n".join(f"  {n:<{width}}  {_fmt_metric(metrics[n])}" for n in names)


def _fmt_metric(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.4f}"


def describe_data(data: Prepared) -> dict[str, Any]:
    if data.stream is not None:  # a streamed table: the first pass counted each part's rows
        sizes = data.stream.n_rows
    else:
        sizes = {
            "train": len(data.train.y),
            "val": 0 if data.val is None else len(data.val.y),
            "test": 0 if data.test is None else len(data.test.y),
        }
    return {
        "source": data.source,
        "task": data.task,
        "n_features": data.n_features,
        "n_train": sizes["train"],
        "n_val": sizes["val"],
        "n_test": sizes["test"],
        "classes": data.encoder.to_list() if data.encoder is not None else None,
        # tables: every raw column with its type, missing count and levels; notes (likely ids)
        "columns": [info.to_dict() for info in data.columns] if data.columns else None,
        "notes": list(data.notes or []),
        "fingerprint": data.fingerprint,
    }
