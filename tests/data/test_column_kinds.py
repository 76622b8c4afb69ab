"""Issue 22: columns a model must not learn from (numeric ids, constants) are left out by
default, each with a note naming the line that keeps it; look-alikes are kept."""

from __future__ import annotations

import numpy as np
import pytest

from mlptrain.data.columns import likely_id_notes, type_columns
from mlptrain.data.tables import table_from_mapping
from mlptrain.errors import DataError

N = 60


def kinds(columns: dict[str, object], listed: dict[str, str] | None = None) -> dict[str, tuple]:
    rng = np.random.default_rng(0)
    data = {**columns, "y": rng.normal(size=N)}
    table = table_from_mapping(
        data, names=list(data), text_columns=(), na_values=["", "NA"], source="t"
    )
    return {i.name: (i.kind, i.how) for i in type_columns(table, "y", listed or {})}


def test_numeric_row_numbers_and_named_ids_are_likely_ids() -> None:
    rng = np.random.default_rng(1)
    found = kinds(
        {
            "rownames": np.arange(1, N + 1),  # R's row names
            "order": rng.permutation(N) + 1,  # an id's name, rows shuffled
            "CustomerID": rng.choice(10_000, N, replace=False),  # id-like name, sparse values
            "seq": rng.permutation(np.arange(1000, 1000 + 2 * N))[:N],  # half a range: a split
            "x": rng.normal(size=N),
        }
    )
    assert found["rownames"] == found["order"] == found["CustomerID"] == ("id", "likely id")
    assert found["seq"] == ("id", "likely id")
    assert found["x"] == ("numeric", "inferred")


def test_a_named_id_with_a_few_repeats_is_a_likely_id() -> None:
    """MASS/biopsy's patient ID: 645 distinct of 699 rows (repeat visits)."""
    rng = np.random.default_rng(3)
    ids = rng.choice(10_000_000, N, replace=False)
    ids[:4] = ids[4:8]  # 4 repeats of 60: 93% distinct
    found = kinds({"ID": ids, "visit": np.repeat(np.arange(N // 2), 2) * 1000 + 7})
    assert found["ID"] == ("id", "likely id")
    # not named like an id, 50% distinct: a number
    assert found["visit"] == ("numeric", "inferred")
    many_repeats = ids.copy()
    many_repeats[:12] = many_repeats[12:24]  # 80% distinct: a number that repeats
    assert kinds({"ID": many_repeats})["ID"] == ("numeric", "inferred")


def test_look_alikes_are_kept() -> None:
    rng = np.random.default_rng(2)
    found = kinds(
        {
            "income": rng.choice(100_000, N, replace=False),  # distinct, but no run, no id name
            "paid": rng.choice(100_000, N, replace=False),  # ends in 'id' but is a word
            "age": rng.integers(18, 30, N),  # repeats
            "id_score": rng.normal(size=N),  # not whole numbers
            "gappy": np.where(np.arange(N) % 2 == 0, 1.0, np.nan),  # missing tells something
        }
    )
    assert all(kind == ("numeric", "inferred") for kind in found.values() if kind[0] != "target")


def test_constant_columns_are_ignored_with_a_note() -> None:
    found = kinds({"one": np.ones(N), "word": np.array(["same"] * N), "x": np.arange(N) % 3})
    assert found["one"] == found["word"] == ("ignore", "constant")
    assert found["x"] == ("numeric", "inferred")


@pytest.mark.parametrize("kind", ["numeric", "categorical"])
def test_a_listed_column_is_kept_as_listed(kind: str) -> None:
    found = kinds({"rownames": np.arange(N), "one": np.ones(N)}, {"rownames": kind, "one": kind})
    assert found["rownames"] == found["one"] == (kind, "listed")


def test_notes_name_the_line_that_keeps_the_column() -> None:
    data = {"rownames": np.arange(N), "one": np.ones(N), "x": np.arange(N) % 3, "y": np.arange(N)}
    table = table_from_mapping(data, names=list(data), text_columns=(), na_values=[], source="t")
    notes = likely_id_notes(type_columns(table, "y", {}), N)
    assert notes == [
        "column 'rownames' looks like an id (distinct whole numbers that name or number the "
        "rows): kept out of training and carried through predict; add 'rownames: id' under "
        "data.columns to say so (or 'rownames: numeric' to train on it)",
        "column 'one' has the same value in every row: left out (nothing to learn); add "
        "'one: ignore' under data.columns to say so (or 'one: numeric' / 'one: categorical' "
        "to keep it)",
    ]


def test_no_feature_left_says_what_was_left_out() -> None:
    data = {"rownames": np.arange(N), "one": np.ones(N), "y": np.arange(N) % 2}
    table = table_from_mapping(data, names=list(data), text_columns=(), na_values=[], source="t")
    with pytest.raises(DataError) as info:
        type_columns(table, "y", {})
    assert str(info.value) == (
        "t: 0 features: no numeric or categorical column besides the target 'y'; the columns "
        "are 'rownames', 'one', 'y'; left out: 'rownames' (likely id), 'one' (constant); list "
        "one under data.columns (e.g. 'rownames: numeric') to train on it"
    )
