"""``mlptrain fit`` and ``mlptrain evaluate``."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from mlptrain.cli.app import OutputFormat, SetOpt, TrackOpt, app, flag_of, user_errors


class Task(str, Enum):
    classification = "classification"
    regression = "regression"


class Split(str, Enum):
    train = "train"
    val = "val"
    test = "test"


@app.command()
def fit(
    config: Annotated[
        list[Path] | None,
        typer.Argument(
            help="YAML config file(s); several are trained in turn and compared at the end "
            "(none with --resume, which uses the run's stored config). Or a table "
            "(.csv, .tsv, .csv.gz, .parquet) with --target: trained with the tabular preset.",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option(
            "--target", metavar="COL", help="With a table as CONFIG: the column to predict."
        ),
    ] = None,
    task: Annotated[
        Task | None,
        typer.Option(help="With a table as CONFIG: the task (default: told by the target)."),
    ] = None,
    set_: SetOpt = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Run directory (default runs/<name>/<time>).")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option(help="Replace the contents of a non-empty --out.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the summary.")] = False,
    resume: Annotated[
        Path | None,
        typer.Option(
            "--resume",
            help="Continue an interrupted run (its directory or last checkpoint) with its "
            "stored config; only --set train.epochs may change.",
        ),
    ] = None,
    init_from: Annotated[
        Path | None,
        typer.Option(
            "--init-from",
            help="Start from another run's weights (its directory or a checkpoint): fine-tuning.",
        ),
    ] = None,
    checkpoint_every_steps: Annotated[
        int | None,
        typer.Option(
            "--checkpoint-every-steps",
            min=1,
            help="Also write the last checkpoint every N optimizer steps.",
        ),
    ] = None,
    gradcheck: Annotated[
        bool, typer.Option("--gradcheck", help="Run mlptrain gradcheck first; stop if it fails.")
    ] = False,
    figures: Annotated[
        bool,
        typer.Option(
            help="Draw the PNG figures into the report (about a second; "
            "`mlptrain report RUN_DIR` can draw them later)."
        ),
    ] = True,
    track: TrackOpt = None,
    timings: Annotated[
        bool,
        typer.Option(
            "--timings", help="Print where the wall time went, phase by phase, at the end."
        ),
    ] = False,
) -> None:
    """Train a model from a YAML config, or from a table with --target.

    Writes checkpoints, metrics.jsonl, report.json/md/html and figures into a run directory.

    Example: mlptrain fit configs/digits.yaml --set train.epochs=20

    A table trains with the tabular preset (docs/tables.md); the run's config.yaml holds every
    setting: mlptrain fit houses.csv --target price

    Tracking: --track mlflow and/or --track tensorboard (docs/tracking.md).
    Several configs (mlptrain fit configs/iris.yaml configs/wine.yaml) are checked first,
    trained in turn, and compared at the end as by mlptrain compare.

    Ctrl-C (or SIGTERM) stops after the current step and saves; continue with
    mlptrain fit --resume RUN_DIR.
    """
    from mlptrain import timings as phases

    started = phases.process_age()
    if started is not None:
        phases.add("start-up", started)
    if track:  # MLflow's process starts importing while the config is read
        from mlptrain.tracking.remote import prestart_named

        prestart_named(track)
    with user_errors():
        from mlptrain.config.presets import config_source

        options: dict[str, Any] = dict(
            overwrite=overwrite, quiet=quiet, resume=resume, init_from=init_from,
            checkpoint_every_steps=checkpoint_every_steps, gradcheck=gradcheck, figures=figures,
            track=track or [],
        )  # fmt: skip
        task_name = None if task is None else task.value
        sources = [config_source(path, target=target, task=task_name) for path in config or []]
        if len(sources) > 1:
            _fit_several(config or [], sources, set_ or [], out=out, **options)
        else:
            _fit_one(sources[0] if sources else None, set_ or [], out=out, **options)
    if timings:
        typer.echo("where the wall time went:\n" + phases.table())


def _fit_one(
    config: Path | dict[str, Any] | None,  # what config_source gives
    overrides: list[str],
    *,
    out: Path | None,
    overwrite: bool,
    quiet: bool,
    resume: Path | None,
    init_from: Path | None,
    checkpoint_every_steps: int | None,
    gradcheck: bool,
    figures: bool,
    track: list[str],
) -> Path:
    """Train one config (or resume one run) and print its summary; the run directory."""
    from mlptrain.api import fit as fit_run
    from mlptrain.reporting.report import format_metrics_table
    from mlptrain.training.progress import ConsoleProgress
    from mlptrain.training.validate import GradcheckFailed

    # With --gradcheck, fit refuses a missing CONFIG before anything else.
    if resume is not None and config is None and not gradcheck:
        from mlptrain.session.resume import resume_point

        point = resume_point(resume, overrides)
        if point.finished:
            typer.echo(
                f"nothing to train: {point.run_dir} finished at epoch {point.epoch} of "
                f"{point.epochs}"
                + (
                    " (stopped early)"
                    if point.stopped_early
                    else f"; --set train.epochs=N with N > {point.epoch} trains longer"
                )
            )
            return point.run_dir
        typer.echo(f"resuming {point.run_dir} from epoch {point.epoch}, step {point.step}")
    progress = ConsoleProgress(quiet=quiet)
    callbacks = progress.callbacks()
    if not quiet:
        callbacks.on_gradcheck = lambda result: typer.echo(result.table())
        callbacks.on_data = _print_data
    try:
        run = fit_run(
            config,
            overrides=overrides,
            out=out,
            overwrite=overwrite,
            callbacks=callbacks,
            resume=resume,
            init_from=init_from,
            checkpoint_every_steps=checkpoint_every_steps,
            figures=figures,
            track=track,
            on_warning=lambda warning: typer.echo(f"warning: {warning}"),
            gradcheck=gradcheck,
        )
    except GradcheckFailed as exc:
        typer.echo(exc.result.table())
        typer.echo(f"error: {exc.for_cli(flag_of)}", err=True)
        raise typer.Exit(exc.exit_code) from None
    report = run.report
    training = report["training"]
    epochs, best = training["epochs_run"], training["best_epoch"]
    typer.echo(
        f"trained {report['name']} for {epochs} epochs in {training['seconds']:.1f} s"
        + (
            f" (stopped early at epoch {epochs}; best epoch {best})"
            if training["stopped_early"]
            else f" (best epoch {best} of {epochs})"
        )
    )
    if quiet or resume is not None:  # else printed before the first epoch
        for note in report["data"].get("notes") or []:
            typer.echo(f"note: {note}")
    shown = next(s for s in ("test", "val", "train") if s in report["metrics"])
    if shown != "test":
        typer.echo("no test split (data.test_size is 0): score a file with evaluate RUN --data")
    typer.echo(f"{ {'test': 'test', 'val': 'validation', 'train': 'training'}[shown] } metrics:")
    typer.echo(format_metrics_table(report["metrics"][shown], report["task"]))
    for warning in report.get("warnings") or []:
        typer.echo(f"warning: {warning}")
    typer.echo(f"run directory: {run.dir}")
    return run.dir


def _print_data(data: Any) -> None:
    """A table's columns (what each became) and the notes on the data, before training."""
    from mlptrain.data.columns import format_summary

    if data.columns:
        typer.echo(format_summary(data.columns))
    for note in data.notes or []:
        typer.echo(f"note: {note}")


