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
