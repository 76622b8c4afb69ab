"""Presets: named starting configs a config extends key by key (``preset: tabular``).

A preset is a YAML file in ``mlptrain/config/presets/`` holding ordinary config sections. A
config that names one is the preset with the config's own keys laid over it: mappings merge
key by key, anything else (a list of layers, a number) replaces the preset's value. The
resolved config written into a run directory has every value spelled out and no ``preset:``
key, so ``mlptrain fit RUN/config.yaml`` reproduces the run without the preset file.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from mlptrain.config.messages import suggest
from mlptrain.config.vocabulary import TASK_LOSSES
from mlptrain.config.yamlsafe import parse_yaml
from mlptrain.data.tables import TABLE_SUFFIXES, is_table_path
from mlptrain.errors import ConfigError, UserInputError

PRESETS = ("tabular",)
PRESET_KEY = "preset"
TASKS = tuple(TASK_LOSSES)


def preset_text(name: str) -> str:
    """The commented YAML of preset ``name``."""
    if name not in PRESETS:
        raise ConfigError(f"preset: unknown preset {name!r}; {suggest(name, PRESETS)}")
    return resources.files("mlptrain.config").joinpath(f"presets/{name}.yaml").read_text("utf-8")


def expand_preset(raw: dict[str, Any], source: str) -> dict[str, Any]:
    """``raw`` laid over the preset it names (a new dict without the ``preset`` key)."""
    if PRESET_KEY not in raw:
        return raw
    raw = dict(raw)
    name = raw.pop(PRESET_KEY)
    if not isinstance(name, str) or name not in PRESETS:
        shown = repr(name) if isinstance(name, str) else f"{name!r} (not a name)"
        hint = suggest(name, PRESETS) if isinstance(name, str) else f"allowed: {', '.join(PRESETS)}"
        raise ConfigError(f"{source}: preset: unknown preset {shown}; {hint}")
    base, _ = parse_yaml(preset_text(name), f"preset {name}")
    return _merge(base, raw)


def _merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        merged = dict(base)
        for key, value in over.items():
            merged[key] = _merge(base[key], value) if key in base else value
        return merged
    return over


def table_config(
    path: str | Path, *, target: str | None, task: str | None = None
) -> dict[str, Any]:
    """The config of ``mlptrain fit TABLE --target COL``: the tabular preset on that file."""
    path = Path(path)
    if not is_table_path(path):
        raise UserInputError(
            f"{path}: not a table file; allowed: {', '.join(TABLE_SUFFIXES)} (or a YAML config)"
        )
    if target is None:
        raise UserInputError(
            f"{path}: a table needs «target» COL, the column to predict (a YAML config names it "
            "in data.target)"
        )
    if task is not None and task not in TASKS:
        raise UserInputError(f"«task» {task!r}: allowed: {', '.join(TASKS)}")
    name = path.name
    for suffix in (".gz", ".csv", ".tsv", ".parquet"):  # houses.csv.gz -> houses
        name = name[: -len(suffix)] if name.lower().endswith(suffix) else name
    data: dict[str, Any] = {
        "dataset": "parquet" if path.name.lower().endswith(".parquet") else "csv",
        "path": str(path.absolute()),
        "target": target,
    }
    if task is not None:
        data["task"] = task
    return {PRESET_KEY: "tabular", "name": name or "table", "data": data}


def config_source(path: Path, *, target: str | None, task: str | None) -> Path | dict[str, Any]:
    """What CONFIG on the command line names: a YAML config file, or a table to train with
    the tabular preset (``target``, ``task``: the command's --target and --task)."""
    if is_table_path(path):
        return table_config(path, target=target, task=task)
    if target is not None or task is not None:
        given = "«target»" if target is not None else "«task»"
        raise UserInputError(
            f"{given} goes with a table as CONFIG (.csv, .tsv, .csv.gz, .parquet); {path} is "
            "a YAML config, which names the column in data.target and the task in data.task"
        )
    return path
