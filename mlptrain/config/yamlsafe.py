"""The hardened YAML reader: ``yaml.safe_load`` semantics, line numbers, and hard limits.

Every YAML text mlptrain reads (config files, ``--set`` override values) comes through here,
because a config is user input and may be hostile or simply broken. The reader returns plain
data (dict / list / str / int / float / bool / None) together with a :data:`LineMap` from key
paths such as ``("model", "layers", 2, "type")`` to 1-based line numbers, so that the schema can
say *where* in the file a problem is.

How it reads, and why:

1. **Size first.** :func:`read_yaml` checks the size with ``fstat`` before reading and never
   reads more than :data:`MAX_BYTES` + 1 bytes, so a 100 MB file is refused at once with
   bounded memory. Bytes must be UTF-8 (a BOM is allowed).
2. **Depth and node count on the event stream.** PyYAML's composer recurses once per nesting
   level, so ``"[" * 10000`` would die with ``RecursionError`` inside it. The parser itself is
   an explicit state machine, so we first run ``yaml.parse`` over the events and refuse past
   :data:`MAX_DEPTH` levels or :data:`MAX_NODES` events before anything recursive runs.
3. **Compose, then construct ourselves.** The node tree comes from ``SafeLoader``'s composer;
   we walk it with our own code and only the safe scalar constructors, so no tag can reach a
   Python constructor. Only the standard tags str, int, float, bool, null, seq and map are
   accepted (a timestamp-looking scalar stays the string it was written as, so the output is
   always JSON-safe). Any other tag, ``!!python/...`` included, is refused.
4. **Aliases are allowed but counted.** Anchors and aliases are legitimate YAML for repeating a
   block, so they are expanded, but every expanded node counts against :data:`MAX_NODES` and
   the expanded depth against :data:`MAX_DEPTH`. A "billion laughs" document (and a recursive
   alias, which PyYAML composes into a cycle) therefore stops after 100,000 nodes, in
   milliseconds. Merge keys (``<<``) are refused: their override rules are a classic source of
   surprise in configs, and writing the keys out is always possible.
5. **Strict mappings.** Duplicate keys (PyYAML silently keeps the last) and non-string keys are
   errors; the duplicate message names the key and both lines.
6. **YAML 1.2 floats.** PyYAML follows YAML 1.1, where ``1e-3`` (no dot) is a *string*; that
   would turn ``lr: 1e-3`` into a type error. Plain scalars in exponent form are read as floats
   here, and :data:`SafeDumper` quotes strings of that form so dumps read back unchanged.

Every refusal is a :class:`~mlptrain.errors.ConfigError` whose problem lines read
``<source>:<line>: <key path>: <what>; allowed: <what is allowed>``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import NoReturn

import yaml
from yaml.constructor import SafeConstructor
from yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    NodeEvent,
)
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from mlptrain.errors import ConfigError

__all__ = [
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_NODES",
    "KeyPath",
    "LineMap",
    "SafeDumper",
    "SafeLoader",
    "format_key_path",
    "parse_yaml",
    "parse_yaml_value",
    "read_yaml",
]

MAX_BYTES = 1 << 20
"""Largest config accepted, in bytes (1 MiB); a real config is a few hundred bytes."""

MAX_DEPTH = 64
"""Deepest nesting of lists/mappings accepted (after alias expansion)."""

MAX_NODES = 100_000
"""Most values (scalars + collections, alias expansions included) one document may produce."""

KeyPath = tuple[str | int, ...]
LineMap = dict[KeyPath, int]
"""Key path -> 1-based line of that entry (the key's line in a mapping, the item's in a list)."""

_YAML12_FLOAT = re.compile(
    r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)[eE][-+]?[0-9]+$", re.ASCII
)

_TAG_PREFIX = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT, _BOOL, _NULL, _TIMESTAMP = (
    _TAG_PREFIX + name for name in ("str", "int", "float", "bool", "null", "timestamp")
)
_SEQ, _MAP, _MERGE = _TAG_PREFIX + "seq", _TAG_PREFIX + "map", _TAG_PREFIX + "merge"
_ALLOWED_TAGS = "plain strings, numbers, true/false, null, lists and mappings, without tags"


class SafeLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` plus YAML 1.2 exponent floats (``1e-3``); used only to compose."""


class SafeDumper(yaml.SafeDumper):
    """``yaml.SafeDumper`` that quotes strings :class:`SafeLoader` would read as floats."""


for _cls in (SafeLoader, SafeDumper):
    _cls.add_implicit_resolver(_FLOAT, _YAML12_FLOAT, list("-+0123456789."))

# The safe constructors only need ``construct_scalar``; one shared instance is enough.
_SCALARS = SafeConstructor()
_SCALAR_CONSTRUCTORS = {
    _STR: _SCALARS.construct_yaml_str,
    _INT: _SCALARS.construct_yaml_int,
    _FLOAT: _SCALARS.construct_yaml_float,
    _BOOL: _SCALARS.construct_yaml_bool,
    _NULL: _SCALARS.construct_yaml_null,
    # Kept as written: a datetime would not be JSON-safe and no config field wants one.
    _TIMESTAMP: _SCALARS.construct_yaml_str,
}


