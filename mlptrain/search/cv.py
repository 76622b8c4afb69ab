"""k-fold cross-validation of a config on its train+validation rows; the test rows stay out.

The test rows are the config's own (``split_rows`` with the config's seed), so a CV estimate
and a later ``mlptrain fit`` never see different test sets. The remaining rows are split by
scikit-learn's ``StratifiedKFold`` (classification) or ``KFold`` (regression), shuffled with
the config's seed. In each fold, a validation part (``data.val_size`` of the fold's training
rows, stratified, seeded) is carved out of the training rows for early stopping and the plateau
schedule; the held-out fold is never seen during training and is only scored. Each fold is
prepared like :func:`mlptrain.data.prepare` (scaler fitted on the fold's fitting rows only) and
trained by :func:`mlptrain.training.trainer.build` + ``Trainer``.

A streamed table (``data.stream: true``) is never held: its rows are placed in K folds by the
64-bit hash that places a streamed fit's rows (``mlptrain.data.row_hash.Placement``), so the
test rows are the ones ``mlptrain fit`` holds out of the same config, and each fold is a
streamed fit with other parts (``mlptrain.search.cv_stream``). Each fold makes its own first
pass: its encoder and target scaler are fitted on its own training rows, as in memory, at the
cost of one more read of the table per fold (a first pass shared by every fold would fit
them on the held-out rows too). The held-out rows' predictions are written as the fold's
report pass scores them and merged into oof.csv by the row's position in the file.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlptrain.errors import DataError, UserInputError
from mlptrain.search.cv_stream import stream_fold
from mlptrain.search.fold_train import scalar_only, train_prepared, watches_validation
from mlptrain.search.oof import OOF_FILE, merge_parts, out_of_fold, part_path
from mlptrain.store.atomic import atomic_write_text, check_writable

MAX_FOLDS = 100


@dataclass
class Folds:
    """Row indices into the raw data: the pool (train+val) split into folds, and the test rows."""

    raw: Any  # mlptrain.data.RawData
    folds: list[tuple[np.ndarray, np.ndarray]]  # (training rows, held-out rows)
    test: np.ndarray | None  # None when data.test_size is 0


def check_folds(n_folds: int) -> None:
    if not 2 <= n_folds <= MAX_FOLDS:
        raise UserInputError(f"«folds» {n_folds}: allowed: an integer from 2 to {MAX_FOLDS}")


def make_folds(cfg: Any, n_folds: int) -> Folds:
    """The config's data, its test rows, and ``n_folds`` seeded folds of the other rows."""
    from sklearn.model_selection import KFold, StratifiedKFold

    from mlptrain.data import load_raw, split_rows

    check_folds(n_folds)
    raw = load_raw(cfg.data, seed=cfg.seed)
    train, val, test = split_rows(raw, cfg.data, seed=cfg.seed)
    pool = np.sort(np.concatenate([train, val if val is not None else train[:0]]))
    classification = raw.task == "classification"
    splitter_cls = StratifiedKFold if classification else KFold
    splitter = splitter_cls(n_splits=n_folds, shuffle=True, random_state=cfg.seed)
    if classification:
        _, counts = np.unique(raw.y[pool], return_counts=True)
        if counts.min() < n_folds:
            raise DataError(
                f"{raw.source}: «folds» {n_folds}: the rarest class has only {int(counts.min())} "
                "row(s) outside the test split; stratified k-fold needs at least one per fold; "
                f"use «folds» {max(2, int(counts.min()))} or fewer"
            )
    elif len(pool) < n_folds:
        raise DataError(
            f"{raw.source}: «folds» {n_folds}: only {len(pool)} rows outside the test split"
        )
    labels = raw.y[pool] if classification else np.zeros(len(pool))
    folds = [(pool[a], pool[b]) for a, b in splitter.split(np.zeros(len(pool)), labels)]
    return Folds(raw, folds, test)


