"""report.html: the content of report.md as one self-contained page, with the run's figures.

Rendered from the report dict (never by parsing the Markdown) into the page shell of
mlptrain.reporting.page (inline CSS from report.css, a Content-Security-Policy that forbids
scripts and any network fetch), with the figures as ``data:`` URIs, so the file can be mailed
or archived alone and opened offline. Class labels, layer names and error texts come from user
files, so every string from the report is escaped.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mlptrain.reporting.html_run import importance_table, run_section, worst_section
from mlptrain.reporting.metrics import HEADLINE, SCALAR_METRICS
from mlptrain.reporting.page import e, fmt, html_page, is_number, table
from mlptrain.reporting.tables import baseline_column, metric_notes, sample_epochs, shape_text
from mlptrain.store.atomic import atomic_write_text
from mlptrain.store.layout import REPORT_HTML

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# (caption shown under the figure, alt text); keyed by the names make_figures returns.
FIGURE_TEXT: dict[str, tuple[str, str]] = {
    "curves": (
        "Loss and headline metric per epoch. A validation curve that turns up while training "
        "keeps improving is overfitting; the green line marks the best epoch.",
        "learning curves",
    ),
    "lr": ("Learning rate per epoch, as set by the schedule.", "learning rate per epoch"),
    "diagnostics": (
        "Per-layer health over training. The update/weight ratio should sit near 1e-3 (green "
        "band); growing dead or saturated fractions mean units that no longer learn.",
        "layer diagnostics",
    ),
    "confusion": (
        "Rows are the true class, columns the prediction; the diagonal is correct. Each cell "
        "shows its count, coloured by its share of the row (the true class), so the colour of "
        "the diagonal is each class's recall; empty cells are blank.",
        "confusion matrix heatmap",
    ),
    "per_class": (
        "Precision, recall and F1 of each class on the test split.",
        "per-class precision, recall and F1",
    ),
    "pred_vs_true": (
        "Each point is one test sample; points on the dashed line are predicted exactly.",
        "predicted versus true values",
    ),
    "residuals": (
        "Residuals should centre on zero with no pattern against the prediction; a funnel "
        "or curve means the error depends on the value.",
        "residual histogram and residuals versus prediction",
    ),
}
TRAINING_FIGURES = ("curves", "lr", "diagnostics")
RESULT_FIGURES = (
    "confusion", "per_class", "roc", "pr", "calibration", "threshold", "pred_vs_true", "residuals",
    "importance",
)  # fmt: skip


def write_html(run_dir: Path, report: dict[str, Any], figures: dict[str, Path]) -> Path:
    """Write ``run_dir/report.html`` atomically and return its path."""
    path = Path(run_dir) / REPORT_HTML
    atomic_write_text(path, render_html(report, figures))
    return path


def render_html(report: dict[str, Any], figures: dict[str, Path]) -> str:
    """The whole page. ``figures`` maps figure names (as from ``make_figures``) to PNG files;
    names this module does not know are shown at the end, so none is dropped."""
    images = {name: _image(name, path) for name, path in figures.items()}
    task = report["task"]
    title = f"{report['name']}: {task} report"
    body = [
        *_header(report),
        *_status_banner(report),
        *_warnings(report.get("warnings")),
        *_headline_cards(report),
        *_data_section(report),
        *_model_section(report),
        *_training_section(report, images),
        *_results_section(report, images),
        *_other_figures(images),
        *run_section(report),
        _footer(report),
    ]
    return html_page(title, body, stylesheet="report.css")


def _image(name: str, path: Path) -> str | None:
    """A ``<figure>`` with the PNG inlined as a data URI, or None if the file is unusable."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    # Only real PNGs are inlined: anything else under a data:image/png URI would be
    # an unlabelled blob in the page.
    if not data.startswith(PNG_MAGIC) or len(data) < 24:
        return None
    width, height = struct.unpack(">II", data[16:24])  # IHDR: reserves the space before load
    caption, alt = FIGURE_TEXT.get(name, ("", name.replace("_", " ")))
    uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    figcaption = f"<figcaption>{e(caption)}</figcaption>" if caption else ""
    return (
        f'<figure id="fig-{e(name)}"><img src="{uri}" alt="{e(alt)}" width="{width}" '
        f'height="{height}">{figcaption}</figure>'
    )


