"""Out-of-fold predictions of a cross-validation: each row outside the test split predicted by
the one fold's model that never saw it (oof.csv, with the row's fold), and every metric of the
report computed on all of them at once (cv.json's ``out_of_fold``).

A streamed table's folds (``data.stream: true``) never hold their rows: each fold writes its
held-out rows to a part file as its report pass scores them (``PartWriter``), and
``merge_parts`` joins the parts into oof.csv by row, scoring the rows as it goes. There a
row is named by its position in the file as read (0-based, data rows), where a held table
names it by its index in the table as loaded; the id columns are in both."""

from __future__ import annotations

import contextlib
import csv
import heapq
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlptrain.errors import RunError
from mlptrain.reporting.metrics import classification_metrics, regression_metrics
from mlptrain.reporting.report import finite_or_none
from mlptrain.reporting.scored_rows import ScoredRows

OOF_FILE = "oof.csv"


@dataclass(frozen=True)
class OutOfFold:
    csv_text: str
    metrics: dict[str, Any]


def out_of_fold(folds: Any, results: list[dict[str, Any]]) -> OutOfFold:
    """From ``make_folds``'s folds and ``run_fold``'s results (each with its ``held_out``)."""
    from mlptrain.serving.predict import csv_cell, to_csv

    raw = folds.raw
    rows = np.concatenate([np.asarray(r["held_out"]["rows"], dtype=np.int64) for r in results])
    fold = np.concatenate([np.full(len(r["held_out"]["rows"]), r["fold"]) for r in results])
    order = np.argsort(rows, kind="stable")
    rows, fold = rows[order], fold[order]
    ids = _id_columns(raw, rows)
    header = ["row", "fold", *ids]
    columns: list[np.ndarray] = [rows, fold, *ids.values()]
    if "classes" in results[0]["held_out"]:
        classes, log_proba = _aligned(results)
        log_proba = log_proba[order]
        index = {name: k for k, name in enumerate(classes)}
        truth = np.array([index[str(label)] for label in raw.y[rows]])
        metrics = classification_metrics(truth, log_proba, classes)
        probabilities = np.exp(log_proba)
        header += ["true", "predicted", *[f"proba_{c}" for c in classes]]
        columns += [np.asarray(classes, dtype=object)[truth],
                    np.asarray(classes, dtype=object)[log_proba.argmax(axis=1)],
                    *probabilities.T]  # fmt: skip
    else:
        values = np.concatenate([np.asarray(r["held_out"]["values"]) for r in results])[order]
        truth = np.asarray(raw.y, dtype=np.float64).reshape(len(raw.y), -1)[rows]
        metrics = regression_metrics(truth, values)
        names = [""] if values.shape[1] == 1 else [f"_{j}" for j in range(values.shape[1])]
        header += [f"true{n}" for n in names] + [f"predicted{n}" for n in names]
        columns += [*truth.T, *values.T]
    table = [[csv_cell(column[i]) for column in columns] for i in range(len(rows))]
    return OutOfFold(to_csv(header, table), finite_or_none(metrics))


def _aligned(results: list[dict[str, Any]]) -> tuple[list[str], np.ndarray]:
    """Every fold's log probabilities in one class order (the classes in the order the folds
    name them; a class a fold never trained on has probability 0 there)."""
    classes: list[str] = []
    for result in results:
        classes += [c for c in result["held_out"]["classes"] if c not in classes]
    parts = []
    for result in results:
        fold_proba = np.asarray(result["held_out"]["log_proba"], dtype=np.float64)
        part = np.full((len(fold_proba), len(classes)), -np.inf)
        for j, name in enumerate(result["held_out"]["classes"]):
            part[:, classes.index(name)] = fold_proba[:, j]
        parts.append(part)
    return classes, np.concatenate(parts)


def _id_columns(raw: Any, rows: np.ndarray) -> dict[str, np.ndarray]:
    """A table's id columns' cells for ``rows``, as read: how a user joins oof.csv back."""
    if raw.table is None:
        return {}
    names = [c.name for c in raw.columns or [] if c.kind == "id" and c.name in raw.table.columns]
    return {name: raw.table.columns[name].strings()[rows] for name in names}


def part_path(out: Path, fold: int) -> Path:
    """Where a streamed fold writes its held-out rows before ``merge_parts`` joins them."""
    return out / f"oof-fold-{fold}.part.csv"


