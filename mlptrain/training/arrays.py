"""Runs on the caller's arrays (``mlptrain.fit(config, X=..., y=...)``): the config without a
data source of its own, the Setup on those rows, and the run directory's copy of them.

The arrays are written into the run directory as data.npz with each row's split, and the
resolved config points at that file: ``evaluate``, ``report`` and ``predict`` then read the
run like any other.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from mlptrain.config import Config, config_to_dict, load_config, parse_config_dict
from mlptrain.data import RawData, infer_task, prepare_assigned, raw_from_arrays, target_array
from mlptrain.errors import UserInputError
from mlptrain.training.setup import Setup, build

ARRAY_DATA_FILE = "data.npz"


def plain(value: Any) -> Any:
    """NumPy scalars (anywhere in dicts and lists) as plain Python numbers."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value.item() if isinstance(value, np.generic) else value


def config_for_arrays(
    config: str | Path | Config | dict[str, Any] | None, overrides: list[str], y: Any
) -> Config:
    """The config of a run on arrays. Its data section may be left out: only ``task``,
    ``test_size``, ``val_size`` and ``scale`` apply (the source is the arrays)."""
    if config is None:
        raise UserInputError("a config (a file, a dict or a Config) is required with X, y")
    if isinstance(config, Config):
        raw = config_to_dict(config)
    elif isinstance(config, dict):
        raw = dict(config)
    else:
        raw = config_to_dict(load_config(config, overrides))
        overrides = []
    data = dict(raw.get("data") or {})
    for key in ("dataset", "path", "params", "target"):
        data.pop(key, None)
    # The task is written down, so that an omitted loss follows it (mse for regression).
    data["task"] = infer_task(target_array(y, "y"), data.get("task", "auto"), where="y")
    # A placeholder: point_at_run_dir replaces it once the run directory is known.
    raw["data"] = {**data, "dataset": "npz", "path": ARRAY_DATA_FILE}
    return parse_config_dict(raw, source="config", overrides=overrides)


def setup_for_arrays(
    config: str | Path | Config | dict[str, Any] | None,
    overrides: list[str],
    X: Any,
    y: Any,
    **parts: Any,
) -> tuple[Setup, RawData]:
    """The Setup of a run on ``X``, ``y`` (``parts``: X_val, y_val, X_test, y_test), and the
    rows with their split, to be saved in the run directory."""
    cfg = config_for_arrays(config, overrides, y)
    raw = raw_from_arrays(
        X,
        y,
        **parts,
        task=cfg.data.task,
        test_size=cfg.data.test_size,
        val_size=cfg.data.val_size,
        seed=cfg.seed,
    )
    data = prepare_assigned(raw, scale=cfg.data.scale, dtype=np.dtype(cfg.train.dtype))
    return build(cfg, data), raw


def run_data_path(run_dir: Path) -> Path:
    """The run directory's data.npz, as an absolute path (as every resolved config stores its
    data path)."""
    return Path(os.path.abspath(Path(run_dir) / ARRAY_DATA_FILE))


def point_at_run_dir(cfg: Config, run_dir: Path) -> Config:
    """``cfg`` reading its data from the run directory's data.npz (:func:`run_data_path`)."""
    data = cfg.data.model_copy(update={"dataset": "npz", "path": run_data_path(run_dir)})
    return cfg.model_copy(update={"data": data})