def _figures(images: dict[str, str | None], names: Iterable[str]) -> list[str]:
    found = (images.get(name) for name in names)
    return [image for image in found if image]


def _header(report: dict[str, Any]) -> list[str]:
    status = str(report.get("status", ""))
    kind = {"completed": "pill", "failed": "pill bad"}.get(status, "pill warn")
    pill_html = f'<span class="{kind}">{e(status)}</span>'
    version = report.get("mlptrain_version")
    data = report["data"]
    subtitle = f"{report['task']} on {data['source']}" + (
        f" · mlptrain {version}" if version else ""
    )
    nav = [("data", "Data"), ("model", "Model"), ("training", "Training")]
    if report.get("metrics"):
        nav.append(("results", "Results"))
    if report.get("environment") or report.get("config"):
        nav.append(("run", "Run"))
    links = "".join(f'<a href="#{anchor}">{label}</a>' for anchor, label in nav)
    return [
        "<header>",
        f"<h1>{e(report['name'])} {pill_html}</h1>",
        f'<p class="subtitle">{e(subtitle)}</p>',
        f'<nav aria-label="sections">{links}</nav>',
        "</header>",
    ]


def _status_banner(report: dict[str, Any]) -> list[str]:
    status = report.get("status")
    if status == "completed":
        return []
    kind = "" if status == "failed" else " warn"
    error = report.get("error")
    detail = f"<p>{e(error)}</p>" if error else ""
    what = (
        "The numbers below are from the epochs that finished before it stopped."
        if report["training"].get("history")
        else ""
    )
    note = f'<p class="note">{e(what)}</p>' if what else ""
    return [
        f'<div class="banner{kind}" role="alert"><strong>Run {e(status)}</strong>'
        f"{detail}{note}</div>"
    ]


def _warnings(warnings: Any) -> list[str]:
    if not warnings:
        return []
    if isinstance(warnings, str):
        warnings = [warnings]
    items = "".join(f"<li>{e(w)}</li>" for w in warnings)
    return [
        '<aside class="diagnostics" role="note" aria-label="Diagnostics">'
        f"<h2>Diagnostics</h2><ul>{items}</ul></aside>"
    ]


def _headline_cards(report: dict[str, Any]) -> list[str]:
    metrics, training = report.get("metrics") or {}, report["training"]
    name = HEADLINE[report["task"]]
    label = {"accuracy": "accuracy", "r2": "R²"}.get(name, name)
    stats: list[tuple[str, str]] = []
    for split in ("test", "val"):
        value = (metrics.get(split) or {}).get(name)
        if is_number(value):
            stats.append((f"{split} {label}", f"{value:.4f}"))
    best = training.get("best_epoch")
    epochs = f"{training['epochs_run']} / {training['epochs_configured']}"
    stats.append(("epochs run", epochs))
    if best:
        stats.append(("best epoch", str(best)))
    stats.append(("parameters", f"{report['model']['total_params']:,}"))
    stats.append(("training time", _duration(training.get("seconds") or 0.0)))
    cards = "".join(
        f'<div class="stat"><div class="label">{e(k)}</div><div class="value">{e(v)}</div></div>'
        for k, v in stats
    )
    return [f'<div class="cards">{cards}</div>']


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _data_section(report: dict[str, Any]) -> list[str]:
    data = report["data"]
    out = ['<section id="data">', "<h2>Data</h2>"]
    out.append(
        table(
            ["source", "features", "train", "val", "test"],
            [[data["source"], data["n_features"], data["n_train"], data["n_val"], data["n_test"]]],
            numeric_header=[False, True, True, True, True],
        )
    )
    classes = data.get("classes")
    if classes:
        chips = "".join(f"<li>{e(c)}</li>" for c in classes)
        out.append(f'<p class="note">Classes ({len(classes)}):</p><ul class="chips">{chips}</ul>')
    if data.get("columns"):
        out.append("<h3>Columns</h3>")
        rows = [
            [c["name"], c["kind"] + (" (likely)" if c["how"] == "likely id" else ""), c["n_missing"],
             "" if c["n_levels"] is None or c["kind"] == "numeric" else c["n_levels"]]
            for c in data["columns"]
        ]  # fmt: skip
        out.append(
            table(["column", "type", "missing", "levels"], rows,
                   numeric_header=[False, False, True, True])
        )  # fmt: skip
    for note in data.get("notes") or []:
        out.append(f'<p class="note">{e(note)}</p>')
    weights = report.get("input_weights")
    if weights:
        out.append("<h3>First-layer weight norm per input column</h3>")
        out.append(
            table(["column", "encoded columns", "norm"],
                   [[r["column"], r["encoded_columns"], r["norm"]] for r in weights],
                   numeric_header=[False, True, True])
        )  # fmt: skip
    out.append("</section>")
    return out