def _fit_several(
    configs: list[Path],
    sources: list[Path | dict[str, Any]],
    overrides: list[str],
    *,
    out: Path | None,
    **options: Any,
) -> None:
    """``fit a.yaml b.yaml``: every config checked first, then trained in turn, then compared.

    With ``--out`` each run goes to ``OUT/<config file name>``; a bad config stops everything
    before the first epoch, and a failed run stops the ones after it.
    """
    from mlptrain.config import resolve_config
    from mlptrain.errors import UserInputError
    from mlptrain.reporting.compare import compare_runs, comparison_table

    if options["resume"] is not None:
        raise UserInputError("--resume continues one run; give no CONFIG with it")
    stems = [path.stem for path in configs]
    if out is not None and len(set(stems)) < len(stems):
        twice = ", ".join(sorted({s for s in stems if stems.count(s) > 1}))
        raise UserInputError(
            f"--out {out}: configs named {twice} would share a run directory "
            "(runs go to OUT/<config file name>); rename one, or leave out --out"
        )
    for source in sources:
        resolve_config(source, overrides)  # every problem is reported before any training
    run_dirs = []
    for index, (path, source) in enumerate(zip(configs, sources, strict=True), 1):
        typer.echo(f"[{index}/{len(configs)}] {path}")
        run_out = None if out is None else out / path.stem
        run_dirs.append(_fit_one(source, overrides, out=run_out, **options))
    typer.echo(comparison_table(compare_runs(run_dirs)), nl=False)


