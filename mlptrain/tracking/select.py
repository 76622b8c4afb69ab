"""Which trackers a run uses: the config's ``track:`` section plus ``--track NAME``."""

from __future__ import annotations

from collections.abc import Sequence

from mlptrain.config import TRACKERS, Config
from mlptrain.config.track import MlflowTrack, TensorboardTrack
from mlptrain.errors import UserInputError

# The package each tracker imports (the extra of the same name installs it).
PACKAGES = {"mlflow": "mlflow", "tensorboard": "tensorboard"}


def with_trackers(cfg: Config, names: Sequence[str]) -> Config:
    """``cfg`` with the named trackers on; each must be known and its package installed."""
    from importlib.util import find_spec

    names = list(dict.fromkeys(names))
    for name in names:
        if name not in TRACKERS:
            raise UserInputError(f"unknown tracker {name!r}; allowed: {', '.join(TRACKERS)}")
    sections = {"mlflow": MlflowTrack, "tensorboard": TensorboardTrack}
    update = {name: sections[name]() for name in names if getattr(cfg.track, name) is None}
    if update:
        cfg = cfg.model_copy(update={"track": cfg.track.model_copy(update=update)})
    for name in TRACKERS:
        if getattr(cfg.track, name) is not None and find_spec(PACKAGES[name]) is None:
            raise UserInputError(
                f"tracking with {name} needs the {PACKAGES[name]} package; install "
                f'mlptrain[{name}] (pip install "mlptrain[{name}]") or turn track.{name} off'
            )
    return cfg


def prestart(cfg: Config, names: Sequence[str], parent_off: bool = False) -> None:
    """Start MLflow's tracker process ahead when the run will track with it (its imports, and
    those of the run's store, then overlap the preparation of the data): see
    mlptrain.tracking.remote."""
    if parent_off or ("mlflow" not in names and cfg.track.mlflow is None):
        return
    from mlptrain.tracking.remote import prestart as start_ahead

    start_ahead(cfg.track.mlflow.tracking_uri if cfg.track.mlflow is not None else None)
