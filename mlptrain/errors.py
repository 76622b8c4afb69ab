"""The project's error types.

Every error a user can meet is one of these. The CLI turns them into one line on stderr and
the exit code they carry: 2 for bad input (config, data, files), 1 for a failure during a run.

Library errors speak of arguments, the CLI of flags. A message names an argument of a library
call as ``«name»`` (or ``«name=value»`` for a suggested setting): ``str(error)`` writes it as
the Python argument (``out``, ``force=True``); the CLI writes it as its flag (``--out``,
``--force``) with ``for_cli``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

_ARGUMENT = re.compile(r"«(\w+)(=[^»]*)?»")


class MlptrainError(Exception):
    """Base of every error mlptrain raises on purpose; ``exit_code`` is what the CLI exits with."""

    exit_code = 1

    def __init__(self, message: object = "", *args: object) -> None:
        self.template = str(message)
        super().__init__(_plain(self.template), *args)

    def for_cli(self, flag_of: Callable[[str], str]) -> str:
        """The message with each ``«argument»`` written as ``flag_of(argument)``."""
        if str(self) != _plain(self.template):
            return str(self)  # a subclass composes its own text
        return _ARGUMENT.sub(lambda m: flag_of(m.group(1)), self.template)


class UserInputError(MlptrainError):
    """Something the user gave us is wrong: a config, a data file, a checkpoint, an option."""

    exit_code = 2


class ConfigError(UserInputError):
    """A config file or override is invalid. ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str] | str, source: str | None = None) -> None:
        given = [problems] if isinstance(problems, str) else list(problems)
        self.source = source
        head = f"{source}: " if source else ""
        if len(given) == 1:
            message = head + given[0]
        else:
            lines = "\n".join(f"  - {p}" for p in given)
            message = f"{head}{len(given)} problems in the config:\n{lines}"
        super().__init__(message)
        self.templates = given  # with their «argument» markers, to raise again
        self.problems = [_plain(p) for p in given]  # as str(error) writes them


def _plain(template: str) -> str:
    return _ARGUMENT.sub(lambda m: m.group(1) + (m.group(2) or ""), template)


class DataError(UserInputError):
    """A dataset or data file cannot be used as given."""


class CheckpointError(UserInputError):
    """A checkpoint file is missing, damaged, foreign or does not fit."""


class RunError(MlptrainError):
    """A failure during a run (divergence, I/O fault, a locked run directory): exit code 1."""

    exit_code = 1


class Interruption(MlptrainError):
    """A run or sweep stopped on request (Ctrl-C, SIGTERM) after saving what it had.

    Not a mistake of the user or a failure of the run: the CLI prints the message (what was
    kept, the command that continues) without an ``error:`` prefix and exits 128 + the signal.
    """

    exit_code = 130
