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
from dataclasses import dataclass

import numpy as np

from mlptrain.data.frame import Column, Table

PART_NAMES = ("train", "val", "test")  # codes 0, 1, 2
TRAIN, VAL, TEST = 0, 1, 2
OUT = -1  # a row no part of the run reads: a cross-validation fold's rows of the test part
_SAMPLE = np.uint64(0xD1B54A32D192ED03)  # salts of the second hashes
_CARVE = np.uint64(0x8CB92BA72F3D8DD7)
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


@dataclass(frozen=True)
class Placement:
    """What a row's hash places it in. A fit: ``test_size`` of the rows in expectation go to
    test and ``val_size`` of the rest to validation, as the in-memory split sizes them. Fold
    ``fold`` of ``folds`` (cross-validation): the config's test rows (the same ``test_size``
    rule as a fit, so cv and a later fit never see different test rows) are left ``OUT``; the
    other rows fall in fold ``floor(folds * position)`` by their position within the non-test
    interval; the fold's own rows are its held-out part (``TEST``), the others train, and
    ``val_size`` of those are carved for validation by a second, independent hash (0: none).
    """

    test_size: float
    val_size: float
    folds: int = 0  # 0: a fit's parts
    fold: int = 0

    @property
    def is_fold(self) -> bool:
        return self.folds > 0


def assign_parts(hashes: np.ndarray, placement: Placement) -> np.ndarray:
    """int8 part codes (``TRAIN``, ``VAL``, ``TEST``, and ``OUT`` for a fold's left-out test
    rows) of the rows whose hashes are ``hashes``, as ``placement`` places them."""
    u = unit_interval(hashes)
    test_size, val_size = placement.test_size, placement.val_size
    parts = np.full(len(hashes), TRAIN, dtype=np.int8)
    if not placement.is_fold:
        parts[u < test_size + (1.0 - test_size) * val_size] = VAL
        parts[u < test_size] = TEST
        return parts
    # where in [test_size, 1) the row lies, rescaled to [0, 1); a test row's is negative
    position = (u - test_size) / (1.0 - test_size)
    fold = np.minimum(np.floor(position * placement.folds), placement.folds - 1)
    parts[fold == placement.fold] = TEST
    if val_size > 0:
        # a second hash: the carve must not depend on the position that chose the fold
        parts[(parts == TRAIN) & (unit_interval(_rehash(hashes, _CARVE)) < val_size)] = VAL
    parts[u < test_size] = OUT
    return parts


def sample_keys(hashes: np.ndarray) -> np.ndarray:
    """A second hash per row, independent of the part its first hash chose: the rows with the
    smallest keys are a uniform sample of a part."""
    return _rehash(hashes, _SAMPLE)


def _rehash(hashes: np.ndarray, salt: np.uint64) -> np.ndarray:
    """Another hash per row, independent of ``hashes`` (and of another salt's) as a good mix
    makes them."""
    with np.errstate(over="ignore"):
        return _mix(hashes ^ salt)
