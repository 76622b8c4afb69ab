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
from mlptrain.nn.registry import layer_of
from mlptrain.nn.sequential import Sequential
from mlptrain.reporting.diagnostics import warnings_from_history
from mlptrain.reporting.metrics import (
    HEADLINE,
    SCALAR_METRICS,
    classification_metrics,
    probabilities,
    regression_metrics,
)
from mlptrain.reporting.tables import (
    baseline_column,
    format_number,
    markdown_table,
    metric_notes,
    sample_epochs,
    shape_text,
)
from mlptrain.store.atomic import atomic_write_text
from mlptrain.store.layout import REPORT_JSON, REPORT_MD

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
        log_proba = model.predict_log_proba(split.X)
        threshold = getattr(model, "threshold", None)
        metrics = classification_metrics(split.y, log_proba, class_names or [], threshold)
    else:
        metrics = regression_metrics(split.y, model.predict(split.X))
    return _finite_or_none(metrics)


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
        return _finite_or_none(classification_metrics(split.y, log_proba, names))
    train = np.asarray(train_y, dtype=np.float64)
    target = np.asarray(split.y, dtype=np.float64)
    mean = np.broadcast_to(train.mean(axis=0), target.shape)
    return _finite_or_none(regression_metrics(split.y, mean))


BASELINE_STRATEGY = {"classification": "majority class", "regression": "training mean"}


def _finite_or_none(value: Any) -> Any:
    """NaN/inf (e.g. R² of a one-sample split) become None: JSON has no NaN, and None == None
    lets ``evaluate`` reproduce report.json exactly."""
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite_or_none(v) for v in value]
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


# A report keeps at most this many rows of a split's predictions for its figures: (true,
# predicted) pairs of a regression, (label, probabilities) of a classifier.
PREDICTION_SAMPLE = 2000


def prediction_sample(model: Any, split: Split, classes: list[str] | None = None) -> dict[str, Any]:
    """A split's predictions, evenly subsampled, so ``mlptrain report`` can redraw the
    figures from report.json alone: (true, predicted) values of the first target, or with
    ``classes`` the class indices and probabilities (6 decimals) the ranking figures read."""
    model = _targets_model(model)
    rows = np.arange(len(split.y))
    if len(rows) > PREDICTION_SAMPLE:
        rows = np.linspace(0, len(rows) - 1, PREDICTION_SAMPLE).round().astype(int)
    if classes is not None:
        proba = probabilities(model.predict_log_proba(split.X[rows]))
        return {
            "n_rows": len(split.y),
            "classes": list(classes),
            "y_true": np.asarray(split.y[rows], dtype=np.int64).tolist(),
            "proba": np.round(proba, 6).tolist(),
        }
    predicted = np.asarray(model.predict(split.X[rows]), dtype=np.float64).reshape(len(rows), -1)
    true = np.asarray(split.y[rows], dtype=np.float64).reshape(len(rows), -1)
    return {"y_true": true[:, 0].tolist(), "y_pred": predicted[:, 0].tolist()}


def write_reports(
    run_dir: Path,
    report: dict[str, Any],
    *,
    figures: bool = True,
    html: bool = True,
    workers: FigureDrawer | None = None,
) -> None:
    """report.json, report.md, the figures and report.html, each written atomically (old or
    new, never partial). JSON and Markdown come first: they must exist even if a figure fails.
    ``html=False`` (a sweep's trials) writes neither figures nor report.html; ``workers`` (a
    fit's drawer) may draw the figures in parallel processes."""
    atomic_write_text(run_dir / REPORT_JSON, json.dumps(report, indent=2, allow_nan=False) + "\n")
    atomic_write_text(run_dir / REPORT_MD, render_markdown(report))
    if not html:
        return
    from mlptrain.reporting.figures import make_figures
    from mlptrain.reporting.html import write_html

    if not figures:
        drawn = {}
    elif workers is not None:
        drawn = workers.draw(report, run_dir / "figures")
    else:
        drawn = make_figures(report, run_dir / "figures")
    if drawn:  # report.md was written first, so it exists even if a figure failed
        atomic_write_text(run_dir / REPORT_MD, render_markdown(report, drawn))
    write_html(run_dir, report, drawn)


