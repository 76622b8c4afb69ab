"""The parent MLflow run of a sweep (one nested run per trial) or a cross-validation (one per fold).

The parent is created before the children start, from its own background thread with a bounded
wait; its id goes to each child as ``tracking_parent`` (plain data, so it crosses to worker
processes). If the parent cannot be created, MLflow is off for the children too: one warning,
not one per trial. A rerun of the same sweep or cv directory reopens the same parent run
(its id is kept in that directory's ``tracking.json``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from mlptrain import __version__
from mlptrain.config import Config, config_to_dict
from mlptrain.tracking.dispatch import Dispatcher
from mlptrain.tracking.session import flatten, print_warning, read_state, remember

PARENT_WAIT_SECONDS = 60.0  # for the parent run to exist (importing mlflow alone takes seconds)


def nested(info: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The ``tracking_parent`` of the child ``name`` of a parent run (``ParentRun.info``):
    plain data, for a child trained in another process (an Optuna study's trials)."""
    return {**info, "name": name}


class ParentRun:
    """``kind`` is "sweep" or "cv"; ``files`` are the directory's result files to upload."""

    def __init__(
        self,
        cfg: Config,
        *,
        kind: str,
        out_dir: Path,
        params: Mapping[str, Any] | None = None,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        from mlptrain.tracking.mlflow_tracker import MlflowTracker, resolve_tracking_uri

        self.out_dir = out_dir
        self.dispatcher: Dispatcher | None = None
        self.info: dict[str, Any] = {}
        if cfg.track.mlflow is None:
            return
        known = read_state(out_dir).get("mlflow") or {}
        tracker = MlflowTracker(
            tracking_uri=known.get("tracking_uri")
            or resolve_tracking_uri(cfg.track.mlflow.tracking_uri),
            experiment=cfg.track.mlflow.experiment or cfg.name,
            run_name=cfg.track.mlflow.run_name or out_dir.name,
            params={**flatten(config_to_dict(cfg)), **flatten(dict(params or {}), f"{kind}.")},
            tags={
                "mlptrain_version": __version__,
                "dataset": cfg.data.dataset,
                "kind": kind,
                "status": "running",
                "run_dir": str(out_dir.resolve()),
            },
            run_id=known.get("run_id"),
            on_run=lambda facts: remember(out_dir, "mlflow", facts),
        )
        self.dispatcher = Dispatcher("mlflow", tracker, warn or print_warning)
        self.dispatcher.send("start")
        self.dispatcher.drain(PARENT_WAIT_SECONDS)
        if tracker.run_id is not None and self.dispatcher.ok:
            self.info = {"mlflow_run_id": tracker.run_id}
        else:
            # Failed (already warned) or still not there: the children do without MLflow.
            self.info = {"mlflow_off": True}
            if self.dispatcher.ok:
                self.dispatcher.warn(
                    "mlflow tracking stopped (no parent run after "
                    f"{PARENT_WAIT_SECONDS:g} s); the {kind} goes on without it"
                )

    def child(self, name: str) -> dict[str, Any]:
        """The ``tracking_parent`` of one trial or fold."""
        return nested(self.info, name)

    def finish(self, status: str, metrics: Mapping[str, float], files: Sequence[str]) -> None:
        if self.dispatcher is None:
            return
        artifacts = [(self.out_dir / name, None) for name in files]
        self.dispatcher.send("finish", status, dict(metrics), 0, artifacts)
        self.dispatcher.close()
