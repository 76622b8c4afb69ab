"""The hardened YAML reader: what it returns, and every way it refuses hostile or broken input."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlptrain.config.yamlsafe import (
    MAX_BYTES,
    MAX_DEPTH,
    format_key_path,
    parse_yaml,
    parse_yaml_value,
    read_yaml,
)
from mlptrain.errors import ConfigError

# Raise with MLPTRAIN_FUZZ_EXAMPLES=5000 (or HYPOTHESIS_PROFILE=long) for a longer fuzz run.
_DEFAULT_EXAMPLES = 2000 if os.environ.get("HYPOTHESIS_PROFILE") == "long" else 200
FUZZ = settings(
    max_examples=int(os.environ.get("MLPTRAIN_FUZZ_EXAMPLES", _DEFAULT_EXAMPLES)),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def refusal(text: str, source: str = "x.yaml") -> str:
    with pytest.raises(ConfigError) as info:
        parse_yaml(text, source)
    return str(info.value)


def test_plain_data_and_line_map() -> None:
    text = (
        "model:\n"
        "  layers:\n"
        "    - {type: linear, units: 3}\n"
        "    - relu\n"
        "train:\n"
        "  lr: 1e-3\n"
        "  day: 2024-01-01\n"
        "  none: null\n"
    )
    data, lines = parse_yaml(text, "x.yaml")
    assert data == {
        "model": {"layers": [{"type": "linear", "units": 3}, "relu"]},
        "train": {"lr": 0.001, "day": "2024-01-01", "none": None},
    }
    assert lines[("model",)] == 1
    assert lines[("model", "layers", 0, "units")] == 3
    assert lines[("model", "layers", 1)] == 4
    assert lines[("train", "lr")] == 6


def test_yaml12_exponent_floats_and_quoted_strings() -> None:
    data, _ = parse_yaml("a: 1e-3\nb: -2E+5\nc: '1e-3'\nd: 1.0e-3\ne: 3\n", "x.yaml")
    assert data == {"a": 0.001, "b": -200000.0, "c": "1e-3", "d": 0.001, "e": 3}
    assert isinstance(data["e"], int)


def test_aliases_are_expanded() -> None:
    data, _ = parse_yaml("a: &x {lr: 0.1}\nb: *x\n", "x.yaml")
    assert data == {"a": {"lr": 0.1}, "b": {"lr": 0.1}}


def test_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(b"\xef\xbb\xbfa: 1\n")
    assert read_yaml(path)[0] == {"a": 1}


def test_format_key_path() -> None:
    assert format_key_path(("model", "layers", 2, "type")) == "model.layers[2].type"
    assert format_key_path(()) == "<top level>"


def test_python_tag_is_refused_and_nothing_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    message = refusal(f'x: !!python/object/apply:os.system ["touch {marker}"]\n')
    assert not marker.exists()
    assert message.startswith("x.yaml:1: x: tag '!!python/object/apply:os.system' is not allowed")
    assert "allowed:" in message


@pytest.mark.parametrize(
    "text", ["a: !!binary aGk=\n", "a: !custom 1\n", "a: !!set {x: null}\n", "!!omap [a: 1]\n"]
)
def test_non_standard_tags_are_refused(text: str) -> None:
    assert "is not allowed; allowed: plain strings" in refusal(text)


def test_billion_laughs_is_refused_fast() -> None:
    lines = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, 10):
        prev, name = chr(ord("a") + level - 1), chr(ord("a") + level)
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 10) + "]")
    start = time.perf_counter()
    message = refusal("\n".join(lines) + "\n")
    assert time.perf_counter() - start < 5
    assert "more than 100000 values (alias expansions included)" in message


def test_recursive_alias_is_refused() -> None:
    assert "nested deeper than 64" in refusal("a: &a [*a]\n")


@pytest.mark.parametrize("opener", ["[", "{a: ", "- "])
def test_deep_nesting_is_refused_fast_without_recursion_error(opener: str) -> None:
    text = opener * 10_000 + "x"
    limit = sys.getrecursionlimit()
    start = time.perf_counter()
    message = refusal(text)
    assert time.perf_counter() - start < 5
    assert sys.getrecursionlimit() == limit
    assert f"nested deeper than {MAX_DEPTH} levels" in message


def test_nesting_at_the_limit_is_fine() -> None:
    data, _ = parse_yaml("a: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "\n", "x.yaml")
    assert isinstance(data, dict)


def test_duplicate_key_names_key_and_both_lines() -> None:
    message = refusal("train:\n  lr: 0.1\n  epochs: 3\n  lr: 0.2\n")
    assert message == (
        "x.yaml:4: train.lr: duplicate key 'lr' (first at line 2, again at line 4); "
        "allowed: each key once per mapping"
    )


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("1: a\n", "key 1"),
        ("a:\n  null: 1\n", "key null"),
        ("true: 1\n", "key true"),
        ("on: 1\n", "key on"),  # YAML 1.1 reads `on` as a boolean; the message says to quote it
    ],
)
def test_non_string_keys_are_refused(text: str, shown: str) -> None:
    message = refusal(text)
    assert f"{shown} is not a string" in message
    assert "allowed: string keys" in message


def test_complex_key_is_refused() -> None:
    assert "a list or mapping used as a key" in refusal("? [a, b]\n: 1\n")


def test_merge_keys_are_refused() -> None:
    message = refusal("base: &b {lr: 0.1}\ntrain:\n  <<: *b\n")
    assert message.startswith("x.yaml:3: train: merge keys ('<<') are not supported")


def test_syntax_error_gives_line_and_column() -> None:
    message = refusal("a: 1\nb: [1, 2\nc: 3\n")
    assert message.startswith("x.yaml:3:2: invalid YAML:")
    assert "allowed: well-formed YAML" in message


def test_tab_indentation_is_a_syntax_error() -> None:
    assert refusal("a:\n\tb: 1\n").startswith("x.yaml:2:1: invalid YAML:")


@pytest.mark.parametrize("text", ["", "   \n", "# only a comment\n"])
def test_empty_document_is_refused(text: str) -> None:
    assert refusal(text) == (
        "x.yaml:1: the document is empty; allowed: a YAML mapping of `key: value` lines"
    )


@pytest.mark.parametrize(("text", "kind"), [("- a\n- b\n", "a list"), ("42\n", "a single value")])
def test_top_level_must_be_a_mapping(text: str, kind: str) -> None:
    assert f"the top level is {kind}; allowed: a mapping" in refusal(text)


def test_several_documents_are_refused() -> None:
    assert "expected a single document" in refusal("a: 1\n---\nb: 2\n")


def test_control_characters_are_refused() -> None:
    assert refusal("a: 1\nb: \x00\n").startswith("x.yaml:2: character U+0000 is not allowed")


def test_unconvertible_number_is_an_error_not_a_crash() -> None:
    assert "cannot be read as !!int" in refusal("a: " + "1" * 5000 + "\n")


def test_too_large_text_is_refused() -> None:
    assert f"at most {MAX_BYTES} bytes" in refusal("a: " + "x" * MAX_BYTES)


def test_hundred_megabyte_file_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with open(path, "wb") as handle:
        handle.truncate(100 * 2**20)  # sparse: costs no disk
    start = time.perf_counter()
    with pytest.raises(ConfigError) as info:
        read_yaml(path)
    assert time.perf_counter() - start < 5
    assert (
        str(info.value)
        == f"{path}: is {100 * 2**20} bytes; allowed: at most {MAX_BYTES} bytes (1 MiB)"
    )


def test_non_utf8_bytes_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("a: 1\nname: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError) as info:
        read_yaml(path)
    assert str(info.value).startswith(f"{path}:2: not valid UTF-8 (byte 0xe9 at offset 14)")


def test_binary_garbage_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "garbage.yaml"
    path.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(ConfigError):
        read_yaml(path)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        read_yaml(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="is a directory"):
        read_yaml(tmp_path)


def test_value_parser_for_overrides() -> None:
    assert parse_yaml_value("{type: sgd, lr: 3e-3}", "--set x") == {"type": "sgd", "lr": 0.003}
    assert parse_yaml_value("[1, 2]", "--set x") == [1, 2]
    assert parse_yaml_value("null", "--set x") is None
    with pytest.raises(ConfigError) as info:
        parse_yaml_value("!!python/name:os.system", "--set a=!!python/name:os.system")
    assert str(info.value).startswith("--set a=!!python/name:os.system: tag")


@FUZZ
@given(st.text(max_size=300))
def test_random_text_only_parses_or_refuses(text: str) -> None:
    try:
        data, lines = parse_yaml(text, "fuzz.yaml")
    except ConfigError:
        return
    assert isinstance(data, dict)
    assert all(isinstance(line, int) and line >= 1 for line in lines.values())


_YAMLISH = st.text(alphabet=list("[]{}:,-&*!?|>'\"#%@` \n\tab01.eE+_<"), max_size=200)


@FUZZ
@given(_YAMLISH)
def test_yaml_shaped_noise_only_parses_or_refuses(text: str) -> None:
    # Any exception but ConfigError fails the test; a parse gives a mapping and its lines.
    with contextlib.suppress(ConfigError):
        value, lines = parse_yaml(text, "fuzz.yaml")
        assert isinstance(value, dict) and isinstance(lines, dict)


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes_only_parse_or_refuse(raw: bytes) -> None:
    with tempfile.NamedTemporaryFile(suffix=".yaml", delete=False) as handle:
        handle.write(raw)
    try:
        value, _ = read_yaml(handle.name)
        assert isinstance(value, dict)
    except ConfigError:
        pass
    finally:
        os.unlink(handle.name)