def render_markdown(report: dict[str, Any], figures: dict[str, Path] | None = None) -> str:
    """report.md; ``figures`` (name -> PNG path in the run directory) are linked at the end."""
    task = report["task"]
    data, training, model = report["data"], report["training"], report["model"]
    out = [f"# {report['name']}: {task} report", ""]
    if report["status"] != "completed":
        out += [f"**Run {report['status']}**: {report.get('error') or ''}", ""]
    out += ["## Data", ""]
    out += markdown_table(
        ["source", "features", "train", "val", "test"],
        [[data["source"], data["n_features"], data["n_train"], data["n_val"], data["n_test"]]],
    )
    if data.get("classes"):
        out += ["", f"Classes ({len(data['classes'])}): " + ", ".join(map(str, data["classes"]))]
    if data.get("columns"):
        out += ["", "### Columns", ""]
        out += markdown_table(
            ["column", "type", "missing", "levels"],
            [
                [c["name"], c["kind"] + (" (likely)" if c["how"] == "likely id" else ""),
                 c["n_missing"], "" if c["n_levels"] is None or c["kind"] == "numeric" else c["n_levels"]]
                for c in data["columns"]
            ],
        )  # fmt: skip
    for note in data.get("notes") or []:
        out += ["", f"Note: {note}"]
    if report.get("input_weights"):
        out += ["", "### First-layer weight norm per input column", ""]
        out += markdown_table(
            ["column", "encoded columns", "norm"],
            [
                [r["column"], r["encoded_columns"], format_number(r["norm"])]
                for r in report["input_weights"]
            ],
        )
    out += ["", "## Model", ""]
    out += markdown_table(
        ["#", "layer", "output shape", "params"],
        [[r["index"], r["layer"], shape_text(r), f"{r['params']:,}"] for r in model["layers"]],
    )
    out += [
        "",
        f"Total parameters: {model['total_params']:,}; loss: {model['loss']}; "
        f"init: {model['init']}",
        "",
    ]
    opt = ", ".join(f"{k}={v}" for k, v in report["optimizer"].items() if k != "type")
    sched = ", ".join(f"{k}={v}" for k, v in report["schedule"].items() if k != "type")
    out += ["## Training", ""]
    out += [
        f"- optimizer: {report['optimizer']['type']} ({opt})",
        f"- schedule: {report['schedule']['type']}" + (f" ({sched})" if sched else ""),
        f"- batch size {training['batch_size']}, dtype {training['dtype']}, seed {training['seed']}",
        f"- epochs run: {training['epochs_run']} of {training['epochs_configured']}"
        + (" (stopped early)" if training["stopped_early"] else "")
        + (f"; best epoch {training['best_epoch']}" if training.get("best_epoch") else ""),
        f"- training time: {training['seconds']:.2f} s",
        "",
    ]
    history = training["history"]
    if history:
        keys = [
            k
            for k in history[0]
            if k not in ("epoch", "seconds") and not isinstance(history[0][k], dict | list)
        ]
        out += ["### Learning curve", ""]
        out += markdown_table(
            ["epoch", *keys],
            [[h["epoch"], *[h.get(k) for k in keys]] for h in sample_epochs(history)],
        )
        out += [""]
    if report.get("warnings"):
        out += ["## Warnings", "", *[f"- {w}" for w in report["warnings"]], ""]
    metrics = report["metrics"]
    if metrics:
        names = [m for m in SCALAR_METRICS[task] if any(m in metrics[s] for s in metrics)]
        columns = {**metrics}
        baseline = baseline_column(report)
        if baseline is not None:
            columns[baseline[0]] = baseline[1]
        out += ["## Metrics", ""]
        out += markdown_table(
            ["metric", *columns], [[m, *[columns[s].get(m) for s in columns]] for m in names]
        )
        out += ["", *[f"Note: {note}" for note in metric_notes(metrics)], ""]
        if task == "classification" and "test" in metrics:
            out += _class_details(metrics["test"], "test")
    out += _importance(report.get("importance"))
    if figures:
        out += ["## Figures", ""]
        out += [f"![{name}](figures/{path.name})" for name, path in figures.items()]
        out += [""]
    return "\n".join(out) + "\n"


def _importance(entry: dict[str, Any] | None) -> list[str]:
    """Permutation importance per input column (every column; the figure shows the top)."""
    if not entry or not entry.get("columns"):
        return []
    out = [
        f"### Permutation importance ({entry['split']} split, {entry['rows']} rows)",
        "",
        f"Drop in {entry['metric']} when the column is shuffled: mean and standard deviation "
        f"over {entry['repeats']} shuffles.",
        "",
    ]
    out += markdown_table(
        ["column", "encoded columns", "mean drop", "sd"],
        [[r["column"], r["encoded_columns"], r["mean"], r["std"]] for r in entry["columns"]],
    )
    return [*out, ""]


def _class_details(metrics: dict[str, Any], split: str) -> list[str]:
    """Per-class table and confusion matrix with the real labels."""
    out = [f"### Per class ({split})", ""]
    out += markdown_table(
        ["class", "precision", "recall", "f1", "support"],
        [
            [r["label"], r["precision"], r["recall"], r["f1"], r["support"]]
            for r in metrics["per_class"]
        ],
    )
    out += ["", f"### Confusion matrix ({split}; rows: true, columns: predicted)", ""]
    labels = [str(label) for label in metrics["labels"]]
    out += markdown_table(
        ["", *labels], [[labels[i], *row] for i, row in enumerate(metrics["confusion_matrix"])]
    )
    return [*out, ""]


def render_split_markdown(result: dict[str, Any]) -> str:
    """Markdown for one evaluated split (``mlptrain evaluate --format md``)."""
    task, split, metrics = result["task"], result["split"], result["metrics"]
    out = [f"## {split} metrics of {result['checkpoint']} ({result['n_samples']} samples)", ""]
    out += markdown_table(
        ["metric", split], [[m, metrics[m]] for m in SCALAR_METRICS[task] if m in metrics]
    )
    out += ["", *[f"Note: {note}" for note in metric_notes({split: metrics})], ""]
    if task == "classification":
        out += _class_details(metrics, split)
    return "\n".join(out) + "\n"


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
    return {
        "source": data.source,
        "task": data.task,
        "n_features": data.n_features,
        "n_train": len(data.train.y),
        "n_val": 0 if data.val is None else len(data.val.y),
        "n_test": 0 if data.test is None else len(data.test.y),
        "classes": data.encoder.to_list() if data.encoder is not None else None,
        # tables: every raw column with its type, missing count and levels; notes (likely ids)
        "columns": [info.to_dict() for info in data.columns] if data.columns else None,
        "notes": list(data.notes or []),
        "fingerprint": data.fingerprint,
    }
