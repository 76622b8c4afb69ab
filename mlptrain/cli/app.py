"""The Typer app, its error handling and the shared options of the ``mlptrain`` CLI.

Heavy imports (scikit-learn, the trainer) happen inside the commands, so ``mlptrain --help``
starts fast. Every error mlptrain raises on purpose becomes one ``error: …`` line on stderr
and its exit code (2 bad input, 1 failure during a run); no tracebacks.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from mlptrain import __version__

app = typer.Typer(
    name="mlptrain",
    help="Train, evaluate and check MLPs built from hand-derived NumPy modules.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn mlptrain's own errors into one line and an exit code."""
    from mlptrain.errors import MlptrainError

    try:
        yield
    except MlptrainError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        raise typer.Exit(130) from None


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mlptrain {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """Train, evaluate and check MLPs built from hand-derived NumPy modules."""


ConfigArg = Annotated[
    Path,
    typer.Argument(help="YAML config file.", metavar="CONFIG", dir_okay=False, show_default=False),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KEY=VALUE",
        help="Override a config key: --set train.optimizer.lr=3e-3 (repeatable).",
    ),
]


class OutputFormat(str, Enum):
    """How a command prints its result: a terminal table, JSON, or Markdown."""

    table = "table"
    json = "json"
    md = "md"


TrackOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--track",
        metavar="NAME",
        help="Log the run to a tracker with its defaults: mlflow or tensorboard (repeatable; "
        "the config's track: section sets them up in full).",
    ),
]
