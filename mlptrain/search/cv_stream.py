"""One cross-validation fold of a streamed table (``data.stream: true``), never held whole.

The fold is a streamed fit with other parts: ``Placement(test_size, carve, folds, fold)``
places each row by the same hash as a fit (``mlptrain.data.row_hash``): the config's test
rows stay out, the fold's rows are its held-out part, the other folds' rows train, and when
early stopping or the plateau schedule watches a validation metric, ``data.val_size`` of the
training rows are carved by a second hash for them. The fold then goes the streamed fit's
way: its first pass (``prepare_stream``: the encoder and the target scaler fitted on the
fold's training rows, as the in-memory cv fits them per fold), the training loop on
``StreamBatches``, and the report's streamed pass, which scores the held-out part and writes
its rows to the fold's part of oof.csv as it goes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlptrain.data.row_hash import Placement
from mlptrain.search.fold_train import scalar_only, train_prepared, watches_validation
from mlptrain.search.oof import PartWriter


def fold_placement(cfg: Any, n_folds: int, fold: int) -> Placement:
    """Where fold ``fold`` of ``n_folds`` places each row of ``cfg``'s streamed table."""
    carve = cfg.data.val_size if watches_validation(cfg) else 0.0
    return Placement(cfg.data.test_size, carve, folds=n_folds, fold=fold)


def stream_fold(
    cfg: Any,
    n_folds: int,
    fold: int,
    part: Path,
    track_in: tuple[Path, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Train and score fold ``fold``; its held-out rows' predictions go to ``part``
    (``oof.merge_parts`` joins the folds' parts). The record ``run_fold`` returns for a fold
    held in memory, without the predictions."""
    from mlptrain.session.report_writer import streamed_metrics
    from mlptrain.store.atomic import atomic_writer
    from mlptrain.training.setup import prepare_data

    data = prepare_data(cfg, fold_placement(cfg, n_folds, fold))
    with atomic_writer(part) as write:
        writer = PartWriter(write, fold, data.stream)

        def score(setup: Any) -> dict[str, float]:
            scored = streamed_metrics(setup, collectors={"test": [writer]}, only=("test",))
            return scalar_only(scored["test"])

        _, metrics = train_prepared(cfg, data, score, track_in)
    rows = data.stream.n_rows
    return {
        "fold": fold,
        "n_train": rows["train"],
        "n_monitor": rows["val"],
        "n_held_out": rows["test"],
        "metrics": metrics,
    }
