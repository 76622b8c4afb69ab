"""Reading a config: YAML file or dict, overrides, validation, and dumping the resolved config."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from mlptrain.config.checks import cross_section_problems
from mlptrain.config.messages import config_error, translate_errors
from mlptrain.config.overrides import apply_overrides_tracked
from mlptrain.config.schema import Config, Origin, show_value
from mlptrain.config.yamlsafe import LineMap, SafeDumper, parse_yaml, read_yaml
from mlptrain.errors import ConfigError


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
    raw, overridden = apply_overrides_tracked(raw, overrides)
    raw.setdefault("name", default_name)
    origin = Origin(source, lines, overridden)
    try:
        config = Config.model_validate(raw, context={"base_dir": Path(base_dir)})
    except ValidationError as exc:
        raise config_error(translate_errors(exc.errors(), raw), origin) from None
    config._origin = origin
    problems = cross_section_problems(config)
    if problems:
        raise config_error(problems, origin)
    return config


def config_to_dict(cfg: Config) -> dict[str, Any]:
    """Plain, JSON-safe data with every default written out (layers as full mappings)."""
    return cfg.model_dump(mode="json")


def config_to_yaml(cfg: Config) -> str:
    """The resolved config as YAML that :func:`parse_config` reads back to an equal Config."""
    return yaml.dump(config_to_dict(cfg), Dumper=SafeDumper, sort_keys=False, allow_unicode=True)
