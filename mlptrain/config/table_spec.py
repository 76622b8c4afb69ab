"""The table sections of ``data:`` (csv and parquet): column kinds, missing values, categories."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from mlptrain.config.problems import problem, show_value
from mlptrain.config.strict import Strict as _TableStrict

ColumnKind = Literal["numeric", "categorical", "date", "ignore", "id"]


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
              "encoding", "thousands", "decimal", "drop_missing_target", "val_path",
              "test_path", "split_column", "group_column", "stream")  # fmt: skip


def changed_table_options(spec: BaseModel) -> list[str]:
    """The table-only keys of a ``data:`` section set to something else than their default (a
    resolved config writes every key with its default: only a change counts)."""
    fields = type(spec).model_fields
    return [
        key
        for key in TABLE_ONLY
        if getattr(spec, key) != fields[key].get_default(call_default_factory=True)
    ]


def check_table_options(spec: Any, *, is_table: bool) -> None:
    """Table-only keys are refused for other datasets. ``split_column`` (a column of
    train/val/test) places every row: it excludes ``group_column`` (a column of groups kept
    on one side) and a changed ``test_size``/``val_size`` (a resolved config writes their
    defaults: those pass)."""
    for key in [] if is_table else changed_table_options(spec):
        raise problem(
            (key,),
            f"is not allowed with dataset {spec.dataset!r}; it applies to csv "
            "and parquet tables (remove it)",
        )
    split_column, group_column = spec.split_column, spec.group_column
    if split_column is not None and group_column is not None:
        raise problem(
            ("group_column",),
            f"{show_value(group_column)} is not allowed with data.split_column (the split "
            "column already places every row); remove one of them",
        )
    files = [key for key in ("val_path", "test_path") if getattr(spec, key) is not None]
    for key in ("split_column", "group_column") if files else ():
        if getattr(spec, key) is not None:
            raise problem(
                (key,),
                f"{show_value(getattr(spec, key))} is not allowed with data.{files[0]} (that "
                "file's rows are the split); remove one of them",
            )
    if split_column is None:
        return
    fields = type(spec).model_fields
    for key in ("test_size", "val_size"):
        if getattr(spec, key) != fields[key].get_default():
            raise problem(
                (key,),
                f"{show_value(getattr(spec, key))} is not allowed with data.split_column "
                f"(the column places every row); remove data.{key}",
            )
