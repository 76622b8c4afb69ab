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


def test_encode_few_rows_and_many_give_the_same_cells_counts_and_gaps() -> None:
    """``CategoryLookup.encode``: Python for up to FEW_ROWS rows, NumPy above; both against
    the cells worked out by hand (a frequent category, a new level, a rare one, a gap)."""
    from mlptrain.data.category_lookup import FEW_ROWS

    lookup = CategoryLookup.of({"categories": ["a", "b"], "infrequent": ["r"], "fill": None})
    assert (lookup.fallback, lookup.fill, lookup.size) == (2, -1, 3)
    levels = np.array(["b", "new", "r", "a"])
    codes = np.array([0, 1, 2, 3, -1, 0])
    # b, new (infrequent column, counted), r (infrequent column), a, gap (no cell), b
    expected = np.array([[0, 1, 0], [0, 0, 1], [0, 0, 1], [1, 0, 0], [0, 0, 0], [0, 1, 0]])
    few = np.zeros((6, 3))
    assert lookup.encode(levels, codes, few) == (1, True)
    assert few.tolist() == expected.tolist()
    repeats = FEW_ROWS // 6 + 1
    many = np.zeros((6 * repeats, 3))
    assert lookup.encode(levels, np.tile(codes, repeats), many) == (repeats, True)
    assert many.tolist() == np.tile(expected, (repeats, 1)).tolist()
    filled = CategoryLookup.of({"categories": ["a", "b"], "infrequent": None, "fill": "a"})
    for n in (6, 6 * repeats):
        block = np.zeros((n, 2))
        # "r" is new here too: no infrequent list
        assert filled.encode(levels, np.resize(codes, n), block) == (2 * (n // 6), True)
        # without an infrequent column, new and rare levels have no cell; the gap is "a"
        assert block[:6].tolist() == [[0, 1], [0, 0], [0, 0], [1, 0], [1, 0], [0, 1]]
