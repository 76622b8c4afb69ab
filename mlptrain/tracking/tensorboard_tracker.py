"""TensorBoard: event files written by tensorboardX's ``SummaryWriter``.

tensorboardX rather than TensorBoard's own writer: TensorBoard alone ships no summary writer
without TensorFlow or PyTorch, and ``import tensorboardX`` is the cheaper import (measured in
docs/tracking.md). Every method runs in the tracker's background thread.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


class TensorboardTracker:
    """Scalars per epoch, weight and gradient histograms every N epochs, the config as text.

    ``first_epoch`` > 1 (a resume) purges any step from that epoch on that an interrupted
    writer left behind, so TensorBoard shows each epoch once.
    """

    def __init__(self, log_dir: Path, *, config_text: str, first_epoch: int = 1) -> None:
        self.log_dir = log_dir
        self.config_text = config_text
        self.first_epoch = first_epoch
        self.writer: Any = None

    def start(self) -> None:
        from tensorboardX import SummaryWriter

        resumed = self.first_epoch > 1
        self.writer = SummaryWriter(
            str(self.log_dir), purge_step=self.first_epoch if resumed else None
        )
        if not resumed:
            # Indented four spaces: TensorBoard renders text as Markdown, this as a code block.
            block = "\n".join("    " + line for line in self.config_text.splitlines())
            self.writer.add_text("config", block, 0)

    def log_epoch(self, epoch: int, metrics: Mapping[str, float]) -> None:
        for name, value in metrics.items():
            self.writer.add_scalar(name, value, epoch)

    def log_histograms(self, epoch: int, arrays: Mapping[str, Any]) -> None:
        for name, values in arrays.items():
            self.writer.add_histogram(name, values, epoch)

    def finish(
        self,
        status: str,
        final_metrics: Mapping[str, float],
        step: int,
        artifacts: Sequence[tuple[Path, str | None]],
    ) -> None:
        for name, value in final_metrics.items():
            self.writer.add_scalar(name, value, step)
        self.writer.add_text("status", status, step)
        self.writer.close()
