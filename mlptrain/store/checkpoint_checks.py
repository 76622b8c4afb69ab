"""Checks of a checkpoint file before it is trusted: what safetensors itself does not check.

A checkpoint is something a user hands us. safetensors reads the structure (the header's
offsets must tile the data section exactly: no gaps, overlaps, truncation or size mismatches)
and extracts the tensors; around it, this module keeps what it lacks:

- caps before any allocation sized by the file: the header length (``MAX_HEADER_BYTES``), the
  number of dimensions, the total size of a shape; a regular file only (no FIFO or device);
- a friendly name for well-known foreign files (pickles, zips, ``.npy``, text), refused unread;
- strict JSON: duplicate keys (two readers may disagree on which one counts) and NaN refused;
- the mlptrain metadata (format, version, SHA-256, run state) and the dtypes we accept;
- BOOL tensors whose bytes are 0 or 1 only;
- one line of ``CheckpointError`` per problem, naming it: when safetensors refuses the layout,
  ``_explain_layout`` says where (which tensor, how many bytes).

Nothing is ever unpickled.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, NoReturn

import numpy as np
import safetensors

from mlptrain.errors import CheckpointError

FORMAT = "mlptrain"
FORMAT_VERSION = 1
MAX_HEADER_BYTES = 16 * 2**20
MAX_NDIM = 32  # numpy's own limit is 32 (1.x) or 64 (2.x); stay under both

# safetensors dtype tags we read and write. Little-endian on disk, whatever the host.
DTYPES: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype("|b1"),
    "U8": np.dtype("|u1"),
    "I8": np.dtype("|i1"),
    "U16": np.dtype("<u2"),
    "I16": np.dtype("<i2"),
    "U32": np.dtype("<u4"),
    "I32": np.dtype("<i4"),
    "U64": np.dtype("<u8"),
    "I64": np.dtype("<i8"),
    "F16": np.dtype("<f2"),
    "F32": np.dtype("<f4"),
    "F64": np.dtype("<f8"),
}
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_ENTRY_KEYS = {"dtype", "shape", "data_offsets"}


@dataclass
class _TensorEntry:
    name: str
    tag: str
    shape: tuple[int, ...]
    begin: int
    end: int


@dataclass
class Validated:
    """A checkpoint file that passed every check: its tensors (writable copies in native byte
    order), its ``__metadata__``, the parsed run state, and the layout for ``inspect``."""

    path: Path
    file_bytes: int
    metadata: dict[str, str]
    meta: dict[str, Any]
    entries: list[_TensorEntry]
    tensors: dict[str, np.ndarray]


class _DuplicateKeyError(ValueError):
    pass


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook``: JSON allows repeated keys and keeps the last; we refuse them, since
    two readers may disagree on which one counts."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKeyError(key)
        result[key] = value
    return result


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


def _strict_json(text: str) -> Any:
    return json.loads(text, object_pairs_hook=_refuse_duplicates, parse_constant=_refuse_constant)


def _quote(name: str, limit: int = 60) -> str:
    """A name from the file, quoted and shortened: it may hold newlines or be megabytes long."""
    quoted = json.dumps(name)
    return quoted if len(quoted) <= limit else quoted[: limit - 4] + '..."'


def _sniff(head: bytes) -> str | None:
    """A friendlier problem for well-known non-safetensors files, from their first bytes."""
    if len(head) >= 2 and head[0] == 0x80 and 1 <= head[1] <= 5:
        return "looks like a pickle file (refused: mlptrain never unpickles)"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return (
            "looks like a zip file, e.g. a PyTorch .pt or NumPy .npz (refused: mlptrain never "
            "unpickles)"
        )
    if head.startswith(b"\x93NUMPY"):
        return "looks like a NumPy .npy file (refused: mlptrain never unpickles)"
    if head and all(32 <= byte < 127 or byte in b"\t\r\n" for byte in head[:8]):
        return "looks like a text file, not a safetensors checkpoint"
    return None


def _invalid(path: Path, problem: str, head: bytes = b"") -> NoReturn:
    """Raise the one-line error, naming a well-known foreign kind of file if ``head`` shows one.

    Callers pass ``head`` (the first bytes) only when the file is shorter than 8 bytes or its
    length field is beyond ``MAX_HEADER_BYTES``: a real checkpoint's header length is below
    2**24, so its high bytes are zero and a truncated checkpoint is never taken for a pickle.
    """
    raise CheckpointError(f"{path}: not a valid mlptrain checkpoint: {_sniff(head) or problem}")


def read_validated(path: Path) -> Validated:
    """Read and check the checkpoint at ``path``; every problem is one ``CheckpointError``."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint") from None
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read the checkpoint: {_strerror(exc)}") from exc
    if stat.S_ISDIR(mode):
        raise CheckpointError(f"{path}: no such checkpoint (it is a directory, not a file)")
    if not stat.S_ISREG(mode):  # a FIFO or device could block or never end
        raise CheckpointError(f"{path}: no such checkpoint (not a regular file)")
    try:
        with open(path, "rb") as handle:
            return _validate_stream(path, handle)
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read the checkpoint: {_strerror(exc)}") from exc


