"""Reading a config: YAML file or dict, overrides, validation, and dumping the resolved config."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from mlptrain.config.checks import cross_section_problems
from mlptrain.config.messages import config_error, translate_errors
from mlptrain.config.overrides import apply_overrides_tracked, override_text
from mlptrain.config.presets import expand_preset
from mlptrain.config.schema import Config, Origin, show_value
from mlptrain.config.yamlsafe import KeyPath, LineMap, SafeDumper, parse_yaml, read_yaml
from mlptrain.errors import ConfigError

ConfigSource = str | Path | Mapping[str, Any] | Config


def resolve_config(source: ConfigSource, overrides: Sequence[str] = ()) -> Config:
    """The one way a config given as a file path, a dict or a Config (with ``--set``-style
    overrides) becomes a validated Config: fit, validate and gradcheck use it."""
    if isinstance(source, Config):
        if not overrides:
            return source
        return parse_config_dict(config_to_dict(source), source="config", overrides=overrides)
    if isinstance(source, Mapping):
        return parse_config_dict(source, source="config", overrides=overrides)
    if isinstance(source, (str, Path)):
        return load_config(source, overrides)
    raise ConfigError(
        f"config: {show_value(source)} is not a config; allowed: a YAML file path, a mapping "
        "or a Config"
    )


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> Config:
    """Read, override and validate a config file; every problem is one ConfigError line."""
    path = Path(path)
    raw, lines = read_yaml(path)
    return _build(
        raw,
        lines,
        source=str(path),
        base_dir=path.absolute().parent,
        default_name=path.stem,
        overrides=overrides,
    )


def parse_config(
    text: str,
    *,
    source: str,
    base_dir: Path,
    default_name: str,
    overrides: Sequence[str] = (),
) -> Config:
    """Validate config text; ``base_dir`` anchors ``data.path``, ``default_name`` fills ``name``."""
    raw, lines = parse_yaml(text, source)
    return _build(
        raw,
        lines,
        source=source,
        base_dir=base_dir,
        default_name=default_name,
        overrides=overrides,
    )


def parse_config_dict(
    data: Mapping[str, Any],
    *,
    source: str,
    base_dir: Path | None = None,
    default_name: str = "config",
    overrides: Sequence[str] = (),
) -> Config:
    """Validate already-parsed config data (e.g. the resolved config stored in a checkpoint).

    Same checks and error format as :func:`parse_config`, without line numbers. Data paths
    stored absolute stay as they are; relative ones are anchored at ``base_dir`` (default:
    the current directory).
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: {show_value(data)} is not a config; must be a mapping")
    return _build(
        dict(data),
        {},
        source=source,
        base_dir=base_dir if base_dir is not None else Path.cwd(),
        default_name=default_name,
        overrides=overrides,
    )


def _build(
    raw: object,
    lines: LineMap,
    *,
    source: str,
    base_dir: Path,
    default_name: str,
    overrides: Sequence[str],
) -> Config:
    if not isinstance(raw, dict):  # parse_yaml already refuses this; kept for direct callers
        raise ConfigError(f"{source}: the top level must be a mapping")
    raw, overridden = apply_overrides_tracked(expand_preset(raw, source), overrides)
    raw.setdefault("name", default_name)
    _anchor_typed_paths(raw, overridden)
    origin = Origin(source, lines, overridden)
    try:
        config = _validate(raw, base_dir, overridden)
    except ValidationError as exc:
        raise config_error(translate_errors(exc.errors(), raw), origin) from None
    config._origin = origin
    problems = cross_section_problems(config)
    if problems:
        raise config_error(problems, origin)
    return config


def _anchor_typed_paths(raw: dict[str, Any], overridden: Mapping[KeyPath, str]) -> None:
    """A path typed in ``--set data.path=...`` is relative to the current directory.

    A path written in the file stays relative to the file's folder (the schema anchors it
    there); one typed on the command line means what the shell means by it.
    """
    data = raw.get("data")
    if ("data", "path") in overridden and isinstance(data, dict):
        value = data.get("path")
        if isinstance(value, str) and value.strip():
            data["path"] = os.path.abspath(Path(value).expanduser())


def _validate(raw: dict[str, Any], base_dir: Path, overridden: Mapping[KeyPath, str]) -> Config:
    """``Config.model_validate``, reading an override's value as text where a string is wanted.

    ``--set data.target=no`` or ``--set name=2024`` parse as YAML (false, 2024); a string field
    takes them as typed rather than failing with a type error.
    """
    context = {"base_dir": Path(base_dir)}
    try:
        return Config.model_validate(raw, context=context)
    except ValidationError as exc:
        retyped = False
        for error in exc.errors():
            path = tuple(error["loc"])
            if error["type"] == "string_type" and path in overridden:
                _set_at(raw, path, override_text(overridden[path]))
                retyped = True
        if not retyped:
            raise
    return Config.model_validate(raw, context=context)


def _set_at(raw: Any, path: KeyPath, value: object) -> None:
    for part in path[:-1]:
        raw = raw[part]
    raw[path[-1]] = value


def config_to_dict(cfg: Config) -> dict[str, Any]:
    """Plain, JSON-safe data with every default written out (layers as full mappings)."""
    return cfg.model_dump(mode="json")


def config_to_yaml(cfg: Config) -> str:
    """The resolved config as YAML that :func:`parse_config` reads back to an equal Config."""
    return yaml.dump(config_to_dict(cfg), Dumper=SafeDumper, sort_keys=False, allow_unicode=True)