# The folds of the last config this process cross-validated: a worker running several folds
# loads and splits the data once, not once per fold.
_FOLDS_CACHE: dict[str, Folds] = {}


def _cached_folds(cfg: Any, config: dict[str, Any], n_folds: int) -> Folds:
    key = json.dumps([config, n_folds], sort_keys=True, default=str)
    if key not in _FOLDS_CACHE:
        _FOLDS_CACHE.clear()
        _FOLDS_CACHE[key] = make_folds(cfg, n_folds)
    return _FOLDS_CACHE[key]


def monitor_rows(
    cfg: Any, raw: Any, train_rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray | None]:
    """(fitting rows, validation rows) of a fold's training rows: ``data.val_size`` of them,
    stratified for classification and seeded, watched by early stopping and the plateau
    schedule; None when nothing watches a validation metric (all rows then train)."""
    from sklearn.model_selection import train_test_split

    if not watches_validation(cfg):
        return train_rows, None
    stratify = raw.y[train_rows] if raw.task == "classification" else None
    try:
        fit, val = train_test_split(
            train_rows, test_size=cfg.data.val_size, random_state=cfg.seed, stratify=stratify
        )
    except ValueError as exc:
        raise DataError(
            f"{raw.source}: cannot carve the validation rows (data.val_size="
            f"{cfg.data.val_size}) out of a fold's {len(train_rows)} training rows: {exc}; "
            "use fewer «folds» or a larger data.val_size"
        ) from None
    return np.sort(fit), np.sort(val)


def prepare_fold(cfg: Any, raw: Any, train_rows: np.ndarray, held_out: np.ndarray) -> Any:
    """A ``Prepared`` built exactly as ``data.prepare`` from one fold: train and val are carved
    from the fold's training rows (``monitor_rows``), and the held-out fold is its test part."""
    from mlptrain.data import prepare_rows
    from mlptrain.data.encoding import Settings
    from mlptrain.training.setup import DTYPES

    fit, val = monitor_rows(cfg, raw, train_rows)
    return prepare_rows(
        raw,
        fit,
        val,
        held_out,
        scale=cfg.data.scale,
        dtype=DTYPES[cfg.train.dtype],
        settings=Settings.from_config(cfg.data),
    )


def scalar_metrics(setup: Any, split: Any) -> dict[str, float]:
    """The report's scalar metrics of the setup's model on one split."""
    from mlptrain.reporting.report import split_metrics

    data = setup.data
    names = [str(c) for c in data.encoder.classes] if data.encoder is not None else None
    return scalar_only(split_metrics(setup.trained, data.task, split, names))


def run_fold(
    config: dict[str, Any],
    n_folds: int,
    fold: int,
    blas_threads: int,
    track_in: tuple[str, dict[str, Any]] | None = None,
    oof_part: str | None = None,
) -> dict[str, Any]:
    """Train and score one fold (the unit a worker process runs); plain data in and out.

    ``track_in``: (the cv directory, the parent run's link) when a tracker is on.
    ``oof_part``: where a streamed fold writes its held-out rows (``cv_stream.stream_fold``)."""
    from threadpoolctl import threadpool_limits

    from mlptrain.config import parse_config_dict

    with threadpool_limits(limits=blas_threads):
        cfg = parse_config_dict(config, source="cv config")
        fold_track = None
        if track_in is not None:
            fold_track = (Path(track_in[0]) / f"fold-{fold}", track_in[1])
        if cfg.data.stream:
            if oof_part is None:
                raise ValueError("a streamed fold writes its held-out rows to an oof_part")
            return stream_fold(cfg, n_folds, fold, Path(oof_part), fold_track)
        folds = _cached_folds(cfg, config, n_folds)
        train_rows, held_out = folds.folds[fold]
        data = prepare_fold(cfg, folds.raw, train_rows, held_out)
        setup, metrics = train_prepared(
            cfg, data, lambda trained: scalar_metrics(trained, data.test), fold_track
        )
        return {
            "fold": fold,
            "n_train": len(data.train.y),
            "n_monitor": 0 if data.val is None else len(data.val.y),
            "n_held_out": len(held_out),
            "metrics": metrics,
            "held_out": held_out_predictions(setup, held_out),
        }