def _strerror(exc: OSError) -> str:
    return os.strerror(exc.errno) if exc.errno else str(exc)


def _validate_stream(path: Path, handle: BinaryIO) -> Validated:
    file_bytes = os.fstat(handle.fileno()).st_size
    head = handle.read(8)
    if file_bytes == 0:
        _invalid(path, "the file is empty (0 bytes)")
    if len(head) < 8:
        _invalid(path, f"the file has only {len(head)} bytes, less than the 8-byte header", head)
    header_len = int.from_bytes(head, "little")
    if header_len > MAX_HEADER_BYTES:
        _invalid(
            path,
            f"header length field says {header_len} bytes, more than the {MAX_HEADER_BYTES} "
            "allowed",
            head,
        )
    if 8 + header_len > file_bytes:
        _invalid(
            path,
            f"header claims {header_len} bytes but the file has only {file_bytes - 8} after "
            "the 8-byte length field; the file is truncated",
        )
    raw_header = handle.read(header_len)
    if len(raw_header) != header_len:
        _invalid(path, "the file changed size while being read")
    header = _parse_header(path, raw_header)
    metadata, meta = _check_metadata(path, header.pop("__metadata__", None))
    data_len = file_bytes - 8 - header_len
    entries = [_check_entry(path, name, entry) for name, entry in header.items()]
    data = handle.read(data_len)
    if len(data) != data_len or handle.read(1):
        _invalid(path, "the file changed size while being read")
    try:
        loaded = safetensors.deserialize(head + raw_header + data)
    except safetensors.SafetensorError as exc:
        _invalid(path, _explain_layout(entries, data_len) or _quote(str(exc), 200))
    tensors = _tensors_from(path, loaded)
    return Validated(path, file_bytes, metadata, meta, entries, tensors)


def _parse_header(path: Path, raw_header: bytes) -> dict[str, Any]:
    try:
        text = raw_header.decode("utf-8")
    except UnicodeDecodeError as exc:
        _invalid(path, f"header is not valid UTF-8 (at header byte {exc.start})")
    return _json_object(path, text, what="header", position="header byte")


def _json_object(path: Path, text: str, *, what: str, position: str) -> dict[str, Any]:
    """``text`` parsed as one JSON object, strictly; every problem is one ``_invalid`` line."""
    try:
        value = _strict_json(text)
    except _DuplicateKeyError as exc:
        _invalid(path, f"{what} has the key {_quote(str(exc))} more than once")
    except json.JSONDecodeError as exc:
        _invalid(path, f"{what} is not valid JSON: {exc.msg} at {position} {exc.pos}")
    except RecursionError:
        _invalid(path, f"{what} is nested too deeply")
    except ValueError as exc:
        _invalid(path, f"{what} is not valid JSON: {exc}")
    if not isinstance(value, dict):
        _invalid(path, f"{what} is a JSON {type(value).__name__}, expected an object")
    return value


