"""report.html: the content of report.md as one self-contained page, with the run's figures.

Rendered from the report dict (never by parsing the Markdown), with inline CSS and the
figures as ``data:`` URIs, so the file can be mailed or archived alone and opened offline.
Class labels, layer names and error texts come from user files, so every string from the
report is escaped, and a Content-Security-Policy forbids scripts and any network fetch: even
a missed escape could neither run code nor load anything.
"""

from __future__ import annotations

import base64
import html
import struct
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from mlptrain.reporting.metrics import HEADLINE
from mlptrain.store.atomic import atomic_write_text

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
LEARNING_CURVE_ROWS = 12
NUM_CLASS = ' class="num"'

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
        "Rows are the true class, columns the prediction; the diagonal is correct. The right "
        "panel divides each row by its total, so its diagonal is each class's recall.",
        "confusion matrix heatmaps",
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
RESULT_FIGURES = ("confusion", "per_class", "pred_vs_true", "residuals")

CSS = """
:root {
  color-scheme: light dark;
  --bg: #f5f6f8; --card: #ffffff; --text: #1f2328; --muted: #59636e; --border: #d8dee4;
  --zebra: #f6f8fa; --head: #eef1f4; --accent: #2563eb; --best: #e6f0ff;
  --ok: #1a7f37; --ok-bg: #dafbe1; --bad: #b42318; --bad-bg: #ffebe9;
  --warn: #8a5a00; --warn-bg: #fff8c5; --warn-border: #e3b341; --cell: 37, 99, 235;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0d1117; --card: #161b22; --text: #e6edf3; --muted: #9198a1; --border: #30363d;
    --zebra: #1b2129; --head: #21262d; --accent: #58a6ff; --best: #132b4a;
    --ok: #3fb950; --ok-bg: #12261e; --bad: #ff7b72; --bad-bg: #2d1214;
    --warn: #e3b341; --warn-bg: #2b2111; --warn-border: #9e6a03; --cell: 88, 166, 255;
  }
}
* { box-sizing: border-box; }
body {
  margin: 0; background: var(--bg); color: var(--text);
  font: 15px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
    "Noto Sans", "Liberation Sans", sans-serif;
}
main { max-width: 1140px; margin: 0 auto; padding: 28px 24px 56px; }
h1 { font-size: 1.8rem; margin: 0 0 4px; line-height: 1.25; overflow-wrap: anywhere; }
h2 { font-size: 1.3rem; margin: 0 0 14px; }
h3 { font-size: 1.05rem; margin: 22px 0 10px; }
.subtitle { color: var(--muted); margin: 0 0 18px; }
nav { display: flex; flex-wrap: wrap; gap: 6px 18px; margin: 0 0 20px; font-size: 0.93rem; }
nav a, a { color: var(--accent); text-decoration: none; }
nav a:hover { text-decoration: underline; }
section, .card {
  background: var(--card); border: 1px solid var(--border); border-radius: 10px;
  padding: 20px 24px; margin: 0 0 20px;
}
.pill {
  display: inline-block; padding: 1px 10px; border-radius: 999px; font-size: 0.85rem;
  font-weight: 600; background: var(--ok-bg); color: var(--ok); vertical-align: middle;
}
.pill.bad { background: var(--bad-bg); color: var(--bad); }
.pill.warn { background: var(--warn-bg); color: var(--warn); }
.banner {
  border-radius: 10px; padding: 14px 20px; margin: 0 0 20px; border: 1px solid var(--bad);
  background: var(--bad-bg); color: var(--text);
}
.banner.warn { border-color: var(--warn-border); background: var(--warn-bg); }
.banner strong { color: var(--bad); }
.banner.warn strong { color: var(--warn); }
.banner p { margin: 4px 0 0; overflow-wrap: anywhere; white-space: pre-wrap; }
.diagnostics {
  border: 1px solid var(--warn-border); border-left: 6px solid var(--warn-border);
  background: var(--warn-bg); border-radius: 10px; padding: 14px 20px; margin: 0 0 20px;
}
.diagnostics h2 { font-size: 1.1rem; margin: 0 0 6px; color: var(--warn); }
.diagnostics ul { margin: 0; padding-left: 20px; }
.diagnostics li { margin: 4px 0; }
.cards {
  display: grid; grid-template-columns: repeat(auto-fit, minmax(170px, 1fr)); gap: 12px;
  margin: 0 0 20px;
}
.stat {
  background: var(--card); border: 1px solid var(--border); border-radius: 10px;
  padding: 12px 16px;
}
.stat .label { color: var(--muted); font-size: 0.82rem; text-transform: uppercase;
  letter-spacing: 0.04em; }
.stat .value { font-size: 1.45rem; font-weight: 650; font-variant-numeric: tabular-nums; }
.table-wrap { overflow-x: auto; margin: 0 0 8px; }
table { border-collapse: collapse; font-size: 0.92rem; min-width: 40%; }
th, td { padding: 6px 12px; border-bottom: 1px solid var(--border); text-align: left;
  vertical-align: top; }
thead th { background: var(--head); font-weight: 600; white-space: nowrap; }
tbody tr:nth-child(even) { background: var(--zebra); }
tbody th { font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.na { color: var(--muted); text-align: right; }
tr.best td, tr.best th { background: var(--best); }
tr.total td { font-weight: 600; }
td.diag { font-weight: 700; }
code, .mono { font-family: ui-monospace, "SF Mono", Menlo, Consolas, "Liberation Mono",
  monospace; font-size: 0.88em; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 6px 20px; margin: 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
.chips { display: flex; flex-wrap: wrap; gap: 6px; margin: 10px 0 0; padding: 0;
  list-style: none; }
.chips li { border: 1px solid var(--border); border-radius: 6px; padding: 0 8px;
  background: var(--zebra); font-size: 0.88rem; overflow-wrap: anywhere; }
.note { color: var(--muted); font-size: 0.9rem; margin: 8px 0 0; }
figure { margin: 18px 0 6px; text-align: center; }
/* Figures are drawn on white; a white frame keeps them looking deliberate in dark mode. */
figure img { max-width: 100%; height: auto; background: #fff; border-radius: 8px;
  border: 1px solid var(--border); }
figcaption { color: var(--muted); font-size: 0.88rem; margin: 6px auto 0; max-width: 820px; }
footer { color: var(--muted); font-size: 0.85rem; text-align: center; margin-top: 28px; }
@media (max-width: 700px) { main { padding: 16px 10px 40px; } section { padding: 16px; } }
@media print { body { background: #fff; } section, .stat { break-inside: avoid; } }
"""


