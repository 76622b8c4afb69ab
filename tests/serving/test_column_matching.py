"""Issue 21, cases 1-2: input columns are matched to a model's features by one function.

``Predictor.predict`` (the Python API) and ``mlptrain predict`` both go through
``mlptrain.data.matching.match_columns``: by name when the model recorded names, by position
only for inputs without names, with a note. The CLI side is tested in tests/cli/test_cli_columns.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mlptrain
from mlptrain.errors import DataError


@pytest.fixture(scope="module")
def digits_frame() -> pd.DataFrame:
    from sklearn.datasets import load_digits

    return load_digits(as_frame=True).frame


@pytest.fixture(scope="module")
def predictor(digits_run):
    return mlptrain.load(digits_run.dir)


def _accuracy(predicted: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.asarray(predicted).astype(int) == labels.astype(int)))


def test_dataframe_columns_are_matched_by_name(predictor, digits_frame) -> None:
    X = digits_frame.drop(columns="target")
    labels = digits_frame["target"].to_numpy()
    in_order = predictor.predict(X)
    # the digits model learned something, so a wrong column order would show in the accuracy
    accuracy = _accuracy(in_order, labels)
    assert accuracy > 0.5
    shuffled = X[list(np.random.default_rng(0).permutation(X.columns))]
    assert list(shuffled.columns) != list(X.columns)
    assert np.array_equal(predictor.predict(shuffled), in_order)
    assert _accuracy(predictor.predict(X[X.columns[::-1]]), labels) == accuracy
    assert np.array_equal(predictor.predict_proba(shuffled), predictor.predict_proba(X))
    assert predictor.notes == []


def test_dataframe_extra_columns_are_ignored_with_a_note(predictor, digits_frame) -> None:
    X = digits_frame.drop(columns="target")
    with_extra = X.assign(photo_id=np.arange(len(X)))
    expected = predictor.predict(X)
    assert np.array_equal(predictor.predict(with_extra), expected)
    assert predictor.notes == ["X: ignored 1 column(s) the model does not use: 'photo_id'"]


def test_dataframe_missing_column_names_it_and_the_closest(predictor, digits_frame) -> None:
    X = digits_frame.drop(columns="target").rename(columns={"pixel_3_4": "pixel_3_4_"})
    with pytest.raises(DataError) as error:
        predictor.predict(X.sample(frac=1.0, axis=1, random_state=0))
    message = str(error.value)
    assert message.startswith("X: missing feature column(s) 'pixel_3_4'; ")
    assert "the input has 'pixel_3_4_' (did you mean 'pixel_3_4'?)" in message
    assert error.value.exit_code == 2


def test_dataframe_with_made_up_names_is_refused(predictor, digits_frame) -> None:
    # a header p0..p63 is not the digits model's columns: no silent reading by position
    X = digits_frame.drop(columns="target").set_axis([f"p{j}" for j in range(64)], axis=1)
    with pytest.raises(DataError, match=r"^X: missing feature column\(s\) 'pixel_0_0', "):
        predictor.predict(X)


def test_array_is_taken_by_position_with_a_note(predictor, digits_frame) -> None:
    X = digits_frame.drop(columns="target")
    expected = predictor.predict(X)
    assert np.array_equal(predictor.predict(X.to_numpy()), expected)
    assert predictor.notes == [
        "X: the input has no column names: its 64 columns are taken by position, in training order"
    ]
    with pytest.raises(DataError, match=r"^X: X has 63 features, but the model expects 64$"):
        predictor.predict(X.to_numpy()[:, :63])


def test_match_columns_rule() -> None:
    from mlptrain.data.matching import ColumnMatch, match_columns

    names = ["a", "b", "c"]
    match = match_columns(
        ["c", "y", "a", "b", "z"], 5, feature_names=names, n_features=3, source="f",
        ignore=["y"],
    )  # fmt: skip
    assert match == ColumnMatch(
        [2, 3, 0], ["a", "b", "c"], False, ["f: ignored 1 column(s) the model does not use: 'z'"]
    )
    # placeholder names (a model trained on unnamed arrays): by name when all there ...
    assert match_columns(
        ["x1", "x0"], 2, feature_names=["x0", "x1"], n_features=2, source="f"
    ).indices == [1, 0]
    # ... else by position, leaving out the ignored (target) column, with a note
    loose = match_columns(
        ["p", "t", "q"], 3, feature_names=["x0", "x1"], n_features=2, source="f", ignore=["t"]
    )
    assert (loose.indices, loose.by_position) == ([0, 2], True)
    assert "recorded no feature names" in loose.notes[0]
    with pytest.raises(DataError, match=r"^f: X has 3 features, but the model expects 2$"):
        match_columns(None, 3, feature_names=["a", "b"], n_features=2, source="f")


def test_select_features_keeps_frame_values_in_training_order() -> None:
    from mlptrain.data.matching import select_features

    frame = pd.DataFrame({"b": [2.0, 4.0], "note": ["x", "y"], "a": [1.0, 3.0]})
    selected, match = select_features(frame, feature_names=["a", "b"], n_features=2, source="X")
    assert list(selected.columns) == ["a", "b"]
    assert np.array_equal(selected.to_numpy(), [[1.0, 2.0], [3.0, 4.0]])
    assert match.notes == ["X: ignored 1 column(s) the model does not use: 'note'"]
