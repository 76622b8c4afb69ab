"""A streamed table's rows: the part each row's hash places it in (stable across passes and
batch sizes, the fractions asked for), and the bounded shuffle buffer."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from mlptrain.data import record_stream
from mlptrain.data.record_stream import RecordStream
from mlptrain.data.row_hash import PART_NAMES, assign_parts, row_hashes
from mlptrain.data.shuffle_buffer import ShuffleBuffer
from mlptrain.data.tables import load_table

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


def write_dataset(folder: Path, n: int, seed: int = 0, files: int = 3) -> Path:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    table = pa.table(
        {
            "id": [f"r{i}" for i in range(n)],
            "x": x,
            "c": rng.choice(["a", "b", "c"], n).tolist(),
            "y": np.where(x > 0, "yes", "no").tolist(),
        }
    )
    folder.mkdir(parents=True, exist_ok=True)
    size = -(-n // files)
    for k in range(files):
        pq.write_table(table.slice(k * size, size), folder / f"part-{k}.parquet")
    return folder


def data_cfg(path: Path, **extra: object) -> SimpleNamespace:
    fields = {"path": path, "na_values": ["", "NA"], "delimiter": "auto", "header": True,
              "encoding": "utf-8", "decimal": ".", "columns": {}}  # fmt: skip
    return SimpleNamespace(**{**fields, **extra})


def parts_by_id(stream: RecordStream, key: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for _, table in stream.tables():
        parts = assign_parts(row_hashes(table, key, seed=7), 0.2, 0.1)
        out.update(zip(table.columns["id"].strings().tolist(), parts.tolist(), strict=True))
    return out


def test_parts_are_stable_across_passes_and_batch_sizes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = RecordStream.open(data_cfg(write_dataset(tmp_path / "ds", 3000)))
    names = stream.names
    first, second = parts_by_id(stream, names), parts_by_id(stream, names)
    monkeypatch.setattr(record_stream, "BATCH_ROWS", 97)
    assert sum(1 for _ in stream.tables()) > 3 * (1000 // 97)  # the batches did change
    assert parts_by_id(stream, names) == first == second
    # the whole table in memory, hashed at once, places every row the same
    whole = load_table(tmp_path / "ds")
    parts = assign_parts(row_hashes(whole, names, seed=7), 0.2, 0.1)
    assert dict(zip(whole.columns["id"].strings().tolist(), parts.tolist(), strict=True)) == first


def test_parts_by_key_column_follow_the_key_only(tmp_path: Path) -> None:
    stream = RecordStream.open(data_cfg(write_dataset(tmp_path / "ds", 500)))
    by_id = parts_by_id(stream, ["id"])
    other = RecordStream.open(data_cfg(write_dataset(tmp_path / "other", 500, seed=1)))
    assert parts_by_id(other, ["id"]) == by_id  # other cells, same ids: same parts


def test_part_fractions_are_the_ones_asked_for() -> None:
    rng = np.random.default_rng(0)
    n = 40_000
    table = load_table_from(rng.normal(size=n))
    parts = assign_parts(row_hashes(table, ["x"], seed=0), 0.2, 0.1)
    shares = np.bincount(parts, minlength=3) / n
    # test 20%, validation 10% of the other 80%; the standard error is about 0.002
    np.testing.assert_allclose(shares, [0.72, 0.08, 0.20], atol=0.01)
    assert PART_NAMES == ("train", "val", "test")


def load_table_from(x: np.ndarray):  # type: ignore[no-untyped-def]
    from mlptrain.data.cells import table_from_mapping

    return table_from_mapping({"x": x}, names=["x"], text_columns=(), na_values=(), source="x")


def test_shuffle_buffer_yields_every_row_once_and_stays_bounded() -> None:
    rng = np.random.default_rng(0)
    buffer = ShuffleBuffer(capacity=100, batch_size=16, rng=rng)
    seen, most = [], 0
    for start in range(0, 1000, 37):
        rows = np.arange(start, min(start + 37, 1000))
        for xb, yb in buffer.add(rows[:, None].astype(float), rows):
            assert len(xb) == 16 and np.array_equal(xb[:, 0], yb)
            seen.extend(yb.tolist())
        most = max(most, buffer.held)
    for _, yb in buffer.finish():
        seen.extend(yb.tolist())
    assert sorted(seen) == list(range(1000))
    assert seen != list(range(1000))  # shuffled
    assert most < 100 + 37
