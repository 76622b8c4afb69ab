"""The sweep's results: leaderboard (mean ± std over seeds), sweep.md/json/html, the figure, best.yaml."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from mlptrain.reporting.metrics import COMPARED_METRICS
from mlptrain.reporting.page import e, html_page
from mlptrain.reporting.tables import markdown_table
from mlptrain.search.spec import SweepSpec, Trial, headline_metric, monitor_minimised, yaml_text
from mlptrain.store.atomic import atomic_write_bytes, atomic_write_text
from mlptrain.store.layout import REPORT_HTML, REPORT_MD

STATUSES = ("completed", "pruned", "failed")  # of a trial in results.jsonl; else "pending"


def default_monitor(base: Mapping[str, Any], records: Iterable[Mapping[str, Any]]) -> str:
    """val_loss: a sweep ranks on the validation split (``run_sweep`` requires one)."""
    return "val_loss"


def info_metric(base: Mapping[str, Any], records: Iterable[Mapping[str, Any]]) -> str:
    """The test headline shown beside the ranking as information (never ranked on)."""
    for record in records:
        for name in ("test_accuracy", "test_r2"):
            if name in record.get("metrics", {}):
                return name
    return "test_r2" if headline_metric(base) == "r2" else "test_accuracy"


def shown_metrics(info: str) -> list[str]:
    """The validation metrics each trial's row shows beside its ranked value (as ``compare``
    shows them for test): accuracy, roc_auc, log_loss, or r2, rmse, mae."""
    task = "regression" if info == "test_r2" else "classification"
    return [f"val_{name}" for name in COMPARED_METRICS[task]]


def _mean_std(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    mean = sum(values) / len(values)
    # Population std (ddof=0), as numpy's default: a single seed has std 0.
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))


def summarise(
    trials: list[Trial],
    records: Mapping[str, Mapping[str, Any]],
    spec: SweepSpec,
    base: Mapping[str, Any],
) -> dict[str, Any]:
    """The leaderboard: one row per parameter combination, mean ± std over its seeds."""
    monitor = spec.monitor or default_monitor(base, records.values())
    minimise = monitor_minimised(monitor)
    info = info_metric(base, records.values())
    rows: dict[str, dict[str, Any]] = {}
    trial_rows = []
    for trial in trials:
        record = records.get(trial.id)
        status = record["status"] if record else "pending"
        value = (record or {}).get("metrics", {}).get(monitor)
        trial_rows.append(
            {
                "trial": trial.id,
                "params": trial.params,
                "seed": trial.seed,
                "status": status,
                "monitor": value,
                "info": (record or {}).get("metrics", {}).get(info),
                "metrics": (record or {}).get("metrics", {}),
                "seconds": (record or {}).get("seconds"),
                "epochs": (record or {}).get("epochs"),
                "error": (record or {}).get("error"),
            }
        )
        row = rows.setdefault(
            trial.group,
            {"group": trial.group, "params": trial.params, "trials": [], "values": [],
             "info_values": [], "seconds": 0.0, "epochs": 0, "completed": 0, "pruned": 0,
             "failed": 0, "pending": 0},
        )  # fmt: skip
        row["trials"].append(trial.id)
        row[status if status in STATUSES else "pending"] += 1
        row["seconds"] += float((record or {}).get("seconds") or 0.0)
        row["epochs"] += int((record or {}).get("epochs") or 0)
        if status == "completed" and isinstance(value, int | float) and math.isfinite(value):
            row["values"].append(float(value))
        info_value = (record or {}).get("metrics", {}).get(info)
        if status == "completed" and isinstance(info_value, int | float):
            row["info_values"].append(float(info_value))
    board = []
    for row in rows.values():
        mean, std = _mean_std(row.pop("values"))
        row["mean"], row["std"] = mean, std
        row["info_mean"], row["info_std"] = _mean_std(row.pop("info_values"))
        row["n"] = row["completed"]
        board.append(row)
    sign = 1 if minimise else -1
    board.sort(key=lambda r: (r["mean"] is None, sign * (r["mean"] or 0.0)))
    for rank, row in enumerate(board, 1):
        row["rank"] = rank if row["mean"] is not None else None
    counts = {
        s: sum(1 for t in trial_rows if t["status"] == s)
        for s in ("completed", "pruned", "failed", "pending")
    }
    return {
        "name": base["name"],
        "monitor": monitor,
        "mode": "min" if minimise else "max",
        "info_metric": info,
        "shown_metrics": shown_metrics(info),
        "spec": spec.to_dict(),
        "n_trials": len(trials),
        "counts": counts,
        # Epochs trained by all trials (pruned ones stop early): what a search spent.
        "epochs": sum(int(t["epochs"] or 0) for t in trial_rows),
        "leaderboard": board,
        "trials": trial_rows,
        "best": board[0] if board and board[0]["mean"] is not None else None,
    }


def best_config(base: Mapping[str, Any], best: Mapping[str, Any]) -> str:
    """The base config with the best row's values (and the base seed), as validated YAML."""
    from mlptrain.config import config_to_yaml, parse_config_dict

    overrides = [f"{k}={yaml_text(v)}" for k, v in best["params"].items()]
    return config_to_yaml(parse_config_dict(base, source="best config", overrides=overrides))


