"""A Parquet dataset folder (several files as Spark, Dask and pyarrow write them, hive
partition folders included) reads as the one table its rows make, through ``load_table``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlptrain.data.tables import load_table
from mlptrain.errors import DataError

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


def _table(n: int = 60):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    income = rng.normal(1000, 300, n)
    income[::7] = np.nan
    return pa.table(
        {
            "id": [f"r{i:03d}" for i in range(n)],
            "age": rng.integers(18, 80, n),
            "income": pa.array(income, mask=np.isnan(income)),
            "plan": rng.choice(["basic", "plus", "premium"], n).tolist(),
            "churn": rng.choice(["yes", "no"], n).tolist(),
        }
    )


def test_folder_of_part_files_reads_in_file_name_order(tmp_path: Path) -> None:
    whole = _table()
    folder = tmp_path / "ds"
    folder.mkdir()
    for k, start in enumerate(range(0, whole.num_rows, 25)):
        pq.write_table(whole.slice(start, 25), folder / f"part-{k:05d}.parquet")
    (folder / "_SUCCESS").write_text("")  # what Spark leaves beside the parts
    (folder / ".part-00000.parquet.crc").write_bytes(b"\x00")
    pq.write_table(whole, tmp_path / "one.parquet")
    from_folder, from_file = load_table(folder), load_table(tmp_path / "one.parquet")
    assert from_folder.names == from_file.names
    assert from_folder.n_rows == whole.num_rows
    for name in from_file.names:
        np.testing.assert_array_equal(
            from_folder.columns[name].strings(), from_file.columns[name].strings()
        )


def test_hive_partitions_become_a_column(tmp_path: Path) -> None:
    whole = _table()
    pq.write_to_dataset(whole, tmp_path / "hive", partition_cols=["plan"])
    assert (tmp_path / "hive" / "plan=basic").is_dir()
    table = load_table(tmp_path / "hive")
    assert set(table.names) == set(whole.column_names)
    order = np.argsort(table.columns["id"].strings())
    expected = whole.to_pydict()
    for name in ("id", "plan", "churn"):
        assert table.columns[name].strings()[order].tolist() == expected[name]
    np.testing.assert_array_equal(table.columns["age"].values[order], expected["age"])
    income = np.array([np.nan if v is None else v for v in expected["income"]])
    np.testing.assert_array_equal(table.columns["income"].values[order], income)


def test_folder_without_parquet_files_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"a folder without \.parquet files; data.path names"):
        load_table(tmp_path / "empty")


def test_a_dictionary_batch_converts_as_its_own_strings(tmp_path: Path) -> None:
    """Parquet's text read as dictionaries: a batch's dictionary lists levels its rows never
    use (the file's), yet the batch's column is what its strings read plainly give: the same
    codes and levels, gaps and padded text included."""
    from mlptrain.data.arrow import batches_table, parquet_dataset, plain_batch

    values = ["a", "b", None, "a", "c", " a", "d", "NA", "c", "e"]
    pq.write_table(pa.table({"s": values, "x": np.arange(10.0)}), tmp_path / "t.parquet")
    batches = list(parquet_dataset(tmp_path / "t.parquet").to_batches(batch_size=3))
    first = batches[0].column("s")
    assert pa.types.is_dictionary(first.type) and len(first.dictionary) > 2  # unused levels
    start = 0
    for batch in batches:
        mine = values[start : start + batch.num_rows]
        start += batch.num_rows
        kept = plain_batch(batch, {"s"})
        assert pa.types.is_dictionary(kept.column("s").type)  # not decoded to strings
        strings = batch.cast(pa.schema([("s", pa.string()), ("x", pa.float64())]))
        got, want = (
            batches_table("t", [b], ["s", "x"], ["NA"], {"s"}).columns["s"] for b in (kept, strings)
        )
        assert got.values.tolist() == want.values.tolist()
        assert got.levels.tolist() == want.levels.tolist()
        assert got.levels.tolist() == sorted({v.strip() for v in mine if v and v != "NA"})
