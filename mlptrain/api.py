"""The Python API: ``fit`` a config into a run directory, ``evaluate`` a run, ``load`` a model.

The CLI commands are thin wrappers around these; notebooks call them directly::

    run = mlptrain.fit("configs/digits.yaml", overrides=["train.epochs=5"])
    model = mlptrain.load(run.dir)
    model.predict(X_raw)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from mlptrain import __version__
from mlptrain.config import Config, config_to_dict, config_to_yaml, load_config, parse_config_dict
from mlptrain.config.monitors import SPLITS
from mlptrain.data import (
    LabelEncoder,
    Prepared,
    RawData,
    Scaler,
    Split,
    check_features,
    write_npz,
)
from mlptrain.errors import CheckpointError, DataError, UserInputError
from mlptrain.nn.sequential import Sequential
from mlptrain.reporting.metrics import HEADLINE
from mlptrain.reporting.report import (
    build_report,
    model_summary,
    prediction_sample,
    split_metrics,
    write_reports,
)
from mlptrain.store.atomic import (
    RunLock,
    append_line,
    atomic_write_text,
    check_writable,
    clean_temp_files,
)
from mlptrain.store.checkpoint import CHECKPOINT_DIR, Checkpoint, load_checkpoint, save_checkpoint
from mlptrain.tracking import STATE_FILE as TRACKING_STATE
from mlptrain.tracking import TrackingSession, with_trackers
from mlptrain.training.arrays import plain, point_at_run_dir, setup_for_arrays
from mlptrain.training.trainer import (
    Callbacks,
    DivergenceError,
    Setup,
    StopRequested,
    Trainer,
    TrainState,
    build,
    checkpoint_tensors,
    describe_data,
    model_tensors,
    output_units,
    run_metadata,
)


@dataclass
class Run:
    """A finished (or failed) run: its directory, model, per-epoch history and report."""

    dir: Path
    model: Sequential
    history: list[dict[str, Any]]
    report: dict[str, Any]
    config: Config

    @property
    def best_checkpoint(self) -> Path:
        return self.dir / CHECKPOINT_DIR / "best.safetensors"


def default_run_dir(name: str, root: Path = Path("runs")) -> Path:
    """``runs/<name>/<YYYYmmdd-HHMMSS>``, with a numeric suffix if that second is taken."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    candidate = root / name / stamp
    suffix = 2
    while candidate.exists():
        candidate = root / name / f"{stamp}-{suffix}"
        suffix += 1
    return candidate


def prepare_run_dir(out: Path | None, name: str, *, overwrite: bool) -> Path:
    """Create (or check) the run directory before any training starts."""
    run_dir = Path(out) if out is not None else default_run_dir(name)
    if run_dir.exists() and not run_dir.is_dir():
        raise UserInputError(f"--out {run_dir}: exists and is not a directory")
    if run_dir.is_dir() and any(p.name != ".lock" for p in run_dir.iterdir()) and not overwrite:
        raise UserInputError(
            f"run directory {run_dir} already exists and is not empty; choose another --out, "
            "or pass --overwrite to replace its contents"
        )
    check_writable(run_dir)
    check_writable(run_dir / CHECKPOINT_DIR)
    return run_dir


