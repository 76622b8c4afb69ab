"""TensorBoard: event files written with TensorBoard's own ``EventFileWriter`` and protos.

Not tensorboardX: ``import tensorboardX`` imports PyTorch whenever it is installed (and boto3),
about 9 s against about 2 s here (docs/tracking.md has the measurement), and TensorBoard is
needed anyway to look at the files. Every method runs in the tracker's background thread.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

HISTOGRAM_BINS = 30


class TensorboardTracker:
    """Scalars per epoch, weight and gradient histograms every N epochs, the config as text.

    ``first_epoch`` > 1 (a resume) purges any step from that epoch on that an interrupted
    writer left behind, so TensorBoard shows each epoch once; a log started by a resume (the
    tracker was switched on then) gets the config text as a new one does.
    """

    def __init__(self, log_dir: Path, *, config_text: str, first_epoch: int = 1) -> None:
        self.log_dir = log_dir
        self.config_text = config_text
        self.first_epoch = first_epoch
        self.writer: Any = None

    def start(self) -> None:
        from tensorboard.compat.proto.event_pb2 import SessionLog
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        self.log_dir.mkdir(parents=True, exist_ok=True)
        continued = any(self.log_dir.glob("events.out.tfevents.*"))
        self.writer = EventFileWriter(str(self.log_dir))
        if continued and self.first_epoch > 1:
            # TensorBoard drops the events of earlier files from this step on.
            self._write(self.first_epoch, session_log=SessionLog(status=SessionLog.START))
        else:
            # Indented four spaces: TensorBoard renders text as Markdown, this as a code block.
            block = "\n".join("    " + line for line in self.config_text.splitlines())
            self._write(0, summary=_text("config", block))

    def _write(self, step: int, **fields: Any) -> None:
        from tensorboard.compat.proto.event_pb2 import Event

        self.writer.add_event(Event(wall_time=time.time(), step=step, **fields))

    def log_epoch(self, epoch: int, metrics: Mapping[str, float]) -> None:
        from tensorboard.compat.proto.summary_pb2 import Summary

        values = [Summary.Value(tag=name, simple_value=value) for name, value in metrics.items()]
        self._write(epoch, summary=Summary(value=values))

    def log_histograms(self, epoch: int, arrays: Mapping[str, Any]) -> None:
        from tensorboard.compat.proto.summary_pb2 import HistogramProto, Summary

        values = []
        for name, array in arrays.items():
            flat = np.asarray(array, dtype=np.float64).ravel()
            finite = flat[np.isfinite(flat)]
            if finite.size == 0:
                continue
            counts, edges = np.histogram(finite, bins=HISTOGRAM_BINS)
            histogram = HistogramProto(
                min=float(finite.min()),
                max=float(finite.max()),
                num=float(finite.size),
                sum=float(finite.sum()),
                sum_squares=float(np.dot(finite, finite)),
                bucket_limit=edges[1:].tolist(),
                bucket=counts.astype(np.float64).tolist(),
            )
            values.append(Summary.Value(tag=name, histo=histogram))
        self._write(epoch, summary=Summary(value=values))

    def finish(
        self,
        status: str,
        final_metrics: Mapping[str, float],
        step: int,
        artifacts: Sequence[tuple[Path, str | None]],
    ) -> None:
        if final_metrics:
            self.log_epoch(step, final_metrics)
        self._write(step, summary=_text("status", status))
        self.writer.close()


def _text(tag: str, text: str) -> Any:
    """A text summary as TensorBoard's text plugin reads it (tag ``<tag>/text_summary``)."""
    from tensorboard.compat.proto.summary_pb2 import Summary, SummaryMetadata
    from tensorboard.compat.proto.tensor_pb2 import TensorProto
    from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto

    metadata = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="text"))
    tensor = TensorProto(
        dtype="DT_STRING",
        string_val=[text.encode("utf-8")],
        tensor_shape=TensorShapeProto(dim=[TensorShapeProto.Dim(size=1)]),
    )
    return Summary(
        value=[Summary.Value(tag=f"{tag}/text_summary", metadata=metadata, tensor=tensor)]
    )