def _model_section(report: dict[str, Any]) -> list[str]:
    model = report["model"]
    rows = [[r["index"], r["layer"], shape_text(r), r["params"]] for r in model["layers"]]
    return [
        '<section id="model">',
        "<h2>Model</h2>",
        table(
            ["#", "layer", "output shape", "params"],
            rows,
            numeric_header=[True, False, False, True],
            text_class="mono",
        ),
        f'<p class="note">Total parameters: <strong>{model["total_params"]:,}</strong>; '
        f"loss: <code>{e(model['loss'])}</code>; init: <code>{e(model['init'])}</code></p>",
        "</section>",
    ]


def _settings(settings: dict[str, Any]) -> str:
    """``adam (lr=0.001, weight_decay=0.0)`` from a config section with a ``type``."""
    rest = ", ".join(f"{k}={v}" for k, v in settings.items() if k != "type")
    return f"{settings.get('type', '')}" + (f" ({rest})" if rest else "")


def _training_section(report: dict[str, Any], images: dict[str, str | None]) -> list[str]:
    training = report["training"]
    epochs = f"{training['epochs_run']} of {training['epochs_configured']}"
    if training.get("stopped_early"):
        epochs += " (stopped early)"
    facts = [
        ("optimizer", _settings(report["optimizer"])),
        ("schedule", _settings(report["schedule"])),
        ("batch size", training["batch_size"]),
        ("dtype", training["dtype"]),
        ("seed", training["seed"]),
        ("epochs run", epochs),
        ("best epoch", training.get("best_epoch") or "–"),
        ("training time", _duration(training.get("seconds") or 0.0)),
    ]
    items = "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in facts)
    out = ['<section id="training">', "<h2>Training</h2>", f'<dl class="facts">{items}</dl>']
    out += _figures(images, ("curves", "lr"))
    out += _learning_curve(training)
    if images.get("diagnostics"):
        out += ["<h3>Layer diagnostics</h3>", *_figures(images, ("diagnostics",))]
    out.append("</section>")
    return out


def _learning_curve(training: dict[str, Any]) -> list[str]:
    history = training["history"]
    if not history:
        return []
    # Union over all records, first-seen order: a key can appear mid-run (e.g. after resume).
    keys = list(
        dict.fromkeys(
            k
            for record in history
            for k, v in record.items()
            if k not in ("epoch", "seconds") and not isinstance(v, dict | list)
        )
    )
    best = training.get("best_epoch")
    sampled = sample_epochs(history, best=best)
    rows = [[record.get("epoch"), *[record.get(k) for k in keys]] for record in sampled]
    classes = ["best" if best and record.get("epoch") == best else "" for record in sampled]
    shown = (
        f"{len(sampled)} of {len(history)} epochs shown, evenly spaced"
        if len(sampled) < len(history)
        else f"all {len(history)} epochs"
    )
    note = shown + ("; the best epoch is highlighted" if best else "")
    return [
        "<h3>Learning curve</h3>",
        table(
            ["epoch", *[k.replace("_", " ") for k in keys]],
            rows,
            numeric_header=[True] * (len(keys) + 1),
            row_classes=classes,
        ),
        f'<p class="note">{e(note)}.</p>',
    ]


