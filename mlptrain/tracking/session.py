"""A run's trackers: what is sent to them at each epoch and at the end, and what a resume needs.

Built by :func:`open_tracking` from the config's ``track:`` section; ``None`` when no tracker is
on, so an untracked run does exactly what it did before. The run directory keeps the trackers'
identities in ``tracking.json`` (the MLflow run id and store, the TensorBoard log directory):
``--resume`` reads it to continue the same MLflow run and the same TensorBoard log.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from mlptrain import __version__
from mlptrain.config import config_to_dict, config_to_yaml
from mlptrain.store.atomic import atomic_write_text
from mlptrain.store.layout import (
    BEST_CHECKPOINT,
    CHECKPOINT_DIR,
    CONFIG_FILE,
    REPORT_HTML,
    REPORT_JSON,
    REPORT_MD,
)
from mlptrain.tracking.dispatch import Dispatcher
from mlptrain.training.setup import Setup
from mlptrain.training.trainer import Callbacks

STATE_FILE = "tracking.json"
DRAIN_SECONDS = 5.0  # before the report is written, so a tracker that failed early is in it
# Files of a finished run that MLflow keeps as artifacts (path in the run dir, artifact folder).
ARTIFACTS = (
    (CONFIG_FILE, None),
    (REPORT_JSON, None),
    (REPORT_MD, None),
    (REPORT_HTML, None),
    ("figures", "figures"),
    (f"{CHECKPOINT_DIR}/{BEST_CHECKPOINT}", CHECKPOINT_DIR),
)


def print_warning(line: str) -> None:
    """Where a failing tracker's line goes when the caller gave no ``on_warning``."""
    print(f"warning: {line}", file=sys.stderr, flush=True)


def flatten(data: Any, prefix: str = "") -> dict[str, str]:
    """Nested config data as MLflow params: ``{"train.optimizer.lr": "0.001", ...}``."""
    if isinstance(data, Mapping):
        items = [(f"{prefix}{key}", value) for key, value in data.items()]
    elif isinstance(data, list):
        items = [(f"{prefix}{index}", value) for index, value in enumerate(data)]
    else:
        return {prefix.rstrip("."): _param_text(data)}
    flat: dict[str, str] = {}
    for key, value in items:
        if isinstance(value, Mapping | list) and value:
            flat.update(flatten(value, f"{key}."))
        else:
            flat[key] = _param_text(value)
    return flat


def _param_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value)  # null, true, 1e-3, [] and {} as the YAML would read them


def layer_tag(key: str) -> str:
    """``"0 Linear(64 -> 256)"`` (a ``record["layers"]`` key) -> ``"layer0_linear"``."""
    match = re.match(r"(\d+) ([A-Za-z]+)", key)
    if match is None:
        return re.sub(r"[^\w.-]+", "_", key)
    return f"layer{match.group(1)}_{match.group(2).lower()}"


def epoch_metrics(record: Mapping[str, Any]) -> dict[str, float]:
    """An epoch record's numbers as metric names: ``train_loss``, ``lr``, ``layer0_linear/grad_norm``."""
    metrics: dict[str, float] = {}
    for key, value in record.items():
        if key == "layers" and isinstance(value, Mapping):
            for layer, stats in value.items():
                for quantity, number in stats.items():
                    if _is_number(number):
                        metrics[f"{layer_tag(layer)}/{quantity}"] = float(number)
        elif key != "epoch" and _is_number(value):
            metrics[key] = float(value)
    return metrics


def final_metrics(report: Mapping[str, Any]) -> dict[str, float]:
    """The kept model's metrics on each split: ``final_test_accuracy``, ``final_val_loss``..."""
    found: dict[str, float] = {}
    for split, metrics in (report.get("metrics") or {}).items():
        for name, value in metrics.items():
            if _is_number(value):
                found[f"final_{split}_{name}"] = float(value)
    return found


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value)


