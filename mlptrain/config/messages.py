"""Pydantic's validation errors translated into one line per problem: file:line, key path, value, what is allowed."""

from __future__ import annotations

import difflib
import types
from collections.abc import Sequence
from typing import Annotated, Any, Literal, NamedTuple, Union, get_args, get_origin

from annotated_types import Ge, Gt, Le, Lt
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from mlptrain.config.schema import UNION_NOUNS, Config, Origin, show_value, union_tags
from mlptrain.config.yamlsafe import KeyPath, format_key_path
from mlptrain.errors import ConfigError


def config_error(problems: list[tuple[KeyPath, str]], origin: Origin | None) -> ConfigError:
    """One line per problem, sorted by line, each with its own location.

    Each line carries ``file:line``, so the error's message gets no extra ``source:`` head
    (it would print the path twice); ``.source`` is still set for callers that want it.
    """
    located: list[tuple[tuple[int, int, int], str]] = []
    for order, (path, message) in enumerate(problems):
        where, line = _locate(path, origin)
        key = (1 if line is None else 0, line or 0, order)
        located.append((key, f"{where}: {format_key_path(path)}: {message}"))
    lines = list(dict.fromkeys(text for _, text in sorted(located)))
    error = ConfigError(lines)
    error.source = origin.source if origin else None
    return error


def _locate(path: KeyPath, origin: Origin | None) -> tuple[str, int | None]:
    """``«override» ...`` if an override wrote this value (``override train.epochs=3`` from
    the library, ``--set train.epochs=3`` on the command line: errors.py), else ``file:line``
    of the nearest key."""
    if origin is None:
        return "config", None
    for length in range(len(path), -1, -1):
        if path[:length] in origin.overrides:
            return f"«override» {origin.overrides[path[:length]]}", None
    for length in range(len(path), 0, -1):
        line = origin.lines.get(path[:length])
        if line is not None:
            return f"{origin.source}:{line}", line
    return origin.source, None


class _Resolved(NamedTuple):
    path: KeyPath
    field: FieldInfo | None
    owner: type[BaseModel] | None
    target: object


