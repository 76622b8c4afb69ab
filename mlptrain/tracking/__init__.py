"""Experiment tracking: MLflow and TensorBoard, optional, off the training thread.

| module | what it holds |
|---|---|
| ``session`` | the trackers of one run: epoch and final events, ``tracking.json``, report entry |
| ``dispatch`` | one background thread and bounded queue per tracker; failures switch it off |
| ``remote`` | MLflow's tracker run in a child process, so none of its Python runs beside training |
| ``mlflow_tracker`` | MLflow through ``MlflowClient``: params, metrics, tags, artifacts, resume |
| ``tensorboard_tracker`` | TensorBoard event files through TensorBoard's own writer |
| ``select`` | ``--track NAME`` on top of the config, and the check that the package is there |
| ``parents`` | the parent run of a sweep or a cross-validation, and its children's links |

A tracker can fail (unreachable server, read-only store, missing package) or lag; either way
it is switched off with one warning line, the failure is recorded in report.json, and the run
goes on and writes exactly the files it writes without tracking.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlptrain.tracking.select import with_trackers
    from mlptrain.tracking.session import STATE_FILE, TrackingSession, open_tracking

__all__ = ["STATE_FILE", "TrackingSession", "open_tracking", "with_trackers"]


def __getattr__(name: str) -> Any:
    """The names above, imported when first used: the MLflow tracker's process
    (``python -m mlptrain.tracking.remote``) must not pay for the config schema and the
    training loop that ``session`` imports."""
    if name == "with_trackers":
        from mlptrain.tracking import select

        return select.with_trackers
    if name in __all__:
        from mlptrain.tracking import session

        return getattr(session, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
