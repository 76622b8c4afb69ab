"""Checkpoints: safetensors files with a SHA-256 of their tensors, and hostile-file validation.

Layout of a safetensors file: an 8-byte little-endian header length N, N bytes of JSON header
(``{"name": {"dtype", "shape", "data_offsets"}, ..., "__metadata__": {str: str}}``), then the
data section that ``data_offsets`` index into. ``__metadata__`` of an mlptrain checkpoint holds
``format`` ("mlptrain"), ``format_version``, ``mlptrain_version``, ``sha256`` (``checkpoint_digest``: tensors and meta)
and ``meta`` (JSON of the run state: resolved config, epoch, step, RNG state, labels, metrics).

A checkpoint is something a user hands us, so ``load_checkpoint`` reads and checks the header
itself, within fixed limits, before any allocation sized by the file or any library call: a
damaged or foreign file ends in one line of ``CheckpointError`` (exit 2). Nothing is ever
unpickled: pickles, zips and ``.npy`` files are recognised only to say so.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, NoReturn

import numpy as np
import safetensors.numpy

import mlptrain
from mlptrain.errors import CheckpointError
from mlptrain.store.atomic import atomic_write_bytes

FORMAT = "mlptrain"
FORMAT_VERSION = 1
# Where a run directory keeps its checkpoints (last.safetensors, best.safetensors).
CHECKPOINT_DIR = "checkpoints"
MAX_HEADER_BYTES = 16 * 2**20
MAX_NDIM = 32  # numpy's own limit is 32 (1.x) or 64 (2.x); stay under both

StrPath = str | os.PathLike[str]

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
_TAG_BY_KIND = {(dtype.kind, dtype.itemsize): tag for tag, dtype in DTYPES.items()}
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_ENTRY_KEYS = {"dtype", "shape", "data_offsets"}


@dataclass
class Checkpoint:
    """A loaded, verified checkpoint: tensors by dotted name, the run state, where it came from."""

    tensors: dict[str, np.ndarray]
    meta: dict[str, Any]
    path: Path


@dataclass
class _TensorEntry:
    name: str
    tag: str
    shape: tuple[int, ...]
    begin: int
    end: int


@dataclass
class _Validated:
    """Everything ``load`` and ``inspect`` need, after every structural check passed."""

    path: Path
    file_bytes: int
    metadata: dict[str, str]
    meta: dict[str, Any]
    entries: list[_TensorEntry]
    data: bytes


def _dtype_tag(dtype: np.dtype[Any]) -> str:
    tag = _TAG_BY_KIND.get((dtype.kind, dtype.itemsize))
    if tag is None:
        allowed = ", ".join(str(d) for d in DTYPES.values())
        raise TypeError(f"dtype {dtype} cannot be stored in a checkpoint; allowed: {allowed}")
    return tag


def _as_stored(array: np.ndarray) -> np.ndarray:
    """The array as it is laid out on disk: C order, little-endian, an allowed dtype."""
    array = np.asarray(array)
    tag = _dtype_tag(array.dtype)
    # asarray with order="C" keeps 0-d arrays 0-d (ascontiguousarray would make them 1-d).
    return np.asarray(array, dtype=DTYPES[tag], order="C")


def tensors_digest(tensors: Mapping[str, np.ndarray]) -> str:
    """SHA-256 hex over the tensors in sorted name order.

    Per tensor: a length-prefixed JSON record ``[name, dtype tag, shape]``, then the byte count
    and the raw little-endian C-order bytes. The length prefixes keep the encoding unambiguous,
    so no two different tensor sets share a preimage.
    """
    digest = hashlib.sha256()
    for name in sorted(tensors):
        array = _as_stored(tensors[name])
        record = json.dumps([name, _dtype_tag(array.dtype), list(array.shape)]).encode("utf-8")
        digest.update(len(record).to_bytes(8, "little"))
        digest.update(record)
        digest.update(array.nbytes.to_bytes(8, "little"))
        digest.update(array.reshape(-1).view(np.uint8))
    return digest.hexdigest()


def checkpoint_digest(tensors: Mapping[str, np.ndarray], meta_text: str) -> str:
    """The SHA-256 stored in a checkpoint: over the tensors (``tensors_digest``) and the exact
    ``meta`` JSON text, so a flipped bit in the config or the RNG state is caught as surely as
    one in the weights."""
    digest = hashlib.sha256(tensors_digest(tensors).encode("ascii"))
    meta_bytes = meta_text.encode("utf-8")
    digest.update(len(meta_bytes).to_bytes(8, "little"))
    digest.update(meta_bytes)
    return digest.hexdigest()


def save_checkpoint(path: StrPath, tensors: Mapping[str, np.ndarray], meta: dict[str, Any]) -> None:
    """Write ``tensors`` and ``meta`` to ``path`` atomically as a safetensors checkpoint.

    ``tensors``: dotted names (``model.0.W``, ``optim.m.0.W``, ``scaler.shift``) to arrays of an
    allowed dtype (made C-contiguous here). ``meta``: JSON-safe data, no NaN or infinity.
    An I/O failure raises ``RunError`` (exit 1) and leaves any previous file unchanged.
    """
    stored: dict[str, np.ndarray] = {}
    for name, array in tensors.items():
        if not isinstance(name, str) or not name or name == "__metadata__":
            raise ValueError(f"invalid tensor name {name!r}: a non-empty string, not __metadata__")
        stored[name] = _as_stored(array)
    try:
        meta_json = json.dumps(meta, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"checkpoint meta must be JSON-safe (plain dict/list/str/int/float/bool/None, no "
            f"NaN or infinity, no numpy scalars): {exc}"
        ) from exc
    metadata = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "mlptrain_version": mlptrain.__version__,
        "sha256": checkpoint_digest(stored, meta_json),
        "meta": meta_json,
    }
    atomic_write_bytes(path, safetensors.numpy.save(stored, metadata=metadata))


def load_checkpoint(path: StrPath) -> Checkpoint:
    """Read, validate and verify a checkpoint; every problem is one line of ``CheckpointError``."""
    valid = _read_validated(Path(path))
    tensors = _tensors_from(valid)
    if checkpoint_digest(tensors, valid.metadata["meta"]) != valid.metadata["sha256"]:
        raise CheckpointError(f"{valid.path}: {_INTEGRITY_FAILED}")
    return Checkpoint(tensors=tensors, meta=valid.meta, path=valid.path)


_INTEGRITY_FAILED = (
    "integrity check failed: tensors and metadata do not match their SHA-256; the file is "
    "damaged (use another checkpoint or train again)"
)


def inspect_checkpoint(path: StrPath) -> dict[str, Any]:
    """What a checkpoint holds, as JSON-safe data, for ``mlptrain inspect``.

    Structural problems raise ``CheckpointError`` as in ``load_checkpoint``; a hash mismatch does
    not: it is reported under ``"integrity"`` (``"ok"`` or the problem) so a damaged file can
    still be looked at.
    """
    valid = _read_validated(Path(path))
    tensors = _tensors_from(valid)
    stored_hash = valid.metadata["sha256"]
    integrity = (
        "ok"
        if checkpoint_digest(tensors, valid.metadata["meta"]) == stored_hash
        else _INTEGRITY_FAILED
    )
    described = [
        {
            "name": entry.name,
            "dtype": str(DTYPES[entry.tag].newbyteorder("=")),
            "shape": list(entry.shape),
            "nbytes": entry.end - entry.begin,
        }
        for entry in sorted(valid.entries, key=lambda e: e.name)
    ]
    return {
        "path": str(valid.path),
        "file_bytes": valid.file_bytes,
        "format": valid.metadata["format"],
        "format_version": int(valid.metadata["format_version"]),
        "mlptrain_version": valid.metadata.get("mlptrain_version", "unknown"),
        "sha256": stored_hash,
        "integrity": integrity,
        "n_tensors": len(described),
        "tensor_bytes": sum(t["nbytes"] for t in described),
        "tensors": described,
        "meta": valid.meta,
    }


def expect_tensors(
    ckpt: Checkpoint,
    expected: Mapping[str, tuple[tuple[int, ...], np.dtype[Any] | type]],
    prefix: str = "",
) -> None:
    """Check that the checkpoint's tensors under ``prefix`` are exactly ``expected``.

    ``expected``: name → (shape, dtype). Every missing, unexpected or mismatched tensor is named
    in one ``CheckpointError`` ("model.0.W: checkpoint has (64, 256), model expects (64, 128)").
    Tensors outside ``prefix`` (say, optimizer state when checking ``"model."``) are ignored.
    """
    problems: list[str] = []
    present = {name: array for name, array in ckpt.tensors.items() if name.startswith(prefix)}
    for name, (shape, dtype) in expected.items():
        want_shape, want_dtype = tuple(shape), np.dtype(dtype)
        if name not in present:
            problems.append(
                f"{name}: missing from the checkpoint (model expects {want_shape} {want_dtype})"
            )
            continue
        array = present[name]
        if array.shape != want_shape:
            problems.append(f"{name}: checkpoint has {array.shape}, model expects {want_shape}")
        elif array.dtype != want_dtype:
            problems.append(f"{name}: checkpoint has {array.dtype}, model expects {want_dtype}")
    for name in sorted(set(present) - set(expected)):
        problems.append(f"{name}: in the checkpoint but not expected by the model")
    if not problems:
        return
    if len(problems) == 1:
        message = f"{ckpt.path}: checkpoint does not fit the model: {problems[0]}"
    else:
        lines = "\n".join(f"  - {problem}" for problem in problems)
        message = f"{ckpt.path}: checkpoint does not fit the model ({len(problems)} problems):\n"
        message += lines
    error = CheckpointError(message)
    error.problems = problems  # type: ignore[attr-defined]
    raise error


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


def _read_validated(path: Path) -> _Validated:
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


def _validate_stream(path: Path, handle: BinaryIO) -> _Validated:
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
    entries = [_check_entry(path, name, entry, data_len) for name, entry in header.items()]
    _check_layout(path, entries, data_len)
    data = handle.read(data_len)
    if len(data) != data_len or handle.read(1):
        _invalid(path, "the file changed size while being read")
    return _Validated(path, file_bytes, metadata, meta, entries, data)


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


def _check_entry(path: Path, name: str, entry: Any, data_len: int) -> _TensorEntry:
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
    if begin > end:
        _invalid(path, f"{label} data_offsets [{begin}, {end}] end before they begin")
    if end > data_len:
        _invalid(
            path,
            f"{label} data_offsets [{begin}, {end}] run past the end of the data section "
            f"({data_len} bytes); the file is truncated",
        )
    expected_bytes = math.prod(shape) * itemsize
    if end - begin != expected_bytes:
        _invalid(
            path,
            f"{label} is {tag} with shape {shape} ({expected_bytes} bytes) but its data_offsets "
            f"span {end - begin} bytes",
        )
    return _TensorEntry(name, tag, tuple(shape), begin, end)


def _check_layout(path: Path, entries: list[_TensorEntry], data_len: int) -> None:
    """Tensors must tile the data section exactly: no gaps, no overlaps, no trailing bytes."""
    position = 0
    for entry in sorted(entries, key=lambda e: (e.begin, e.end)):
        if entry.begin < position:
            _invalid(path, f"tensor {_quote(entry.name)} overlaps the tensor before it")
        if entry.begin > position:
            _invalid(
                path,
                f"gap of {entry.begin - position} unreferenced bytes before tensor "
                f"{_quote(entry.name)}",
            )
        position = entry.end
    if position != data_len:
        _invalid(
            path,
            f"{data_len - position} bytes of extra data after the last tensor (the data section "
            f"is {data_len} bytes, the tensors use {position})",
        )


def _tensors_from(valid: _Validated) -> dict[str, np.ndarray]:
    """Arrays from the validated layout; copies, so they are writable and own their memory."""
    tensors: dict[str, np.ndarray] = {}
    for entry in valid.entries:
        stored = DTYPES[entry.tag]
        count = math.prod(entry.shape)
        raw = np.frombuffer(valid.data, dtype=stored, count=count, offset=entry.begin)
        if entry.tag == "BOOL" and count and raw.view(np.uint8).max() > 1:
            # numpy bools are one byte of 0 or 1; other values give inconsistent comparisons.
            _invalid(valid.path, f"tensor {_quote(entry.name)} has BOOL bytes other than 0 or 1")
        # reshape before the copy so the result owns its buffer rather than viewing a copy.
        tensors[entry.name] = raw.reshape(entry.shape).astype(stored.newbyteorder("="), copy=True)
    return tensors
