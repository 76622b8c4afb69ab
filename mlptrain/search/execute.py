"""Running trials: in this process, in joblib workers, or on a Dask cluster; results.jsonl and resume."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlptrain.errors import ConfigError, MlptrainError, RunError, UserInputError
from mlptrain.search.leaderboard import summarise, write_sweep_reports
from mlptrain.search.spec import SweepSpec, Trial, expand_trials, sweep_dir_for
from mlptrain.store.atomic import append_line, atomic_write_bytes, atomic_write_text, read_jsonl
from mlptrain.tracking.parents import ParentRun
from mlptrain.training.signals import Interrupted, SweepInterrupted

RESULTS = "results.jsonl"
CONNECT_TIMEOUT = "10s"  # how long to wait for a Dask scheduler


def blas_threads_per_job(jobs: int) -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, cores // max(1, jobs))


def _scalars(metrics: Mapping[str, Any], prefix: str) -> dict[str, float]:
    return {
        f"{prefix}_{k}": float(v)
        for k, v in metrics.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }


def trial_metrics(report: Mapping[str, Any]) -> dict[str, float]:
    """The scalar metrics of a run: ``<split>_<metric>`` from the report, and ``val_loss`` /
    ``train_loss`` of the epoch whose weights the run kept (its best epoch)."""
    found: dict[str, float] = {}
    for split, metrics in report.get("metrics", {}).items():
        found.update(_scalars(metrics, split))
    training = report.get("training", {})
    history = training.get("history") or []
    best = training.get("best_epoch") or len(history)
    if history and 1 <= best <= len(history):
        for key in ("train_loss", "val_loss"):
            value = history[best - 1].get(key)
            if isinstance(value, int | float):
                found[key] = float(value)
    return found


def run_trial(
    base: dict[str, Any],
    trial: dict[str, Any],
    out: str | None,
    blas_threads: int,
    tracking_parent: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train one trial; never raises for the trial's own failure (it is recorded instead).

    ``out`` is the run directory; ``None`` means "train in a temporary directory and return
    its files" (a Dask worker that may not share the client's disk). ``tracking_parent``
    nests the trial's MLflow run under the sweep's (mlptrain.tracking.parents).
    """
    from threadpoolctl import threadpool_limits

    from mlptrain.api import fit
    from mlptrain.config import parse_config_dict

    started = time.perf_counter()
    record: dict[str, Any] = {
        "trial": trial["id"],
        "index": trial["index"],
        "group": trial["group"],
        "params": trial["params"],
        "seed": trial["seed"],
    }
    temp = None if out is not None else tempfile.mkdtemp(prefix="mlptrain-trial-")
    run_dir = Path(out if out is not None else temp)  # type: ignore[arg-type]
    try:
        with threadpool_limits(limits=blas_threads):
            cfg = parse_config_dict(base, source="sweep base config", overrides=trial["overrides"])
            run = fit(cfg, out=run_dir, overwrite=True, tracking_parent=tracking_parent)
        record.update(status="completed", error=None, metrics=trial_metrics(run.report))
    except Interrupted:
        raise  # Ctrl-C stops the sweep, it is not the trial's failure
    except MlptrainError as exc:
        record.update(status="failed", error=str(exc), metrics={})
    except Exception as exc:  # a bug must not take the whole sweep down; it is recorded
        record.update(status="failed", error=f"{type(exc).__name__}: {exc}", metrics={})
    record["seconds"] = round(time.perf_counter() - started, 3)
    if temp is not None:
        record["files"] = _collect_files(Path(temp))
        shutil.rmtree(temp, ignore_errors=True)
    return record


def _collect_files(root: Path) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name != ".lock":
            files[path.relative_to(root).as_posix()] = path.read_bytes()
    return files


def _write_files(run_dir: Path, files: Mapping[str, bytes]) -> None:
    """The files a remote worker sent back, written under ``run_dir`` (names checked)."""
    for name, data in files.items():
        parts = Path(name).parts
        if Path(name).is_absolute() or ".." in parts or not parts:
            raise RunError(f"a worker returned a file outside the run directory: {name!r}")
        target = run_dir.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(target, data)


