"""Checkpoints: bit-exact round trips, inspection, and every kind of hostile file we refuse."""

from __future__ import annotations

import errno
import io
import json
import os
import pickle  # only to produce hostile bytes; mlptrain itself never imports it
import tracemalloc
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import safetensors.numpy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mlptrain
from mlptrain.errors import CheckpointError, RunError
from mlptrain.store import atomic
from mlptrain.store.checkpoint import (
    Checkpoint,
    checkpoint_digest,
    expect_tensors,
    inspect_checkpoint,
    load_checkpoint,
    save_checkpoint,
    tensors_digest,
)
from mlptrain.store.checkpoint_checks import FORMAT_VERSION, MAX_HEADER_BYTES

FUZZ_EXAMPLES = int(os.environ.get("MLPTRAIN_FUZZ_EXAMPLES", 200))
PACKAGE_DIR = Path(mlptrain.__file__).parent


def _tensors() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    weights = rng.standard_normal((4, 3)).astype(np.float32)
    weights[0, 0] = np.nan  # tensors may hold any bit pattern; they must come back exact
    weights[0, 1] = -0.0
    return {
        "model.0.W": weights,
        "model.0.b": rng.standard_normal(3),
        "optim.step": np.array(17, dtype=np.int64),
        "data.labels": np.arange(5, dtype=np.int64),
    }


META: dict[str, Any] = {
    "epoch": 7,
    "step": 140,
    "config": {"model": {"layers": [{"type": "linear", "out": 3}]}, "seed": 0, "lr": 1e-3},
    "rng": {"bit_generator": "PCG64", "state": {"state": 2**100 + 1, "inc": 3}},
    "labels": ["cat", "dog", "ünïcode"],
    "metrics": {"val_loss": 0.25, "history": [1.0, 0.5, None]},
}


def _bits(array: np.ndarray) -> bytes:
    return np.ascontiguousarray(array).tobytes()


@pytest.fixture
def ckpt_path(tmp_path: Path) -> Path:
    path = tmp_path / "model.safetensors"
    save_checkpoint(path, _tensors(), META)
    return path


def _load_error(path: Path) -> str:
    """Load a file that must be refused; check the common contract and return the message."""
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert info.value.exit_code == 2
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    return message


def _craft(
    path: Path,
    entries: dict[str, Any] | str,
    data: bytes = b"",
    metadata: dict[str, str] | None = None,
) -> Path:
    """Write a hand-made safetensors file; ``entries`` may be raw header JSON text."""
    if isinstance(entries, str):
        header = entries
    else:
        full = {"__metadata__": metadata if metadata is not None else _metadata(), **entries}
        header = json.dumps(full)
    raw = header.encode("utf-8")
    path.write_bytes(len(raw).to_bytes(8, "little") + raw + data)
    return path


def _metadata(**overrides: str) -> dict[str, str]:
    metadata = {
        "format": "mlptrain",
        "format_version": "1",
        "mlptrain_version": mlptrain.__version__,
        "sha256": "0" * 64,
        "meta": "{}",
    }
    metadata.update(overrides)
    return metadata


# Round trips.


def test_round_trip_is_bit_exact(ckpt_path: Path) -> None:
    tensors = _tensors()
    ckpt = load_checkpoint(ckpt_path)
    assert isinstance(ckpt, Checkpoint)
    assert ckpt.path == ckpt_path
    assert ckpt.meta == META
    assert set(ckpt.tensors) == set(tensors)
    for name, array in tensors.items():
        loaded = ckpt.tensors[name]
        assert loaded.dtype == array.dtype
        assert loaded.shape == array.shape
        assert _bits(loaded) == _bits(array)
        assert loaded.flags.writeable and loaded.flags.owndata and loaded.flags.c_contiguous


