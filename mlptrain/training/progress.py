"""Console progress for ``fit``: a tqdm bar per epoch on a terminal, one plain line per epoch
otherwise (logs, CI), nothing but the summary with ``--quiet``."""

from __future__ import annotations

import sys
from typing import Any, TextIO

from mlptrain.training.trainer import Callbacks


def format_record(record: dict[str, Any]) -> str:
    """``epoch 3/50  loss 0.1234  acc 0.9650  val_loss …`` for one metrics record."""
    parts = []
    for key, value in record.items():
        if key in ("epoch", "seconds") or not isinstance(value, int | float):
            continue
        parts.append(f"{key} {value:.4g}" if key == "lr" else f"{key} {value:.4f}")
    parts.append(f"{record['seconds']:.2f}s")
    return "  ".join(parts)


_SHORT_METRICS = {"accuracy": "acc"}


def short_record(record: dict[str, Any]) -> str:
    """``loss 0.1234 acc 0.9650 val_loss 0.2000 val_acc 0.9500``: the bar's postfix.

    A tqdm bar shares one terminal line with its counters, so the keys are short and the
    validation metric comes before anything less useful (lr, timings) that may be cut.
    """
    parts = []
    for key, value in record.items():
        if key in ("epoch", "seconds", "lr") or not isinstance(value, int | float):
            continue
        split, _, name = key.partition("_")
        name = _SHORT_METRICS.get(name, name)
        parts.append(f"{name if split == 'train' else f'{split}_{name}'} {value:.4f}")
    return " ".join(parts)


class ConsoleProgress:
    """Builds the Callbacks a run reports to; the bar writes to ``stream`` (stderr by default,
    so stdout stays clean for piping metrics)."""

    def __init__(
        self, *, quiet: bool = False, stream: TextIO | None = None, bar: bool | None = None
    ) -> None:
        self.quiet = quiet
        self.stream = stream or sys.stderr
        self.bar_enabled = self.stream.isatty() if bar is None else bar
        self._bar: Any = None
        self._epochs = 0

    def callbacks(self) -> Callbacks:
        if self.quiet:
            return Callbacks()
        if self.bar_enabled:
            return Callbacks(self._start_bar, self._advance, self._close_bar)
        return Callbacks(self._remember_epochs, None, self._print_line)

    def _remember_epochs(self, epoch: int, epochs: int, n_batches: int) -> None:
        self._epochs = epochs

    def _print_line(self, record: dict[str, Any]) -> None:
        width = len(str(self._epochs))
        print(
            f"epoch {record['epoch']:>{width}}/{self._epochs}  {format_record(record)}",
            file=self.stream,
            flush=True,
        )

    def _start_bar(self, epoch: int, epochs: int, n_batches: int) -> None:
        from tqdm import tqdm

        self._epochs = epochs
        width = len(str(epochs))
        self._bar = tqdm(
            total=n_batches,
            desc=f"epoch {epoch:>{width}}/{epochs}",
            file=self.stream,
            leave=True,
            dynamic_ncols=True,
            mininterval=0.1,
        )

    def _advance(self, loss: float) -> None:
        self._bar.update(1)
        if self._bar.n % 16 == 0:
            self._bar.set_postfix_str(f"loss {loss:.4f}", refresh=False)

    def _close_bar(self, record: dict[str, Any]) -> None:
        self._bar.set_postfix_str(short_record(record), refresh=True)
        self._bar.close()
