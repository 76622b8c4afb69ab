"""One training session in a locked run directory: the Trainer, its saver, signals, the report."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlptrain.config import Config, config_to_yaml
from mlptrain.data import RawData, write_npz
from mlptrain.errors import UserInputError
from mlptrain.nn.sequential import Sequential
from mlptrain.reporting.metrics import HEADLINE
from mlptrain.reporting.report_model import Report
from mlptrain.session.directory import prepare_run_dir
from mlptrain.session.report_writer import write_run_report
from mlptrain.session.saver import Saver
from mlptrain.store.atomic import atomic_write_text, clean_temp_files
from mlptrain.store.layout import (
    BEST_CHECKPOINT,
    CHECKPOINT_DIR,
    CONFIG_FILE,
    METRICS_FILE,
    REPORT_JSON,
)
from mlptrain.store.lock import RunLock
from mlptrain.timings import phase
from mlptrain.training.arrays import plain, point_at_run_dir, run_data_path
from mlptrain.training.observers import compose
from mlptrain.training.setup import Setup
from mlptrain.training.trainer import Callbacks, DivergenceError, StopRequested, Trainer, TrainState

if TYPE_CHECKING:
    from mlptrain.reporting.figures.worker import FigureDrawer
    from mlptrain.tracking import TrackingSession


@dataclass(repr=False)
class Run:
    """A finished (or failed) run: its directory, model, per-epoch history and report."""

    dir: Path
    model: Sequential
    history: list[dict[str, Any]]
    report: dict[str, Any]
    config: Config

    @property
    def best_checkpoint(self) -> Path:
        return self.dir / CHECKPOINT_DIR / BEST_CHECKPOINT

    @property
    def summary(self) -> Report:
        """The stable part of ``report`` (report.json's content) as a typed ``Report``."""
        return Report.from_json(self.report, str(self.dir / REPORT_JSON))

    def __repr__(self) -> str:
        """One line: where, how it ended, and the headline test metric (not the whole report)."""
        try:
            summary = self.summary
        except UserInputError:  # a report edited in memory: the repr must not raise
            return f"Run({str(self.dir)!r}, epochs={len(self.history)})"
        parts = [f"{str(self.dir)!r}", f"status={summary.status}"]
        parts.append(f"epochs={len(self.history)}")
        headline = HEADLINE[summary.task]
        value = summary.metrics.get("test", {}).get(headline)
        if value is not None:
            parts.append(f"test_{headline}={value:.4f}")
        return f"Run({', '.join(parts)})"


def train_in(
    setup: Setup,
    run_dir: Path,
    callbacks: Callbacks | None,
    *,
    start: Callable[[Trainer, Saver], None] | None = None,
    figures: bool = True,
    html: bool = True,
    deferred: bool = False,
    tracking_parent: Mapping[str, Any] | None = None,
    on_warning: Callable[[str], None] | None = None,
) -> Run:
    """Train ``setup`` in a locked ``run_dir``; ``start`` may restore a checkpoint first.

    SIGINT/SIGTERM stop the run after the current step (see mlptrain.training.signals).
    With ``figures``, a figure worker may import matplotlib while the model trains.
    The config's trackers (mlptrain.tracking) follow the run from a background thread;
    ``tracking_parent`` nests its MLflow run under a sweep's or a cv's parent run.
    """
    from mlptrain.reporting.figures.worker import FigureDrawer
    from mlptrain.training.threads import on_every_core

    tracked = _Tracked(tracking_parent, on_warning)
    if not (figures and html):
        return _train_in(setup, run_dir, callbacks, start, figures, html, deferred, None, tracked)
    # Training on every core leaves no idle one for a figure worker (W2's figures took 0.98 s
    # with one importing beside training, 0.79 s in the fit's own process): its worker starts
    # when training ends instead, and draws while the fit computes its metrics (~0.2 s less
    # than drawing in-process, paired in three runs; docs/performance.md#targets).
    busy = on_every_core(setup.model.flat_params.size, setup.config.train.batch_size)
    drawer = FigureDrawer(setup.config.train.epochs, worker=not busy)
    watched = compose(callbacks, Callbacks(on_epoch_end=drawer.observe_epoch))
    try:
        return _train_in(setup, run_dir, watched, start, figures, html, deferred, drawer, tracked)
    finally:
        drawer.close()


@dataclass
class _Tracked:
    """How a run is tracked: its parent run (if any), where a failing tracker's line goes,
    and, once the Trainer has its start epoch, the open session."""

    parent: Mapping[str, Any] | None
    warn: Callable[[str], None] | None
    session: TrackingSession | None = None

    def open(self, setup: Setup, run_dir: Path, trainer: Trainer) -> None:
        from mlptrain.tracking import open_tracking

        self.session = open_tracking(
            setup,
            run_dir,
            first_epoch=trainer.state.epoch + 1,
            parent=self.parent,
            warn=self.warn,
        )
        if self.session is not None:
            trainer.callbacks = compose(trainer.callbacks, self.session.callbacks())

    def finish(self, status: str, report: dict[str, Any] | None) -> None:
        if self.session is not None:
            with phase("tracking"):
                self.session.close_run(status, report)


def _train_in(
    setup: Setup,
    run_dir: Path,
    callbacks: Callbacks | None,
    start: Callable[[Trainer, Saver], None] | None,
    figures: bool,
    html: bool,
    deferred: bool,
    drawer: FigureDrawer | None,
    tracked: _Tracked,
) -> Run:
    from mlptrain.training.signals import Interrupted, ReportInterrupted, StopOnSignals

    saver = Saver(setup, run_dir, deferred=deferred)
    trainer = Trainer(setup, callbacks=callbacks, save=saver)
    saver.trainer = trainer
    if start is not None:
        start(trainer, saver)
    tracked.open(setup, run_dir, trainer)
    tracking = tracked.session
    stop = StopOnSignals(trainer)
    try:
        with stop, phase("train"):
            trainer.run()
    except DivergenceError as exc:
        saver.flush()
        exc.kept = saver.kept()
        report = write_run_report(
            setup,
            trainer,
            run_dir,
            status="failed",
            error=str(exc),
            with_metrics=False,
            figures=figures,
            html=html,
            drawer=drawer,
            tracking=tracking,
        )
        tracked.finish("failed", report)
        raise
    except StopRequested as exc:
        saver.flush()
        # The history so far, marked interrupted; final metrics and figures wait for the end.
        write_run_report(
            setup, trainer, run_dir, status="interrupted", with_metrics=False, figures=False,
            html=html, tracking=tracking,
        )  # fmt: skip
        tracked.finish("interrupted", None)
        raise Interrupted(stop.signum, run_dir, exc.epoch, exc.step) from None
    except BaseException:
        tracked.finish("failed", None)
        raise
    with phase("checkpoints"):
        saver.flush()  # a deferred saver writes metrics.jsonl (and its checkpoints) here
        saver._flush_metrics(trainer.state.history)
        if setup.stopper is not None and saver.best_state is not None:
            # Early stopping keeps the best weights: the model reported is the model in best.
            setup.model.load_state_dict(saver.best_state)
        else:
            saver("best")
        saver.flush()
    # An observer may have ended the run early (a pruned sweep trial): that is its status.
    status = trainer.stopped_by or "completed"
    try:
        report = write_run_report(
            setup, trainer, run_dir, status=status, figures=figures, html=html, drawer=drawer,
            tracking=tracking,
        )  # fmt: skip
    except KeyboardInterrupt:
        tracked.finish("interrupted", None)
        checkpoint = run_dir / CHECKPOINT_DIR / BEST_CHECKPOINT
        raise ReportInterrupted(run_dir, checkpoint) from None
    tracked.finish(status, report)
    return Run(
        dir=run_dir,
        model=setup.model,
        history=plain(trainer.state.history),
        report=report,
        config=setup.config,
    )


def write_run_dir(
    setup: Setup,
    state: TrainState,
    out: str | Path,
    *,
    raw: RawData,
    overwrite: bool = False,
    figures: bool = True,
) -> Run:
    """A run directory for a model trained outside ``fit`` (the scikit-learn estimators):
    config.yaml, data.npz (``raw``, with each row's split), checkpoints, metrics.jsonl and the
    reports, as ``fit`` writes them, so every command that reads a run works on it.
    ``setup.data`` must be what ``raw`` prepares to (``evaluate`` rebuilds it from the file).
    """
    run_dir = prepare_run_dir(Path(out), setup.config.name, overwrite=overwrite)
    setup.config = point_at_run_dir(setup.config, run_dir)
    with RunLock(run_dir):
        clean_temp_files(run_dir)
        write_npz(run_data_path(run_dir), raw)
        atomic_write_text(run_dir / CONFIG_FILE, config_to_yaml(setup.config))
        saver = Saver(setup, run_dir)
        saver.trainer = Trainer(setup)
        saver.trainer.state = state
        (run_dir / METRICS_FILE).unlink(missing_ok=True)
        saver("last")
        saver("best")
        report = write_run_report(
            setup, saver.trainer, run_dir, status="completed", figures=figures
        )
    return Run(
        dir=run_dir,
        model=setup.model,
        history=plain(state.history),
        report=report,
        config=setup.config,
    )
