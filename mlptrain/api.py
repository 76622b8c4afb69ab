"""The Python API: ``fit`` a config into a run directory, ``evaluate`` a run, ``load`` a model.

The CLI commands are thin wrappers around these; notebooks call them directly::

    run = mlptrain.fit("configs/digits.yaml", overrides=["train.epochs=5"])
    model = mlptrain.load(run.dir)
    model.predict(X_raw)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mlptrain.config import Config, config_to_dict, config_to_yaml, load_config, parse_config_dict
from mlptrain.config.monitors import SPLITS
from mlptrain.errors import UserInputError
from mlptrain.reporting.report import split_metrics
from mlptrain.serving.loading import Predictor, load
from mlptrain.session.directory import prepare_run_dir, resolve_checkpoint
from mlptrain.session.report_writer import class_names
from mlptrain.session.training import Run, train_in
from mlptrain.store.atomic import atomic_write_text, clean_temp_files
from mlptrain.store.checkpoint import CHECKPOINT_DIR, load_checkpoint
from mlptrain.store.lock import RunLock
from mlptrain.training.run_state import setup_from_checkpoint
from mlptrain.training.setup import build, output_units
from mlptrain.training.trainer import Callbacks

__all__ = ["Predictor", "Run", "evaluate", "fit", "load"]


def fit(
    config: str | Path | Config | None = None,
    *,
    overrides: Sequence[str] | None = None,
    out: str | Path | None = None,
    overwrite: bool = False,
    callbacks: Callbacks | None = None,
    resume: str | Path | None = None,
    init_from: str | Path | None = None,
    checkpoint_every_steps: int | None = None,
    figures: bool = True,
    gradcheck: bool = False,
    on_warning: Callable[[str], None] | None = None,
) -> Run:
    """Train the model a config describes; write checkpoints and reports into a run directory.

    ``resume``: continue a run (its directory or its last checkpoint) with its stored config
    instead; only ``train.epochs`` and checkpoint frequencies may be overridden.
    ``init_from``: start this new run from another run's model weights (fine-tuning).
    ``checkpoint_every_steps``: also write ``last`` every N optimizer steps.
    ``figures``: draw the PNG figures (about a second of matplotlib); ``mlptrain report``
    can draw them later.
    ``on_warning``: called before training with each lint warning ``validate`` would show.
    ``gradcheck``: first check every derivative of the configured model against finite
    differences (``mlptrain gradcheck``); on a failure nothing is trained and
    ``GradcheckFailed`` (exit 1) carries the result.
    """
    from mlptrain.session import resume as resuming

    overrides = list(overrides or ())
    if gradcheck:
        from mlptrain.training.validate import gradcheck_gate

        result = gradcheck_gate(config, overrides)
        if callbacks is not None and callbacks.on_gradcheck is not None:
            callbacks.on_gradcheck(result)
    if checkpoint_every_steps is not None:
        overrides.append(f"checkpoint.every_steps={checkpoint_every_steps}")
    if resume is not None:
        if config is not None or init_from is not None or out is not None or overwrite:
            raise UserInputError(
                "«resume» continues a run in its own directory with the config stored in its "
                "checkpoint; it cannot be combined with a «config», «init_from», «out» or "
                "«overwrite»"
            )
        return resuming.resume(resume, overrides=overrides, callbacks=callbacks, figures=figures)
    if config is None:
        raise UserInputError(
            "a «config» file is required (or «resume» RUN_DIR to continue an interrupted run)"
        )
    if isinstance(config, Config):
        cfg = config
        if overrides:
            cfg = parse_config_dict(config_to_dict(cfg), source="config", overrides=overrides)
    else:
        cfg = load_config(config, overrides)
    setup = build(cfg)
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
    with RunLock(run_dir):
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
            ):
                (run_dir / stale).unlink(missing_ok=True)
        atomic_write_text(run_dir / "config.yaml", config_to_yaml(resolved))
        if overwrite and (run_dir / "figures").is_dir():
            for figure in (run_dir / "figures").glob("*.png"):
                figure.unlink()
        return train_in(setup, run_dir, callbacks, figures=figures)


def evaluate(path: str | Path, *, split: str = "test") -> dict[str, Any]:
    """Metrics of a run's best model (or a checkpoint's) on one split, rebuilt from its config."""
    if split not in SPLITS:
        raise UserInputError(f"«split» {split!r}: allowed: {', '.join(SPLITS)}")
    ckpt = load_checkpoint(resolve_checkpoint(path))
    setup = setup_from_checkpoint(ckpt)
    data = setup.data
    chosen = getattr(data, split)
    if chosen is None:
        raise UserInputError(f"«split» {split}: this run has no {split} split (data.val_size is 0)")
    return {
        "checkpoint": str(ckpt.path),
        "split": split,
        "task": data.task,
        "n_samples": len(chosen.y),
        "metrics": split_metrics(setup.trained, data.task, chosen, class_names(data)),
    }