def _check_metadata(path: Path, metadata: Any) -> tuple[dict[str, str], dict[str, Any]]:
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        if not isinstance(metadata, dict):
            found = "no __metadata__"
        elif "format" not in metadata:
            found = "__metadata__ has no format"
        else:
            found = f"__metadata__ format {_quote(str(metadata['format']))}"
        raise CheckpointError(
            f"{path}: not an mlptrain checkpoint: a safetensors file without mlptrain metadata "
            f"({found}); was it written by another program?"
        )
    for key, value in metadata.items():
        if not isinstance(value, str):
            _invalid(path, f"__metadata__ value of {_quote(key)} is not a string")
    version_text = metadata.get("format_version")
    if version_text is None:
        _invalid(path, "__metadata__ has no format_version")
    if not re.fullmatch(r"[0-9]{1,9}", version_text):
        _invalid(path, f"__metadata__ format_version {_quote(version_text)} is not an integer")
    version = int(version_text)
    if version != FORMAT_VERSION:
        if version > FORMAT_VERSION:
            age, advice = "a newer", "upgrade mlptrain to load it"
        else:
            age, advice = "an older", "load it with the mlptrain release that wrote it"
        raise CheckpointError(
            f"{path}: written by {age} format version {version}; this mlptrain reads version "
            f"{FORMAT_VERSION} ({advice})"
        )
    digest = metadata.get("sha256")
    if digest is None or not _SHA256_HEX.fullmatch(digest):
        _invalid(path, "__metadata__ sha256 is missing or not 64 lowercase hex digits")
    meta_text = metadata.get("meta")
    if meta_text is None:
        _invalid(path, "__metadata__ has no meta")
    meta = _json_object(path, meta_text, what="__metadata__ meta", position="char")
    return metadata, meta


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_entry(path: Path, name: str, entry: Any) -> _TensorEntry:
    """The checks safetensors lacks, before anything sized by the entry is allocated."""
    label = f"tensor {_quote(name)}"
    if not name:
        _invalid(path, "a tensor has an empty name")
    if not isinstance(entry, dict) or set(entry) != _ENTRY_KEYS:
        _invalid(path, f"{label} must be an object with exactly dtype, shape and data_offsets")
    tag = entry["dtype"]
    if not isinstance(tag, str) or tag not in DTYPES:
        allowed = ", ".join(DTYPES)
        shown = _quote(tag) if isinstance(tag, str) else repr(type(tag).__name__)
        _invalid(path, f"{label} has dtype {shown}; allowed: {allowed}")
    shape = entry["shape"]
    if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape):
        _invalid(path, f"{label} shape must be a list of non-negative integers")
    if len(shape) > MAX_NDIM:
        _invalid(path, f"{label} has {len(shape)} dimensions; at most {MAX_NDIM} are supported")
    itemsize = DTYPES[tag].itemsize
    # numpy refuses shapes whose non-zero extents overflow, even for empty arrays.
    if math.prod(max(d, 1) for d in shape) * itemsize >= 2**62:
        _invalid(path, f"{label} shape {shape} is too large")
    offsets = entry["data_offsets"]
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(_is_int(o) and o >= 0 for o in offsets)
    ):
        _invalid(path, f"{label} data_offsets must be two non-negative integers [begin, end]")
    begin, end = offsets
    return _TensorEntry(name, tag, tuple(shape), begin, end)


def _explain_layout(entries: list[_TensorEntry], data_len: int) -> str | None:
    """Where the layout safetensors refused goes wrong, in words (None: no explanation found).

    Tensors must tile the data section exactly: each entry's offsets in order and spanning its
    shape's bytes, no gaps, no overlaps, no trailing bytes.
    """
    for entry in entries:
        label = f"tensor {_quote(entry.name)}"
        begin, end = entry.begin, entry.end
        if begin > end:
            return f"{label} data_offsets [{begin}, {end}] end before they begin"
        if end > data_len:
            return (
                f"{label} data_offsets [{begin}, {end}] run past the end of the data section "
                f"({data_len} bytes); the file is truncated"
            )
        expected_bytes = math.prod(entry.shape) * DTYPES[entry.tag].itemsize
        if end - begin != expected_bytes:
            return (
                f"{label} is {entry.tag} with shape {list(entry.shape)} ({expected_bytes} bytes) "
                f"but its data_offsets span {end - begin} bytes"
            )
    position = 0
    for entry in sorted(entries, key=lambda e: (e.begin, e.end)):
        if entry.begin < position:
            return f"tensor {_quote(entry.name)} overlaps the tensor before it"
        if entry.begin > position:
            return (
                f"gap of {entry.begin - position} unreferenced bytes before tensor "
                f"{_quote(entry.name)}"
            )
        position = entry.end
    if position != data_len:
        return (
            f"{data_len - position} bytes of extra data after the last tensor (the data section "
            f"is {data_len} bytes, the tensors use {position})"
        )
    return None


def _tensors_from(path: Path, loaded: list[tuple[str, dict[str, Any]]]) -> dict[str, np.ndarray]:
    """Arrays from what safetensors extracted; copies, so they are writable and own their memory."""
    tensors: dict[str, np.ndarray] = {}
    for name, info in loaded:
        stored = DTYPES[info["dtype"]]
        raw = np.frombuffer(info["data"], dtype=stored)
        if info["dtype"] == "BOOL" and raw.size and raw.view(np.uint8).max() > 1:
            # numpy bools are one byte of 0 or 1; other values give inconsistent comparisons.
            _invalid(path, f"tensor {_quote(name)} has BOOL bytes other than 0 or 1")
        # reshape before the copy so the result owns its buffer rather than viewing a copy.
        tensors[name] = raw.reshape(info["shape"]).astype(stored.newbyteorder("="), copy=True)
    return tensors
