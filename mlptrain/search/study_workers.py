"""Running the trials of an Optuna-driven sweep here or in local worker processes.

Each task is one :func:`mlptrain.search.study.study_trial`: ask, train, tell. With ``jobs > 1``
the tasks go to loky's reusable worker processes (the ones joblib uses), which keep their
imports and prepared data from one trial to the next; a new task is submitted whenever one
finishes, until the study reports that it is full (tpe) or the fixed list is done (pruned
grid or random search).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, wait
from pathlib import Path
from typing import Any

from mlptrain.search.study import study_trial


def run_study(
    ref: dict[str, Any],
    base: dict[str, Any],
    sweep_dir: Path,
    jobs: int,
    figures: bool,
    payloads: list[dict[str, Any]] | None,
    tracking_parent: Mapping[str, Any] | None = None,
) -> Iterator[dict[str, Any]]:
    """Records of the trials run here, as they finish. ``payloads``: the fixed trials of a
    grid or random search; ``None``: TPE asks the study until it holds its budget.
    ``tracking_parent``: the sweep's parent run (``ParentRun.info``) for each trial's run."""
    from mlptrain.search.trial import blas_threads_per_job

    threads = blas_threads_per_job(jobs)
    parent = dict(tracking_parent) if tracking_parent is not None else None
    pending = list(payloads) if payloads is not None else None

    def task_args() -> tuple[Any, ...] | None:
        if pending is None:
            return (ref, base, str(sweep_dir), threads, figures, None, parent)
        if not pending:
            return None
        return (ref, base, str(sweep_dir), threads, figures, pending.pop(0), parent)

    if jobs == 1:
        while (args := task_args()) is not None:
            record = study_trial(*args)
            if record is None:
                return
            yield record
        return

    from joblib.externals.loky import get_reusable_executor

    executor = get_reusable_executor(max_workers=jobs)
    running: set[Future[Any]] = set()
    full = False
    for _ in range(jobs):
        args = task_args()
        if args is None:
            break
        running.add(executor.submit(study_trial, *args))
    while running:
        done, running = wait(running, return_when=FIRST_COMPLETED)
        for future in done:
            record = future.result()
            if record is None:
                full = True
                continue
            yield record
            args = None if full else task_args()
            if args is not None:
                running.add(executor.submit(study_trial, *args))
