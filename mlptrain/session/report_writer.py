"""The end of a run: metrics on every split, report.json/md/html and the figures."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlptrain import __version__
from mlptrain.config import config_to_dict
from mlptrain.config.monitors import SPLITS
from mlptrain.data import Prepared
from mlptrain.reporting.importance import EvenlySpacedRows, importance_entry
from mlptrain.reporting.prediction_sample import PREDICTION_SAMPLE, prediction_sample, sample_entry
from mlptrain.reporting.report import (
    BASELINE_STRATEGY,
    baseline_metrics,
    build_report,
    describe_data,
    finite_or_none,
    input_weight_norms,
    model_summary,
    split_metrics,
    write_reports,
)
from mlptrain.reporting.scored_rows import RowCollector
from mlptrain.reporting.streamed_metrics import ClassificationTally
from mlptrain.reporting.worst_rows import WorstRows, worst_rows
from mlptrain.store.layout import FIGURE_DIR
from mlptrain.timings import phase
from mlptrain.training.batches import baseline_split, stream_split_tallies
from mlptrain.training.setup import Setup
from mlptrain.training.trainer import Trainer

if TYPE_CHECKING:
    from mlptrain.reporting.figures.worker import FigureDrawer
    from mlptrain.tracking import TrackingSession


def streamed_metrics(
    setup: Setup,
    trained: Any = None,
    collectors: Mapping[str, Sequence[RowCollector]] | None = None,
    only: Collection[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """The report's metrics of every part of a streamed table, from one pass, for
    ``trained`` (default ``setup.trained``; ``evaluate`` passes one with its threshold);
    ``collectors`` (part -> list) gather rows in the same pass; ``only``: just those parts."""
    trained = setup.trained if trained is None else trained
    threshold = getattr(trained, "threshold", None)
    tallies = stream_split_tallies(
        setup.data.stream, trained, setup.dtype, threshold, collectors, only
    )
    names = class_names(setup.data)
    return {
        name: finite_or_none(
            tally.metrics(names or [], None if name == "baseline" else threshold)
            if isinstance(tally, ClassificationTally)
            else tally.metrics()
        )
        for name, tally in tallies.items()
    }


def class_names(data: Prepared) -> list[str] | None:
    return [str(c) for c in data.encoder.classes] if data.encoder is not None else None


def write_run_report(
    setup: Setup,
    trainer: Trainer,
    run_dir: Path,
    *,
    status: str,
    error: str | None = None,
    with_metrics: bool = True,
    figures: bool = True,
    html: bool = True,
    drawer: FigureDrawer | None = None,
    tracking: TrackingSession | None = None,
) -> dict[str, Any]:
    data = setup.data
    if drawer is not None and figures and html:
        # the figures of the history alone are drawn while the metrics are computed
        drawer.draw_early(lambda: _report(setup, trainer, {}, status, error), run_dir / FIGURE_DIR)
    streamed = None
    with phase("metrics"):
        if with_metrics and data.stream is not None:
            streamed = _streamed_pass(setup, importance=html)
            metrics = streamed.metrics
        else:
            metrics = _split_metrics(setup, with_metrics)
    report = _report(setup, trainer, metrics, status, error)
    with phase("metrics"):
        _add_predictions(report, setup, with_metrics)
    if streamed is not None:
        report.update(streamed.sections)
    if with_metrics and html:  # a fit's full report, not a trial's
        with phase("importance"):
            importance = _importance(setup, streamed)
            if importance is not None:
                report["importance"] = importance
    if tracking is not None:
        # A tracker that failed while the run started is in the report it uploads.
        with phase("tracking"):
            tracking.drain()
        report["tracking"] = tracking.entry()
    write_reports(run_dir, report, figures=figures, html=html, drawer=drawer)
    return report


def _report(
    setup: Setup,
    trainer: Trainer,
    metrics: dict[str, dict[str, Any]],
    status: str,
    error: str | None,
) -> dict[str, Any]:
    """The report's core: what was trained, how it went, and ``metrics``."""
    state = trainer.state
    return build_report(
        name=setup.config.name,
        config=config_to_dict(setup.config),
        data=describe_data(setup.data),
        model_rows=model_summary(setup.model, setup.data.n_features),
        history=state.history,
        metrics=metrics,
        status=status,
        best_epoch=setup.stopper.best_epoch if setup.stopper else state.epoch,
        stopped_early=state.stopped_early,
        seconds=state.seconds,
        error=error,
        version=__version__,
    )


