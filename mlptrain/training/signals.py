"""Stopping a run cleanly on SIGINT (Ctrl-C) and SIGTERM.

The first signal only asks the Trainer to stop: it finishes the current step, writes ``last``
atomically and raises ``StopRequested``, which the API turns into :class:`Interrupted` (exit
130 for SIGINT, 143 for SIGTERM, as a shell reports a process killed by them) with the command
that resumes the run. A second signal does not wait: SIGINT raises ``KeyboardInterrupt`` and
SIGTERM ``SystemExit(143)`` at once; files stay whole because every write is atomic (a
half-written temporary file is removed at the next start).

Handlers are installed only for the duration of a fit and the previous ones are put back.
Python lets only the main thread install handlers; elsewhere (a worker thread of a notebook or
a server) nothing is installed and signals keep their usual meaning.
"""

from __future__ import annotations

import shlex
import signal
import threading
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Protocol

from mlptrain.errors import Interruption
from mlptrain.store.layout import CHECKPOINT_DIR, LAST_CHECKPOINT

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Stoppable(Protocol):
    stop_requested: bool


class Interrupted(Interruption):
    """A run stopped on request after saving ``last``; ``exit_code`` is 128 + the signal."""

    def __init__(self, signum: int | None, run_dir: Path, epoch: int, step: int) -> None:
        self.signum = signum
        self.run_dir = Path(run_dir)
        self.exit_code = 128 + (signum if signum is not None else signal.SIGINT)
        name = signal.Signals(signum).name if signum is not None else "a stop request"
        super().__init__(
            f"interrupted by {name}: stopped after step {step} (epoch {epoch + 1}) and saved "
            f"{self.run_dir / CHECKPOINT_DIR / LAST_CHECKPOINT}\n"
            f"resume with: {resume_command(self.run_dir)}"
        )


class ReportInterrupted(Interrupted):
    """Ctrl-C after training finished, while the report and figures were being written."""

    def __init__(self, run_dir: Path, checkpoint: Path) -> None:
        self.signum = signal.SIGINT
        self.run_dir = Path(run_dir)
        self.exit_code = 128 + signal.SIGINT
        Interruption.__init__(
            self,
            f"interrupted while writing the report: training had finished and the weights are "
            f"saved in {checkpoint}\n"
            f"finish the report with: mlptrain report {shlex.quote(str(self.run_dir))}",
        )


class SweepInterrupted(Interruption):
    """Ctrl-C during a sweep or cv: finished trials are kept; the same command resumes."""

    exit_code = 128 + signal.SIGINT

    def __init__(self, directory: Path, results: str, finished: int) -> None:
        self.directory = Path(directory)
        super().__init__(
            f"interrupted: {finished} finished trial(s) are kept in "
            f"{self.directory / results}; run the same command again to resume (finished "
            "trials are skipped)"
        )


def resume_command(run_dir: Path) -> str:
    return f"mlptrain fit --resume {shlex.quote(str(run_dir))}"


class StopOnSignals:
    """Context manager: the first SIGINT/SIGTERM sets ``target.stop_requested``.

    ``signum`` is the first signal received (None if none was).
    """

    def __init__(self, target: Stoppable, signals: tuple[int, ...] = SIGNALS) -> None:
        self.target = target
        self.signals = signals
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:
            # Second signal: leave now. Atomic writes keep every file whole.
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            raise SystemExit(128 + signum)
        self.signum = signum
        self.target.stop_requested = True

    def __enter__(self) -> StopOnSignals:
        if threading.current_thread() is not threading.main_thread():
            return self
        for signum in self.signals:
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()
