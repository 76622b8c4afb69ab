"""The small-array shortcuts give what the vectorised path gives: ``isin_text`` is ``np.isin``,
and ``CategoryLookup`` answers a few levels (by dictionary) as it answers many (by search)."""

from __future__ import annotations

import numpy as np
import pytest

from mlptrain.data.category_lookup import CategoryLookup
from mlptrain.data.membership import SMALL, isin_text

LEVELS = np.array(["", " a", "a", "b", "NA", "c\u00e9", "zz", "b "])
MEMBERS = np.array(["a", "NA", "", "c\u00e9", "q"])


@pytest.mark.parametrize("repeat", [1, SMALL // len(LEVELS) + 1], ids=["few", "many"])
def test_isin_text_is_np_isin(repeat):
    values = np.tile(LEVELS, repeat)
    np.testing.assert_array_equal(isin_text(values, MEMBERS), np.isin(values, MEMBERS))
    np.testing.assert_array_equal(
        isin_text(values, set(MEMBERS.tolist())), np.isin(values, MEMBERS)
    )
    assert isin_text(values[:0], MEMBERS).shape == (0,)


@pytest.mark.parametrize(
    "column",
    [
        {"categories": ["b", "a", "zz"], "infrequent": ["c\u00e9"], "fill": "a"},
        {"categories": ["b", "a"], "infrequent": None, "fill": None},
        {"categories": ["b"], "infrequent": ["a"], "fill": "a"},  # gaps go to infrequent
        {"categories": [], "infrequent": ["a"], "fill": None},
    ],
)
def test_few_levels_are_looked_up_as_many(column):
    lookup = CategoryLookup.of(column)
    many = np.tile(LEVELS, SMALL // len(LEVELS) + 1)
    np.testing.assert_array_equal(
        np.tile(lookup.position(LEVELS), SMALL // len(LEVELS) + 1), lookup.position(many)
    )
    np.testing.assert_array_equal(
        np.tile(lookup.new(LEVELS), SMALL // len(LEVELS) + 1), lookup.new(many)
    )
    known = column["categories"]
    fallback = len(known) if column["infrequent"] is not None else -1
    expected = [known.index(v) if v in known else fallback for v in LEVELS.tolist()]
    assert lookup.position(LEVELS).tolist() == expected
    rare = column["infrequent"] or []
    assert lookup.new(LEVELS).tolist() == [v not in known and v not in rare for v in LEVELS]
    fill = column["fill"]
    assert lookup.fill == (-1 if fill is None else known.index(fill) if fill in known else fallback)


def test_text_column_of_a_few_levels_is_the_vectorised_rule(monkeypatch):
    """``text_column`` strips, drops missing markers and merges in Python for a few levels;
    random levels (spaces, markers, unicode, gaps) against the NumPy rule it replaces."""
    from mlptrain.data import frame

    rng = np.random.default_rng(0)
    pool = ["a", " a", "b ", "NA", " NA ", "", "  ", "z", "Z", "\u00e9", "\u00a0x", "?", "1", " 1"]
    na = np.array(["", "NA", "N/A", "NaN", "nan", "null", "NULL", "?"])
    for trial in range(300):
        k, n = int(rng.integers(0, 12)), int(rng.integers(1, 20))
        levels = np.array(rng.choice(pool, k, replace=False).tolist() if k else [], dtype=str)
        codes = rng.integers(-1, k, n) if k else np.full(n, -1)
        if trial % 2:  # a gap as the code past the last level, as the CSV readers give it
            codes = np.where(codes < 0, k, codes)
        few = frame.text_column("c", codes, levels, na)
        with monkeypatch.context() as patch:
            patch.setattr(frame, "SMALL", -1)
            many = frame.text_column("c", codes, levels, na)
        assert few.values.dtype == many.values.dtype == np.int32
        assert few.values.tolist() == many.values.tolist()
        assert few.levels is not None and many.levels is not None
        assert few.levels.tolist() == many.levels.tolist()