def _split_metrics(setup: Setup, with_metrics: bool) -> dict[str, dict[str, Any]]:
    """The report's metrics of each split held in memory."""
    data = setup.data
    metrics: dict[str, dict[str, Any]] = {}
    if with_metrics:
        names = class_names(data)
        for split_name in SPLITS:
            split = getattr(data, split_name)
            if split is not None:
                metrics[split_name] = split_metrics(setup.trained, data.task, split, names)
    return metrics


@dataclass
class _StreamedPass:
    """What one report pass over a streamed table gives: the metrics of every part, the
    report's sections gathered from rows (baseline, prediction sample, worst test rows), and
    the validation rows permutation importance measures (None: not asked, or no such part)."""

    metrics: dict[str, dict[str, Any]]
    sections: dict[str, Any]
    importance: EvenlySpacedRows | None


def _streamed_pass(setup: Setup, *, importance: bool) -> _StreamedPass:
    data = setup.data
    plan, names = data.stream, class_names(data)
    assert plan is not None
    worst = WorstRows(names, getattr(setup.trained, "threshold", None))
    # as in memory: a classifier's sample from the baseline's part, a regression's from test
    sampled = baseline_split(plan) if names is not None else "test"
    sample = EvenlySpacedRows(plan.parts[sampled].rows, PREDICTION_SAMPLE)
    val_rows = EvenlySpacedRows(plan.parts["val"].rows) if importance else None
    collectors: dict[str, list[RowCollector]] = {"test": [worst]}
    collectors.setdefault(sampled, []).append(sample)
    if val_rows is not None:
        collectors.setdefault("val", []).append(val_rows)
    metrics = streamed_metrics(setup, collectors=collectors)
    base = metrics.pop("baseline", None)
    sections: dict[str, Any] = {}
    if base is not None:
        sections["baseline"] = {
            "split": baseline_split(plan),
            "strategy": BASELINE_STRATEGY[data.task],
            "metrics": base,
        }
    if sampled in metrics:
        _, true, out = sample.arrays()
        sections["predictions"] = {
            sampled: sample_entry(true, out, names, plan.parts[sampled].rows)
        }
    if "test" in metrics:
        sections["worst"] = worst.rows()
    return _StreamedPass(metrics, sections, val_rows if "val" in metrics else None)


def _add_predictions(report: dict[str, Any], setup: Setup, with_metrics: bool) -> None:
    """The baseline, prediction samples, worst rows and input-weight norms."""
    data = setup.data
    scored = data.test if data.test is not None else data.val
    # a streamed run holds no split: these come from its report pass (``_streamed_pass``)
    if with_metrics and scored is not None:
        report["baseline"] = {
            "split": "test" if data.test is not None else "val",
            "strategy": BASELINE_STRATEGY[data.task],
            "metrics": baseline_metrics(data.task, data.train.y, scored, class_names(data)),
        }
    if with_metrics and data.task == "regression" and data.test is not None:
        report["predictions"] = {"test": prediction_sample(setup.trained, data.test)}
    if with_metrics and data.task == "classification" and scored is not None:
        report["predictions"] = {
            report["baseline"]["split"]: prediction_sample(setup.trained, scored, class_names(data))
        }
    if with_metrics and data.test is not None:
        report["worst"] = worst_rows(setup.trained, data.test, class_names(data))
    if data.table is not None:
        report["input_weights"] = input_weight_norms(setup.model, data.table.groups())


def _importance(setup: Setup, streamed: _StreamedPass | None) -> dict[str, Any] | None:
    """Permutation importance of each raw input column on the validation split: the held
    split, or the rows a streamed report pass kept of it; None without validation rows."""
    val = setup.data.val
    if val is not None:
        X, y = val.X, val.y
    elif streamed is not None and streamed.importance is not None:
        X, y, _ = streamed.importance.arrays()
    else:
        return None
    return importance_entry(setup.trained.predict, X, y, _groups(setup), setup.data.task, "val")


def _groups(setup: Setup) -> list[tuple[str, list[int]]]:
    """Each raw input column and its encoded columns: a table's categorical column is one
    group of one-hot columns, shuffled together."""
    data = setup.data
    if data.table is not None:
        return list(data.table.raw_groups())
    return [(name, [j]) for j, name in enumerate(data.feature_names)]
