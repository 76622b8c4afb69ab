"""The ``track:`` section: which experiment trackers a run logs to (docs/tracking.md)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    """As every config section: unknown keys, coercions and non-finite floats are errors."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


_TRACKING_URI = "a tracking URI string (http://HOST:PORT, sqlite:///FILE, file:///DIR) or null"


class MlflowTrack(_Strict):
    """Log the run to MLflow; null fields take MLflow's own defaults (docs/tracking.md)."""

    experiment: str | None = Field(None, min_length=1)
    run_name: str | None = Field(None, min_length=1)
    tracking_uri: str | None = Field(None, min_length=1, description=_TRACKING_URI)


class TensorboardTrack(_Strict):
    """Write TensorBoard event files; ``log_dir: null`` means ``<run dir>/tensorboard``."""

    log_dir: str | None = Field(None, min_length=1)
    histograms_every: int = Field(5, ge=1)


class TrackSpec(_Strict):
    """Experiment trackers, each off unless its section is present (or ``--track NAME``)."""

    mlflow: MlflowTrack | None = None
    tensorboard: TensorboardTrack | None = None


TRACKERS: tuple[str, ...] = tuple(TrackSpec.model_fields)
