"""The table sections of ``data:`` (csv and parquet): column kinds, missing values, categories."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _TableStrict(BaseModel):
    """As strict as every other section: unknown keys and coercions are errors."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


ColumnKind = Literal["numeric", "categorical", "ignore", "id"]


class MissingSpec(_TableStrict):
    """How gaps in feature columns are filled (fitted on the training rows only)."""

    numeric: Literal["median", "mean", "zero", "refuse"] = "median"
    categorical: Literal["most_frequent", "constant", "refuse"] = "most_frequent"
    indicator: bool = False


class CategoricalSpec(_TableStrict):
    """One-hot encoding; rarer categories fold into one 'infrequent' column."""

    max_categories: int | None = Field(50, ge=2)
    min_frequency: int = Field(1, ge=1)
    infrequent: bool = True


# the keys of ``data:`` that only tables read
TABLE_ONLY = ("delimiter", "header", "columns", "missing", "categorical", "na_values",
              "drop_missing_target")  # fmt: skip


def changed_table_options(spec: BaseModel) -> list[str]:
    """The table-only keys of a ``data:`` section set to something else than their default (a
    resolved config writes every key with its default: only a change counts)."""
    fields = type(spec).model_fields
    return [
        key
        for key in TABLE_ONLY
        if getattr(spec, key) != fields[key].get_default(call_default_factory=True)
    ]
