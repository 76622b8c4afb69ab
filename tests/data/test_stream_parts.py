"""A streamed table's rows: the part each row's hash places it in (stable across passes and
batch sizes, the fractions asked for), and the bounded shuffle buffer."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from mlptrain.data import record_stream
from mlptrain.data.record_stream import RecordStream
from mlptrain.data.row_hash import (
    OUT,
    PART_NAMES,
    TEST,
    TRAIN,
    VAL,
    Placement,
    assign_parts,
    row_hashes,
)
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
        parts = assign_parts(row_hashes(table, key, seed=7), Placement(0.2, 0.1))
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
    parts = assign_parts(row_hashes(whole, names, seed=7), Placement(0.2, 0.1))
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
    parts = assign_parts(row_hashes(table, ["x"], seed=0), Placement(0.2, 0.1))
    shares = np.bincount(parts, minlength=3) / n
    # test 20%, validation 10% of the other 80%; the standard error is about 0.002
    np.testing.assert_allclose(shares, [0.72, 0.08, 0.20], atol=0.01)
    assert PART_NAMES == ("train", "val", "test")


def test_fold_placement_partitions_the_non_test_rows() -> None:
    """Fold k of K: the fit's test rows stay out (``OUT``) in every fold; every other row is
    held out (``TEST``) in exactly one fold, the one its place in [test_size, 1) names, and
    trains in the others; the validation carve takes val_size of each fold's training rows
    whatever the fold, by a hash independent of the fold."""
    rng = np.random.default_rng(0)
    n, k_folds = 40_000, 4
    hashes = row_hashes(load_table_from(rng.normal(size=n)), ["x"], seed=0)
    fit = assign_parts(hashes, Placement(0.2, 0.1))
    folds = [assign_parts(hashes, Placement(0.2, 0.25, folds=k_folds, fold=k))
             for k in range(k_folds)]  # fmt: skip
    for parts in folds:
        np.testing.assert_array_equal(parts == OUT, fit == TEST)
    held = np.array([parts == TEST for parts in folds])
    np.testing.assert_array_equal(held.sum(axis=0), (fit != TEST).astype(int))
    u = (hashes >> np.uint64(11)).astype(np.float64) / 2.0**53
    which = np.minimum(np.floor((u - 0.2) / 0.8 * k_folds), k_folds - 1)
    np.testing.assert_array_equal(held.argmax(axis=0)[fit != TEST], which[fit != TEST])
    for parts in folds:
        training = np.isin(parts, [TRAIN, VAL])
        assert np.mean(parts[training] == VAL) == pytest.approx(0.25, abs=0.01)
        # a fold's share of the whole table: 80% / K, the standard error about 0.002
        assert np.mean(parts == TEST) == pytest.approx(0.8 / k_folds, abs=0.01)
    # the carve does not follow the fold: a row carved in one fold is carved in the others
    carved = [set(np.flatnonzero(parts == VAL)) for parts in folds]
    both = np.flatnonzero((folds[0] != TEST) & (folds[1] != TEST) & (fit != TEST))
    assert all((i in carved[0]) == (i in carved[1]) for i in both)
    # no carve asked: none
    assert not np.any(assign_parts(hashes, Placement(0.2, 0.0, folds=3, fold=1)) == VAL)


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


def test_shuffle_buffer_batches_are_the_leaving_rows_in_draw_order() -> None:
    """An independent replay of the rule in shuffle_buffer's docstring: fill, then each block
    replaces rows drawn by permutation(capacity)[:m]; batches cut the leaving rows in order."""
    capacity, batch, blocks = 50, 16, [23, 40, 7, 61, 5, 33]
    got: list[int] = []
    buffer = ShuffleBuffer(capacity, batch, np.random.default_rng(3))
    start, sizes = 0, []
    for m in blocks:
        rows = np.arange(start, start + m)
        start += m
        for xb, yb in buffer.add(rows[:, None].astype(float), rows):
            assert np.array_equal(xb[:, 0], yb)
            sizes.append(len(yb))
            got.extend(yb.tolist())
    for _, yb in buffer.finish():
        sizes.append(len(yb))
        got.extend(yb.tolist())
    rng, held, leaving = np.random.default_rng(3), [], []
    for row in range(start):
        if len(held) < capacity:
            held.append(row)
    pending = list(range(capacity, start))
    block_starts = np.cumsum([0, *blocks])
    for b in range(len(blocks)):  # rows past the fill, block by block, in chunks of capacity
        arriving = [r for r in pending if block_starts[b] <= r < block_starts[b + 1]]
        while arriving:
            chunk, arriving = arriving[:capacity], arriving[capacity:]
            slots = rng.permutation(capacity)[: len(chunk)]
            leaving.extend(held[s] for s in slots)
            for s, r in zip(slots, chunk, strict=True):
                held[s] = r
    leaving.extend(held[i] for i in rng.permutation(capacity))
    assert got == leaving
    assert sizes == [batch] * (start // batch) + [start % batch]


def test_read_ahead_keeps_order_raises_where_it_happened_and_stops_when_left() -> None:
    import threading

    from mlptrain.data.read_ahead import read_ahead

    assert list(read_ahead(iter(range(100)), 3)) == list(range(100))

    def failing():  # type: ignore[no-untyped-def]
        yield 1
        raise ValueError("bad batch")

    got = []
    with pytest.raises(ValueError, match="bad batch"):
        for item in read_ahead(failing(), 1):
            got.append(item)
    assert got == [1]
    produced = []

    def endless():  # type: ignore[no-untyped-def]
        for i in range(10**9):
            produced.append(i)
            yield i

    ahead = read_ahead(endless(), 2)
    assert [next(ahead) for _ in range(5)] == [0, 1, 2, 3, 4]
    ahead.close()  # the consumer leaves: the thread stops and is waited for
    assert not any(t.name == "mlptrain-read-ahead" for t in threading.enumerate())
    assert len(produced) <= 5 + 2 + 2  # at most the queue and one item in hand past it


def test_a_part_read_alone_is_the_part_of_the_whole_batches(tmp_path: Path) -> None:
    """placed(code) with a split_key converts the key and target first and then only the
    part's rows: the same rows, labels and encoded features as the whole batch filtered."""
    from mlptrain.config.loading import load_config
    from mlptrain.data.stream_plan import plan_stream

    folder = write_dataset(tmp_path / "ds", 3000)
    config = tmp_path / "c.yaml"
    config.write_text(
        f"data:\n  dataset: parquet\n  path: {folder}\n  target: y\n  stream: true\n"
        "  split_key: id\n  columns: {id: ignore}\nmodel:\n  layers: [{type: linear}]\n"
    )
    plan = plan_stream(load_config(config).data, seed=7)
    whole = list(plan.placed())
    for code in (1, 2):
        alone = list(plan.placed(code))
        X = np.concatenate([plan.encode(t, np.arange(t.n_rows), y, np.float64)[0]
                            for t, y, _ in alone])  # fmt: skip
        y_alone = np.concatenate([y for _, y, _ in alone])
        ids = np.concatenate([t.columns["id"].strings() for t, _, _ in alone])
        X_ref = np.concatenate([plan.encode(t, np.flatnonzero(p == code), y, np.float64)[0]
                                for t, y, p in whole])  # fmt: skip
        y_ref = np.concatenate([y[p == code] for _, y, p in whole])
        ids_ref = np.concatenate([t.columns["id"].strings()[p == code] for t, _, p in whole])
        assert len(ids) == plan.parts[PART_NAMES[code]].rows > 100
        assert np.array_equal(ids, ids_ref) and np.array_equal(y_alone, y_ref)
        assert np.array_equal(X, X_ref)


