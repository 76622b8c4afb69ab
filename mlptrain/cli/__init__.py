"""The ``mlptrain`` command line: parse arguments, call library code, print.

One module per group of commands; each registers its commands on the shared Typer ``app``
when imported, and ``mlptrain --help`` lists them in import order: training first, then the
tools, then reports and sweeps. Heavy imports (scikit-learn, the trainer) happen inside the
commands, so ``mlptrain --help`` starts fast. Every error mlptrain raises on purpose becomes
one ``error: …`` line on stderr and its exit code (2 bad input, 1 failure during a run).
"""

# ruff: noqa: I001  (the import order below is the order of the commands in --help)
from mlptrain.cli import train_commands  # noqa: F401  fit, evaluate
from mlptrain.cli import tool_commands  # noqa: F401  predict, gradcheck, validate, datasets, init, inspect, export
from mlptrain.cli import report_commands  # noqa: F401  report, compare
from mlptrain.cli import sweep_commands  # noqa: F401  sweep, cv
from mlptrain.cli import serve_commands  # noqa: F401  serve
from mlptrain.cli.app import app, user_errors

__all__ = ["app", "main", "user_errors"]


def main() -> None:
    """Console-script entry point."""
    app(prog_name="mlptrain")