def test_round_trip_of_awkward_arrays(tmp_path: Path) -> None:
    base = np.arange(24, dtype=np.float64).reshape(4, 6)
    tensors = {
        "strided": base[:, ::2],  # not contiguous: must be made so, not saved as garbage
        "fortran": np.asfortranarray(base),
        "big_endian": np.arange(5, dtype=">i4"),
        "empty": np.zeros((0, 3), dtype=np.float32),
        "scalar": np.array(2.5, dtype=np.float32),
        "mask": np.array([True, False, True]),
        "half": np.array([1.5, -2.0], dtype=np.float16),
        "bytes": np.arange(4, dtype=np.uint8),
    }
    path = tmp_path / "awkward.safetensors"
    save_checkpoint(path, tensors, {})
    loaded = load_checkpoint(path).tensors
    for name, array in tensors.items():
        assert loaded[name].shape == array.shape, name
        assert loaded[name].dtype == array.dtype.newbyteorder("="), name
        np.testing.assert_array_equal(loaded[name], array)
    assert tensors_digest(loaded) == tensors_digest(tensors)


def test_empty_tensor_dict(tmp_path: Path) -> None:
    path = tmp_path / "empty.safetensors"
    save_checkpoint(path, {}, {"epoch": 0})
    ckpt = load_checkpoint(path)
    assert ckpt.tensors == {} and ckpt.meta == {"epoch": 0}


def test_saved_file_is_plain_safetensors(ckpt_path: Path) -> None:
    # Other tools can read our checkpoints; the metadata says what they are.
    loaded = safetensors.numpy.load(ckpt_path.read_bytes())
    assert set(loaded) == set(_tensors())
    header_len = int.from_bytes(ckpt_path.read_bytes()[:8], "little")
    header = json.loads(ckpt_path.read_bytes()[8 : 8 + header_len])
    metadata = header["__metadata__"]
    assert metadata["format"] == "mlptrain"
    assert metadata["format_version"] == str(FORMAT_VERSION)
    assert metadata["mlptrain_version"] == mlptrain.__version__
    assert metadata["sha256"] == checkpoint_digest(_tensors(), metadata["meta"])
    assert json.loads(metadata["meta"]) == META


def test_digest_depends_on_names_dtypes_shapes_and_bytes() -> None:
    base = {"a": np.zeros(4, dtype=np.float32)}
    digests = {
        tensors_digest(base),
        tensors_digest({"b": np.zeros(4, dtype=np.float32)}),
        tensors_digest({"a": np.zeros(4, dtype=np.int32)}),
        tensors_digest({"a": np.zeros((2, 2), dtype=np.float32)}),
        tensors_digest({"a": np.array([0, 0, 0, 1], dtype=np.float32)}),
        tensors_digest({}),
    }
    assert len(digests) == 6
    # Insertion order and memory layout do not matter, only content.
    pair = {"x": np.ones(2), "y": np.arange(6.0).reshape(2, 3)}
    swapped = {"y": np.asfortranarray(pair["y"]), "x": pair["x"]}
    assert tensors_digest(pair) == tensors_digest(swapped)


def test_save_refuses_unsafe_meta_and_dtypes(tmp_path: Path) -> None:
    path = tmp_path / "x.safetensors"
    with pytest.raises(ValueError, match="JSON-safe"):
        save_checkpoint(path, {}, {"loss": float("nan")})
    with pytest.raises(ValueError, match="JSON-safe"):
        save_checkpoint(path, {}, {"loss": np.float32(1.0)})
    with pytest.raises(TypeError, match="cannot be stored"):
        save_checkpoint(path, {"a": np.array(["text"])}, {})
    with pytest.raises(TypeError, match="cannot be stored"):
        save_checkpoint(path, {"a": np.zeros(2, dtype=object)}, {})
    with pytest.raises(ValueError, match="__metadata__"):
        save_checkpoint(path, {"__metadata__": np.zeros(1)}, {})
    assert not path.exists()


