"""The project's error types.

Every error a user can meet is one of these. The CLI turns them into one line on stderr and
the exit code they carry: 2 for bad input (config, data, files), 1 for a failure during a run.
"""

from __future__ import annotations


class MlptrainError(Exception):
    """Base of every error mlptrain raises on purpose; ``exit_code`` is what the CLI exits with."""

    exit_code = 1


class UserInputError(MlptrainError):
    """Something the user gave us is wrong: a config, a data file, a checkpoint, an option."""

    exit_code = 2


class ConfigError(UserInputError):
    """A config file or override is invalid. ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str] | str, source: str | None = None) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        self.source = source
        head = f"{source}: " if source else ""
        if len(self.problems) == 1:
            message = head + self.problems[0]
        else:
            lines = "\n".join(f"  - {p}" for p in self.problems)
            message = f"{head}{len(self.problems)} problems in the config:\n{lines}"
        super().__init__(message)


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