@app.command()
def evaluate(
    path: Annotated[
        Path,
        typer.Argument(
            help="A run directory (uses its best checkpoint) or a checkpoint file.",
            show_default=False,
        ),
    ],
    split: Annotated[Split, typer.Option(help="Which split to evaluate.")] = Split.test,
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help="Score a labelled CSV/NPZ file instead: all its rows, with the run's saved "
            "scaler (a table model: its saved preprocessing) and labels.",
            dir_okay=False,
        ),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option(
            "--target",
            metavar="COL",
            help="With --data: the label column of the file (default: the name the run was "
            "trained with, data.target, else 'target').",
        ),
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option(
            "--threshold",
            metavar="P",
            help="Binary classifiers: predict the positive class when its probability is at "
            "least P, from now on (kept in the run's threshold.json for predict, serve and "
            "export).",
        ),
    ] = None,
    threshold_for: Annotated[
        str | None,
        typer.Option(
            "--threshold-for",
            metavar="RULE",
            help="Binary classifiers: choose the threshold on the validation split for f1, "
            "precision=P (most recall with at least that precision) or recall=R, and keep it "
            "as --threshold does.",
        ),
    ] = None,
    format: Annotated[
        OutputFormat, typer.Option("--format", help="Output format.")
    ] = OutputFormat.table,
) -> None:
    """Metrics of a trained model on a split.

    The split is rebuilt from the run's saved config and seed; if the data changed since the
    run was trained, evaluate refuses (exit 2). --data FILE scores another labelled file.
    --threshold or --threshold-for first sets a binary classifier's decision threshold.

    Example: mlptrain evaluate runs/digits/20260101-120000 --split val --format json
    """
    with user_errors():
        from mlptrain.api import evaluate as evaluate_run
        from mlptrain.api import set_threshold
        from mlptrain.errors import UserInputError
        from mlptrain.reporting.markdown import render_split_markdown
        from mlptrain.reporting.report import format_metrics_table
        from mlptrain.serving.score import score_file
        from mlptrain.store.layout import THRESHOLD_FILE

        if data is not None and split is not Split.test:
            raise UserInputError("--data scores all rows of a file; it takes no --split")
        if target is not None and data is None:
            raise UserInputError("--target names the label column of a --data file; give --data")
        if threshold is not None or threshold_for is not None:
            chosen = set_threshold(path, threshold=threshold, threshold_for=threshold_for)
            typer.echo(f"{chosen.describe()}; kept in the run's {THRESHOLD_FILE}", err=True)
        notes: list[str] = []
        result = (
            evaluate_run(path, split=split.value)
            if data is None
            else score_file(path, data, notes=notes, target=target)
        )
        for note in notes:
            typer.echo(f"note: {note}", err=True)
        if format is OutputFormat.json:
            typer.echo(json.dumps(result, indent=2))
        elif format is OutputFormat.md:
            typer.echo(render_split_markdown(result))
        else:
            n = result["n_samples"]
            typer.echo(
                f"{result['split']} split of {result['checkpoint']} ({n} samples):"
                if data is None
                else f"{data} (all {n} rows) scored by {result['checkpoint']}:"
            )
            typer.echo(format_metrics_table(result["metrics"], result["task"]))