def read_state(run_dir: Path) -> dict[str, Any]:
    path = run_dir / STATE_FILE
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def remember(directory: Path, tracker: str, facts: dict[str, Any]) -> dict[str, Any]:
    """Store a tracker's identity in ``<directory>/tracking.json``; returns the whole file."""
    state = {**read_state(directory), tracker: facts}
    atomic_write_text(directory / STATE_FILE, json.dumps(state, indent=2) + "\n")
    return state


class TrackingSession:
    """The dispatchers of one run's trackers, fed from the Trainer's ``on_epoch_end``."""

    def __init__(
        self,
        dispatchers: dict[str, Dispatcher],
        *,
        setup: Setup,
        run_dir: Path,
        histograms_every: int | None,
    ) -> None:
        self.dispatchers = dispatchers
        self.setup = setup
        self.run_dir = run_dir
        self.histograms_every = histograms_every
        self.state = read_state(run_dir)

    def callbacks(self) -> Callbacks:
        return Callbacks(on_epoch_end=self.on_epoch_end)

    def on_epoch_end(self, record: dict[str, Any]) -> None:
        epoch = int(record["epoch"])
        metrics = epoch_metrics(record)
        for dispatcher in self.dispatchers.values():
            dispatcher.send("log_epoch", epoch, metrics)
        every = self.histograms_every
        board = self.dispatchers.get("tensorboard")
        if board is not None and board.ok and every and epoch % every == 0:
            board.send("log_histograms", epoch, self._histogram_arrays())

    def _histogram_arrays(self) -> dict[str, np.ndarray]:
        """Copies (the training thread goes on changing the originals): weights and the
        gradient of the epoch's last step, per parameter (``weights/0.W``, ``grads/0.W``)."""
        model = self.setup.model
        params = model.views_of(model.flat_params.copy())
        grads = model.views_of(model.flat_grads.copy())
        return {
            **{f"weights/{name}": value for name, value in params.items()},
            **{f"grads/{name}": value for name, value in grads.items()},
        }

    def remember(self, tracker: str, facts: dict[str, Any]) -> None:
        """Store a tracker's identity in ``tracking.json`` (called from its thread)."""
        self.state = remember(self.run_dir, tracker, facts)

    def drain(self, timeout: float = DRAIN_SECONDS) -> None:
        for dispatcher in self.dispatchers.values():
            dispatcher.drain(timeout)

    def finish(self, status: str, report: Mapping[str, Any] | None) -> dict[str, Any]:
        """Send the final metrics, files and status; wait (bounded) for delivery."""
        epoch = len(report["training"]["history"]) if report else 0
        final = final_metrics(report) if report else {}
        artifacts = [(self.run_dir / name, folder) for name, folder in ARTIFACTS]
        for dispatcher in self.dispatchers.values():
            dispatcher.send("finish", status, final, epoch, artifacts)
        for dispatcher in self.dispatchers.values():
            dispatcher.close()
        return self.entry()

    def close_run(self, status: str, report: dict[str, Any] | None) -> None:
        """:meth:`finish`, then a failure seen only now (the upload of the files) is added to
        report.json, whose copy in the tracker predates it."""
        entry = self.finish(status, report)
        if report is not None and report.get("tracking") != entry:
            report["tracking"] = entry
            text = json.dumps(report, indent=2, allow_nan=False) + "\n"
            atomic_write_text(self.run_dir / REPORT_JSON, text)

    def entry(self) -> dict[str, Any]:
        """What report.json records under ``tracking``: each tracker's state and any failure."""
        state = read_state(self.run_dir)
        return {
            name: {
                "status": "ok" if dispatcher.ok else "failed",
                "error": dispatcher.error,
                **state.get(name, {}),
            }
            for name, dispatcher in self.dispatchers.items()
        }