class PartWriter:
    """A streamed fold's held-out rows, written as its report pass scores them (a
    ``RowCollector`` of the held-out part): oof.csv's columns, ``row`` being the row's
    position in the file as read (0-based, data rows only), in that order."""

    def __init__(self, write: Callable[[bytes], None], fold: int, plan: Any) -> None:
        self.write, self.fold = write, fold
        self.id_names = [name for name in plan.encoder.ids if name in plan.stream.names]
        self.classes = None if plan.labels is None else [str(c) for c in plan.labels.classes]
        header = ["row", "fold", *self.id_names]
        if self.classes is not None:
            header += ["true", "predicted", *[f"proba_{c}" for c in self.classes]]
        else:
            shift = None if plan.target_scaler is None else plan.target_scaler.shift
            n_targets = 1 if shift is None else len(np.atleast_1d(shift))
            names = [""] if n_targets == 1 else [f"_{j}" for j in range(n_targets)]
            header += [f"true{n}" for n in names] + [f"predicted{n}" for n in names]
        self._lines([header])

    def _lines(self, rows: list[list[str]]) -> None:
        self.write(_csv_text(rows))

    def offer(self, rows: ScoredRows) -> None:
        from mlptrain.serving.predict import csv_cell

        n = len(rows.targets)
        ids = rows.ids if self.id_names else {}
        columns: list[np.ndarray] = [rows.positions, np.full(n, self.fold), *ids.values()]
        if self.classes is not None:
            names = np.asarray(self.classes, dtype=object)
            columns += [names[rows.targets], names[rows.out.argmax(axis=1)], *np.exp(rows.out).T]
        else:
            truth = np.asarray(rows.targets, dtype=np.float64).reshape(n, -1)
            columns += [*truth.T, *np.asarray(rows.out, dtype=np.float64).reshape(n, -1).T]
        self._lines([[csv_cell(column[i]) for column in columns] for i in range(n)])


MERGE_ROWS = 8192  # rows of oof.csv scored at once while the parts are merged


def merge_parts(parts: list[Path], out: Path) -> dict[str, Any]:
    """oof.csv from the folds' part files (each in file order), merged by row, written as it
    is read; and every metric of the report on all the rows at once, summed as a streamed
    report sums them (the probabilities read back exactly: ``csv_cell`` writes them so)."""
    try:
        return _merge_parts(parts, out)
    except OSError as exc:  # reading a part: atomic_writer reports its own writes
        from mlptrain.store.atomic import os_error_cause

        where = exc.filename or ", ".join(str(path) for path in parts)
        raise RunError(
            f"could not read a fold's held-out rows ({where}): {os_error_cause(exc)}; "
            f"{out} is unchanged"
        ) from exc


def _merge_parts(parts: list[Path], out: Path) -> dict[str, Any]:
    from mlptrain.reporting.streamed_metrics import ClassificationTally, RegressionTally
    from mlptrain.store.atomic import atomic_writer

    with contextlib.ExitStack() as stack:
        readers = [csv.reader(stack.enter_context(path.open(newline=""))) for path in parts]
        headers = [next(reader) for reader in readers]
        header = headers[0]
        if any(other != header for other in headers):
            raise RunError(f"{out}: the folds' held-out rows have different columns: {headers}")
        # the scored columns follow the id columns, whatever those are named
        start = max(j for j, name in enumerate(header) if name in ("true", "true_0"))
        scored = list(enumerate(header))[start:]
        proba = [j for j, name in scored if name.startswith("proba_")]
        classes = [header[j].removeprefix("proba_") for j in proba]
        truth = [j for j, name in scored if name.startswith("true")]
        predicted = [j for j, name in scored if name.startswith("predicted")]
        tally = ClassificationTally(len(classes)) if classes else RegressionTally()
        index = {name: k for k, name in enumerate(classes)}

        def score(chunk: list[list[str]]) -> None:
            if isinstance(tally, ClassificationTally):
                labels = np.array([index[row[truth[0]]] for row in chunk], dtype=np.int64)
                p = np.array([[float(row[j]) for j in proba] for row in chunk])
                with np.errstate(divide="ignore"):
                    tally.add(labels, np.log(p), None)
            else:
                tally.add(np.array([[float(row[j]) for j in truth] for row in chunk]),
                          np.array([[float(row[j]) for j in predicted] for row in chunk]))  # fmt: skip

        with atomic_writer(out) as write:
            write(_csv_text([header]))
            chunk: list[list[str]] = []
            for row in heapq.merge(*readers, key=lambda row: int(row[0])):
                chunk.append(row)
                if len(chunk) == MERGE_ROWS:
                    write(_csv_text(chunk))
                    score(chunk)
                    chunk = []
            if chunk:
                write(_csv_text(chunk))
                score(chunk)
    if isinstance(tally, ClassificationTally):
        return finite_or_none(tally.metrics(classes, None))
    return finite_or_none(tally.metrics())


def _csv_text(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue().encode("utf-8")