def _counts_text(counts: Mapping[str, int]) -> str:
    text = f"{counts['completed']} completed, "
    if counts.get("pruned"):
        text += f"{counts['pruned']} pruned, "
    return text + f"{counts['failed']} failed, {counts['pending']} pending"


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def params_text(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={yaml_text(v)}" for k, v in params.items()) or "(base config)"


def mean_text(row: Mapping[str, Any], prefix: str = "") -> str:
    if row[f"{prefix}mean"] is None:
        return "–"
    return f"{row[f'{prefix}mean']:.4g} ± {row[f'{prefix}std']:.2g}"


def _info_header(summary: Mapping[str, Any]) -> str:
    return f"{summary['info_metric']} (information, not ranked)"


def render_markdown(summary: Mapping[str, Any]) -> str:
    counts = summary["counts"]
    lines = [
        f"# Sweep: {summary['name']}",
        "",
        f"{summary['n_trials']} trials: {_counts_text(counts)}; {summary['epochs']} epochs "
        f"trained. Ranked by **{summary['monitor']}** "
        f"({'lower' if summary['mode'] == 'min' else 'higher'} is better), mean ± std over seeds. "
        "The test split never ranks: its metric is shown for information only.",
        "",
    ]
    lines += markdown_table(
        ["rank", "parameters", summary["monitor"], _info_header(summary), "seeds ok", "pruned",
         "failed", "epochs", "seconds"],
        [
            [_fmt(row["rank"]), params_text(row["params"]), mean_text(row),
             mean_text(row, "info_"), f"{row['completed']}/{len(row['trials'])}",
             row.get("pruned", 0), row["failed"], row.get("epochs", 0), f"{row['seconds']:.1f}"]
            for row in summary["leaderboard"]
        ],
    )  # fmt: skip
    shown = summary.get("shown_metrics", [])
    lines += ["", "## Trials", ""]
    lines += markdown_table(
        ["trial", "parameters", "seed", "status", "value", *shown, summary["info_metric"],
         "epochs", "seconds"],
        [
            [trial["trial"], params_text(trial["params"]), trial["seed"], trial["status"],
             _fmt(trial["monitor"]), *[_fmt(trial["metrics"].get(m)) for m in shown],
             _fmt(trial["info"]), _fmt(trial.get("epochs")), _fmt(trial["seconds"])]
            for trial in summary["trials"]
        ],
    )  # fmt: skip
    failed = [t for t in summary["trials"] if t["status"] == "failed"]
    if failed:
        lines += ["", "## Failures", ""]
        lines += [f"- {t['trial']}: {t['error']}".replace("\n", " ") for t in failed]
    return "\n".join(lines) + "\n"


def render_html(
    summary: Mapping[str, Any],
    png: bytes | None,
    study_png: bytes | None = None,
    reports: Mapping[str, str] | None = None,
) -> str:
    """A self-contained page in the shared shell (mlptrain.reporting.page: inline CSS from
    sweep.css, the CSP), the figures as data URIs, every string escaped. ``reports`` (trial
    id -> file name in its directory) links each trial to its report."""
    import base64

    def cell(value: Any) -> str:
        return f"<td>{e(str(value))}</td>"

    def trial_cell(trial_id: str) -> str:
        report = (reports or {}).get(trial_id)
        if report is None:
            return cell(trial_id)
        return f"<td><a href='{e(trial_id)}/{e(report)}'>{e(trial_id)}</a></td>"

    counts = summary["counts"]
    parts = [
        f"<h1>Sweep: {e(str(summary['name']))}</h1>",
        f"<p>{summary['n_trials']} trials: {_counts_text(counts)}; {summary['epochs']} epochs "
        "trained. Ranked by "
        f"<b>{e(summary['monitor'])}</b> ({'lower' if summary['mode'] == 'min' else 'higher'}"
        " is better), mean ± std over seeds.</p>",
        "<table><tr><th>rank</th><th>parameters</th>"
        f"<th>{e(summary['monitor'])}</th><th>{e(_info_header(summary))}</th>"
        "<th>seeds ok</th><th>pruned</th><th>failed</th><th>epochs</th><th>seconds</th></tr>",
    ]
    for row in summary["leaderboard"]:
        parts.append(
            "<tr>" + cell(_fmt(row["rank"])) + cell(params_text(row["params"]))
            + cell(mean_text(row)) + cell(mean_text(row, "info_"))
            + cell(f"{row['completed']}/{len(row['trials'])}")
            + cell(row.get("pruned", 0)) + cell(row["failed"]) + cell(row.get("epochs", 0))
            + cell(f"{row['seconds']:.1f}") + "</tr>"
        )  # fmt: skip
    parts.append("</table>")
    if png:
        data = base64.b64encode(png).decode("ascii")
        parts.append(
            f"<h2>Metric against each parameter</h2><img alt='sweep figure' src='data:image/png;base64,{data}'>"
        )
    if study_png:
        data = base64.b64encode(study_png).decode("ascii")
        parts.append(
            "<h2>Optimisation history and parameter importances</h2>"
            f"<img alt='optimisation history' src='data:image/png;base64,{data}'>"
        )
    shown = summary.get("shown_metrics", [])
    parts.append(
        "<h2>Trials</h2><table><tr><th>trial</th><th>parameters</th><th>seed</th>"
        "<th>status</th><th>value</th>" + "".join(f"<th>{e(m)}</th>" for m in shown)
        + f"<th>{e(summary['info_metric'])}</th><th>epochs</th><th>seconds</th><th>error</th></tr>"
    )  # fmt: skip
    for trial in summary["trials"]:
        parts.append(
            f"<tr class='{e(trial['status'])}'>" + trial_cell(trial["trial"])
            + cell(params_text(trial["params"])) + cell(trial["seed"]) + cell(trial["status"])
            + cell(_fmt(trial["monitor"])) + "".join(cell(_fmt(trial["metrics"].get(m))) for m in shown)
            + cell(_fmt(trial["info"])) + cell(_fmt(trial.get("epochs")))
            + cell(_fmt(trial["seconds"]))
            + cell(trial["error"] or "") + "</tr>"
        )  # fmt: skip
    parts.append("</table>")
    return html_page(f"Sweep {summary['name']}", parts, stylesheet="sweep.css")


def render_figure(summary: Mapping[str, Any], spec: SweepSpec) -> bytes | None:
    """The monitored metric against each swept parameter (one panel each), as PNG bytes."""
    import io

    from matplotlib.figure import Figure

    keys = [k for k in spec.keys]
    done = [t for t in summary["trials"] if t["status"] == "completed" and t["monitor"] is not None]
    if not keys or not done:
        return None
    fig = Figure(figsize=(4.0 * len(keys), 3.2), layout="constrained")
    axes = fig.subplots(1, len(keys), squeeze=False)[0]
    seeds = sorted({t["seed"] for t in done})
    for ax, key in zip(axes, keys, strict=True):
        values = [t["params"][key] for t in done]
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
        labels = [] if numeric else sorted({yaml_text(v) for v in values})
        for seed in seeds:  # one colour per seed, so repeats of a setting tell apart
            mine = [t for t in done if t["seed"] == seed]
            xs = [
                t["params"][key] if numeric else labels.index(yaml_text(t["params"][key]))
                for t in mine
            ]
            ax.plot(xs, [t["monitor"] for t in mine], "o", alpha=0.7, label=f"seed {seed}")
        if numeric:
            dist = spec.random.get(key)
            positive = all(v > 0 for v in values)
            if positive and (dist is not None and dist.log_scale or _wide(values)):
                ax.set_xscale("log")
        else:
            ax.set_xticks(range(len(labels)), [lbl[:20] for lbl in labels])
        ax.set_xlabel(key.replace("$", r"\$"))
        ax.set_ylabel(summary["monitor"].replace("_", " "))
        ax.grid(alpha=0.3)
    if len(seeds) > 1:
        axes[0].legend(fontsize="small")
    better = "lower" if summary["mode"] == "min" else "higher"
    title = f"Sweep {summary['name']}: {summary['monitor']} per trial ({better} is better)"
    fig.suptitle(title.replace("$", r"\$"))  # a $ in a name is text, not mathtext
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    fig.clear()
    return buffer.getvalue()


def _wide(values: list[float]) -> bool:
    low, high = min(values), max(values)
    return low > 0 and high / low >= 100


def write_sweep_reports(
    sweep_dir: Path, summary: dict[str, Any], spec: SweepSpec, base: Mapping[str, Any]
) -> None:
    """sweep.json, sweep.md, sweep.png, sweep.html and (when a trial finished) best.yaml."""
    atomic_write_text(
        sweep_dir / "sweep.json", json.dumps(summary, indent=2, allow_nan=False, default=str) + "\n"
    )
    atomic_write_text(sweep_dir / "sweep.md", render_markdown(summary))
    png = render_figure(summary, spec)
    if png is not None:
        atomic_write_bytes(sweep_dir / "sweep.png", png)
    study_png = None
    if summary.get("history"):
        from mlptrain.search.study_figures import render_study_figure

        study_png = render_study_figure(summary)
        if study_png is not None:
            atomic_write_bytes(sweep_dir / "study.png", study_png)
    reports = {}  # each trial's report, linked from sweep.html: the page if drawn, else report.md
    for trial in summary["trials"]:
        for name in (REPORT_HTML, REPORT_MD):
            if (sweep_dir / trial["trial"] / name).is_file():
                reports[trial["trial"]] = name
                break
    page = render_html(summary, png, study_png, reports=reports)
    atomic_write_text(sweep_dir / "sweep.html", page)
    if summary["best"] is not None:
        atomic_write_text(sweep_dir / "best.yaml", best_config(base, summary["best"]))
