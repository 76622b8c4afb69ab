"""``mlptrain report`` and ``mlptrain compare``: reports rebuilt from a run's files, and runs
side by side."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlptrain.config import diff_configs
from mlptrain.errors import UserInputError
from mlptrain.reporting.metrics import COMPARED_METRICS, HEADLINE
from mlptrain.reporting.report import write_reports
from mlptrain.reporting.report_model import Report
from mlptrain.reporting.tables import markdown_table
from mlptrain.store.jsonl import read_jsonl
from mlptrain.store.layout import CONFIG_FILE, METRICS_FILE, REPORT_JSON


def _read_report(run_dir: Path) -> tuple[dict[str, Any], Report]:
    """report.json as written (the renderers read it) and its stable part, checked."""
    path = Path(run_dir) / REPORT_JSON
    if not Path(run_dir).is_dir():
        raise UserInputError(f"{run_dir}: no such run directory")
    if not path.is_file():
        raise UserInputError(
            f"{run_dir}: no report.json (not a run directory, or the run never finished an "
            "epoch); `mlptrain evaluate` can still report on a checkpoint"
        )
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserInputError(f"{path}: cannot read the report: {exc}") from None
    return report, Report.from_json(report, str(path))


def rebuild_report(run_dir: Path, *, check_data: bool = True) -> dict[str, Any]:
    """Re-render report.md, report.html and the figures from report.json, with the learning
    curve refreshed from metrics.jsonl (the per-epoch record of truth).

    ``check_data``: first make sure the config's data is still the data the run was trained
    on (it loads and fingerprints all of it). Off only for a run just trained from that data
    by the caller: a sweep's best trial.
    """
    from mlptrain.reporting.figures.worker import FigureDrawer

    report, typed = _read_report(run_dir)
    # A worker imports matplotlib while the data is checked; without that check there is
    # nothing for its start-up to hide behind, and drawing here is quicker (a sweep's end).
    drawer = FigureDrawer.started_now() if check_data else None
    try:
        if check_data:
            _check_same_data(run_dir, typed)
        history = read_jsonl(Path(run_dir) / METRICS_FILE)
        if history:
            report["training"]["history"] = history
            report["training"]["epochs_run"] = len(history)
        write_reports(Path(run_dir), report, drawer=drawer)
    finally:
        if drawer is not None:
            drawer.close()
    return report


def _check_same_data(run_dir: Path, report: Report) -> None:
    """The data behind the run's config must still be the data it was trained on."""
    from mlptrain.config import load_config
    from mlptrain.data.fingerprint import check_same_data
    from mlptrain.data.splits import fingerprint_for

    stored = report.data.fingerprint
    config_path = Path(run_dir) / CONFIG_FILE
    if not stored or not config_path.is_file():
        return  # a run from before fingerprints, or without its config
    cfg = load_config(config_path)
    check_same_data(
        stored,
        fingerprint_for(cfg.data, seed=cfg.seed),
        source=report.data.source,
        run=str(run_dir),
        remedy="the report describes the data the run was trained on: restore that data to "
        "rebuild it",
    )


def _config(run_dir: Path) -> dict[str, Any]:
    from mlptrain.config.yamlsafe import read_yaml

    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        return {}
    data, _ = read_yaml(path)
    return data if isinstance(data, dict) else {}


def compare_runs(run_dirs: list[Path]) -> dict[str, Any]:
    """One row per finished run, the config keys whose values differ between them, and the
    directories skipped (not a finished run: a cv or sweep folder, an interrupted run)."""
    if not run_dirs:
        raise UserInputError("compare needs at least one run directory")
    found: list[tuple[Path, Report]] = []
    skipped: list[dict[str, str]] = []
    for run_dir in run_dirs:
        try:
            report = _read_report(run_dir)[1]
        except UserInputError as exc:
            skipped.append({"run": str(run_dir), "reason": str(exc)})
            continue
        if report.status != "completed":
            reason = f"{run_dir}: not a finished run (status {report.status})"
            skipped.append({"run": str(run_dir), "reason": reason})
            continue
        found.append((Path(run_dir), report))
    if not found:
        reasons = "; ".join(s["reason"] for s in skipped)
        raise UserInputError(f"no finished run to compare: {reasons}")
    configs = [_config(d) for d, _ in found]
    differing = sorted({key for other in configs[1:] for key in diff_configs(configs[0], other)})
    rows = []
    for (run_dir, report), config in zip(found, configs, strict=True):
        test = report.metrics.get("test", {})
        training = report.training
        optimizer = report.optimizer
        metric = HEADLINE[report.task]
        rows.append(
            {
                "run": str(run_dir),
                "name": report.name,
                "task": report.task,
                "status": report.status,
                "dataset": report.data.source,
                "layers": report.layer_names,
                "optimizer": f"{optimizer.get('type')} lr={optimizer.get('lr')}",
                "epochs_run": training.epochs_run,
                "best_epoch": training.best_epoch,
                "seconds": round(training.seconds, 2),
                "headline": {"metric": metric, "value": test.get(metric)},
                "test": {k: v for k, v in test.items() if isinstance(v, int | float)},
                "differs": {key: _lookup(config, key) for key in differing},
            }
        )
    tasks = {report.task for _, report in found}
    return {
        "runs": rows,
        "differing_keys": differing,
        # The one headline all runs share, or None when their tasks differ.
        "headline": HEADLINE[tasks.pop()] if len(tasks) == 1 else None,
        "skipped": skipped,
    }


def _number(value: Any) -> str:
    return "–" if value is None else f"{value:.4f}"


def _lookup(config: dict[str, Any], dotted: str) -> Any:
    """The value at a key path like ``model.layers[0].units`` (None where absent)."""
    node: Any = config
    for part in dotted.replace("]", "").replace("[", ".").split("."):
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def comparison_table(comparison: dict[str, Any], *, markdown: bool = False) -> str:
    """The comparison as an aligned text table, or a Markdown table; the first column names
    each run by its directory. Runs of different tasks show each their own headline metric."""
    metric = comparison["headline"]
    task = next((t for t, m in HEADLINE.items() if m == metric), None)
    header = [
        "run",
        "name",
        "dataset",
        "layers",
        "optimizer",
        "epochs",
        "best",
        *([f"test {m}" for m in COMPARED_METRICS[task]] if task else ["test headline"]),
        "seconds",
    ]
    header += comparison["differing_keys"]
    body = []
    for row in comparison["runs"]:
        shown = _number(row["headline"]["value"])
        body.append(
            [
                row["run"],
                row["name"],
                row["dataset"],
                row["layers"],
                row["optimizer"],
                str(row["epochs_run"]),
                str(row["best_epoch"]),
                *(
                    [_number(row["test"].get(m)) for m in COMPARED_METRICS[task]]
                    if task
                    else [f"{row['headline']['metric']} {shown}"]
                ),  # fmt: skip
                f"{row['seconds']:.2f}",
                *[json.dumps(row["differs"][k]) for k in comparison["differing_keys"]],
            ]
        )
    if markdown:
        return "\n".join(markdown_table(header, body)) + "\n"
    widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(header)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*header), *(fmt.format(*r) for r in body)]) + "\n"
