"""``mlptrain fit`` and ``mlptrain evaluate``."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from mlptrain.cli.app import OutputFormat, SetOpt, TrackOpt, app, user_errors


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
    track: TrackOpt = None,
) -> None:
    """Train a model from a YAML config.

    Writes checkpoints, metrics.jsonl, report.json/md/html and figures into a run directory.

    Example: mlptrain fit configs/digits.yaml --set train.epochs=20

    Tracking: --track mlflow and/or --track tensorboard (docs/tracking.md).

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
                track=track or [],
                on_warning=lambda line: typer.echo(line, err=True),
            )
        except Interrupted as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(exc.exit_code) from None
        report = run.report
        training = report["training"]
        typer.echo(
            f"trained {report['name']} for {training['epochs_run']} epochs in {training['seconds']:.1f} s"
            + (
                f" (stopped early; best epoch {training['best_epoch']})"
                if training["stopped_early"]
                else ""
            )
        )
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
    format: Annotated[
        OutputFormat, typer.Option("--format", help="Output format.")
    ] = OutputFormat.table,
) -> None:
    """Metrics of a trained model on a split.

    The split is rebuilt from the run's saved config and seed.

    Example: mlptrain evaluate runs/digits/20260101-120000 --split val --format json
    """
    with user_errors():
        from mlptrain.api import evaluate as evaluate_run
        from mlptrain.reporting.report import format_metrics_table, render_split_markdown

        result = evaluate_run(path, split=split.value)
        if format is OutputFormat.json:
            typer.echo(json.dumps(result, indent=2))
        elif format is OutputFormat.md:
            typer.echo(render_split_markdown(result))
        else:
            typer.echo(
                f"{result['split']} split of {result['checkpoint']} ({result['n_samples']} samples):"
            )
            typer.echo(format_metrics_table(result["metrics"], result["task"]))
