"""``--set key.path=value`` overrides, and the key paths where two configs differ."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from typing import Any

from mlptrain.config.schema import show_value
from mlptrain.config.yamlsafe import KeyPath, format_key_path, parse_yaml_value
from mlptrain.errors import ConfigError

# A key path such as model.layers[0].units or model.layers[-1].units (--set, sweep
# --grid/--random, sweep files).
OVERRIDE_KEY = re.compile(r"^[\w-]+(?:\.[\w-]+|\[-?\d+\])*$")
_OVERRIDE_PART = re.compile(r"\.?([\w-]+)|\[(-?\d+)\]")
_OVERRIDE_HELP = (
    "allowed: key.path=value, e.g. train.optimizer.lr=3e-3, model.layers[0].units=128 or "
    "model.layers[-1].units=3 (negative indices count from the end)"
)


def apply_overrides(raw: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """A copy of ``raw`` with each ``key.path=value`` applied; the input is not modified.

    Values are read as YAML by the safe reader, so ``[1, 2]``, ``{type: sgd}``, ``true`` and
    ``null`` work. Unknown keys are left for the schema to report; malformed overrides (no
    ``=``, a bad path, an index out of range) are a ConfigError naming the override.
    """
    result, _ = apply_overrides_tracked(raw, overrides)
    return result


def apply_overrides_tracked(
    raw: Mapping[str, Any], overrides: Sequence[str]
) -> tuple[dict[str, Any], dict[KeyPath, str]]:
    result = copy.deepcopy(dict(raw))
    written: dict[KeyPath, str] = {}
    problems: list[str] = []
    if isinstance(overrides, str):  # a lone string would be applied character by character
        overrides = [overrides]
    for text in overrides:
        try:
            path, value = _parse_override(text)
            path = _set_path(result, path, value, text)
        except ConfigError as exc:
            problems.extend(exc.templates)
            continue
        written = {p: t for p, t in written.items() if p[: len(path)] != path}
        written[path] = text
    if problems:
        raise ConfigError(problems)
    return result, written


def _parse_override(text: str) -> tuple[KeyPath, object]:
    key, sep, value_text = text.partition("=")
    key = key.strip()
    if not sep:
        raise ConfigError(f"«override» {text}: no '=' in the override; {_OVERRIDE_HELP}")
    if not OVERRIDE_KEY.match(key):
        raise ConfigError(f"«override» {text}: {key!r} is not a key path; {_OVERRIDE_HELP}")
    if not value_text.strip():
        raise ConfigError(
            f"«override» {text}: the value is empty; allowed: a YAML value (write null for none, "
            "'' for an empty string)"
        )
    path: KeyPath = tuple(
        int(index) if index else name for name, index in _OVERRIDE_PART.findall(key)
    )
    return path, parse_yaml_value(value_text, f"«override» {text}")


def override_text(text: str) -> str:
    """The value of a ``key.path=value`` override as typed (for fields that want a string)."""
    return text.partition("=")[2].strip()


# Sections that are tagged unions get their default type when an override creates them, so
# `--set train.optimizer.lr=0.01` tunes the default Adam instead of failing on a missing type.
_DEFAULT_TYPES: dict[KeyPath, str] = {
    ("train", "optimizer"): "adam",
    ("train", "schedule"): "constant",
}


def _set_path(root: dict[str, Any], path: KeyPath, value: object, text: str) -> KeyPath:
    """Write ``value`` at ``path``, creating missing (or null) mappings on the way.

    Returns the shallowest path the override created or replaced, so that errors anywhere
    below it are attributed to the override rather than to a line of the file.
    """
    node: Any = root
    created: KeyPath | None = None
    steps = list(path)  # negative indices are resolved in place, so errors name the item
    for depth, part in enumerate(steps):
        here = format_key_path(tuple(steps[:depth])) if depth else "the top level"
        last = depth == len(steps) - 1
        if isinstance(part, int):
            if not isinstance(node, list):
                raise ConfigError(
                    f"«override» {text}: {here} is {show_value(node)}, not a list; [{part}] needs a list"
                )
            if not -len(node) <= part < len(node):
                raise ConfigError(
                    f"«override» {text}: index [{part}] is out of range; {here} has "
                    f"{len(node)} item{'s' if len(node) != 1 else ''} "
                    f"(allowed: 0 to {len(node) - 1}, or -1 to -{len(node)} from the end)"
                )
            part = steps[depth] = part % len(node)
        elif not isinstance(node, dict):
            raise ConfigError(
                f"«override» {text}: {here} is {show_value(node)}, not a mapping; "
                f"cannot set key {part!r} in it"
            )
        if last:
            node[part] = value
            return created or tuple(steps)
        child = node[part] if isinstance(part, int) else node.get(part)
        if child is None:
            if isinstance(steps[depth + 1], int):
                raise ConfigError(
                    f"«override» {text}: {format_key_path(tuple(steps[: depth + 1]))} is not "
                    "set, so it has no items to index"
                )
            here_path = tuple(steps[: depth + 1])
            default_type = _DEFAULT_TYPES.get(here_path)
            child = node[part] = {"type": default_type} if default_type else {}
            created = created or here_path
        elif (
            isinstance(child, str)
            and isinstance(steps[depth + 1], str)
            and _is_shorthand(tuple(steps[: depth + 1]))
        ):
            child = node[part] = {"type": child}  # `relu` -> `{type: relu}` so it can gain fields
        node = child
    raise ValueError(f"override {text}: no key path")  # _parse_override never gives an empty one


def _is_shorthand(path: KeyPath) -> bool:
    """Whether ``path`` is a place where a bare name stands for ``{type: name}``."""
    return path in (("train", "optimizer"), ("train", "schedule")) or (
        len(path) == 3 and path[:2] == ("model", "layers") and isinstance(path[2], int)
    )


def diff_configs(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    """Dotted key paths (``train.optimizer.lr``, ``model.layers[2].units``) that differ.

    A key present on one side only counts as a difference; lists of different lengths are
    reported as the list's path. 1 and 1.0 are equal, True and 1 are not.
    """
    found: list[str] = []
    _diff(a, b, (), found)
    return found


def _diff(a: object, b: object, path: KeyPath, found: list[str]) -> None:
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        for key in [*a, *(k for k in b if k not in a)]:
            if key not in a or key not in b:
                found.append(format_key_path((*path, key)))
            else:
                _diff(a[key], b[key], (*path, key), found)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for index, (left, right) in enumerate(zip(a, b, strict=True)):
            _diff(left, right, (*path, index), found)
    elif (
        isinstance(a, bool) != isinstance(b, bool)
        or type(a) is not type(b)
        and not (isinstance(a, (int, float)) and isinstance(b, (int, float)))
        or a != b
    ):
        found.append(format_key_path(path))
