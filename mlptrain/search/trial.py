"""One trial: train a config with a few overrides into its run directory, and its record.

The unit every executor runs (this process, joblib's workers, Dask, an Optuna study's
workers). Plain data in and out; a trial's own failure is recorded, never raised.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlptrain.errors import MlptrainError
from mlptrain.reporting.report_model import Report
from mlptrain.search.spec import monitor_minimised
from mlptrain.store.jsonl import read_jsonl
from mlptrain.store.layout import METRICS_FILE


def blas_threads_per_job(jobs: int) -> int:
    from mlptrain.children import usable_cores

    return max(1, usable_cores() // max(1, jobs))


def _scalars(metrics: Mapping[str, Any], prefix: str) -> dict[str, float]:
    return {
        f"{prefix}_{k}": float(v)
        for k, v in metrics.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }


def trial_metrics(report: Report) -> dict[str, float]:
    """The scalar metrics of a run: ``<split>_<metric>`` from the report, and ``val_loss`` /
    ``train_loss`` of the epoch whose weights the run kept (its best epoch)."""
    found: dict[str, float] = {}
    for split, metrics in report.metrics.items():
        found.update(_scalars(metrics, split))
    history = report.training.history
    best = report.training.best_epoch or len(history)
    if history and 1 <= best <= len(history):
        for key in ("train_loss", "val_loss"):
            value = history[best - 1].get(key)
            if isinstance(value, int | float):
                found[key] = float(value)
    return found


# Prepared data per worker process, keyed by (data section, seed, dtype): the trials of a
# sweep that don't change the data section load and split it once per worker, not per trial.
_DATA_CACHE: dict[str, Any] = {}
_DATA_CACHE_SIZE = 4


def cached_data(cfg: Any) -> Any:
    """``prepare(cfg.data, ...)``, reused by the next trials of this process with the same key;
    for a streamed table (``data.stream: true``), its first pass (``prepare_stream``): the
    trials then stream their rows as a fit does, never holding the table."""
    from mlptrain.config import config_to_dict
    from mlptrain.training.setup import prepare_data

    key = json.dumps(
        [config_to_dict(cfg)["data"], cfg.seed, cfg.train.dtype], sort_keys=True, default=str
    )
    if key not in _DATA_CACHE:
        while len(_DATA_CACHE) >= _DATA_CACHE_SIZE:
            _DATA_CACHE.pop(next(iter(_DATA_CACHE)))
        _DATA_CACHE[key] = prepare_data(cfg)
    return _DATA_CACHE[key]


def _epochs_run(run_dir: Path) -> int:
    path = run_dir / METRICS_FILE
    return len(read_jsonl(path)) if path.is_file() else 0


def run_trial(
    base: dict[str, Any],
    trial: dict[str, Any],
    out: str | None,
    blas_threads: int,
    *,
    figures: bool = False,
    reporter: Any = None,
    monitor: str | None = None,
    tracking_parent: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Train one trial; never raises for the trial's own failure (it is recorded instead).

    ``out`` is the run directory; ``None`` means "train in a temporary directory and return
    its files" (a Dask worker that may not share the client's disk). ``figures``: draw the
    trial's figures and report.html (off by default: the sweep draws the best trial's once).
    ``reporter`` (an Optuna trial) gets ``monitor`` after every epoch and may prune the run.
    ``tracking_parent`` nests the trial's MLflow run under the sweep's
    (mlptrain.tracking.parents).
    """
    from sklearn import config_context
    from threadpoolctl import threadpool_limits

    from mlptrain.api import Embedded, fit
    from mlptrain.config import parse_config_dict
    from mlptrain.search.pruning import PRUNED, PruningObserver
    from mlptrain.training.observers import compose
    from mlptrain.training.signals import Interrupted

    started = time.perf_counter()
    record = _identity(trial)
    temp = None if out is not None else tempfile.mkdtemp(prefix="mlptrain-trial-")
    run_dir = Path(out if out is not None else temp)  # type: ignore[arg-type]
    pruner = None
    if reporter is not None and monitor is not None:
        pruner = PruningObserver(reporter, monitor, monitor_minimised(monitor))
    # The one place a trial's observers are put together (the run's trackers are added to
    # them in mlptrain.session.training).
    callbacks = compose(pruner.callbacks() if pruner else None)
    try:
        # Our own arrays go into scikit-learn's metrics: its argument checks would cost a
        # trial more than a small model's training.
        with (
            threadpool_limits(limits=blas_threads),
            config_context(assume_finite=True, skip_parameter_validation=True),
        ):
            cfg = parse_config_dict(base, source="sweep base config", overrides=trial["overrides"])
            inside = Embedded(
                cached_data(cfg), deferred_writes=True, tracking_parent=tracking_parent
            )
            run = fit(
                cfg, out=run_dir, overwrite=True, callbacks=callbacks, figures=figures,
                html=figures, embedded=inside,
            )  # fmt: skip
        status = PRUNED if run.summary.status == PRUNED else "completed"
        record.update(status=status, error=None, metrics=trial_metrics(run.summary))
    except Interrupted:
        raise  # Ctrl-C stops the sweep, it is not the trial's failure (a rerun runs it again)
    except MlptrainError as exc:
        record.update(status="failed", error=str(exc), metrics={})
    except Exception as exc:  # a bug must not take the whole sweep down; it is recorded
        record.update(status="failed", error=f"{type(exc).__name__}: {exc}", metrics={})
    record["epochs"] = _epochs_run(run_dir)
    record["seconds"] = round(time.perf_counter() - started, 3)
    if temp is not None:
        record["files"] = _collect_files(Path(temp))
        shutil.rmtree(temp, ignore_errors=True)
    return record


def _identity(trial: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a trial's record that names it."""
    return {"trial": trial["id"]} | {k: trial[k] for k in ("index", "group", "params", "seed")}


def failed_record(trial: Mapping[str, Any], error: str) -> dict[str, Any]:
    """The record of a trial that never reported (its worker process was lost)."""
    return _identity(trial) | {"status": "failed", "error": error, "metrics": {}, "epochs": 0}


def _collect_files(root: Path) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name != ".lock":
            files[path.relative_to(root).as_posix()] = path.read_bytes()
    return files
