"""``mlptrain report`` and ``mlptrain compare``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from mlptrain.cli.app import OutputFormat, app, user_errors


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="A run directory.", show_default=False)],
) -> None:
    """Rebuild a run's reports and figures.

    report.md, report.json, report.html and figures/ are redrawn from the run's files.

    Example: mlptrain report runs/digits/20260101-120000
    """
    with user_errors():
        from mlptrain.reporting.compare import rebuild_report

        rebuild_report(run_dir)
        typer.echo(f"rebuilt {run_dir / 'report.md'}, {run_dir / 'report.html'} and figures/")


@app.command()
def compare(
    run_dirs: Annotated[list[Path], typer.Argument(help="Run directories.", show_default=False)],
    format: Annotated[
        OutputFormat, typer.Option("--format", help="Output format.")
    ] = OutputFormat.table,
) -> None:
    """Compare runs side by side.

    Data, layers, optimizer, epochs, test metrics, and the config keys that differ.
    Directories that are not finished runs (a cv or sweep folder, an interrupted run) are
    skipped with a note.

    Example: mlptrain compare runs/digits/* --format md
    """
    with user_errors():
        from mlptrain.reporting.compare import compare_runs, comparison_table

        comparison = compare_runs(run_dirs)
        for skipped in comparison["skipped"]:
            typer.echo(f"note: skipped {skipped['reason']}", err=True)
        if format is OutputFormat.json:
            typer.echo(json.dumps(comparison, indent=2))
        else:
            typer.echo(comparison_table(comparison, markdown=format is OutputFormat.md), nl=False)
