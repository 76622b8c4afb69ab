"""``mlptrain fit`` and ``mlptrain evaluate``."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from mlptrain.cli.app import ConfigArg, SetOpt, app, user_errors


class Split(str, Enum):
    train = "train"
    val = "val"
    test = "test"


class Format(str, Enum):
    table = "table"
    json = "json"
    md = "md"


@app.command()
def fit(
    config: ConfigArg,
    set_: SetOpt = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Run directory (default runs/<name>/<time>).")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option(help="Replace the contents of a non-empty --out.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the summary.")] = False,
) -> None:
    """Train the model a config describes; write checkpoints and reports.

    Example: mlptrain fit configs/digits.yaml --set train.epochs=20
    """
    with user_errors():
        from mlptrain.api import fit as fit_run
        from mlptrain.progress import ConsoleProgress
        from mlptrain.report import format_metrics_table

        progress = ConsoleProgress(quiet=quiet)
        run = fit_run(
            config,
            overrides=set_ or [],
            out=out,
            overwrite=overwrite,
            callbacks=progress.callbacks(),
        )
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
        typer.echo(f"run directory: {run.dir}")


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
    format: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.table,
) -> None:
    """Report a trained model's metrics on a split, rebuilt from the run's saved config.

    Example: mlptrain evaluate runs/digits/20260101-120000 --split val --format json
    """
    with user_errors():
        from mlptrain.api import evaluate as evaluate_run
        from mlptrain.report import format_metrics_table, render_split_markdown

        result = evaluate_run(path, split=split.value)
        if format is Format.json:
            typer.echo(json.dumps(result, indent=2))
        elif format is Format.md:
            typer.echo(render_split_markdown(result))
        else:
            typer.echo(
                f"{result['split']} split of {result['checkpoint']} ({result['n_samples']} samples):"
            )
            typer.echo(format_metrics_table(result["metrics"], result["task"]))
