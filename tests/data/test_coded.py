"""A table's one-hot columns kept as integer codes (``data.coded.CodedMatrix``): its rows
expand to exactly the dense matrix of the fitted scikit-learn ``ColumnTransformer``, so every
training batch, and the first layer's output on it, are the same to the last bit; whole-split
predictions go in chunks, in row order."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from mlptrain.data import coded
from mlptrain.data.coded import CodedMatrix, code_dtype, in_chunks, take_rows
from mlptrain.data.columns import type_columns
from mlptrain.data.encoder_fit import Settings, build_column_transformer, fit_matrix
from mlptrain.data.encoding import TableEncoder
from mlptrain.data.tables import load_table
from mlptrain.nn.linear import Linear
from mlptrain.training.batches import ArrayBatches
from tests.data.test_tables import mixed_rows, write_rows

SETTINGS = [
    Settings(),
    Settings(categorical_missing="constant", indicator=True, scale="minmax"),
    # unseen cities with folding off: a row with no one-hot column at all
    Settings(infrequent=False, max_categories=None),
]


def fitted(tmp_path: Path, settings: Settings, n: int = 400):
    """(table, encoder fitted on the even rows, scikit-learn's dense float64 matrix of every
    row): the reference is the fitted ColumnTransformer, not our transform."""
    table = load_table(write_rows(tmp_path / "t.csv", mixed_rows(n)))
    infos = type_columns(table, "churn", {})
    train = np.arange(0, n, 2)
    encoder = TableEncoder.fit(table, infos, train, settings)
    numeric = [i.name for i in infos if i.kind == "numeric"]
    categorical = [i.name for i in infos if i.kind == "categorical"]
    constant = settings.categorical_missing == "constant"
    missing = [
        float(np.flatnonzero(np.append(table.columns[c].levels, "missing") == "missing")[0])
        if constant
        else 0.0
        for c in categorical
    ]
    reference = build_column_transformer(numeric, categorical, settings, missing)
    reference.fit(fit_matrix(table, numeric, categorical, train, constant))
    dense = reference.transform(fit_matrix(table, numeric, categorical, np.arange(n), constant))
    dense = dense.toarray() if hasattr(dense, "toarray") else np.asarray(dense)
    return table, encoder, dense


@pytest.mark.parametrize("settings", SETTINGS, ids=["defaults", "constant-indicator", "no-folding"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batches_and_first_layer_output_are_bit_identical(tmp_path: Path, settings, dtype):
    table, encoder, dense = fitted(tmp_path, settings)
    X, _ = encoder.encode(table, np.arange(400), dtype)
    assert isinstance(X, CodedMatrix) and X.shape == dense.shape and X.dtype == dtype
    # the dense matrix as it was written before: scikit-learn's float64 cells, rounded once
    before = dense.astype(dtype)
    layer = Linear(X.shape[1], 16, rng=np.random.default_rng(1), dtype=dtype)
    rng = np.random.default_rng(0)
    buffer = np.empty((64, X.shape[1]), dtype)
    for _ in range(5):
        index = rng.permutation(400)[:64]
        batch = take_rows(X, index, buffer)
        expected = np.take(before, index, axis=0)
        assert batch.tobytes() == expected.tobytes()
        assert layer.forward(batch).tobytes() == layer.forward(expected).tobytes()
    assert np.asarray(X).tobytes() == before.tobytes()
    assert X[10:20].tobytes() == before[10:20].tobytes()
    assert X[np.arange(400) % 7 == 0].tobytes() == before[::7].tobytes()


def test_codes_are_small_and_unseen_categories_have_no_column(tmp_path: Path) -> None:
    settings = Settings(infrequent=False, max_categories=None)
    table, encoder, dense = fitted(tmp_path, settings)
    X, unseen = encoder.encode(table, None, np.float32)
    assert all(c.dtype == np.uint8 for c in X.codes)
    # a row whose city no training row had: its city columns all zero, its code the width
    _, start, stop = next(g for g in encoder.groups() if g[0] == "city")
    j = [c["name"] for c in encoder.categorical].index("city")
    none = np.flatnonzero(X.codes[j] == X.widths[j])
    assert unseen["city"] > 0 and len(none) >= unseen["city"]
    assert not dense[none, start:stop].any()
    assert X.nbytes < dense.astype(np.float32).nbytes
    assert (code_dtype(255), code_dtype(256), code_dtype(65535), code_dtype(65536)) == (
        np.uint8,
        np.uint16,
        np.uint16,
        np.int32,
    )


def test_array_batches_of_codes_are_those_of_the_dense_matrix(tmp_path: Path) -> None:
    """An epoch of ArrayBatches over the codes gives, batch for batch, the bytes it gave over
    the dense matrix (so training, and its weights, are unchanged)."""
    table, encoder, dense = fitted(tmp_path, Settings())
    X, _ = encoder.encode(table, np.arange(400), np.float32)
    y = np.arange(400) % 3
    epochs = []
    for features in (X, dense.astype(np.float32)):
        data = SimpleNamespace(train=SimpleNamespace(X=features, y=y, weight=None))
        source = ArrayBatches(data, lambda split: y)
        rng = np.random.default_rng(7)
        epochs.append(
            [(xb.tobytes(), yb.tobytes()) for xb, yb, _ in source.epoch(rng, 48, True, 0)]
        )
    assert epochs[0] == epochs[1] and len(epochs[0]) == 9


def test_predictions_go_in_chunks_in_row_order(tmp_path: Path, monkeypatch) -> None:
    table, encoder, dense = fitted(tmp_path, Settings())
    X, _ = encoder.encode(table, None, np.float64)
    calls: list[int] = []

    def row_sums(x: np.ndarray) -> np.ndarray:
        calls.append(len(x))
        return x @ np.arange(x.shape[1], dtype=np.float64)

    # small enough: one call on the whole dense matrix, as before
    assert in_chunks(row_sums, X).tobytes() == row_sums(dense).tobytes() and calls[0] == 400
    calls.clear()
    monkeypatch.setattr(coded, "CHUNK_BYTES", 100 * X.shape[1] * 8)
    out = in_chunks(row_sums, X)
    assert calls == [100, 100, 100, 100]
    np.testing.assert_allclose(out, dense @ np.arange(dense.shape[1]), rtol=1e-12)
    # a row-wise function that returns its input: the shared chunk buffer is copied out
    assert in_chunks(lambda x: x[:, :3], X).tobytes() == dense[:, :3].copy().tobytes()
    plain = np.ones((3, 2))
    assert in_chunks(lambda x: x, plain) is plain
