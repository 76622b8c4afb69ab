"""The Python API: ``fit`` a config into a run directory, ``evaluate`` a run, ``load`` a model.

The CLI commands are thin wrappers around these; notebooks call them directly::

    run = mlptrain.fit("configs/digits.yaml", overrides=["train.epochs=5"])
    model = mlptrain.load(run.dir)
    model.predict(X_raw)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlptrain.config import Config, config_to_yaml, resolve_config
from mlptrain.config.monitors import SPLITS
from mlptrain.data import Prepared, write_npz
from mlptrain.errors import UserInputError
from mlptrain.reporting.report import split_metrics
from mlptrain.serving.loading import Predictor, load
from mlptrain.session.directory import prepare_run_dir, resolve_checkpoint
from mlptrain.session.report_writer import class_names, streamed_metrics
from mlptrain.session.threshold import Threshold, apply_threshold, write_threshold
from mlptrain.session.training import Run, train_in, write_run_dir
from mlptrain.store.atomic import atomic_write_text, clean_temp_files
from mlptrain.store.layout import (
    BEST_CHECKPOINT,
    CHECKPOINT_DIR,
    CONFIG_FILE,
    FIGURE_DIR,
    LAST_CHECKPOINT,
    METRICS_FILE,
    REPORT_HTML,
    REPORT_JSON,
    REPORT_MD,
    THRESHOLD_FILE,
)
from mlptrain.store.lock import RunLock
from mlptrain.store.run_meta import load_run_checkpoint
from mlptrain.tracking import STATE_FILE as TRACKING_STATE
from mlptrain.tracking import with_trackers
from mlptrain.tracking.select import prestart as prestart_trackers
from mlptrain.training.arrays import point_at_run_dir, run_data_path, setup_for_arrays
from mlptrain.training.run_state import setup_from_checkpoint
from mlptrain.training.setup import Setup, build, output_units
from mlptrain.training.trainer import Callbacks

__all__ = ["Embedded", "Predictor", "Run", "evaluate", "fit", "load", "write_run_dir"]


@dataclass(frozen=True)
class Embedded:
    """How a sweep runs one of its trials through :func:`fit` (not for notebooks).

    ``prepared``: the config's data, already prepared (a sweep worker prepares it once for
    many trials); it must be what ``prepare`` gives for this config's data section, seed and
    dtype. ``deferred_writes``: write checkpoints and metrics.jsonl once at the end instead of
    as the run goes (an interrupted trial then cannot be resumed). ``tracking_parent``: the
    sweep's or cv's parent run, which the run's MLflow run is nested under.
    """

    prepared: Prepared | None = None
    deferred_writes: bool = False
    tracking_parent: Mapping[str, Any] | None = None


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
    html: bool = True,
    gradcheck: bool = False,
    track: Sequence[str] = (),
    on_warning: Callable[[str], None] | None = None,
    embedded: Embedded | None = None,
) -> Run:
    """Train the model a config describes; write checkpoints and reports into a run directory.

    Parameters
    ----------
    config : path, dict or Config
        The YAML file, its content as a dict, or a loaded ``Config``. Not with ``resume``.
    X, y : array-like, optional
        Train on these (NumPy arrays, lists or pandas objects) instead of the config's data
        source. They are saved in the run directory (data.npz, with each row's split), so
        ``evaluate``, ``report`` and ``predict`` work on the run as on any other.
    X_val, y_val, X_test, y_test : array-like, optional
        Those splits explicitly; else they are taken from ``X`` as ``data.val_size`` and
        ``data.test_size`` say.
    overrides : list of str
        ``"train.epochs=5"``-style settings applied on top of ``config``.
    out : path, optional
        The run directory (default ``runs/<name>/<time>``); ``overwrite`` replaces a non-empty
        one.
    callbacks : Callbacks, optional
        Called as training goes (``on_epoch_end``, ``on_data``, ...).
    resume : path, optional
        Continue an interrupted run (its directory or its last checkpoint) with its stored
        config; only ``train.epochs`` and checkpoint frequencies may be overridden.
    init_from : path, optional
        Start from another run's weights (fine-tuning).
    checkpoint_every_steps : int, optional
        Also write the ``last`` checkpoint every N optimizer steps.
    figures, html : bool
        Draw the PNG figures (about a second of matplotlib; ``mlptrain report`` can draw them
        later) and write report.html.
    gradcheck : bool
        First check every derivative of the configured model against finite differences
        (``mlptrain gradcheck``); on a failure nothing is trained.
    track : list of str
        Switch trackers on (``"mlflow"``, ``"tensorboard"``) with their defaults, as the
        config's ``track:`` section does.
    on_warning : callable, optional
        Called before training with each lint warning ``validate`` would show, and during the
        run with a failing tracker's one line (default for that: stderr).
    embedded : Embedded, optional
        How a sweep runs its trials through ``fit``; see :class:`Embedded`.

    Returns
    -------
    Run
        The run directory, the trained model, the per-epoch history and the report.

    Raises
    ------
    UserInputError
        Bad input (exit 2 on the CLI): an invalid config, data or argument combination.
    GradcheckFailed
        ``gradcheck=True`` and a derivative disagrees (exit 1).
    RunError
        A failure during the run (exit 1), e.g. a diverged loss.
    """
    inside = embedded or Embedded()
    from mlptrain.session import resume as resuming

    overrides = list(overrides or ())
    if gradcheck:
        _gradcheck_first(config, overrides, callbacks)
    if checkpoint_every_steps is not None:
        overrides.append(f"checkpoint.every_steps={checkpoint_every_steps}")
    arrays = {"X_val": X_val, "y_val": y_val, "X_test": X_test, "y_test": y_test}
    with_arrays = _check_arrays(X, y, arrays, resume=resume)
    if resume is not None:
        _check_resume_alone(config, init_from=init_from, out=out, overwrite=overwrite)
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
            "a «config» file is required (or «resume» RUN_DIR to continue an interrupted run)"
        )
    raw_arrays = None
    if with_arrays:
        setup, raw_arrays = setup_for_arrays(config, overrides, X, y, **arrays)
    else:
        resolved = resolve_config(config, overrides)
        parent = inside.tracking_parent
        prestart_trackers(resolved, track, parent_off=bool(parent and parent.get("mlflow_off")))
        setup = build(resolved, data=inside.prepared)
    if callbacks is not None and callbacks.on_data is not None:
        callbacks.on_data(setup.data)
    resolved = _settle_config(setup, track=track, init_from=init_from, on_warning=on_warning)
    run_dir = prepare_run_dir(
        Path(out) if out is not None else None, resolved.name, overwrite=overwrite
    )
    if raw_arrays is not None:
        resolved = setup.config = point_at_run_dir(resolved, run_dir)
    with RunLock(run_dir):
        if raw_arrays is not None:
            write_npz(run_data_path(run_dir), raw_arrays)
        # Only under the lock: a live run's in-flight temporary files must not be removed.
        clean_temp_files(run_dir)
        clean_temp_files(run_dir / CHECKPOINT_DIR)
        if overwrite:
            _remove_previous_run(run_dir)
        atomic_write_text(run_dir / CONFIG_FILE, config_to_yaml(resolved))
        return train_in(
            setup,
            run_dir,
            callbacks,
            figures=figures,
            html=html,
            deferred=inside.deferred_writes,
            tracking_parent=inside.tracking_parent,
            on_warning=on_warning,
        )


def _gradcheck_first(
    config: str | Path | Config | dict[str, Any] | None,
    overrides: Sequence[str],
    callbacks: Callbacks | None,
) -> None:
    """``fit(gradcheck=True)``: check every derivative before anything else (GradcheckFailed)."""
    from mlptrain.training.validate import gradcheck_gate

    result = gradcheck_gate(config, overrides)
    if callbacks is not None and callbacks.on_gradcheck is not None:
        callbacks.on_gradcheck(result)


def _check_arrays(X: Any, y: Any, arrays: Mapping[str, Any], *, resume: Any) -> bool:
    """Whether ``fit`` trains on arrays; refuses a partial or conflicting set of them."""
    with_arrays = X is not None or y is not None
    if not with_arrays and any(v is not None for v in arrays.values()):
        raise UserInputError("X_val, y_val, X_test and y_test need X and y as well")
    if with_arrays and (X is None or y is None):
        raise UserInputError("X and y go together: give both (features and targets) or neither")
    if resume is not None and with_arrays:
        raise UserInputError("resume continues a run on its own stored data; it takes no X, y")
    return with_arrays


def _check_resume_alone(config: Any, *, init_from: Any, out: Any, overwrite: bool) -> None:
    """A resumed run keeps its directory and stored config: nothing may replace them."""
    if config is not None or init_from is not None or out is not None or overwrite:
        raise UserInputError(
            "«resume» continues a run in its own directory with the config stored in its "
            "checkpoint; it cannot be combined with a «config», «init_from», «out» or "
            "«overwrite»"
        )


def _settle_config(
    setup: Setup,
    *,
    track: Sequence[str],
    init_from: str | Path | None,
    on_warning: Callable[[str], None] | None,
) -> Config:
    """The config the run writes: trackers switched on, output units from the data; the
    lint warnings ``validate`` would show go to ``on_warning``."""
    from mlptrain.session import resume as resuming

    # setup.config, not the config given: build settles what the data decides (an omitted
    # loss, monitor: auto)
    cfg = setup.config = with_trackers(setup.config, track)
    if init_from is not None:
        resuming.init_weights(setup, init_from)
    n_outputs = output_units(cfg.model.settled_loss, setup.data)
    setup.config = cfg.with_output_units(n_outputs)
    if on_warning is not None:
        from mlptrain.training.validate import lint_config

        for warning in lint_config(cfg, n_outputs=n_outputs):
            on_warning(warning)
    return setup.config


def _remove_previous_run(run_dir: Path) -> None:
    """``overwrite``: the old run's files go, so that nothing of it mixes with the new one."""
    # The old run's checkpoints go too: a --resume must never pick them up.
    for stale in (
        METRICS_FILE,
        REPORT_JSON,
        REPORT_MD,
        REPORT_HTML,
        f"{CHECKPOINT_DIR}/{LAST_CHECKPOINT}",
        f"{CHECKPOINT_DIR}/{BEST_CHECKPOINT}",
        THRESHOLD_FILE,
        TRACKING_STATE,
    ):
        (run_dir / stale).unlink(missing_ok=True)
    if (run_dir / FIGURE_DIR).is_dir():
        for figure in (run_dir / FIGURE_DIR).glob("*.png"):
            figure.unlink()
    if (run_dir / "tensorboard").is_dir():
        # The old run's curves would mix with the new one's at the same steps.
        for events in (run_dir / "tensorboard").glob("events.out.tfevents.*"):
            events.unlink()


def evaluate(path: str | Path, *, split: str = "test") -> dict[str, Any]:
    """Metrics of a run's best model (or a checkpoint's) on one split, rebuilt from its config.

    Parameters
    ----------
    path : path
        A run directory (its best checkpoint) or a checkpoint file.
    split : {"train", "val", "test"}
        The split of the run's own data to score (the data is loaded and split again, and
        checked against the fingerprint the run recorded).

    Returns
    -------
    dict
        Metric name -> value, as report.json's ``metrics[split]`` names them (scikit-learn's
        names: ``accuracy``, ``roc_auc``, ``log_loss``, ... or ``r2``, ``rmse``, ``mae``, ...).

    Raises
    ------
    UserInputError
        An unknown split, a missing or damaged checkpoint, data that is not what the run
        trained on, or a split the run does not have.
    """
    if split not in SPLITS:
        raise UserInputError(f"«split» {split!r}: allowed: {', '.join(SPLITS)}")
    ckpt = load_run_checkpoint(resolve_checkpoint(path))
    setup = setup_from_checkpoint(ckpt)
    trained = setup.trained
    apply_threshold(trained, ckpt)
    data = setup.data
    if data.stream is not None:  # a streamed table: its parts' metrics summed over batches
        if not data.stream.n_rows[split]:
            raise UserInputError(f"«split» {split}: this streamed run has no {split} rows")
        return {
            "checkpoint": str(ckpt.path),
            "split": split,
            "task": data.task,
            "n_samples": data.stream.n_rows[split],
            "metrics": streamed_metrics(setup, trained)[split],
        }
    chosen = getattr(data, split)
    if chosen is None:
        raise UserInputError(
            f"«split» {split}: this run has no {split} split (data.{split}_size is 0); "
            f"allowed: {', '.join(s for s in SPLITS if getattr(data, s) is not None)}"
        )
    return {
        "checkpoint": str(ckpt.path),
        "split": split,
        "task": data.task,
        "n_samples": len(chosen.y),
        "metrics": split_metrics(trained, data.task, chosen, class_names(data)),
    }


def set_threshold(
    path: str | Path, *, threshold: float | None = None, threshold_for: str | None = None
) -> Threshold:
    """Choose a binary classifier's decision threshold and keep it with the run.

    Written to the run's threshold.json, so that evaluate, predict, serve and the exports
    decide by it.

    Parameters
    ----------
    path : path
        A run directory or a checkpoint file of a binary classifier.
    threshold : float, optional
        The threshold itself, in (0, 1).
    threshold_for : str, optional
        A rule instead: ``"f1"``, ``"precision=0.9"`` or ``"recall=0.8"``, applied on the run's
        validation split (never on its test split). Give exactly one of the two.

    Returns
    -------
    Threshold
        The threshold kept, with how it was chosen.
    """
    from mlptrain.reporting.metrics import probabilities
    from mlptrain.reporting.thresholds import check_threshold, choose_threshold, parse_rule

    if (threshold is None) == (threshold_for is None):
        raise UserInputError("give «threshold» (a value) or «threshold_for» (a rule): one of them")
    checkpoint = resolve_checkpoint(path)
    ckpt = load_run_checkpoint(checkpoint)
    classes = ckpt.meta.classes
    if classes is None or len(classes) != 2:
        what = "does regression" if classes is None else f"has {len(classes)} classes"
        raise UserInputError(f"a decision threshold needs a binary classifier; this model {what}")
    common = {"positive_class": str(classes[1]), "checkpoint": checkpoint.name,
              "checkpoint_sha256": ckpt.sha256}  # fmt: skip
    if threshold is not None:
        chosen = Threshold(
            check_threshold(threshold), rule="given", split=None, score=None, **common
        )
    else:
        parsed = parse_rule(str(threshold_for))
        setup = setup_from_checkpoint(ckpt)
        val = setup.data.val
        if val is None:
            raise UserInputError(
                "«threshold_for» chooses on the validation split, and this run has none "
                "(data.val_size is 0); give a value with «threshold» instead"
            )
        p1 = probabilities(setup.trained.predict_log_proba(val.X))[:, 1]
        cut, score = choose_threshold(val.y == 1, p1, parsed)
        chosen = Threshold(cut, rule=str(parsed), split="val", score=score, **common)
    write_threshold(chosen, checkpoint)
    return chosen
