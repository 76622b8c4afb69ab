"""A file's bytes held in memory, read by the same readers as a file on disk.

``mlptrain serve`` hands a request's rows to ``predict_rows`` as a ``MemoryFile`` rather than
writing them to a temporary file: the readers take either (``Source``), and the one place
that opens a file (``read_raw``) reads from memory instead. In messages the rows go by
``name`` where a file goes by its path.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class MemoryFile:
    """The bytes of an uncompressed text file (CSV), and the name messages give it."""

    name: str
    data: bytes
    suffix: str = ".csv"

    def __str__(self) -> str:
        return self.name

    def read_bytes(self) -> bytes:
        return self.data


Source = Path | MemoryFile


def as_source(path: str | Path | MemoryFile) -> Source:
    return path if isinstance(path, MemoryFile) else Path(path)


def file_name(source: Source) -> str:
    """The lower-case name the readers tell file types by (``.csv``, ``.csv.gz``, ...)."""
    if isinstance(source, MemoryFile):
        return f"{source.name}{source.suffix}".lower()
    return source.name.lower()


def read_raw(source: Source, limit: int = -1) -> bytes:
    """The first ``limit`` bytes (all when negative), a ``.gz`` file uncompressed. Raises
    OSError/EOFError for the caller to word."""
    if isinstance(source, MemoryFile):
        return source.data if limit < 0 else source.data[:limit]
    opener = gzip.open if source.name.lower().endswith(".gz") else open
    with opener(source, "rb") as handle:
        return handle.read(limit)