def fit(
    config: str | Path | Config | dict[str, Any] | None = None,
    *,
    X: Any = None,
    y: Any = None,
    X_val: Any = None,
    y_val: Any = None,
    X_test: Any = None,
    y_test: Any = None,
    overrides: Sequence[str] | None = None,
    out: str | Path | None = None,
    overwrite: bool = False,
    callbacks: Callbacks | None = None,
    resume: str | Path | None = None,
    init_from: str | Path | None = None,
    checkpoint_every_steps: int | None = None,
    figures: bool = True,
    track: Sequence[str] = (),
    tracking_parent: Mapping[str, Any] | None = None,
    on_warning: Callable[[str], None] | None = None,
) -> Run:
    """Train the model a config describes; write checkpoints and reports into a run directory.

    ``resume``: continue a run (its directory or its last checkpoint) with its stored config
    instead; only ``train.epochs`` and checkpoint frequencies may be overridden.
    ``init_from``: start this new run from another run's model weights (fine-tuning).
    ``checkpoint_every_steps``: also write ``last`` every N optimizer steps.
    ``figures``: draw the PNG figures (about a second of matplotlib); ``mlptrain report``
    can draw them later.
    ``track``: switch trackers on ("mlflow", "tensorboard") with their defaults, as the
    config's ``track:`` section does; ``tracking_parent`` nests the run under a sweep's or a
    cv's parent run (mlptrain.tracking).
    ``on_warning``: called before training with each lint warning ``validate`` would show,
    and during the run with a failing tracker's one line (default for that: stderr).
    ``X``/``y`` (NumPy arrays, lists or pandas objects): train on these instead of the
    config's data source; ``X_val``/``y_val`` and ``X_test``/``y_test`` give those splits
    explicitly, else they are taken from ``X`` as ``data.val_size``/``data.test_size`` say.
    The arrays are saved in the run directory (data.npz, with each row's split), so
    ``evaluate``, ``report`` and ``predict`` work on the run as on any other.
    """
    from mlptrain.training import resume as resuming

    overrides = list(overrides or ())
    if checkpoint_every_steps is not None:
        overrides.append(f"checkpoint.every_steps={checkpoint_every_steps}")
    arrays = {"X_val": X_val, "y_val": y_val, "X_test": X_test, "y_test": y_test}
    with_arrays = X is not None or y is not None
    if not with_arrays and any(v is not None for v in arrays.values()):
        raise UserInputError("X_val, y_val, X_test and y_test need X and y as well")
    if with_arrays and (X is None or y is None):
        raise UserInputError("X and y go together: give both (features and targets) or neither")
    if resume is not None and with_arrays:
        raise UserInputError("resume continues a run on its own stored data; it takes no X, y")
    if resume is not None:
        if config is not None or init_from is not None or out is not None or overwrite:
            raise UserInputError(
                "--resume continues a run in its own directory with the config stored in its "
                "checkpoint; it cannot be combined with a CONFIG, --init-from, --out or "
                "--overwrite"
            )
        return resuming.resume(
            resume,
            overrides=overrides,
            callbacks=callbacks,
            figures=figures,
            track=track,
            on_warning=on_warning,
        )
    if config is None:
        raise UserInputError(
            "a CONFIG file is required (or --resume RUN_DIR to continue an interrupted run)"
        )
    raw_arrays = None
    if with_arrays:
        setup, raw_arrays = setup_for_arrays(config, overrides, X, y, **arrays)
        cfg = setup.config
    else:
        if isinstance(config, Config):
            cfg = config
            if overrides:
                cfg = parse_config_dict(config_to_dict(cfg), source="config", overrides=overrides)
        elif isinstance(config, dict):
            cfg = parse_config_dict(config, source="config", overrides=overrides)
        else:
            cfg = load_config(config, overrides)
        setup = build(cfg)
    cfg = setup.config = with_trackers(cfg, track)
    if init_from is not None:
        resuming.init_weights(setup, init_from)
    resolved = cfg.with_output_units(output_units(cfg.model.loss, setup.data))
    setup.config = resolved
    if on_warning is not None:
        from mlptrain.training.validate import lint_config

        for warning in lint_config(cfg, n_outputs=output_units(cfg.model.loss, setup.data)):
            on_warning(warning)
    run_dir = prepare_run_dir(
        Path(out) if out is not None else None, resolved.name, overwrite=overwrite
    )
    if raw_arrays is not None:
        resolved = setup.config = point_at_run_dir(resolved, run_dir)
    with RunLock(run_dir):
        if raw_arrays is not None:
            write_npz(resolved.data.path, raw_arrays)
        # Only under the lock: a live run's in-flight temporary files must not be removed.
        clean_temp_files(run_dir)
        clean_temp_files(run_dir / CHECKPOINT_DIR)
        if overwrite:
            # The old run's checkpoints go too: a --resume must never pick them up.
            for stale in (
                "metrics.jsonl",
                "report.json",
                "report.md",
                "report.html",
                f"{CHECKPOINT_DIR}/last.safetensors",
                f"{CHECKPOINT_DIR}/best.safetensors",
                TRACKING_STATE,
            ):
                (run_dir / stale).unlink(missing_ok=True)
        atomic_write_text(run_dir / "config.yaml", config_to_yaml(resolved))
        if overwrite and (run_dir / "figures").is_dir():
            for figure in (run_dir / "figures").glob("*.png"):
                figure.unlink()
        if overwrite and (run_dir / "tensorboard").is_dir():
            # The old run's curves would mix with the new one's at the same steps.
            for events in (run_dir / "tensorboard").glob("events.out.tfevents.*"):
                events.unlink()
        return train_in(
            setup,
            run_dir,
            callbacks,
            figures=figures,
            tracking_parent=tracking_parent,
            on_warning=on_warning,
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
        write_npz(setup.config.data.path, raw)
        atomic_write_text(run_dir / "config.yaml", config_to_yaml(setup.config))
        saver = _Saver(setup, run_dir)
        saver.trainer = Trainer(setup)
        saver.trainer.state = state
        (run_dir / "metrics.jsonl").unlink(missing_ok=True)
        saver("last")
        saver("best")
        report = _write_report(setup, saver.trainer, run_dir, status="completed", figures=figures)
    return Run(
        dir=run_dir,
        model=setup.model,
        history=plain(state.history),
        report=report,
        config=setup.config,
    )


class _Saver:
    """Writes checkpoints and metrics lines for the Trainer, and keeps the best weights."""

    def __init__(self, setup: Setup, run_dir: Path) -> None:
        self.setup = setup
        self.run_dir = run_dir
        self.trainer: Trainer | None = None
        self.best_state: dict[str, np.ndarray] | None = None
        self.written_epochs = 0
        self.saved: dict[str, tuple[int, int]] = {}  # checkpoint kind -> (epoch, step) on disk

    def __call__(self, kind: str) -> None:
        assert self.trainer is not None
        state = self.trainer.state
        self._flush_metrics(state.history)
        meta = run_metadata(self.setup, state)
        meta["kind"] = kind
        save_checkpoint(
            self.run_dir / CHECKPOINT_DIR / f"{kind}.safetensors",
            checkpoint_tensors(self.setup, with_optimizer=kind == "last"),
            meta,
        )
        self.saved[kind] = (state.epoch, state.step)
        if kind == "best":
            self.best_state = self.setup.model.state_dict()

    def kept(self) -> str:
        """Which checkpoints a failed run leaves on disk, for its error message."""
        if not self.saved:
            return "no checkpoint had been written yet"
        kept = [
            f"{CHECKPOINT_DIR}/{kind}.safetensors (epoch {epoch}, step {step})"
            for kind, (epoch, step) in sorted(self.saved.items(), reverse=True)
        ]
        return f"kept: {' and '.join(kept)}"

    def _flush_metrics(self, history: list[dict[str, Any]]) -> None:
        for record in history[self.written_epochs :]:
            append_line(self.run_dir / "metrics.jsonl", json.dumps(record, allow_nan=False))
        self.written_epochs = len(history)


def train_in(
    setup: Setup,
    run_dir: Path,
    callbacks: Callbacks | None,
    *,
    start: Callable[[Trainer, _Saver], None] | None = None,
    figures: bool = True,
    tracking_parent: Mapping[str, Any] | None = None,
    on_warning: Callable[[str], None] | None = None,
) -> Run:
    """Train ``setup`` in a locked ``run_dir``; ``start`` may restore a checkpoint first.

    SIGINT/SIGTERM stop the run after the current step (see mlptrain.training.signals).
    The config's trackers (mlptrain.tracking) follow the run from a background thread.
    """
    from mlptrain.tracking import open_tracking
    from mlptrain.training.signals import Interrupted, ReportInterrupted, StopOnSignals

    saver = _Saver(setup, run_dir)
    trainer = Trainer(setup, callbacks=callbacks, save=saver)
    saver.trainer = trainer
    if start is not None:
        start(trainer, saver)
    tracking = open_tracking(
        setup,
        run_dir,
        first_epoch=trainer.state.epoch + 1,
        parent=tracking_parent,
        warn=on_warning,
    )
    if tracking is not None:
        trainer.callbacks = Callbacks.chain(trainer.callbacks, tracking.callbacks())
    stop = StopOnSignals(trainer)
    try:
        with stop:
            trainer.run()
    except DivergenceError as exc:
        exc.kept = saver.kept()
        report = _write_report(
            setup,
            trainer,
            run_dir,
            status="failed",
            error=str(exc),
            with_metrics=False,
            figures=figures,
            tracking=tracking,
        )
        _finish_tracking(tracking, "failed", report)
        raise
    except StopRequested as exc:
        # The history so far, marked interrupted; final metrics and figures wait for the end.
        _write_report(
            setup,
            trainer,
            run_dir,
            status="interrupted",
            with_metrics=False,
            figures=False,
            tracking=tracking,
        )
        _finish_tracking(tracking, "interrupted", None)
        raise Interrupted(stop.signum, run_dir, exc.epoch, exc.step) from None
    except BaseException:
        _finish_tracking(tracking, "failed", None)
        raise
    saver._flush_metrics(trainer.state.history)
    if setup.stopper is not None and saver.best_state is not None:
        # Early stopping keeps the best weights: the model reported is the model in best.
        setup.model.load_state_dict(saver.best_state)
    else:
        saver("best")
    try:
        report = _write_report(
            setup, trainer, run_dir, status="completed", figures=figures, tracking=tracking
        )
    except KeyboardInterrupt:
        _finish_tracking(tracking, "interrupted", None)
        checkpoint = run_dir / CHECKPOINT_DIR / "best.safetensors"
        raise ReportInterrupted(run_dir, checkpoint) from None
    _finish_tracking(tracking, "completed", report)
    return Run(
        dir=run_dir,
        model=setup.model,
        history=plain(trainer.state.history),
        report=report,
        config=setup.config,
    )


def _finish_tracking(
    tracking: TrackingSession | None, status: str, report: dict[str, Any] | None
) -> None:
    if tracking is not None:
        tracking.close_run(status, report)


def _class_names(data: Prepared) -> list[str] | None:
    return [str(c) for c in data.encoder.classes] if data.encoder is not None else None


def _write_report(
    setup: Setup,
    trainer: Trainer,
    run_dir: Path,
    *,
    status: str,
    error: str | None = None,
    with_metrics: bool = True,
    figures: bool = True,
    tracking: TrackingSession | None = None,
) -> dict[str, Any]:
    data = setup.data
    metrics: dict[str, dict[str, Any]] = {}
    if with_metrics:
        names = _class_names(data)
        for split_name in SPLITS:
            split = getattr(data, split_name)
            if split is not None:
                metrics[split_name] = split_metrics(setup.model, data.task, split, names)
    state = trainer.state
    report = build_report(
        name=setup.config.name,
        config=config_to_dict(setup.config),
        data=describe_data(data),
        model_rows=model_summary(setup.model, data.n_features),
        history=state.history,
        metrics=metrics,
        status=status,
        best_epoch=setup.stopper.best_epoch if setup.stopper else state.epoch,
        stopped_early=state.stopped_early,
        seconds=state.seconds,
        error=error,
        version=__version__,
    )
    if with_metrics and data.task == "regression":
        report["predictions"] = {"test": prediction_sample(setup.model, data.test)}
    if tracking is not None:
        # A tracker that failed while the run started is in the report it uploads.
        tracking.drain()
        report["tracking"] = tracking.entry()
    write_reports(run_dir, report, figures=figures)
    return report


def resolve_checkpoint(path: str | Path, kind: str = "best") -> Path:
    """A run directory means its ``checkpoints/<kind>.safetensors``; a file means itself."""
    path = Path(path)
    if path.is_dir():
        candidate = path / CHECKPOINT_DIR / f"{kind}.safetensors"
        if not candidate.exists():
            raise CheckpointError(
                f"{path}: not a run directory (no {CHECKPOINT_DIR}/{kind}.safetensors)"
            )
        return candidate
    if not path.exists():
        raise CheckpointError(f"{path}: no such run directory or checkpoint file")
    return path


def config_from_checkpoint(ckpt: Checkpoint) -> Config:
    return parse_config_dict(ckpt.meta["config"], source=f"{ckpt.path} (stored config)")


def setup_from_checkpoint(ckpt: Checkpoint) -> Setup:
    """Rebuild the run's data and model from a checkpoint, with the checkpoint's weights."""
    from mlptrain.data.fingerprint import check_same_data

    cfg = config_from_checkpoint(ckpt)
    setup = build(cfg)
    check_same_data(
        ckpt.meta.get("data_fingerprint"),
        setup.data.fingerprint or {},
        source=setup.data.source,
        run=str(ckpt.path),
        remedy="evaluate the run on the data it was trained on, or score another labelled "
        "file as a whole with --data FILE",
    )
    setup.model.load_state_dict(
        model_tensors(ckpt.tensors),
        source=str(ckpt.path),
    )
    return setup


def evaluate(path: str | Path, *, split: str = "test") -> dict[str, Any]:
    """Metrics of a run's best model (or a checkpoint's) on one split, rebuilt from its config."""
    if split not in SPLITS:
        raise UserInputError(f"--split {split!r}: allowed: {', '.join(SPLITS)}")
    ckpt = load_checkpoint(resolve_checkpoint(path))
    setup = setup_from_checkpoint(ckpt)
    data = setup.data
    chosen = getattr(data, split)
    if chosen is None:
        raise UserInputError(f"--split {split}: this run has no {split} split (data.val_size is 0)")
    return {
        "checkpoint": str(ckpt.path),
        "split": split,
        "task": data.task,
        "n_samples": len(chosen.y),
        "metrics": split_metrics(setup.model, data.task, chosen, _class_names(data)),
    }


class Predictor:
    """A trained model with its scaler and labels: predictions from raw, unscaled features."""

    def __init__(
        self, model: Sequential, scaler: Scaler, encoder: LabelEncoder | None, meta: dict[str, Any]
    ) -> None:
        self.model = model
        self.scaler = scaler
        self.encoder = encoder
        self.meta = meta
        self.feature_names: list[str] = list(meta.get("feature_names") or [])
        self.task: str = meta["task"]

    @property
    def classes(self) -> np.ndarray | None:
        return None if self.encoder is None else self.encoder.classes

    def _inputs(self, X: Any) -> np.ndarray:
        X = check_features(
            X,
            n_features=int(self.meta["n_features"]),
            feature_names=self.feature_names,
            source="Predictor",
        )
        return self.scaler.transform(X, self.model.dtype)

    def labelled(self, X: Any, y: Any) -> Split:
        """Raw features and labels as the model was trained on them: features scaled by the
        saved scaler, labels mapped to class indices (an unknown label is a DataError naming
        it) or regression targets as float64 (n, n_targets)."""
        inputs = self._inputs(X)
        y = np.asarray(y)
        if len(y) != len(inputs):
            raise DataError(f"X has {len(inputs)} rows but y has {len(y)}")
        if self.encoder is not None:
            return Split(inputs, self.encoder.encode(y))
        if y.dtype.kind not in "biuf":
            raise DataError(f"the targets hold {y.dtype} values; this model does regression")
        return Split(inputs, y.reshape(len(y), -1).astype(np.float64))

    def predict(self, X: Any) -> np.ndarray:
        """Original class labels (classification) or predicted values (regression)."""
        out = self.model.predict(self._inputs(X))
        if self.encoder is not None:
            return self.encoder.decode(out)
        return out[:, 0] if out.ndim == 2 and out.shape[1] == 1 else out

    def predict_proba(self, X: Any) -> np.ndarray:
        """Probabilities (n, classes), columns in the order of ``classes``."""
        if self.encoder is None:
            raise UserInputError("predict_proba needs a classifier; this model does regression")
        return self.model.predict_proba(self._inputs(X))

    def __repr__(self) -> str:
        return (
            f"Predictor(task={self.task}, features={self.meta['n_features']}, model={self.model!r})"
        )


def load(path: str | Path) -> Predictor:
    """A Predictor from a run directory (its best checkpoint) or a checkpoint file.

    Only the model is built: the data is not loaded again.
    """
    from mlptrain.nn.build import build_model
    from mlptrain.training.trainer import DTYPES, head_for, set_output_transform

    ckpt = load_checkpoint(resolve_checkpoint(path))
    cfg = config_from_checkpoint(ckpt)
    meta = ckpt.meta
    n_outputs = output_units_from(ckpt)
    model = build_model(
        cfg.model.layers,
        n_inputs=int(meta["n_features"]),
        n_outputs=n_outputs,
        rng=np.random.default_rng(0),
        dtype=DTYPES[cfg.train.dtype],
        init=cfg.model.init,
        head=head_for(cfg.model.loss),
    )
    model.load_state_dict(
        model_tensors(ckpt.tensors),
        source=str(ckpt.path),
    )
    if "target.shift" in ckpt.tensors:
        target_state = {
            "scaler.shift": ckpt.tensors["target.shift"],
            "scaler.scale": ckpt.tensors["target.scale"],
        }
        set_output_transform(model, target_state, model.dtype)
    model.eval()
    scaler = Scaler.from_state(
        cfg.data.scale, {k: v for k, v in ckpt.tensors.items() if k.startswith("scaler.")}
    )
    encoder = LabelEncoder.from_list(meta["classes"]) if meta.get("classes") is not None else None
    return Predictor(model, scaler, encoder, meta)


def output_units_from(ckpt: Checkpoint) -> int:
    """The width of the last linear layer, read from the stored weights."""
    weights = [k for k in ckpt.tensors if k.startswith("model.") and k.endswith(".W")]
    if not weights:
        raise CheckpointError(f"{ckpt.path}: holds no linear layer weights")
    last = max(weights, key=lambda k: int(k.split(".")[1]))
    return int(ckpt.tensors[last].shape[1])


def headline_metric(task: str) -> str:
    return HEADLINE[task]