def test_save_io_failure_keeps_previous_checkpoint(
    ckpt_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = ckpt_path.read_bytes()

    def full_disk(*args: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic, "_os_write", full_disk)
    with pytest.raises(RunError) as info:
        save_checkpoint(ckpt_path, {"a": np.zeros(3)}, {})
    assert info.value.exit_code == 1
    assert str(ckpt_path) in str(info.value)
    assert ckpt_path.read_bytes() == before


# Inspect.


def test_inspect(ckpt_path: Path) -> None:
    info = inspect_checkpoint(ckpt_path)
    assert info["integrity"] == "ok"
    assert info["file_bytes"] == ckpt_path.stat().st_size
    assert info["format_version"] == 1
    assert info["mlptrain_version"] == mlptrain.__version__
    assert info["meta"] == META
    assert info["n_tensors"] == 4
    by_name = {t["name"]: t for t in info["tensors"]}
    assert by_name["model.0.W"] == {
        "name": "model.0.W",
        "dtype": "float32",
        "shape": [4, 3],
        "nbytes": 48,
    }
    assert by_name["optim.step"]["shape"] == []
    assert [t["name"] for t in info["tensors"]] == sorted(by_name)
    json.dumps(info)  # printable as JSON as is


def test_inspect_reports_damage_without_raising(ckpt_path: Path) -> None:
    data = bytearray(ckpt_path.read_bytes())
    data[-1] ^= 0x01
    ckpt_path.write_bytes(bytes(data))
    info = inspect_checkpoint(ckpt_path)
    assert info["integrity"].startswith("integrity check failed")
    assert "do not match their SHA-256" in _load_error(ckpt_path)


def test_inspect_still_refuses_structural_damage(tmp_path: Path) -> None:
    path = tmp_path / "junk.safetensors"
    path.write_text("hello world, not a checkpoint")
    with pytest.raises(CheckpointError, match="not a valid mlptrain checkpoint"):
        inspect_checkpoint(path)


# Files that are not there.


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.safetensors"
    assert _load_error(path) == f"{path}: no such checkpoint"


def test_directory(tmp_path: Path) -> None:
    assert "no such checkpoint (it is a directory" in _load_error(tmp_path)


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.safetensors"
    os.mkfifo(fifo)
    assert "not a regular file" in _load_error(fifo)


# Damaged checkpoints.


def test_zero_length(tmp_path: Path) -> None:
    path = tmp_path / "empty.safetensors"
    path.write_bytes(b"")
    assert _load_error(path).endswith(
        "not a valid mlptrain checkpoint: the file is empty (0 bytes)"
    )


@pytest.mark.parametrize("where", ["in_length", "in_header", "header_end", "in_data", "last_byte"])
def test_truncated(ckpt_path: Path, where: str) -> None:
    data = ckpt_path.read_bytes()
    header_len = int.from_bytes(data[:8], "little")
    cut = {
        "in_length": 5,
        "in_header": 8 + header_len // 2,
        "header_end": 8 + header_len,
        "in_data": 8 + header_len + 20,
        "last_byte": len(data) - 1,
    }[where]
    ckpt_path.write_bytes(data[:cut])
    message = _load_error(ckpt_path)
    assert "not a valid mlptrain checkpoint" in message
    expected = {
        "in_length": "the file has only 5 bytes",
        "in_header": f"header claims {header_len} bytes but the file has only",
        "header_end": "the file is truncated",
        "in_data": "the file is truncated",
        "last_byte": "the file is truncated",
    }[where]
    assert expected in message


def test_extra_trailing_bytes(ckpt_path: Path) -> None:
    ckpt_path.write_bytes(ckpt_path.read_bytes() + b"\x00" * 3)
    assert "3 bytes of extra data after the last tensor" in _load_error(ckpt_path)


@pytest.mark.parametrize("offset_from_end", [1, 9, 48])
def test_bit_flip_in_data(ckpt_path: Path, offset_from_end: int) -> None:
    data = bytearray(ckpt_path.read_bytes())
    data[-offset_from_end] ^= 0x10
    ckpt_path.write_bytes(bytes(data))
    assert _load_error(ckpt_path) == (
        f"{ckpt_path}: integrity check failed: tensors and metadata do not match their "
        "SHA-256; the file is damaged (use another checkpoint or train again)"
    )


def test_bit_flip_in_header_structure(ckpt_path: Path) -> None:
    data = bytearray(ckpt_path.read_bytes())
    data[8] ^= 0x01  # the opening brace of the header JSON becomes "z"
    ckpt_path.write_bytes(bytes(data))
    assert "header is not valid JSON" in _load_error(ckpt_path)


def test_bit_flip_in_stored_hash(ckpt_path: Path) -> None:
    data = bytearray(ckpt_path.read_bytes())
    header = json.loads(data[8 : 8 + int.from_bytes(data[:8], "little")])
    digest = header["__metadata__"]["sha256"].encode()
    at = data.index(digest)
    data[at] = ord("0") if data[at] != ord("0") else ord("1")
    ckpt_path.write_bytes(bytes(data))
    assert "integrity check failed" in _load_error(ckpt_path)


def test_bit_flip_in_shape(ckpt_path: Path) -> None:
    data = bytearray(ckpt_path.read_bytes())
    at = data.index(b'"shape":[4,3]') + len(b'"shape":[')
    data[at] ^= 0x01  # 4 -> 5: the byte count no longer matches
    ckpt_path.write_bytes(bytes(data))
    assert "with shape [5, 3] (60 bytes) but its data_offsets span 48 bytes" in _load_error(
        ckpt_path
    )


# Foreign files.


def test_text_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.safetensors"
    path.write_text("epoch,loss\n1,0.5\n")
    assert _load_error(path).endswith(
        "not a valid mlptrain checkpoint: looks like a text file, not a safetensors checkpoint"
    )


def test_tiny_text_file(tmp_path: Path) -> None:
    path = tmp_path / "tiny.safetensors"
    path.write_text("hi")
    assert "looks like a text file" in _load_error(path)


def test_random_bytes(tmp_path: Path) -> None:
    path = tmp_path / "random.safetensors"
    path.write_bytes(np.random.default_rng(1).bytes(4096))
    assert "not a valid mlptrain checkpoint" in _load_error(path)


def test_huge_header_length_is_refused_without_allocating(tmp_path: Path) -> None:
    path = tmp_path / "huge.safetensors"
    path.write_bytes((2**62).to_bytes(8, "little") + b"{}")
    tracemalloc.start()
    try:
        message = _load_error(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert f"header length field says {2**62} bytes, more than the {MAX_HEADER_BYTES}" in message
    assert peak < 1 << 20


class _Trap:
    """Unpickling this opens (creates) the marker file: proof that something was unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_pickle_renamed(tmp_path: Path, protocol: int) -> None:
    marker = tmp_path / "unpickled"
    path = tmp_path / "model.safetensors"
    path.write_bytes(pickle.dumps({"w": [1.0, 2.0], "trap": _Trap(marker)}, protocol=protocol))
    message = _load_error(path)
    assert message == (
        f"{path}: not a valid mlptrain checkpoint: looks like a pickle file "
        "(refused: mlptrain never unpickles)"
    )
    assert not marker.exists()


def test_npy_object_array_renamed(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    path = tmp_path / "array.safetensors"
    path.write_bytes(buffer.getvalue())
    assert "looks like a NumPy .npy file (refused: mlptrain never unpickles)" in _load_error(path)


@pytest.mark.parametrize("members", [{"data.pkl": b"\x80\x04N."}, {}])
def test_zip_renamed(tmp_path: Path, members: dict[str, bytes]) -> None:
    # PyTorch .pt files and NumPy .npz files are zip archives.
    path = tmp_path / "model.safetensors"
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    assert "looks like a zip file" in _load_error(path)


def test_foreign_safetensors_without_metadata(tmp_path: Path) -> None:
    path = tmp_path / "foreign.safetensors"
    path.write_bytes(safetensors.numpy.save({"weight": np.zeros((2, 2), dtype=np.float32)}))
    assert _load_error(path) == (
        f"{path}: not an mlptrain checkpoint: a safetensors file without mlptrain metadata "
        "(no __metadata__); was it written by another program?"
    )


def test_foreign_safetensors_with_other_metadata(tmp_path: Path) -> None:
    path = tmp_path / "foreign.safetensors"
    data = safetensors.numpy.save({"w": np.zeros(2)}, metadata={"format": "pt"})
    path.write_bytes(data)
    assert _load_error(path).startswith(
        f"{path}: not an mlptrain checkpoint: a safetensors file without mlptrain metadata "
        '(__metadata__ format "pt")'
    )


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("2", "written by a newer format version 2; this mlptrain reads version 1"),
        ("0", "written by an older format version 0; this mlptrain reads version 1"),
        ("v1", 'format_version "v1" is not an integer'),
    ],
)
def test_wrong_format_version(tmp_path: Path, version: str, expected: str) -> None:
    path = _craft(tmp_path / "v.safetensors", {}, metadata=_metadata(format_version=version))
    assert expected in _load_error(path)


# Hand-made headers that lie.

ENTRY_A = '"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}'


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            '{"__metadata__":{"format":"mlptrain","format":"x"},' + ENTRY_A + "}",
            'header has the key "format" more than once',
        ),
        (
            '{"__metadata__":' + json.dumps(_metadata()) + "," + ENTRY_A + "," + ENTRY_A + "}",
            'header has the key "a" more than once',
        ),
        (
            '{"__metadata__":'
            + json.dumps(_metadata(meta='{"epoch": 1, "epoch": 2}'))
            + ","
            + ENTRY_A
            + "}",
            '__metadata__ meta has the key "epoch" more than once',
        ),
        ("[1, 2, 3]", "header is a JSON list, expected an object"),
        ('{"__metadata__": NaN}', "header is not valid JSON"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ],
)
def test_hostile_header_json(tmp_path: Path, header: str, expected: str) -> None:
    path = _craft(tmp_path / "h.safetensors", header, b"\x00" * 8)
    message = _load_error(path)
    assert "not a valid mlptrain checkpoint" in message
    assert expected in message


def test_header_not_utf8(tmp_path: Path) -> None:
    raw = b'{"__metadata__":{"format":"\xff"}}'
    path = tmp_path / "u.safetensors"
    path.write_bytes(len(raw).to_bytes(8, "little") + raw)
    assert "header is not valid UTF-8 (at header byte 27)" in _load_error(path)


def _entry(dtype: Any = "F32", shape: Any = (2,), offsets: Any = (0, 8)) -> dict[str, Any]:
    return {"dtype": dtype, "shape": list(shape), "data_offsets": list(offsets)}


@pytest.mark.parametrize(
    ("entries", "data_len", "expected"),
    [
        (
            {"a": _entry(offsets=(0, 8)), "b": _entry(offsets=(4, 12))},
            12,
            'tensor "b" overlaps the tensor before it',
        ),
        (
            {"a": _entry(offsets=(0, 8)), "b": _entry(offsets=(0, 8))},
            16,
            "overlaps the tensor before it",
        ),
        (
            {"a": _entry(offsets=(4, 12))},
            12,
            'gap of 4 unreferenced bytes before tensor "a"',
        ),
        (
            {"a": _entry(shape=(3,), offsets=(0, 8))},
            8,
            'tensor "a" is F32 with shape [3] (12 bytes) but its data_offsets span 8 bytes',
        ),
        (
            {"a": _entry(dtype="F64", shape=(2,), offsets=(0, 8))},
            8,
            "is F64 with shape [2] (16 bytes) but its data_offsets span 8 bytes",
        ),
        ({"a": _entry(offsets=(0, 16))}, 8, "run past the end of the data section (8 bytes)"),
        ({"a": _entry(offsets=(8, 0))}, 8, "end before they begin"),
        ({"a": _entry(offsets=(-8, 0))}, 8, "data_offsets must be two non-negative integers"),
        ({"a": _entry(offsets=(0,))}, 8, "data_offsets must be two non-negative integers"),
        ({"a": _entry(dtype="BF16")}, 8, 'tensor "a" has dtype "BF16"; allowed: BOOL, U8'),
        ({"a": _entry(dtype="object")}, 8, 'has dtype "object"'),
        ({"a": _entry(dtype=4)}, 8, "has dtype 'int'"),
        ({"a": _entry(shape=(-2,))}, 8, "shape must be a list of non-negative integers"),
        ({"a": _entry(shape=(2.0,))}, 8, "shape must be a list of non-negative integers"),
        ({"a": _entry(shape=(True, 2))}, 8, "shape must be a list of non-negative integers"),
        ({"a": _entry(shape=(1,) * 40)}, 8, "has 40 dimensions; at most 32"),
        ({"a": _entry(shape=(2**40, 2**40, 0), offsets=(0, 0))}, 0, "is too large"),
        ({"a": {"dtype": "F32", "shape": [2]}}, 8, "exactly dtype, shape and data_offsets"),
        ({"a": {**_entry(), "extra": 1}}, 8, "exactly dtype, shape and data_offsets"),
        ({"a": [1, 2]}, 8, "exactly dtype, shape and data_offsets"),
        ({"": _entry()}, 8, "a tensor has an empty name"),
        ({}, 8, "8 bytes of extra data after the last tensor"),
        ({"a\nb": _entry(dtype="X")}, 8, 'tensor "a\\nb" has dtype'),
    ],
)
def test_hostile_tensor_entries(
    tmp_path: Path, entries: dict[str, Any], data_len: int, expected: str
) -> None:
    path = _craft(tmp_path / "e.safetensors", entries, b"\x00" * data_len)
    message = _load_error(path)
    assert f"{path}: not a valid mlptrain checkpoint: " in message
    assert expected in message


def test_long_names_are_shortened_in_messages(tmp_path: Path) -> None:
    path = _craft(tmp_path / "n.safetensors", {"x" * 10_000: _entry(dtype="X")}, b"\x00" * 8)
    assert len(_load_error(path)) < 300


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        (_metadata(meta="[1, 2]"), "__metadata__ meta is a JSON list, expected an object"),
        (_metadata(meta="{oops"), "__metadata__ meta is not valid JSON"),
        (_metadata(meta='{"loss": NaN}'), "__metadata__ meta is not valid JSON"),
        (_metadata(sha256="abc"), "sha256 is missing or not 64 lowercase hex digits"),
        ({"format": "mlptrain", "format_version": "1"}, "sha256 is missing"),
        ({"format": "mlptrain"}, "__metadata__ has no format_version"),
        (
            {k: v for k, v in _metadata().items() if k != "meta"},
            "__metadata__ has no meta",
        ),
        ({**_metadata(), "extra": 5}, '__metadata__ value of "extra" is not a string'),
    ],
)
def test_hostile_metadata(tmp_path: Path, metadata: dict[str, Any], expected: str) -> None:
    path = _craft(tmp_path / "m.safetensors", {}, metadata=metadata)
    assert expected in _load_error(path)


def test_bool_tensor_with_bad_bytes(tmp_path: Path) -> None:
    entries = {"mask": {"dtype": "BOOL", "shape": [2], "data_offsets": [0, 2]}}
    path = _craft(tmp_path / "b.safetensors", entries, b"\x01\x02")
    assert 'tensor "mask" has BOOL bytes other than 0 or 1' in _load_error(path)


def test_crafted_file_with_correct_hash_loads(tmp_path: Path) -> None:
    # The validator accepts what the spec allows, not only what safetensors happens to write.
    tensors = {"b": np.array([1.0, 2.0], dtype=np.float32), "a": np.array([3], dtype=np.int64)}
    entries = {"b": _entry(offsets=(8, 16)), "a": _entry(dtype="I64", shape=(1,), offsets=(0, 8))}
    metadata = _metadata(sha256=checkpoint_digest(tensors, '{"k": [1]}'), meta='{"k": [1]}')
    data = tensors["a"].tobytes() + tensors["b"].tobytes()
    path = _craft(tmp_path / "ok.safetensors", entries, data, metadata=metadata)
    ckpt = load_checkpoint(path)
    assert ckpt.meta == {"k": [1]}
    np.testing.assert_array_equal(ckpt.tensors["b"], tensors["b"])


# Fitting a model.


def test_expect_tensors_accepts_a_match(ckpt_path: Path) -> None:
    ckpt = load_checkpoint(ckpt_path)
    expected = {"model.0.W": ((4, 3), np.float32), "model.0.b": ((3,), np.dtype("float64"))}
    assert expect_tensors(ckpt, expected, prefix="model.") is None  # raises on any mismatch


def test_expect_tensors_names_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "c.safetensors"
    save_checkpoint(
        path,
        {
            "model.0.W": np.zeros((64, 256), dtype=np.float32),
            "model.0.b": np.zeros(64, dtype=np.float64),
            "model.9.W": np.zeros(1, dtype=np.float32),
            "optim.m.0.W": np.zeros((64, 256), dtype=np.float32),
        },
        {},
    )
    ckpt = load_checkpoint(path)
    expected = {
        "model.0.W": ((64, 128), np.float32),
        "model.0.b": ((64,), np.float32),
        "model.2.W": ((10, 3), np.float32),
    }
    with pytest.raises(CheckpointError) as info:
        expect_tensors(ckpt, expected, prefix="model.")
    assert info.value.exit_code == 2
    assert info.value.problems == [  # type: ignore[attr-defined]
        "model.0.W: checkpoint has (64, 256), model expects (64, 128)",
        "model.0.b: checkpoint has float64, model expects float32",
        "model.2.W: missing from the checkpoint (model expects (10, 3) float32)",
        "model.9.W: in the checkpoint but not expected by the model",
    ]
    assert str(info.value).startswith(f"{path}: checkpoint does not fit the model (4 problems):")
    with pytest.raises(CheckpointError) as single:
        fitting = {"model.0.W": ((64, 256), np.float32), "model.0.b": ((64,), np.float32)}
        expect_tensors(ckpt, fitting, prefix="model.0.")
    assert str(single.value) == (
        f"{path}: checkpoint does not fit the model: "
        "model.0.b: checkpoint has float64, model expects float32"
    )


# Fuzzing: the only outcomes are a Checkpoint or a CheckpointError.

_FUZZ = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _valid_bytes() -> bytes:
    tensors = {"model.0.W": np.arange(6, dtype=np.float32).reshape(2, 3), "n": np.arange(2)}
    header = {
        "format": "mlptrain",
        "format_version": "1",
        "mlptrain_version": mlptrain.__version__,
        "sha256": checkpoint_digest(tensors, json.dumps({"epoch": 1, "labels": ["a", "b"]})),
        "meta": json.dumps({"epoch": 1, "labels": ["a", "b"]}),
    }
    return safetensors.numpy.save(tensors, metadata=header)


VALID = _valid_bytes()


def _outcome(path: Path, data: bytes) -> str:
    """ "loaded" or "refused" (one line, exit 2); any other exception fails the test."""
    path.write_bytes(data)
    try:
        ckpt = load_checkpoint(path)
    except CheckpointError as exc:
        assert exc.exit_code == 2
        assert "\n" not in str(exc)
        return "refused"
    assert isinstance(ckpt, Checkpoint)
    return "loaded"


@_FUZZ
@given(data=st.binary(max_size=2048))
def test_fuzz_random_bytes(tmp_path: Path, data: bytes) -> None:
    assert _outcome(tmp_path / "fuzz.safetensors", data) in ("loaded", "refused")


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(VALID)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "set", "truncate", "insert", "delete"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "truncate":
            del data[at:]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 16))]
    return bytes(data)


@_FUZZ
@given(data=_mutated())
def test_fuzz_mutated_checkpoint(tmp_path: Path, data: bytes) -> None:
    assert _outcome(tmp_path / "fuzz.safetensors", data) in ("loaded", "refused")


def test_fuzz_seed_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "seed.safetensors"
    path.write_bytes(VALID)
    assert load_checkpoint(path).meta == {"epoch": 1, "labels": ["a", "b"]}


def test_a_changed_meta_fails_the_integrity_check(tmp_path: Path) -> None:
    # A bit flip in the metadata JSON that still parses (here: epoch 1 -> epoch 7) is caught.
    path = tmp_path / "m.safetensors"
    save_checkpoint(path, _tensors(), {"epoch": 1})
    raw = path.read_bytes()
    assert raw.count(b'\\"epoch\\": 1') == 1
    path.write_bytes(raw.replace(b'\\"epoch\\": 1', b'\\"epoch\\": 7'))
    with pytest.raises(CheckpointError, match="integrity check failed"):
        load_checkpoint(path)