def _strip_optional(annotation: object) -> object:
    if get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if get_origin(annotation) in (Union, types.UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return members[0]
    return annotation


def _resolve(loc: tuple[str | int, ...]) -> _Resolved:
    """Follow a pydantic error location through the schema.

    Returns the user-facing key path (without pydantic's union-tag and validator segments),
    the innermost field (for its constraints and description), the model that owns the last
    key (for unknown-key suggestions) and the type at the location.
    """
    target: object = Config
    path: list[str | int] = []
    field: FieldInfo | None = None
    owner: type[BaseModel] | None = None
    for part in loc:
        target = _strip_optional(target)
        if isinstance(target, type) and issubclass(target, BaseModel):
            owner = target
            path.append(part)
            if isinstance(part, str) and part in target.model_fields:
                field = target.model_fields[part]
                target = field.annotation
            else:
                target = None
            continue
        tags = union_tags(target) if get_origin(target) in (Union, types.UnionType) else {}
        if isinstance(part, str) and part in tags:
            target = tags[part]
            continue
        if isinstance(part, str) and (part == "[key]" or part.startswith("function-")):
            continue
        origin = get_origin(target)
        if origin is list and isinstance(part, int):
            target = get_args(target)[0]
        elif origin is dict:
            target = get_args(target)[1]
        else:
            target = None
        path.append(part)
    return _Resolved(tuple(path), field, owner, _strip_optional(target))


def _number(value: object) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def _describe(field: FieldInfo | None, target: object = None) -> str:
    """What a field allows, in words: "an integer from 1 to 100", "a number in (0, 1)"."""
    if field is not None and field.description:
        return field.description
    annotation = field.annotation if field is not None else target
    nullable = type(None) in get_args(annotation)
    annotation = _strip_optional(annotation)
    tags = union_tags(annotation) if get_origin(annotation) in (Union, types.UnionType) else {}
    if tags:
        base = f"a mapping with 'type' (one of: {', '.join(sorted(tags))}), or just the name"
    elif get_origin(annotation) is Literal:
        base = "one of: " + ", ".join(sorted(map(str, get_args(annotation))))
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        base = "a mapping"
    else:
        base = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(
            annotation,
            "a valid value",  # type: ignore[call-overload]
        )
    bounds = _bounds(field.metadata if field is not None else [])
    text = f"{base} {bounds}" if bounds else base
    return f"{text}, or null" if nullable else text


def _bounds(metadata: list[object]) -> str:
    low: tuple[str, object] | None = None  # ("[" or "(", the bound)
    high: tuple[str, object] | None = None
    for item in metadata:
        if isinstance(item, Ge):
            low = ("[", item.ge)
        elif isinstance(item, Gt):
            low = ("(", item.gt)
        elif isinstance(item, Le):
            high = ("]", item.le)
        elif isinstance(item, Lt):
            high = (")", item.lt)
    if low and high:
        if low[0] == "[" and high[0] == "]":
            return f"from {_number(low[1])} to {_number(high[1])}"
        return f"in {low[0]}{_number(low[1])}, {_number(high[1])}{high[0]}"
    if low:
        return (">= " if low[0] == "[" else "> ") + _number(low[1])
    if high:
        return ("<= " if high[0] == "]" else "< ") + _number(high[1])
    return ""


def suggest(value: object, allowed: Sequence[str], noun: str = "") -> str:
    """'did you mean 'relu'? allowed: a, b, c' (the suggestion only when one is close)."""
    # an abbreviation ('val_acc') means the shortest word it begins; else the closest spelling
    started = sorted((a for a in allowed if str(value) and a.startswith(str(value))), key=len)
    close = started or difflib.get_close_matches(str(value), list(allowed), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    # words as they are; marks such as ',' or ' ' quoted, or they vanish into the list
    shown = (a if a.replace("_", "").isalnum() else repr(a) for a in sorted(allowed))
    return f"{hint}allowed{noun}: {', '.join(shown)}"


_NOUNS = {
    "dataset": "dataset",
    "loss": "loss",
    "monitor": "monitor",
    "task": "task",
    "dtype": "dtype",
    "scale": "scaling",
    "init": "initialisation",
}


def translate_errors(errors: list[Any], raw: object) -> list[tuple[KeyPath, str]]:
    """Pydantic errors -> (key path, message) pairs in the project's words."""
    problems: list[tuple[KeyPath, str]] = []
    for error in errors:
        kind = error["type"]
        value = error.get("input")
        ctx = error.get("ctx") or {}
        path, field, owner, target = _resolve(error["loc"])
        if kind == "mlptrain":
            problems.append(((*path, *ctx["subpath"]), ctx["message"]))
        elif kind == "extra_forbidden":
            keys = list(owner.model_fields) if owner else []
            problems.append((path, "unknown key; " + suggest(path[-1], keys, " keys")))
        elif kind in ("union_tag_invalid", "union_tag_not_found"):
            tags = tuple(union_tags(target))
            noun = UNION_NOUNS.get(tags, "type")
            if not isinstance(_lookup(raw, path), str):
                path = (*path, "type")
            if kind == "union_tag_not_found":
                message = f"'type' is missing; allowed: {', '.join(sorted(tags))}"
            elif isinstance(ctx.get("tag"), str) and isinstance(_lookup(raw, path), str):
                message = f"unknown {noun} {ctx['tag']!r}; " + suggest(ctx["tag"], tags)
            else:
                message = f"{show_value(_lookup(raw, path))} is not allowed; must be one of: " + (
                    ", ".join(sorted(tags))
                )
            problems.append((path, message))
        elif kind == "literal_error" and isinstance(value, str):
            choices = [str(v) for v in get_args(_strip_optional(field.annotation))] if field else []
            noun = _NOUNS.get(str(path[-1]), "value") if path else "value"
            problems.append((path, f"unknown {noun} {value!r}; " + suggest(value, choices)))
        elif kind == "missing":
            problems.append((path, f"is required; must be {_describe(field, target)}"))
        else:
            is_union = get_origin(target) in (Union, types.UnionType)
            allowed = _describe(None if is_union else field, target)
            if kind == "finite_number":
                allowed = allowed.replace("a number", "a finite number", 1)
            if kind in ("list_type", "too_short", "too_long") and field and field.description:
                allowed = field.description
            problems.append((path, f"{show_value(value)} is not allowed; must be {allowed}"))
    return problems


def _lookup(raw: object, path: KeyPath) -> object:
    """The raw value at ``path`` (None when absent)."""
    node = raw
    for part in path:
        if isinstance(node, dict) and isinstance(part, str):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            return None
    return node