def held_out_predictions(setup: Any, rows: np.ndarray) -> dict[str, Any]:
    """The held-out fold's rows of the data and the model's predictions of them: the log
    probabilities with the fold's classes, or the values in the targets' units."""
    data = setup.data
    if data.encoder is not None:
        return {
            "rows": rows.tolist(),
            "classes": [str(c) for c in data.encoder.classes],
            "log_proba": setup.trained.predict_log_proba(data.test.X).tolist(),
        }
    values = np.asarray(setup.trained.predict(data.test.X), dtype=np.float64)
    return {"rows": rows.tolist(), "values": values.reshape(len(rows), -1).tolist()}


def _mean_std(values: Sequence[float]) -> dict[str, float]:
    array = np.asarray(values, dtype=np.float64)
    # Population std (ddof=0), numpy's default, as in the sweep leaderboard.
    return {"mean": float(array.mean()), "std": float(array.std())}


@dataclass
class CVResult:
    dir: Path
    summary: dict[str, Any]


def cross_validate(
    config: str | Path,
    *,
    folds: int = 5,
    overrides: Sequence[str] = (),
    jobs: int = 1,
    out: str | Path | None = None,
    track: Sequence[str] = (),
    on_warning: Callable[[str], None] | None = None,
) -> CVResult:
    """Run every fold; write ``cv.json`` and ``cv.md``; mean ± std of each metric.

    With a tracker on, each fold is tracked (``<out>/fold-K/``); in MLflow the folds are
    nested runs under one parent run for the cross-validation.
    """
    from mlptrain.config import config_to_dict, load_config
    from mlptrain.search.trial import blas_threads_per_job
    from mlptrain.tracking import with_trackers
    from mlptrain.tracking.parents import ParentRun

    if jobs < 1:
        raise UserInputError(f"«jobs» {jobs}: allowed: an integer >= 1")
    cfg = with_trackers(load_config(config, overrides), track)
    base = config_to_dict(cfg)
    check_folds(folds)  # input errors (too many folds) before any worker
    # a streamed table is placed in folds by each fold's own first pass
    split_data = None if cfg.data.stream else make_folds(cfg, folds)
    if out is None:
        # Trackers do not change the folds' results: they do not change the directory either.
        untracked = {k: v for k, v in base.items() if k != "track"}
        digest = hashlib.sha256(json.dumps([untracked, folds], sort_keys=True).encode()).hexdigest()
        out = Path("runs") / cfg.name / f"cv-{folds}-{digest[:8]}"
    out = Path(out)
    check_writable(out)
    tracked = cfg.track.mlflow is not None or cfg.track.tensorboard is not None
    if tracked:
        _forget_tracking(out)
    parent = ParentRun(cfg, kind="cv", out_dir=out, params={"folds": folds}, warn=on_warning)

    def track_in(k: int) -> tuple[str, dict[str, Any]] | None:
        return (str(out), parent.child(f"fold-{k}")) if tracked else None

    parts = [part_path(out, k) for k in range(folds)] if split_data is None else []

    def oof_part(k: int) -> str | None:
        return str(parts[k]) if parts else None

    threads = blas_threads_per_job(jobs)
    try:
        if jobs == 1:
            results = [
                run_fold(base, folds, k, threads, track_in(k), oof_part(k)) for k in range(folds)
            ]
        else:
            from joblib import Parallel, delayed

            results = list(
                Parallel(n_jobs=jobs, backend="loky")(
                    delayed(run_fold)(base, folds, k, threads, track_in(k), oof_part(k))
                    for k in range(folds)
                )
            )
        results.sort(key=lambda r: r["fold"])
        if split_data is None:
            oof_metrics = merge_parts(parts, out / OOF_FILE)  # writes oof.csv
        else:
            oof = out_of_fold(split_data, results)
            oof_metrics = oof.metrics
            for result in results:
                del result["held_out"]  # in oof.csv, not in cv.json
            atomic_write_text(out / OOF_FILE, oof.csv_text)
    except BaseException:
        parent.finish("failed", {}, [])
        raise
    finally:
        for part in parts:
            part.unlink(missing_ok=True)
    names = list(results[0]["metrics"])
    summary: dict[str, Any] = {
        "name": cfg.name,
        "folds": folds,
        "seed": cfg.seed,
        "task": "regression" if "r2" in names else "classification",
        # The fraction of each fold's training rows early stopping/plateau watched (0: none).
        "val_size": cfg.data.val_size if watches_validation(cfg) else 0,
        "per_fold": results,
        "metrics": {
            name: _mean_std([r["metrics"][name] for r in results])
            for name in names
            if all(math.isfinite(r["metrics"].get(name, math.nan)) for r in results)
        },
        # every metric of the report on all rows' out-of-fold predictions at once
        "out_of_fold": oof_metrics,
        "config": base,
    }
    if split_data is None:
        summary["streamed"] = True
    atomic_write_text(out / "cv.json", json.dumps(summary, indent=2, allow_nan=False) + "\n")
    atomic_write_text(out / "cv.md", render_markdown(summary))
    parent.finish(
        "completed",
        {f"{name}_mean": stat["mean"] for name, stat in summary["metrics"].items()}
        | {f"{name}_std": stat["std"] for name, stat in summary["metrics"].items()},
        ["cv.json", "cv.md", OOF_FILE],
    )
    return CVResult(out, summary)


