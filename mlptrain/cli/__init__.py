"""The ``mlptrain`` command line: parse arguments, call library code, print.

One module per group of commands; each registers its commands on the shared Typer ``app``.
Heavy imports (scikit-learn, the trainer) happen inside the commands, so ``mlptrain --help``
starts fast. Every error mlptrain raises on purpose becomes one ``error: …`` line on stderr
and its exit code (2 bad input, 1 failure during a run); no tracebacks.
"""

from mlptrain.cli import (
    report_commands,  # noqa: F401  (registers report, compare)
    sweep_commands,  # noqa: F401  (registers sweep, cv)
    tool_commands,  # noqa: F401  (predict, gradcheck, validate, datasets, init, inspect, export)
    train_commands,  # noqa: F401  (registers fit, evaluate)
)
from mlptrain.cli.app import app, user_errors

__all__ = ["app", "main", "user_errors"]


def main() -> None:
    """Console-script entry point."""
    app(prog_name="mlptrain")