def test_shuffle_buffer_moves_the_parts_of_a_row_together() -> None:
    """Several arrays per row (a streamed run's compact rows: numbers, codes, targets) leave
    in the same order as a single array through a buffer with the same Generator."""
    rows = np.arange(500)
    one = ShuffleBuffer(64, 16, np.random.default_rng(2))
    many = ShuffleBuffer(64, 16, np.random.default_rng(2))
    order, parts = [], []
    for start in range(0, 500, 45):
        block = rows[start : start + 45]
        order += [b[0] for b in one.add(block)]
        parts += list(many.add(block[:, None] * 1.5, block.astype(np.uint8), block))
    order += [b[0] for b in one.finish()]
    parts += list(many.finish())
    assert len(order) == len(parts) == 32
    for ids, (numbers, codes, targets) in zip(order, parts, strict=True):
        assert np.array_equal(targets, ids) and np.array_equal(numbers[:, 0], ids * 1.5)
        assert np.array_equal(codes, ids.astype(np.uint8))


def test_validation_rows_kept_in_memory_give_the_read_ones_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A streamed run keeps its validation rows from the first training pass when they fit
    (``VAL_ROWS_BYTES``): later validation passes read nothing, and the run's weights and
    per-epoch losses are bit for bit those of a run that reads them again every epoch."""
    from mlptrain.api import fit
    from mlptrain.training import batches
    from tests.session.test_resume import assert_same_tensors, state_of

    folder = write_dataset(tmp_path / "ds", 2000)
    config = tmp_path / "c.yaml"
    config.write_text(
        f"seed: 3\ndata:\n  dataset: parquet\n  path: {folder}\n  target: y\n  stream: true\n"
        "  split_key: id\n  shuffle_buffer: 200\n  columns: {id: ignore}\nmodel:\n"
        "  layers: [{type: linear, units: 8}, relu, {type: linear}]\n"
        "train: {epochs: 3, batch_size: 32}\n"
    )
    reads: list[int] = []
    real = batches.StreamBatches._part

    def counted(self, code):  # type: ignore[no-untyped-def]
        reads.append(code)
        return real(self, code)

    monkeypatch.setattr(batches.StreamBatches, "_part", counted)
    kept = fit(config, out=tmp_path / "kept", figures=False).dir
    assert reads == []  # every validation pass from memory
    monkeypatch.setattr(batches, "VAL_ROWS_BYTES", 0)
    read = fit(config, out=tmp_path / "read", figures=False).dir
    assert reads == [1, 1, 1]  # too large for the budget: read again each epoch
    assert_same_tensors(state_of(kept), state_of(read))
    mine = (kept / "metrics.jsonl").read_text().splitlines()
    theirs = (read / "metrics.jsonl").read_text().splitlines()
    for a, b in zip(mine, theirs, strict=True):
        first, second = json.loads(a), json.loads(b)
        assert (first["val_loss"], first["val_accuracy"]) == (
            second["val_loss"],
            second["val_accuracy"],
        )


@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_passes_read_only_the_columns_they_use(tmp_path: Path, kind: str) -> None:
    """An ignored column is not read by a training or evaluation pass (Parquet: not decoded;
    CSV: dropped from each batch); the rows and their encoding are those of the whole batch."""
    import pyarrow.csv as pacsv

    from mlptrain.config.loading import load_config
    from mlptrain.data.stream_plan import plan_stream

    rng = np.random.default_rng(4)
    n = 600
    x = rng.normal(size=n)
    table = pa.table({"id": np.arange(n), "x": x, "junk": rng.normal(size=n),
                      "c": rng.choice(["a", "b"], n).tolist(),
                      "y": np.where(x > 0, "yes", "no").tolist()})  # fmt: skip
    path = tmp_path / f"t.{kind}"
    if kind == "csv":
        pacsv.write_csv(table, path)
    else:
        pq.write_table(table, path)
    config = tmp_path / "c.yaml"
    config.write_text(
        f"data:\n  dataset: {kind}\n  path: {path}\n  target: y\n  stream: true\n"
        "  split_key: id\n  columns: {id: ignore, junk: ignore}\n"
        "model:\n  layers: [{type: linear}]\n"
    )
    plan = plan_stream(load_config(config).data, seed=7)
    assert plan.used == ["id", "x", "c", "y"]
    for code in (None, 1):
        rows = 0
        for part, y, _ in plan.placed(code):
            assert list(part.columns) == plan.used
            got = plan.encode(part, np.arange(part.n_rows), y, np.float64)[0]
            ids = part.columns["id"].values.astype(np.int64)
            whole = plan.stream.table_of(table.take(ids).combine_chunks().to_batches())
            assert np.array_equal(got, plan.encode(whole, np.arange(len(ids)), y, np.float64)[0])
            rows += part.n_rows
        assert rows == (n if code is None else plan.parts["val"].rows)
