"""Checkpoints: safetensors files with a SHA-256 of their tensors, and hostile-file validation.

Layout of a safetensors file: an 8-byte little-endian header length N, N bytes of JSON header
(``{"name": {"dtype", "shape", "data_offsets"}, ..., "__metadata__": {str: str}}``), then the
data section that ``data_offsets`` index into. ``__metadata__`` of an mlptrain checkpoint holds
``format`` ("mlptrain"), ``format_version``, ``mlptrain_version``, ``sha256`` (``checkpoint_digest``: tensors and meta)
and ``meta`` (JSON of the run state: resolved config, epoch, step, RNG state, labels, metrics).

A checkpoint is something a user hands us: ``load_checkpoint`` reads it through
mlptrain.store.checkpoint_checks (safetensors for the structure, our caps and checks around
it), so a damaged or foreign file ends in one line of ``CheckpointError`` (exit 2), then
verifies the SHA-256. Nothing is ever unpickled.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import safetensors.numpy

import mlptrain
from mlptrain.errors import CheckpointError
from mlptrain.store.atomic import atomic_write_bytes
from mlptrain.store.checkpoint_checks import DTYPES, FORMAT, FORMAT_VERSION, read_validated

StrPath = str | os.PathLike[str]

_TAG_BY_KIND = {(dtype.kind, dtype.itemsize): tag for tag, dtype in DTYPES.items()}


@dataclass
class Checkpoint:
    """A loaded, verified checkpoint: tensors by dotted name, the run state, where it came from."""

    tensors: dict[str, np.ndarray]
    meta: dict[str, Any]
    path: Path
    sha256: str = ""  # the verified digest of tensors and metadata


class Stored(Protocol):
    """What ``expect_tensors`` reads of a loaded checkpoint (a ``Checkpoint`` or a run's)."""

    tensors: dict[str, np.ndarray]
    path: Path


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
        # numpy's stubs give ndarray __buffer__ only for Python >= 3.12; it is a buffer on 3.10
        digest.update(array.reshape(-1).view(np.uint8))  # type: ignore[arg-type]
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
    valid = read_validated(Path(path))
    tensors = valid.tensors
    if checkpoint_digest(tensors, valid.metadata["meta"]) != valid.metadata["sha256"]:
        raise CheckpointError(f"{valid.path}: {_INTEGRITY_FAILED}")
    return Checkpoint(
        tensors=tensors, meta=valid.meta, path=valid.path, sha256=valid.metadata["sha256"]
    )


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
    valid = read_validated(Path(path))
    tensors = valid.tensors
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
    ckpt: Stored,
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