def _results_section(report: dict[str, Any], images: dict[str, str | None]) -> list[str]:
    metrics = report.get("metrics") or {}
    figures = _figures(images, RESULT_FIGURES)
    if not metrics and not figures:
        return []
    task = report["task"]
    out = ['<section id="results">', "<h2>Results</h2>"]
    if metrics:
        names = [m for m in SCALAR_METRICS[task] if any(m in metrics[s] for s in metrics)]
        columns = {**metrics}
        baseline = baseline_column(report)
        if baseline is not None:  # the model that ignores the features, beside the splits
            columns[baseline[0]] = baseline[1]
        splits = list(columns)
        headline = HEADLINE[task]
        out.append("<h3>Metrics per split</h3>")
        out.append(
            table(
                ["metric", *splits],
                [[m, *[columns[s].get(m) for s in splits]] for m in names],
                numeric_header=[False, *[True] * len(splits)],
                row_classes=["best" if m == headline else "" for m in names],
                row_headers=True,
            )
        )
        out += [f'<p class="note">{e(note)}.</p>' for note in metric_notes(metrics)]
    out += figures
    out += importance_table(report)
    test = metrics.get("test") or {}
    if task == "classification" and test.get("per_class"):
        out += _class_details(test)
    out += worst_section(report)
    out.append("</section>")
    return out


def _class_details(test: dict[str, Any]) -> list[str]:
    rows = [
        [r["label"], r["precision"], r["recall"], r["f1"], r["support"]] for r in test["per_class"]
    ]
    out = [
        "<h3>Per class (test)</h3>",
        table(
            ["class", "precision", "recall", "f1", "support"],
            rows,
            numeric_header=[False, True, True, True, True],
            row_headers=True,
        ),
    ]
    matrix = test.get("confusion_matrix")
    if matrix:
        out += [
            "<h3>Confusion matrix (test; rows: true, columns: predicted)</h3>",
            _confusion_table([str(label) for label in test.get("labels", [])], matrix),
        ]
    return out


def _confusion_table(labels: list[str], matrix: list[list[int]]) -> str:
    """Counts with each cell shaded by its share of the row, so mistakes stand out even
    where the heatmap figure drops its annotations (many classes)."""
    if len(labels) != len(matrix):
        labels = [str(i) for i in range(len(matrix))]
    head = '<th scope="col">true \\ predicted</th>' + "".join(
        f'<th scope="col" class="num">{e(label)}</th>' for label in labels
    )
    body = []
    for i, row in enumerate(matrix):
        total = sum(row) or 1
        cells = []
        for j, count in enumerate(row):
            # Alpha, not a fixed colour, so the shading works on light and dark backgrounds.
            alpha = 0.08 + 0.5 * count / total if count else 0.0
            style = f' style="background: rgba(var(--cell), {alpha:.2f})"' if count else ""
            cls = "num diag" if i == j else "num"
            cells.append(f'<td class="{cls}"{style}>{e(fmt(count))}</td>')
        body.append(f'<tr><th scope="row">{e(labels[i])}</th>{"".join(cells)}</tr>')
    return (
        f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _other_figures(images: dict[str, str | None]) -> list[str]:
    known = set(TRAINING_FIGURES) | set(RESULT_FIGURES)
    extra = [image for name, image in images.items() if name not in known and image]
    if not extra:
        return []
    return ['<section id="figures">', "<h2>Other figures</h2>", *extra, "</section>"]


def _footer(report: dict[str, Any]) -> str:
    version = report.get("mlptrain_version")
    made = f"mlptrain {version}" if version else "mlptrain"
    return f"<footer>Generated by {e(made)}.</footer>"
