"""report.md, rendered from the report dict alone (``mlptrain report`` rebuilds it from
report.json at any time), and ``evaluate --format md``'s table of one split."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlptrain.reporting.metrics import SCALAR_METRICS
from mlptrain.reporting.report_model import Report
from mlptrain.reporting.tables import (
    baseline_column,
    format_number,
    markdown_table,
    metric_notes,
    sample_epochs,
    shape_text,
)


def render_markdown(report: dict[str, Any], figures: dict[str, Path] | None = None) -> str:
    """report.md; ``figures`` (name -> PNG path in the run directory) are linked at the end.

    The report's stable part is read through ``Report``; the sections only the report pages
    show (a table's columns, input weights, baseline, importance, worst rows, environment) from
    the dict."""
    typed = Report.from_json(report, "the report")
    task = typed.task
    data, training, model = typed.data, typed.training, typed.model
    out = [f"# {typed.name}: {task} report", ""]
    if typed.status != "completed":
        out += [f"**Run {typed.status}**: {typed.error or ''}", ""]
    out += ["## Data", ""]
    out += markdown_table(
        ["source", "features", "train", "val", "test"],
        [[data.source, data.n_features, data.n_train, data.n_val, data.n_test]],
    )
    if data.classes:
        out += ["", f"Classes ({len(data.classes)}): " + ", ".join(map(str, data.classes))]
    columns = report["data"].get("columns")
    if columns:
        out += ["", "### Columns", ""]
        out += markdown_table(
            ["column", "type", "missing", "levels"],
            [
                [c["name"], c["kind"] + (" (likely)" if c["how"] == "likely id" else ""),
                 c["n_missing"], "" if c["n_levels"] is None or c["kind"] == "numeric" else c["n_levels"]]
                for c in columns
            ],
        )  # fmt: skip
    for note in data.notes:
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
        [[r["index"], r["layer"], shape_text(r), f"{r['params']:,}"] for r in model.layers],
    )
    out += [
        "",
        f"Total parameters: {model.total_params:,}; loss: {model.loss}; init: {model.init}",
        "",
    ]
    opt = ", ".join(f"{k}={v}" for k, v in typed.optimizer.items() if k != "type")
    sched = ", ".join(f"{k}={v}" for k, v in typed.schedule.items() if k != "type")
    out += ["## Training", ""]
    out += [
        f"- optimizer: {typed.optimizer['type']} ({opt})",
        f"- schedule: {typed.schedule['type']}" + (f" ({sched})" if sched else ""),
        f"- batch size {training.batch_size}, dtype {training.dtype}, seed {training.seed}",
        f"- epochs run: {training.epochs_run} of {training.epochs_configured}"
        + (" (stopped early)" if training.stopped_early else "")
        + (f"; best epoch {training.best_epoch}" if training.best_epoch else ""),
        f"- training time: {training.seconds:.2f} s",
        "",
    ]
    history = training.history
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
    if typed.warnings:
        out += ["## Warnings", "", *[f"- {w}" for w in typed.warnings], ""]
    metrics = typed.metrics
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
    out += _worst(report.get("worst"))
    out += _environment(report.get("environment"))
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


def _worst(rows: list[dict[str, Any]] | None) -> list[str]:
    if not rows:
        return []
    classifier = "probability" in rows[0]
    ids = list(rows[0].get("ids") or {})
    what = "most confidently wrong" if classifier else "furthest off"
    out = [f"### The test rows predicted {what} (row: of the data as read, from 0)", ""]
    out += markdown_table(
        ["row", *ids, "true", "predicted", "probability" if classifier else "abs. error"],
        [[r["row"], *[r["ids"].get(k, "") for k in ids], r["true"], r["predicted"],
          r["probability"] if classifier else r["error"]] for r in rows],
    )  # fmt: skip
    return [*out, ""]


def _environment(env: dict[str, Any] | None) -> list[str]:
    if not env:
        return []
    out = ["## Environment", ""]
    out += markdown_table(["", "value"], [[k, v] for k, v in env.items()])
    return [
        *out,
        "",
        "The resolved config is report.json's `config` and the run's config.yaml.",
        "",
    ]


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