def open_tracking(
    setup: Setup,
    run_dir: Path,
    *,
    first_epoch: int = 1,
    parent: Mapping[str, Any] | None = None,
    warn: Callable[[str], None] | None = None,
) -> TrackingSession | None:
    """The session for ``setup.config.track``, or None when no tracker is on.

    ``parent`` nests the run (a sweep trial, a cv fold): ``mlflow_run_id`` is the parent's
    MLflow run, ``mlflow_off`` switches MLflow off (the parent could not be created), ``name``
    names the child run and its TensorBoard subdirectory.
    """
    from mlptrain.tracking.mlflow_tracker import resolve_tracking_uri
    from mlptrain.tracking.remote import RemoteTracker
    from mlptrain.tracking.tensorboard_tracker import TensorboardTracker

    cfg = setup.config
    track = cfg.track
    parent = dict(parent or {})
    use_mlflow = track.mlflow is not None and not parent.get("mlflow_off")
    if not use_mlflow and track.tensorboard is None:
        return None
    warn = warn or print_warning
    session = TrackingSession(
        {},
        setup=setup,
        run_dir=run_dir,
        histograms_every=track.tensorboard.histograms_every if track.tensorboard else None,
    )
    stored = session.state
    if use_mlflow:
        assert track.mlflow is not None
        known = stored.get("mlflow") or {}
        params = flatten(config_to_dict(cfg))
        fingerprint = getattr(setup.data, "fingerprint", None)
        if fingerprint:
            params.update(flatten(fingerprint, "data_fingerprint."))
        options = {
            "tracking_uri": known.get("tracking_uri")
            or resolve_tracking_uri(track.mlflow.tracking_uri),
            "experiment": track.mlflow.experiment or cfg.name,
            "run_name": parent.get("name") or track.mlflow.run_name or run_dir.name,
            "params": params,
            "tags": {
                "mlptrain_version": __version__,
                "dataset": cfg.data.dataset,
                "task": setup.data.task,
                "status": "running",
                "run_dir": str(run_dir.resolve()),
            },
            "run_id": known.get("run_id"),
            "parent_run_id": parent.get("mlflow_run_id"),
        }
        # In its own process: MLflow's Python never competes with training for the GIL.
        tracker = RemoteTracker(options, on_run=lambda facts: session.remember("mlflow", facts))
        session.dispatchers["mlflow"] = Dispatcher("mlflow", tracker, warn)
    if track.tensorboard is not None:
        log_dir = tensorboard_dir(track.tensorboard.log_dir, run_dir, parent.get("name"))
        session.remember("tensorboard", {"log_dir": str(log_dir.resolve())})
        board = TensorboardTracker(
            log_dir, config_text=config_to_yaml(cfg), first_epoch=first_epoch
        )
        session.dispatchers["tensorboard"] = Dispatcher("tensorboard", board, warn)
    for name, dispatcher in session.dispatchers.items():
        if name in CLIENT_MODULES:
            _preload(name)
        dispatcher.send("start")
    return session


# The client modules a tracker's thread uses. Imported here, before training starts: an
# import is seconds of Python holding the GIL, which would slow the training thread if it ran
# beside it; everything that writes stays in the tracker's thread. (MLflow runs in a process
# of its own: mlptrain.tracking.remote.)
CLIENT_MODULES = {
    "tensorboard": (
        "tensorboard.summary.writer.event_file_writer",
        "tensorboard.compat.proto.event_pb2",
        "tensorboard.compat.proto.summary_pb2",
    ),
}


def _preload(tracker: str) -> None:
    import importlib

    for module in CLIENT_MODULES[tracker]:
        try:
            importlib.import_module(module)
        except Exception:  # a broken install fails in the tracker's thread, with one warning
            return


def tensorboard_dir(configured: str | None, run_dir: Path, child: str | None) -> Path:
    """``track.tensorboard.log_dir``, else ``<run dir>/tensorboard``; a sweep trial or cv fold
    under a shared ``log_dir`` gets its own subdirectory, so their curves stay apart."""
    if configured is None:
        return run_dir / "tensorboard"
    return Path(configured) / child if child else Path(configured)
