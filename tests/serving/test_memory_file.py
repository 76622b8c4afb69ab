"""Rows in memory (``MemoryFile``, what `mlptrain serve` hands ``predict_rows``) read exactly as
a file of the same bytes: the same columns, predictions and messages (the name in place of the
path)."""

from __future__ import annotations

import numpy as np
import pytest

from mlptrain.data.features import read_features
from mlptrain.data.memory import MemoryFile
from mlptrain.data.tables import have_pyarrow, load_table
from mlptrain.errors import DataError
from mlptrain.serving.loading import load
from mlptrain.serving.predict import predict_rows
from tests.serving.conftest import customer_rows, write_csv

TEXT = "id,size,colour,price\na1, 3 ,red,1.5\na2,,blue,NA\n\na3,7,?,2.25\n"
ENGINES = ["python", *(["pyarrow"] if have_pyarrow() else [])]


def assert_same_table(a, b) -> None:
    assert a.names == b.names and a.n_rows == b.n_rows and a.notes == b.notes
    for name in a.names:
        x, y = a.columns[name], b.columns[name]
        assert x.integer == y.integer
        np.testing.assert_array_equal(x.values, y.values)
        if x.levels is None:
            assert y.levels is None
        else:
            np.testing.assert_array_equal(x.levels, y.levels)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("delimiter", [",", "auto"])
def test_a_table_in_memory_reads_as_the_file(tmp_path, engine, delimiter):
    path = tmp_path / "rows.csv"
    path.write_text(TEXT)
    options = {"delimiter": delimiter, "engine": engine, "text_columns": ["id"]}
    from_file = load_table(path, **options)
    in_memory = load_table(MemoryFile("rows", TEXT.encode()), **options)
    assert_same_table(from_file, in_memory)
    assert in_memory.source == "rows"


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    "text",
    ["", "a,b\n", "a,a\n1,2\n", "a,b\n1,2,3\n", "a,b\nx,\xe9\n"],
    ids=["empty", "no-rows", "twice", "ragged", "not-utf8"],
)
def test_a_bad_table_in_memory_gets_the_files_message(tmp_path, engine, text):
    raw = text.encode("latin-1")
    path = tmp_path / "rows.csv"
    path.write_bytes(raw)
    with pytest.raises(DataError) as from_file:
        load_table(path, delimiter=",", engine=engine)
    with pytest.raises(DataError) as in_memory:
        load_table(MemoryFile("request", raw), delimiter=",", engine=engine)
    assert str(in_memory.value) == str(from_file.value).replace(str(path), "request")


def test_features_in_memory_read_as_the_file(tmp_path):
    text = "b,a\n1,2\n3,4.5\n"
    path = tmp_path / "x.csv"
    path.write_text(text)
    X_file, names_file = read_features(path, feature_names=["a", "b"])
    X_memory, names_memory = read_features(
        MemoryFile("request", text.encode()), feature_names=["a", "b"]
    )
    np.testing.assert_array_equal(X_file, X_memory)
    assert names_file == names_memory
    bad = tmp_path / "bad.csv"
    bad.write_text("b,a\n1,x\n")
    with pytest.raises(DataError) as from_file:
        read_features(bad, feature_names=["a", "b"])
    with pytest.raises(DataError) as in_memory:
        read_features(MemoryFile("request", b"b,a\n1,x\n"), feature_names=["a", "b"])
    assert str(in_memory.value) == str(from_file.value).replace(str(bad), "request")


def test_predict_rows_in_memory_is_predict_on_the_file(customers_run, tmp_path):
    header, rows = customer_rows(30)
    path = write_csv(tmp_path / "rows.csv", header, rows)
    predictor = load(customers_run.dir)
    notes_file: list[str] = []
    notes_memory: list[str] = []
    from_file = predict_rows(predictor, path, proba=True, keep=["age"], notes=notes_file)
    in_memory = predict_rows(
        predictor,
        MemoryFile("rows", path.read_bytes()),
        proba=True,
        keep=["age"],
        notes=notes_memory,
    )
    np.testing.assert_array_equal(from_file.predicted, in_memory.predicted)
    assert from_file.probabilities is not None and in_memory.probabilities is not None
    assert from_file.probabilities.tobytes() == in_memory.probabilities.tobytes()
    assert from_file.unseen == in_memory.unseen
    assert notes_file == notes_memory
    for name, column in from_file.echoed.items():
        np.testing.assert_array_equal(column, in_memory.echoed[name])
