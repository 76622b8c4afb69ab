"""Stable 64-bit hashes of table rows, and the train/val/test part a hash places a row in.

A streamed table (``data.stream: true``) cannot draw a seeded permutation of rows it never
holds; it places each row by a hash of its cells instead (or of one ``data.split_key``
column's cell). The hash depends on the row's values, its column names and the seed only:
never on the batch a row came in, the batch size or the pass, so a row lands in the same part
in every pass and after a resume. Identical rows share a part (no copy of a test row leaks
into training).

Cells hash by value: a number by its float64 bits (-0.0 as 0.0, every NaN alike), a text by
the BLAKE2b digest of its UTF-8 bytes (once per distinct level of a batch, not per row); the
cells fold into the row with the splitmix64 finalizer, a bijection on 64 bits that mixes
every input bit into every output bit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from mlptrain.data.frame import Column, Table

PART_NAMES = ("train", "val", "test")  # codes 0, 1, 2
TRAIN, VAL, TEST = 0, 1, 2
_MISSING = np.uint64(0x9E3779B97F4A7C15)  # a missing cell, unlike any text digest in practice
_NAN_BITS = np.float64(np.nan).view(np.uint64)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer, elementwise on uint64 (wrapping arithmetic, as intended)."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def text_digest(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


def cell_hashes(column: Column) -> np.ndarray:
    """One uint64 per cell of ``column``, by value."""
    if column.levels is not None:
        levels = np.array([text_digest(str(v)) for v in column.levels], dtype=np.uint64)
        return np.append(levels, _MISSING)[column.values]  # code -1: the appended gap
    values = column.values.astype(np.float64) + 0.0  # -0.0 + 0.0 is 0.0
    bits = values.view(np.uint64).copy()
    bits[np.isnan(values)] = _NAN_BITS
    return bits


def row_hashes(table: Table, names: Sequence[str], seed: int) -> np.ndarray:
    """A uint64 per row of ``table`` from the cells of ``names`` (in that order) and ``seed``."""
    out = np.full(table.n_rows, np.uint64(seed & 0xFFFFFFFFFFFFFFFF), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for name in names:
            out = _mix(out ^ np.uint64(text_digest(name)))
            out = _mix(out ^ cell_hashes(table.columns[name]))
    return out


def unit_interval(hashes: np.ndarray) -> np.ndarray:
    """The top 53 bits of each hash as a float64 in [0, 1): uniform for a good hash."""
    return (hashes >> np.uint64(11)).astype(np.float64) * 2.0**-53


def assign_parts(hashes: np.ndarray, test_size: float, val_size: float) -> np.ndarray:
    """int8 part codes (``TRAIN``, ``VAL``, ``TEST``): ``test_size`` of the rows in expectation
    go to test and ``val_size`` of the rest to validation, as the in-memory split sizes them."""
    u = unit_interval(hashes)
    parts = np.full(len(hashes), TRAIN, dtype=np.int8)
    parts[u < test_size + (1.0 - test_size) * val_size] = VAL
    parts[u < test_size] = TEST
    return parts


def sample_keys(hashes: np.ndarray) -> np.ndarray:
    """A second hash per row, independent of the part its first hash chose: the rows with the
    smallest keys are a uniform sample of a part."""
    with np.errstate(over="ignore"):
        return _mix(hashes ^ np.uint64(0xD1B54A32D192ED03))