def _trial_payload(trial: Trial) -> dict[str, Any]:
    return {
        "id": trial.id,
        "index": trial.index,
        "group": trial.group,
        "params": trial.params,
        "seed": trial.seed,
        "overrides": trial.overrides,
    }


def _run_local(
    base: dict[str, Any], todo: list[Trial], sweep_dir: Path, jobs: int, parent: ParentRun
) -> Iterator[dict[str, Any]]:
    threads = blas_threads_per_job(jobs)
    if jobs == 1 or len(todo) == 1:
        for t in todo:
            yield run_trial(
                base, _trial_payload(t), str(sweep_dir / t.id), threads, parent.child(t.id)
            )
        return
    from joblib import Parallel, delayed

    parallel = Parallel(n_jobs=jobs, backend="loky", return_as="generator_unordered")
    yield from parallel(
        delayed(run_trial)(
            base, _trial_payload(t), str(sweep_dir / t.id), threads, parent.child(t.id)
        )
        for t in todo
    )


def _run_dask(
    base: dict[str, Any], todo: list[Trial], sweep_dir: Path, scheduler: str, parent: ParentRun
) -> Iterator[dict[str, Any]]:
    client_cls, as_completed = _dask()
    try:
        client = client_cls(scheduler, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        raise RunError(
            f"--scheduler {scheduler}: cannot connect to the Dask scheduler ({exc}); start one "
            "with `dask scheduler --port 8786` and workers with `dask worker <address>`"
        ) from None
    with client:
        futures = [
            client.submit(
                run_trial,
                base,
                _trial_payload(t),
                None,
                1,
                parent.child(t.id),
                key=f"mlptrain-{t.id}",
                pure=False,
            )
            for t in todo
        ]
        for future in as_completed(futures):
            record = future.result()
            files = record.pop("files", {})
            _write_files(sweep_dir / record["trial"], files)
            yield record


def _dask() -> tuple[Any, Any]:
    try:
        from dask.distributed import Client, as_completed
    except ImportError:
        raise UserInputError(
            "--scheduler needs Dask's distributed scheduler; install mlptrain[dask] "
            '(pip install "mlptrain[dask]")'
        ) from None
    return Client, as_completed


@dataclass
class SweepResult:
    dir: Path
    trials: list[Trial]
    records: dict[str, dict[str, Any]]  # trial id -> its latest record
    ran: list[str]
    skipped: list[str]
    summary: dict[str, Any]

    @property
    def failed(self) -> list[str]:
        return [tid for tid in self.ran if self.records[tid]["status"] != "completed"]


def latest_records(sweep_dir: Path) -> dict[str, dict[str, Any]]:
    """The last line of ``results.jsonl`` for each trial (reruns append, never rewrite)."""
    return {record["trial"]: record for record in read_jsonl(sweep_dir / RESULTS)}


def _check_validation_split(val_size: float, trials: Sequence[Trial]) -> None:
    """A sweep ranks on validation metrics; without a validation split it would rank on test."""
    sizes = [val_size, *(t.params["data.val_size"] for t in trials if "data.val_size" in t.params)]
    if any(size == 0 for size in sizes):
        raise UserInputError(
            "a sweep ranks trials on the validation split, and data.val_size is 0 (no validation "
            "split): ranking on the test split would pick the settings that fit the test rows; "
            "keep data.val_size > 0, or use `mlptrain cv` to estimate on folds of the training rows"
        )


def check_trials(base: Mapping[str, Any], trials: Sequence[Trial], *, source: str) -> None:
    """Every trial's config validates before anything is written or trained.

    A typo in a swept key (``--grid train.optimzer.lr=...``) would otherwise fail every trial
    and leave a sweep directory that blocks the corrected command.
    """
    from mlptrain.config import parse_config_dict

    for trial in trials:
        try:
            parse_config_dict(base, source=source, overrides=trial.overrides)
        except ConfigError as exc:
            problems = [p.removeprefix("--set ") for p in exc.problems]
            raise ConfigError(
                [f"swept value {problem}" for problem in problems], source=exc.source
            ) from None


def run_sweep(
    config: str | Path,
    spec: SweepSpec,
    *,
    overrides: Sequence[str] = (),
    out: str | Path | None = None,
    jobs: int = 1,
    scheduler: str | None = None,
    shard: tuple[int, int] | None = None,
    on_record: Callable[[dict[str, Any]], None] | None = None,
    track: Sequence[str] = (),
    on_warning: Callable[[str], None] | None = None,
) -> SweepResult:
    """Run (or resume) a sweep; returns every trial's latest record and the summary.

    With a tracker on (``track`` or the config's ``track:``), each trial is a run of its own;
    in MLflow they are nested under one parent run for the sweep.
    """
    from mlptrain.config import config_to_dict, load_config
    from mlptrain.tracking import with_trackers

    if jobs < 1:
        raise UserInputError(f"--jobs {jobs}: allowed: an integer >= 1")
    if scheduler is not None:
        _dask()  # fail before any work if Dask is missing
    cfg = with_trackers(load_config(config, overrides), track)
    base = config_to_dict(cfg)
    trials = expand_trials(spec, cfg.seed)
    check_trials(base, trials, source=str(config))
    _check_validation_split(cfg.data.val_size, trials)
    sweep_dir = Path(out) if out is not None else sweep_dir_for(base, spec)
    try:
        sweep_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunError(f"cannot create the sweep directory {sweep_dir}: {exc}") from None
    plan = {
        # Trackers watch a sweep without changing it: adding one does not make it another sweep.
        "config": {k: v for k, v in base.items() if k != "track"},
        "spec": spec.to_dict(),
        "trials": [_trial_payload(t) for t in trials],
    }
    plan_text = json.dumps(plan, indent=2, sort_keys=True) + "\n"
    plan_path = sweep_dir / "sweep-plan.json"
    if plan_path.exists() and plan_path.read_text(encoding="utf-8") != plan_text:
        raise UserInputError(
            f"{sweep_dir} holds a different sweep (its sweep-plan.json differs from this one's "
            "config, --set, --grid, --random, --trials or --seeds); choose another --out"
        )
    atomic_write_text(plan_path, plan_text)

    records = latest_records(sweep_dir)
    mine = [t for t in trials if shard is None or t.index % shard[1] == shard[0]]
    skipped = [t.id for t in mine if records.get(t.id, {}).get("status") == "completed"]
    todo = [t for t in mine if t.id not in skipped]
    ran: list[str] = []
    parent = ParentRun(cfg, kind="sweep", out_dir=sweep_dir, params=spec.to_dict(), warn=on_warning)
    if todo:
        stream = (
            _run_dask(base, todo, sweep_dir, scheduler, parent)
            if scheduler is not None
            else _run_local(base, todo, sweep_dir, jobs, parent)
        )
        try:
            for record in stream:
                append_line(sweep_dir / RESULTS, json.dumps(record, allow_nan=False, default=str))
                records[record["trial"]] = record
                ran.append(record["trial"])
                if on_record is not None:
                    on_record(record)
        except (KeyboardInterrupt, Interrupted):
            parent.finish("interrupted", {}, [RESULTS])
            done = sum(r.get("status") == "completed" for r in latest_records(sweep_dir).values())
            raise SweepInterrupted(sweep_dir, RESULTS, done) from None
        except BaseException:
            parent.finish("failed", {}, [RESULTS])
            raise
    # Other shards may have finished trials meanwhile: summarise what the file holds now.
    records = {**latest_records(sweep_dir), **{tid: records[tid] for tid in ran}}
    summary = summarise(trials, records, spec, base)
    write_sweep_reports(sweep_dir, summary, spec, base)
    best = summary.get("best") or {}
    parent.finish(
        "completed" if all(records[t]["status"] == "completed" for t in ran) else "failed",
        {f"best_{summary['monitor']}": best["mean"]} if best.get("mean") is not None else {},
        ["sweep.json", "sweep.md", "sweep.html", "sweep.png", RESULTS],
    )
    return SweepResult(sweep_dir, trials, records, ran, skipped, summary)


# --- results --------------------------------------------------------------------------------