def format_key_path(path: KeyPath) -> str:
    """Render ``("model", "layers", 2, "type")`` as ``model.layers[2].type`` (root: ``<top>``)."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "<top level>"


def _short_tag(tag: str) -> str:
    return "!!" + tag[len(_TAG_PREFIX) :] if tag.startswith(_TAG_PREFIX) else tag


class _Problem(Exception):
    """One refusal, raised inside the reader and turned into a ConfigError at its edge."""

    def __init__(self, what: str, line: int | None, column: int | None = None) -> None:
        super().__init__(what)
        self.what = what
        self.line = line
        self.column = column


def _fail(source: str, problem: _Problem, *, cite_lines: bool) -> ConfigError:
    where = source
    if cite_lines and problem.line is not None:
        where += f":{problem.line}"
        if problem.column is not None:
            where += f":{problem.column}"
    # Each line carries its own location, so the error gets no extra ``source:`` head.
    error = ConfigError([f"{where}: {problem.what}"])
    error.source = source
    return error


def read_yaml(path: str | Path) -> tuple[object, LineMap]:
    """Read a YAML config file: size-checked, UTF-8, top level a mapping.

    The size is taken from the open file descriptor before any byte is read (no race with a
    file growing between stat and read), and at most ``MAX_BYTES + 1`` bytes are ever read.
    """
    source = str(path)
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > MAX_BYTES:
                raise _fail(source, _too_big(size), cite_lines=False)
            data = handle.read(MAX_BYTES + 1)
    except IsADirectoryError:
        raise _fail(source, _Problem("is a directory; allowed: a YAML config file", None),
                    cite_lines=False) from None  # fmt: skip
    except FileNotFoundError:
        raise _fail(source, _Problem("no such file; allowed: a YAML config file", None),
                    cite_lines=False) from None  # fmt: skip
    except OSError as exc:
        what = f"cannot be read ({exc.strerror or exc}); allowed: a readable YAML config file"
        raise _fail(source, _Problem(what, None), cite_lines=False) from None
    if len(data) > MAX_BYTES:  # the file grew after fstat, or is a special file
        raise _fail(source, _too_big(len(data)), cite_lines=False)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        what = (
            f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "allowed: UTF-8 encoded YAML text"
        )
        raise _fail(source, _Problem(what, line), cite_lines=True) from None
    return parse_yaml(text, source)


def _too_big(size: int) -> _Problem:
    return _Problem(f"is {size} bytes; allowed: at most {MAX_BYTES} bytes (1 MiB)", None)


def parse_yaml(text: str, source: str) -> tuple[object, LineMap]:
    """Parse a YAML document whose top level must be a mapping; returns (data, line map).

    ``source`` names the text in error messages (normally the file path). The size limit here
    counts characters, which is never more than the UTF-8 byte count.
    """
    try:
        data, lines = _parse(text, require_mapping=True)
    except _Problem as problem:
        raise _fail(source, problem, cite_lines=True) from None
    return data, lines


def parse_yaml_value(text: str, source: str) -> object:
    """Parse one YAML value (scalar or flow collection) such as a ``--set`` right-hand side.

    Same limits and tag rules as :func:`parse_yaml`, but any top-level value is accepted and
    messages cite ``source`` alone (the text is one line the user typed, not a file).
    """
    try:
        data, _ = _parse(text, require_mapping=False)
    except _Problem as problem:
        raise _fail(source, problem, cite_lines=False) from None
    return data


def _parse(text: str, *, require_mapping: bool) -> tuple[object, LineMap]:
    if len(text) > MAX_BYTES:
        raise _too_big(len(text))
    try:
        _precheck_events(text)
        node = SafeLoader(text).get_single_node()
    except yaml.MarkedYAMLError as exc:
        raise _syntax_problem(exc) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        what = f"character U+{code:04X} is not allowed in YAML; allowed: printable Unicode text"
        raise _Problem(what, line) from None
    except yaml.YAMLError as exc:  # any other PyYAML refusal, still the user's input
        raise _Problem(f"invalid YAML: {exc}", None) from None
    if node is None:
        raise _Problem("the document is empty; allowed: a YAML mapping of `key: value` lines", 1)
    builder = _Builder()
    data = builder.build(node, (), 0)  # tags and limits first: they matter more than the shape
    if require_mapping and not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else "a single value"
        raise _Problem(
            f"the top level is {kind}; allowed: a mapping of `key: value` lines",
            node.start_mark.line + 1,
        )
    return data, builder.lines


def _precheck_events(text: str) -> None:
    """Refuse too deep or too large documents from the event stream, before any recursion."""
    depth = 0
    count = 0
    for event in yaml.parse(text, Loader=SafeLoader):
        if isinstance(event, (NodeEvent, AliasEvent)):
            count += 1
            if count > MAX_NODES:
                raise _too_many(event.start_mark.line + 1)
        if isinstance(event, CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise _too_deep(event.start_mark.line + 1)
        elif isinstance(event, CollectionEndEvent):
            depth -= 1


def _too_many(line: int) -> _Problem:
    return _Problem(
        f"the document holds more than {MAX_NODES} values (alias expansions included); "
        f"allowed: at most {MAX_NODES}",
        line,
    )


def _too_deep(line: int) -> _Problem:
    return _Problem(
        f"lists/mappings nested deeper than {MAX_DEPTH} levels; allowed: at most {MAX_DEPTH}",
        line,
    )


def _syntax_problem(exc: yaml.MarkedYAMLError) -> _Problem:
    mark = exc.problem_mark or exc.context_mark
    detail = exc.problem or "malformed YAML"
    if exc.context:
        context = exc.context
        if exc.context_mark is not None and exc.context_mark.line != getattr(mark, "line", None):
            context += f" started at line {exc.context_mark.line + 1}"
        detail = f"{detail} ({context})"
    what = f"invalid YAML: {detail}; allowed: well-formed YAML"
    if mark is None:
        return _Problem(what, None)
    return _Problem(what, mark.line + 1, mark.column + 1)


class _Builder:
    """Walks a composed node tree into plain data, enforcing tags, keys and limits."""

    def __init__(self) -> None:
        self.lines: LineMap = {}
        self.count = 0

    def build(self, node: Node, path: KeyPath, depth: int) -> object:
        line = node.start_mark.line + 1
        self.count += 1
        if self.count > MAX_NODES:
            raise _too_many(line)
        if isinstance(node, ScalarNode):
            return self._scalar(node, path)
        if depth >= MAX_DEPTH:
            raise _too_deep(line)
        if isinstance(node, SequenceNode):
            self._check_tag(node, _SEQ, path)
            items = []
            for index, item in enumerate(node.value):
                item_path = (*path, index)
                self.lines.setdefault(item_path, item.start_mark.line + 1)
                items.append(self.build(item, item_path, depth + 1))
            return items
        if isinstance(node, MappingNode):
            self._check_tag(node, _MAP, path)
            return self._mapping(node, path, depth)
        raise _Problem(f"unsupported YAML node {type(node).__name__}", line)  # pragma: no cover

    def _mapping(self, node: MappingNode, path: KeyPath, depth: int) -> dict[str, object]:
        result: dict[str, object] = {}
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line + 1
            if key_node.tag == _MERGE:
                raise _Problem(
                    f"{format_key_path(path)}: merge keys ('<<') are not supported; "
                    "allowed: write the keys out",
                    key_line,
                )
            if not isinstance(key_node, ScalarNode):
                where = f"{format_key_path(path)}: " if path else ""
                raise _Problem(
                    f"{where}a list or mapping used as a key; allowed: string keys",
                    key_line,
                )
            key = self._scalar(key_node, path)
            if not isinstance(key, str):
                shown = key_node.value
                where = f"{format_key_path(path)}: " if path else ""
                raise _Problem(
                    f"{where}key {shown} is not a string; "
                    f"allowed: string keys (quote it: '{shown}')",
                    key_line,
                )
            if key in first_line:
                raise _Problem(
                    f"{format_key_path((*path, key))}: duplicate key {key!r} "
                    f"(first at line {first_line[key]}, again at line {key_line}); "
                    "allowed: each key once per mapping",
                    key_line,
                )
            first_line[key] = key_line
            key_path = (*path, key)
            self.lines.setdefault(key_path, key_line)
            result[key] = self.build(value_node, key_path, depth + 1)
        return result

    def _check_tag(self, node: Node, expected: str, path: KeyPath) -> None:
        if node.tag != expected:
            self._bad_tag(node, path)

    def _bad_tag(self, node: Node, path: KeyPath) -> NoReturn:
        where = f"{format_key_path(path)}: " if path else ""
        raise _Problem(
            f"{where}tag {_short_tag(node.tag)!r} is not allowed; allowed: {_ALLOWED_TAGS}",
            node.start_mark.line + 1,
        )

    def _scalar(self, node: ScalarNode, path: KeyPath) -> object:
        construct = _SCALAR_CONSTRUCTORS.get(node.tag)
        if construct is None:
            self._bad_tag(node, path)
        try:
            return construct(node)
        except (ValueError, OverflowError, TypeError):
            # PyYAML's resolvers accept a few spellings its constructors cannot convert
            # ("._", 5000-digit integers); those are the user's input, not our crash.
            where = f"{format_key_path(path)}: " if path else ""
            raise _Problem(
                f"{where}{node.value[:60]!r} cannot be read as {_short_tag(node.tag)}; "
                "allowed: an ordinary number, or quote it to make it a string",
                node.start_mark.line + 1,
            ) from None
