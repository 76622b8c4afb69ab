"""Predictions for a file of raw features: CSV or NPZ in, CSV out (``mlptrain predict``).

The features go through the run's saved scaler (``mlptrain.api.load`` → ``Predictor``). The
input's columns are matched to the model's by ``mlptrain.data.matching.match_columns``, the
rule ``Predictor.predict`` follows too: by name when the model recorded feature names (a
missing one is an error, extra columns are ignored with a note), by position only for a
header-less CSV or an NPZ ``X`` without names (with a note). Classifiers write the original class labels, and with
``proba`` one ``proba_<label>`` column per class. A model trained on a csv/parquet table
takes raw rows in that table's format instead: columns by name, gaps imputed and categories
encoded as in training (docs/tables.md). ``predict_cells`` takes the same rows as JSON cells
(``mlptrain serve``) and joins this path where a file's typed columns do.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mlptrain.data.memory import MemoryFile, as_source, file_name
from mlptrain.errors import UserInputError

INPUT_SUFFIXES = (".csv", ".npz")


def csv_cell(value: Any) -> str:
    """A value as CSV text: labels as they are, floats so that they read back exactly."""
    if isinstance(value, float | np.floating):
        return repr(float(value))
    if isinstance(value, np.generic):
        return str(value.item())
    return str(value)


@dataclass(frozen=True)
class Predictions:
    """What one call of ``predict_rows`` found: the columns echoed (a table model's id and
    ``keep`` columns, as read), the predictions (labels or values, (n,) or (n, targets)), the
    probabilities in the order of ``classes`` when asked for, and per categorical column the
    rows holding a category unseen in training."""

    echoed: dict[str, np.ndarray]
    predicted: np.ndarray
    probabilities: np.ndarray | None
    classes: list[Any] | None
    unseen: dict[str, int] = field(default_factory=dict)

    def table(self) -> tuple[list[str], list[list[str]]]:
        """(header, rows) as ``mlptrain predict`` writes them."""
        header = list(self.echoed)
        columns = list(self.echoed.values())
        if self.predicted.ndim == 1:
            header += ["prediction"]
            columns += [self.predicted]
        else:
            header += [f"prediction_{j}" for j in range(self.predicted.shape[1])]
            columns += [self.predicted[:, j] for j in range(self.predicted.shape[1])]
        if self.probabilities is not None:
            header += [f"proba_{csv_cell(label)}" for label in self.classes or []]
            columns += [self.probabilities[:, j] for j in range(self.probabilities.shape[1])]
        rows = [[csv_cell(col[i]) for col in columns] for i in range(len(self.predicted))]
        return header, rows


def predict_table(
    model_path: str | Path,
    input_path: str | Path,
    *,
    proba: bool = False,
    keep: Sequence[str] = (),
    notes: list[str] | None = None,
) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of predictions for every row of ``input_path``, in order.

    A table model (trained on csv/parquet) reads raw columns by name; its id columns and the
    ``keep`` columns come first in the output. Lines for the user (columns ignored, categories
    not seen in training) are appended to ``notes``.
    """
    from mlptrain.serving.loading import load

    return predict_rows(load(model_path), input_path, proba=proba, keep=keep, notes=notes).table()


def predict_rows(
    predictor: Any,
    input_path: str | Path | MemoryFile,
    *,
    proba: bool = False,
    keep: Sequence[str] = (),
    notes: list[str] | None = None,
) -> Predictions:
    """The predictions of a loaded ``Predictor`` for every row of ``input_path``, in order: the
    one path from a file of rows to predictions (``mlptrain predict`` and ``mlptrain serve``).

    ``input_path`` may be a ``MemoryFile``: rows held in memory (a served CSV body), read as
    a file of them.
    """
    from mlptrain.data import read_features
    from mlptrain.data.features import read_table_inputs
    from mlptrain.data.tables import TABLE_SUFFIXES

    input_path = as_source(input_path)
    name = file_name(input_path)
    allowed = (*TABLE_SUFFIXES, ".npz") if predictor.table is not None else INPUT_SUFFIXES
    if not name.endswith(allowed):
        suffix = input_path.suffix.lower()
        raise UserInputError(
            f"{input_path}: unsupported input type {suffix or '(none)'!r}; allowed: "
            + ", ".join(allowed)
        )
    if proba and predictor.encoder is None:
        raise UserInputError("--proba needs a classifier; this model does regression")
    if keep and (predictor.table is None or name.endswith(".npz")):
        raise UserInputError("--keep needs a table input for a model trained on a table")
    read_notes: list[str] = []
    if predictor.table is not None and name.endswith(".npz"):
        from mlptrain.data.files import check_file, load_npz

        # an NPZ has no header: its X columns are the table's feature columns, in order
        assert isinstance(input_path, Path)  # rows in memory are CSV text
        X = load_npz(check_file(input_path), ("X",))["X"]
    elif predictor.table is not None:
        data = predictor.meta.data_config
        X, read_notes = read_table_inputs(input_path, encoder=predictor.table, data=data, keep=keep)
    else:
        X, _ = read_features(
            input_path,
            feature_names=predictor.input_names,
            target=predictor.target_name,
            notes=read_notes,
        )
    return predict_inputs(predictor, X, read_notes, proba=proba, keep=keep, notes=notes)


