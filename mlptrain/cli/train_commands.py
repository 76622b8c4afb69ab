"""``mlptrain fit`` and ``mlptrain evaluate``."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from mlptrain.cli.app import OutputFormat, SetOpt, app, user_errors


class Split(str, Enum):
    train = "train"
    val = "val"
    test = "test"


@app.command()
def fit(
    config: Annotated[
        Path | None,
        typer.Argument(
            help="YAML config file (not with --resume, which uses the run's stored config).",
            dir_okay=False,
            show_default=False,
        ),
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
) -> None:
    """Train a model from a YAML config.

    Writes checkpoints, metrics.jsonl, report.json/md/html and figures into a run directory.

    Example: mlptrain fit configs/digits.yaml --set train.epochs=20

    Ctrl-C (or SIGTERM) stops after the current step and saves; continue with
    mlptrain fit --resume RUN_DIR.
    """
    with user_errors():
        from mlptrain.api import fit as fit_run
        from mlptrain.reporting.report import format_metrics_table
        from mlptrain.training.progress import ConsoleProgress
        from mlptrain.training.signals import Interrupted

        if gradcheck:
            _gradcheck_before_fit(config, set_ or [], quiet=quiet)
        if resume is not None and config is None:
            from mlptrain.training.resume import resume_point

            point = resume_point(resume, set_ or [])
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
                return
            typer.echo(f"resuming {point.run_dir} from epoch {point.epoch}, step {point.step}")
        progress = ConsoleProgress(quiet=quiet)
        try:
            run = fit_run(
                config,
                overrides=set_ or [],
                out=out,
                overwrite=overwrite,
                callbacks=progress.callbacks(),
                resume=resume,
                init_from=init_from,
                checkpoint_every_steps=checkpoint_every_steps,
                figures=figures,
                on_warning=lambda warning: typer.echo(f"warning: {warning}"),
            )
        except Interrupted as exc:
            typer.echo(str(exc), err=True)
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
        if report["data"].get("columns"):
            from mlptrain.data.columns import ColumnInfo, format_summary

            infos = [ColumnInfo(**c) for c in report["data"]["columns"]]
            typer.echo(format_summary(infos))
        for note in report["data"].get("notes") or []:
            typer.echo(f"note: {note}")
        typer.echo("test metrics:")
        typer.echo(format_metrics_table(report["metrics"]["test"], report["task"]))
        for warning in report.get("warnings") or []:
            typer.echo(f"warning: {warning}")
        typer.echo(f"run directory: {run.dir}")


def _gradcheck_before_fit(config: Path | None, overrides: list[str], *, quiet: bool) -> None:
    from mlptrain.errors import UserInputError
    from mlptrain.training.validate import gradcheck_config

    if config is None:
        raise UserInputError("--gradcheck needs a CONFIG (it is not available with --resume)")
    result = gradcheck_config(config, overrides)
    if not quiet or not result.passed:
        typer.echo(result.table())
    if not result.passed:
        typer.echo(f"error: gradient check failed for {', '.join(result.failures)}", err=True)
        raise typer.Exit(1)


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
    format: Annotated[
        OutputFormat, typer.Option("--format", help="Output format.")
    ] = OutputFormat.table,
) -> None:
    """Metrics of a trained model on a split.

    The split is rebuilt from the run's saved config and seed; if the data changed since the
    run was trained, evaluate refuses (exit 2). --data FILE scores another labelled file.

    Example: mlptrain evaluate runs/digits/20260101-120000 --split val --format json
    """
    with user_errors():
        from mlptrain.api import evaluate as evaluate_run
        from mlptrain.errors import UserInputError
        from mlptrain.reporting.report import format_metrics_table, render_split_markdown
        from mlptrain.serving.score import score_file

        if data is not None and split is not Split.test:
            raise UserInputError("--data scores all rows of a file; it takes no --split")
        notes: list[str] = []
        result = (
            evaluate_run(path, split=split.value)
            if data is None
            else score_file(path, data, notes=notes)
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
