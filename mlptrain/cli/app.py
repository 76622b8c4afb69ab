"""The Typer app, its error handling and the shared options of the ``mlptrain`` CLI.

Heavy imports (scikit-learn, the trainer) happen inside the commands, so ``mlptrain --help``
starts fast. Every error mlptrain raises on purpose becomes one ``error: …`` line on stderr
and its exit code (2 bad input, 1 failure during a run); no tracebacks.
"""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Iterator, Sequence
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from mlptrain import __version__


# Click's usage and base exception classes, reached from Typer's public BadParameter: Typer
# 0.29 runs on a Click of its own and exports only Abort, BadParameter and Exit of it, while
# older Typers re-export Click's; in both, BadParameter derives from UsageError and
# ClickException.
def _base_of_bad_parameter(name: str) -> type[Exception]:
    return next(c for c in typer.BadParameter.__mro__ if c.__name__ == name)


_UsageError = _base_of_bad_parameter("UsageError")
_ClickException = _base_of_bad_parameter("ClickException")


class OneLineErrors(TyperGroup):
    """Click's usage errors (a bad option value, an unknown flag) as one ``error:`` line.

    Click prints a usage block, a hint and the error on three lines; mlptrain's own errors are
    one line each, so a bad ``--split`` reads like a bad config key. Help for a bare command
    (``mlptrain``, ``mlptrain fit`` with no arguments) is still shown in full.
    """

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        forwarded: dict[str, Any] = {
            "args": args,
            "prog_name": prog_name,
            "complete_var": complete_var,
            "windows_expand_args": windows_expand_args,
            **extra,
        }
        if not standalone_mode:
            return super().main(standalone_mode=False, **forwarded)
        try:
            code = super().main(standalone_mode=False, **forwarded)
        except _UsageError as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # its message is the command's help
                exc.show()  # type: ignore[attr-defined]
            else:
                typer.echo(f"error: {_usage_message(exc)}", err=True)
            sys.exit(exc.exit_code)  # type: ignore[attr-defined]
        except _ClickException as exc:
            exc.show()  # type: ignore[attr-defined]
            sys.exit(exc.exit_code)  # type: ignore[attr-defined]
        except typer.Abort:
            typer.echo("aborted", err=True)
            sys.exit(1)
        except Exception as exc:  # noqa: BLE001  the last resort: a bug, not a user's mistake
            typer.echo(f"error: {bug_report(exc)}", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


def bug_report(exc: BaseException) -> str:
    """One line for an exception mlptrain did not expect, its full traceback written to a file."""
    import tempfile
    import traceback

    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    with tempfile.NamedTemporaryFile(
        "w", prefix="mlptrain-traceback-", suffix=".txt", delete=False, encoding="utf-8"
    ) as handle:
        handle.write(text)
    summary = f"{type(exc).__name__}: {exc}".splitlines()[0] if str(exc) else type(exc).__name__
    return (
        f"unexpected {summary} -- this is a bug in mlptrain; the full traceback is in "
        f"{handle.name} (please include it in a bug report)"
    )


def _usage_message(exc: Any) -> str:
    # pydantic-style "Value error, " prefixes reach Click through parameter conversion
    message = re.sub(r"\bValue error, ", "", exc.format_message()).rstrip(".")
    command = exc.ctx.command_path if exc.ctx is not None else "mlptrain"
    return f"{message} (see {command} --help)"


app = typer.Typer(
    name="mlptrain",
    cls=OneLineErrors,
    help="Train, evaluate and check MLPs built from hand-derived NumPy modules.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


# Library arguments the CLI spells otherwise than --<name> (``override``: one of ``overrides``).
POSITIONALS = {"config": "CONFIG", "overrides": "--set", "override": "--set", "data_path": "--data"}


def flag_of(argument: str) -> str:
    """The command-line spelling of a library argument named in an error message."""
    return POSITIONALS.get(argument) or "--" + argument.replace("_", "-")


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn mlptrain's own errors into one line and an exit code."""
    from mlptrain.errors import Interruption, MlptrainError

    try:
        yield
    except Interruption as exc:  # what was saved and how to continue: not an error
        typer.echo(str(exc), err=True)
        raise typer.Exit(exc.exit_code) from None
    except MlptrainError as exc:
        typer.echo(f"error: {exc.for_cli(flag_of)}", err=True)
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
