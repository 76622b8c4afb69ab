"""Running the trials of an Optuna-driven sweep here, in local worker processes, or on a Dask
cluster.

Here and in local workers, each task is one :func:`mlptrain.search.study.study_trial`: ask,
train, tell. With ``jobs > 1`` the tasks go to loky's reusable worker processes (the ones
joblib uses), which keep their imports and prepared data from one trial to the next; a new
task is submitted whenever one finishes, until the study reports that it is full (tpe) or the
fixed list is done (pruned grid or random search).

On a Dask cluster the client asks and tells (Optuna's ask-and-tell interface), and the
workers only train: the TPE sampler sees every finished trial in one process, a trial is told
exactly once, and a worker lost mid-trial costs nothing but time, because Dask runs its task
again on another worker (the same trial number and parameters; its repeated epoch reports
are ignored by the study, which keeps the first). A trial whose task Dask gives up on is
failed and another is asked, so the study still reaches its budget of finished trials.
There are as many trials in flight as the cluster has worker threads, counted again as each
trial finishes (workers may join or leave).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, wait
from pathlib import Path
from typing import Any

from mlptrain.search.study import study_trial


def run_study(
    ref: dict[str, Any],
    base: dict[str, Any],
    sweep_dir: Path,
    payloads: list[dict[str, Any]] | None,
    tracking_parent: Mapping[str, Any] | None = None,
    *,
    jobs: int = 1,
    figures: bool = False,
    scheduler: str | None = None,
) -> Iterator[dict[str, Any]]:
    """Records of the trials run from here, as they finish. ``payloads``: the fixed trials of
    a grid or random search; ``None``: TPE asks the study until it holds its budget.
    ``tracking_parent``: the sweep's parent run (``ParentRun.info``) for each trial's run.
    ``scheduler``: a Dask scheduler's address; the trials run on its workers."""
    parent = dict(tracking_parent) if tracking_parent is not None else None
    pending = list(payloads) if payloads is not None else None
    if scheduler is not None:
        yield from _on_dask(ref, base, sweep_dir, pending, parent, scheduler)
    else:
        yield from _here(ref, base, sweep_dir, pending, parent, jobs, figures)


def _here(
    ref: dict[str, Any],
    base: dict[str, Any],
    sweep_dir: Path,
    pending: list[dict[str, Any]] | None,
    parent: dict[str, Any] | None,
    jobs: int,
    figures: bool,
) -> Iterator[dict[str, Any]]:
    from mlptrain.search.trial import blas_threads_per_job

    threads = blas_threads_per_job(jobs)

    def task_args() -> tuple[Any, ...] | None:
        if pending is None:
            return (ref, base, str(sweep_dir), threads, figures, None, parent)
        if not pending:
            return None
        return (ref, base, str(sweep_dir), threads, figures, pending.pop(0), parent)

    if jobs == 1:
        yield from _in_turn(task_args)
    else:
        yield from _in_processes(task_args, jobs)


def _in_turn(task_args: Callable[[], tuple[Any, ...] | None]) -> Iterator[dict[str, Any]]:
    """One trial after another in this process, until none is left or the study is full."""
    while (args := task_args()) is not None:
        record = study_trial(*args)
        if record is None:
            return
        yield record


def _in_processes(
    task_args: Callable[[], tuple[Any, ...] | None], jobs: int
) -> Iterator[dict[str, Any]]:
    """``jobs`` trials at a time in loky's worker processes, a new one as each finishes."""
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


def remote_trial(
    ref: Mapping[str, Any],
    base: dict[str, Any],
    payload: dict[str, Any],
    trial_id: int,
    tracking_parent: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """A Dask worker's task: train one asked trial in a temporary directory and return its
    record with its files; epochs are reported to the study when the sweep prunes."""
    from mlptrain.search.study import reporter_for
    from mlptrain.search.trial import run_trial
    from mlptrain.tracking.parents import nested

    return run_trial(
        dict(base), payload, None, 1, reporter=reporter_for(ref, trial_id),
        monitor=ref["monitor"], tracking_parent=nested(tracking_parent or {}, payload["id"]),
    )  # fmt: skip


def _on_dask(
    ref: dict[str, Any],
    base: dict[str, Any],
    sweep_dir: Path,
    pending: list[dict[str, Any]] | None,
    parent: dict[str, Any] | None,
    scheduler: str,
) -> Iterator[dict[str, Any]]:
    from mlptrain.search.cluster import connect, dask_distributed, slots, write_files
    from mlptrain.search.study import ask_trial, fail_trial, open_study, tell_trial
    from mlptrain.search.trial import failed_record

    _, as_completed = dask_distributed()
    study = open_study(ref)
    running: dict[Any, tuple[Any, dict[str, Any]]] = {}  # future -> (trial, payload)

    with connect(scheduler) as client:

        def submit() -> Any:
            """The next trial's future, or ``None`` when there is none to run."""
            if pending is not None and not pending:
                return None
            asked = ask_trial(study, ref, pending.pop(0) if pending is not None else None)
            if asked is None:
                return None
            trial, payload = asked
            future = client.submit(
                remote_trial, ref, base, payload, trial._trial_id, parent,
                key=f"mlptrain-{ref['name']}-{trial.number}", pure=False,
            )  # fmt: skip
            running[future] = (trial, payload)
            return future

        try:
            first = [f for f in (submit() for _ in range(slots(client))) if f is not None]
            flow = as_completed(first)
            for future in flow:
                trial, payload = running.pop(future)
                try:
                    record = future.result()
                except Exception as exc:  # Dask gave up on the task (e.g. KilledWorker)
                    record = failed_record(payload, f"{type(exc).__name__}: {exc}")
                write_files(sweep_dir / record["trial"], record.pop("files", {}))
                tell_trial(study, trial, record, ref["monitor"])
                yield record
                while len(running) < slots(client) and (new := submit()) is not None:
                    flow.add(new)
        finally:  # interrupted or failed: no trial of ours stays RUNNING
            for future, (trial, _) in running.items():
                future.cancel()
                fail_trial(study, trial)