def predict_cells(
    predictor: Any,
    names: Sequence[str],
    columns: Sequence[Sequence[Any]],
    *,
    source: str,
    proba: bool = False,
    keep: Sequence[str] = (),
    notes: list[str] | None = None,
) -> Predictions:
    """The predictions for rows given as JSON cells, one sequence per column of ``names``
    (``mlptrain serve``): typed as the same rows in a file would be (mlptrain.data.cells)
    and joining ``predict_rows`` where a file's typed columns do, so that the checks, the
    messages (the rows named ``source``) and the predictions are those of that file."""
    from mlptrain.data.cells import matrix_from_cells, table_from_cells
    from mlptrain.data.features import cell_features, check_table_inputs, na_values, text_inputs
    from mlptrain.data.numbers import NumberFormat

    read_notes: list[str] = []
    if predictor.table is not None:
        data = predictor.meta.data_config
        numbers = NumberFormat.from_options(
            data.get("thousands") or "auto", data.get("decimal") or "."
        )
        table = table_from_cells(
            names,
            columns,
            source=source,
            na_values=na_values(data),
            text_columns=text_inputs(predictor.table, keep),
            numbers=numbers,
        )
        X, read_notes = check_table_inputs(table, encoder=predictor.table, keep=keep, where=source)
    else:
        cells = matrix_from_cells(names, columns, source=source)
        # the lines a file of these rows would give them: a header, then one row per line
        X, _ = cell_features(
            source,
            names,
            cells,
            np.arange(2, len(cells) + 2),
            feature_names=predictor.input_names,
            target=predictor.target_name,
            notes=read_notes,
        )
    return predict_inputs(predictor, X, read_notes, proba=proba, keep=keep, notes=notes)


def predict_inputs(
    predictor: Any,
    X: Any,
    read_notes: list[str],
    *,
    proba: bool,
    keep: Sequence[str],
    notes: list[str] | None,
) -> Predictions:
    """The common end of ``predict_rows`` and ``predict_cells``: typed inputs to
    predictions, with a table's id and ``keep`` columns echoed as read."""
    from mlptrain.data.tables import Table

    echoed: dict[str, np.ndarray] = {}
    if predictor.table is not None and isinstance(X, Table):
        for column_name in [*predictor.table.ids, *keep]:
            if column_name in X.columns and column_name not in echoed:
                echoed[column_name] = X.columns[column_name].strings()
    if notes is not None:
        notes.extend(read_notes)
    predicted = predictor.predict(X)
    if notes is not None:
        notes.extend(predictor.threshold_notes())
    unseen = dict(predictor.unseen)
    if unseen and notes is not None:
        from mlptrain.data.encoding import unseen_note

        notes.append(unseen_note(unseen))
    probabilities = predictor.predict_proba(X) if proba else None
    classes = None if predictor.classes is None else list(predictor.classes)
    return Predictions(echoed, predicted, probabilities, classes, unseen)


def to_csv(header: list[str], rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def predict_file(
    model_path: str | Path,
    input_path: str | Path,
    *,
    output: str | Path | None = None,
    proba: bool = False,
    keep: Sequence[str] = (),
    notes: list[str] | None = None,
) -> str:
    """The predictions as CSV text; also written atomically to ``output`` when given."""
    from mlptrain.store.atomic import atomic_write_text

    text = to_csv(*predict_table(model_path, input_path, proba=proba, keep=keep, notes=notes))
    if output is not None:
        output = Path(output)
        if output.is_dir():
            raise UserInputError(f"--output {output}: is a directory; give a file name")
        if not output.parent.is_dir():
            raise UserInputError(f"--output {output}: directory {output.parent} does not exist")
        atomic_write_text(output, text)
    return text