def write_html(run_dir: Path, report: dict[str, Any], figures: dict[str, Path]) -> Path:
    """Write ``run_dir/report.html`` atomically and return its path."""
    path = Path(run_dir) / "report.html"
    atomic_write_text(path, render_html(report, figures))
    return path


def render_html(report: dict[str, Any], figures: dict[str, Path]) -> str:
    """The whole page. ``figures`` maps figure names (as from ``make_figures``) to PNG files;
    names this module does not know are shown at the end, so none is dropped."""
    images = {name: _image(name, path) for name, path in figures.items()}
    task = report["task"]
    title = f"{report['name']}: {task} report"
    parts = [
        "<!doctype html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="referrer" content="no-referrer">',
        f"<title>{_e(title)}</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body>",
        "<main>",
        *_header(report),
        *_status_banner(report),
        *_warnings(report.get("warnings")),
        *_headline_cards(report),
        *_data_section(report),
        *_model_section(report),
        *_training_section(report, images),
        *_results_section(report, images),
        *_other_figures(images),
        _footer(report),
        "</main>",
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _fmt(value: Any) -> str:
    """Numbers for tables: 4 decimals, or 4 significant digits when that would hide them."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return str(value)
        if value != 0 and (abs(value) >= 1e4 or abs(value) < 1e-3):
            return f"{value:.4g}"
        return f"{value:.4f}"
    return str(value)


def _cell(value: Any, tag: str = "td", extra: str = "") -> str:
    """One table cell: numbers right-aligned, missing values muted, text escaped."""
    if value is None:
        return f'<{tag} class="na">–</{tag}>'
    cls = "num" if _is_number(value) else ""
    classes = " ".join(c for c in (cls, extra) if c)
    attr = f' class="{classes}"' if classes else ""
    return f"<{tag}{attr}>{_e(_fmt(value))}</{tag}>"


def _table(
    header: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    numeric_header: Sequence[bool] | None = None,
    row_classes: Sequence[str] | None = None,
    row_headers: bool = False,
) -> str:
    """A table; the first column becomes a row header when ``row_headers`` (for screen
    readers and for the bold first column)."""
    numeric_header = numeric_header or [False] * len(header)
    head = "".join(
        f'<th scope="col"{NUM_CLASS if num else ""}>{_e(h)}</th>'
        for h, num in zip(header, numeric_header, strict=True)
    )
    body = []
    for index, row in enumerate(rows):
        cls = row_classes[index] if row_classes else ""
        cells = [
            f'<th scope="row">{_e(_fmt(v))}</th>' if row_headers and i == 0 else _cell(v)
            for i, v in enumerate(row)
        ]
        attr = f' class="{cls}"' if cls else ""
        body.append(f"<tr{attr}>{''.join(cells)}</tr>")
    return (
        f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


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
    figcaption = f"<figcaption>{_e(caption)}</figcaption>" if caption else ""
    return (
        f'<figure id="fig-{_e(name)}"><img src="{uri}" alt="{_e(alt)}" width="{width}" '
        f'height="{height}">{figcaption}</figure>'
    )


def _figures(images: dict[str, str | None], names: Iterable[str]) -> list[str]:
    found = (images.get(name) for name in names)
    return [image for image in found if image]


def _header(report: dict[str, Any]) -> list[str]:
    status = str(report.get("status", ""))
    kind = {"completed": "pill", "failed": "pill bad"}.get(status, "pill warn")
    pill_html = f'<span class="{kind}">{_e(status)}</span>'
    version = report.get("mlptrain_version")
    data = report["data"]
    subtitle = f"{report['task']} on {data['source']}" + (
        f" · mlptrain {version}" if version else ""
    )
    nav = [("data", "Data"), ("model", "Model"), ("training", "Training")]
    if report.get("metrics"):
        nav.append(("results", "Results"))
    links = "".join(f'<a href="#{anchor}">{label}</a>' for anchor, label in nav)
    return [
        "<header>",
        f"<h1>{_e(report['name'])} {pill_html}</h1>",
        f'<p class="subtitle">{_e(subtitle)}</p>',
        f'<nav aria-label="sections">{links}</nav>',
        "</header>",
    ]


def _status_banner(report: dict[str, Any]) -> list[str]:
    status = report.get("status")
    if status == "completed":
        return []
    kind = "" if status == "failed" else " warn"
    error = report.get("error")
    detail = f"<p>{_e(error)}</p>" if error else ""
    what = (
        "The numbers below are from the epochs that finished before it stopped."
        if report["training"].get("history")
        else ""
    )
    note = f'<p class="note">{_e(what)}</p>' if what else ""
    return [
        f'<div class="banner{kind}" role="alert"><strong>Run {_e(status)}</strong>'
        f"{detail}{note}</div>"
    ]


def _warnings(warnings: Any) -> list[str]:
    if not warnings:
        return []
    if isinstance(warnings, str):
        warnings = [warnings]
    items = "".join(f"<li>{_e(w)}</li>" for w in warnings)
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
        if _is_number(value):
            stats.append((f"{split} {label}", f"{value:.4f}"))
    best = training.get("best_epoch")
    epochs = f"{training['epochs_run']} / {training['epochs_configured']}"
    stats.append(("epochs run", epochs))
    if best:
        stats.append(("best epoch", str(best)))
    stats.append(("parameters", f"{report['model']['total_params']:,}"))
    stats.append(("training time", _duration(training.get("seconds") or 0.0)))
    cards = "".join(
        f'<div class="stat"><div class="label">{_e(k)}</div><div class="value">{_e(v)}</div></div>'
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
        _table(
            ["source", "features", "train", "val", "test"],
            [[data["source"], data["n_features"], data["n_train"], data["n_val"], data["n_test"]]],
            numeric_header=[False, True, True, True, True],
        )
    )
    classes = data.get("classes")
    if classes:
        chips = "".join(f"<li>{_e(c)}</li>" for c in classes)
        out.append(f'<p class="note">Classes ({len(classes)}):</p><ul class="chips">{chips}</ul>')
    if data.get("columns"):
        out.append("<h3>Columns</h3>")
        rows = [
            [c["name"], c["kind"] + (" (likely)" if c["how"] == "likely id" else ""), c["n_missing"],
             "" if c["n_levels"] is None or c["kind"] == "numeric" else c["n_levels"]]
            for c in data["columns"]
        ]  # fmt: skip
        out.append(
            _table(["column", "type", "missing", "levels"], rows,
                   numeric_header=[False, False, True, True])
        )  # fmt: skip
    for note in data.get("notes") or []:
        out.append(f'<p class="note">{_e(note)}</p>')
    weights = report.get("input_weights")
    if weights:
        out.append("<h3>First-layer weight norm per input column</h3>")
        out.append(
            _table(["column", "encoded columns", "norm"],
                   [[r["column"], r["encoded_columns"], round(r["norm"], 4)] for r in weights],
                   numeric_header=[False, True, True])
        )  # fmt: skip
    out.append("</section>")
    return out


def _model_section(report: dict[str, Any]) -> list[str]:
    model = report["model"]
    rows = [
        [r["index"], r["layer"], f"(n, {r['output_shape'][1]})", r["params"]]
        for r in model["layers"]
    ]
    return [
        '<section id="model">',
        "<h2>Model</h2>",
        _table(
            ["#", "layer", "output shape", "params"],
            rows,
            numeric_header=[True, False, False, True],
        ).replace("<td>", '<td class="mono">'),
        f'<p class="note">Total parameters: <strong>{model["total_params"]:,}</strong>; '
        f"loss: <code>{_e(model['loss'])}</code>; init: <code>{_e(model['init'])}</code></p>",
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
    items = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts)
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
    sampled = _sample_epochs(history, best)
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
        _table(
            ["epoch", *[k.replace("_", " ") for k in keys]],
            rows,
            numeric_header=[True] * (len(keys) + 1),
            row_classes=classes,
        ),
        f'<p class="note">{_e(note)}.</p>',
    ]


def _sample_epochs(history: list[dict[str, Any]], best: Any) -> list[dict[str, Any]]:
    """At most ``LEARNING_CURVE_ROWS`` evenly spaced epochs, always the first, the last and
    the best one (the row a reader looks for first)."""
    if len(history) <= LEARNING_CURVE_ROWS:
        return history
    last = len(history) - 1
    picks = {round(i * last / (LEARNING_CURVE_ROWS - 1)) for i in range(LEARNING_CURVE_ROWS)}
    picks |= {i for i, record in enumerate(history) if best and record.get("epoch") == best}
    return [history[i] for i in sorted(picks)]


def _results_section(report: dict[str, Any], images: dict[str, str | None]) -> list[str]:
    # Imported here, not at module level: report.py may import this module to write the page.
    from mlptrain.reporting.report import SCALAR_METRICS

    metrics = report.get("metrics") or {}
    figures = _figures(images, RESULT_FIGURES)
    if not metrics and not figures:
        return []
    task = report["task"]
    out = ['<section id="results">', "<h2>Results</h2>"]
    if metrics:
        splits = list(metrics)
        names = [m for m in SCALAR_METRICS[task] if any(m in metrics[s] for s in splits)]
        headline = HEADLINE[task]
        out.append("<h3>Metrics per split</h3>")
        out.append(
            _table(
                ["metric", *splits],
                [[m, *[metrics[s].get(m) for s in splits]] for m in names],
                numeric_header=[False, *[True] * len(splits)],
                row_classes=["best" if m == headline else "" for m in names],
                row_headers=True,
            )
        )
    out += figures
    test = metrics.get("test") or {}
    if task == "classification" and test.get("per_class"):
        out += _class_details(test)
    out.append("</section>")
    return out


def _class_details(test: dict[str, Any]) -> list[str]:
    rows = [
        [r["label"], r["precision"], r["recall"], r["f1"], r["support"]] for r in test["per_class"]
    ]
    out = [
        "<h3>Per class (test)</h3>",
        _table(
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
        f'<th scope="col" class="num">{_e(label)}</th>' for label in labels
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
            cells.append(f'<td class="{cls}"{style}>{_e(_fmt(count))}</td>')
        body.append(f'<tr><th scope="row">{_e(labels[i])}</th>{"".join(cells)}</tr>')
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
    return f"<footer>Generated by {_e(made)}.</footer>"