def _forget_tracking(out: Path) -> None:
    """A cv run again in the same directory is a new cv: new MLflow runs, fresh event files."""
    from mlptrain.tracking import STATE_FILE

    for stale in [out / STATE_FILE, *out.glob(f"fold-*/{STATE_FILE}")]:
        stale.unlink(missing_ok=True)
    for events in out.glob("fold-*/tensorboard/events.out.tfevents.*"):
        events.unlink()


def render_markdown(summary: dict[str, Any]) -> str:
    from mlptrain.reporting.metrics import SCALAR_METRICS
    from mlptrain.reporting.tables import markdown_table

    lines = [
        f"# Cross-validation: {summary['name']}",
        "",
        f"{_fold_kind(summary)} on the "
        "train+validation rows (the test split is left out), seed "
        f"{summary['seed']}; mean ± std (ddof=0) over folds.",
        "",
        monitoring_note(summary),
        "",
    ]
    lines += markdown_table(
        ["metric", "mean", "std"],
        [[name, f"{s['mean']:.4f}", f"{s['std']:.4f}"] for name, s in summary["metrics"].items()],
    )
    oof = summary.get("out_of_fold") or {}
    lines += ["", f"## Out of fold ({OOF_FILE})", "",
              "Every row's prediction by the fold that held it out, scored at once.", ""]  # fmt: skip
    lines += markdown_table(
        ["metric", "value"], [[m, oof[m]] for m in SCALAR_METRICS[summary["task"]] if m in oof]
    )
    return "\n".join(lines) + "\n"


def _fold_kind(summary: dict[str, Any]) -> str:
    folds = summary["folds"]
    if summary.get("streamed"):
        return f"{folds} hash-placed folds of a streamed table"
    return f"{folds}-fold {'stratified ' if summary['task'] == 'classification' else ''}k-fold"


def monitoring_note(summary: dict[str, Any]) -> str:
    """What chose the epochs and what was scored, in one sentence (cv.md and the console)."""
    val_size = summary.get("val_size", 0)
    if val_size:
        return (
            f"Early stopping and the plateau schedule watch a validation part (val_size "
            f"{val_size}) carved from each fold's training rows; the held-out fold is only scored."
        )
    return (
        "Nothing watches a validation metric (no early stopping or plateau schedule on val_*): "
        "each fold trains on all its training rows; the held-out fold is only scored."
    )
