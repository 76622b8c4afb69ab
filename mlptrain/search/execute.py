"""Running trials: in this process, in joblib workers, or on a Dask cluster; results.jsonl and resume."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence, Set
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlptrain.errors import ConfigError, RunError, UserInputError
from mlptrain.search.cluster import connect, dask_distributed, write_files
from mlptrain.search.leaderboard import summarise, write_sweep_reports
from mlptrain.search.spec import (
    DEFAULT_TRIALS,
    SweepSpec,
    Trial,
    expand_trials,
    headline_metric,
    sweep_dir_for,
)
from mlptrain.search.trial import blas_threads_per_job, run_trial
from mlptrain.store.atomic import atomic_write_text
from mlptrain.store.jsonl import append_line, read_jsonl
from mlptrain.store.layout import REPORT_JSON
from mlptrain.tracking.parents import ParentRun
from mlptrain.training.signals import Interrupted, SweepInterrupted

RESULTS = "results.jsonl"
FIGURES = ("best", "all", "none")  # whose figures and report.html a sweep draws
FINISHED = ("completed", "pruned")  # a rerun skips these trials


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
    base: dict[str, Any],
    todo: list[Trial],
    sweep_dir: Path,
    jobs: int,
    figures: bool,
    parent: ParentRun,
) -> Iterator[dict[str, Any]]:
    threads = blas_threads_per_job(jobs)
    if jobs == 1 or len(todo) == 1:
        for t in todo:
            yield run_trial(
                base, _trial_payload(t), str(sweep_dir / t.id), threads, figures=figures,
                tracking_parent=parent.child(t.id),
            )  # fmt: skip
        return
    from joblib import Parallel, delayed

    parallel = Parallel(n_jobs=jobs, backend="loky", return_as="generator_unordered")
    yield from parallel(
        delayed(run_trial)(
            base,
            _trial_payload(t),
            str(sweep_dir / t.id),
            threads,
            figures=figures,
            tracking_parent=parent.child(t.id),
        )  # fmt: skip
        for t in todo
    )


def _run_dask(
    base: dict[str, Any], todo: list[Trial], sweep_dir: Path, scheduler: str, parent: ParentRun
) -> Iterator[dict[str, Any]]:
    _, as_completed = dask_distributed()
    with connect(scheduler) as client:
        futures = [
            client.submit(
                run_trial,
                base,
                _trial_payload(t),
                None,
                1,
                tracking_parent=parent.child(t.id),
                key=f"mlptrain-{t.id}",
                pure=False,
            )
            for t in todo
        ]
        for future in as_completed(futures):
            record = future.result()
            write_files(sweep_dir / record["trial"], record.pop("files", {}))
            yield record


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
        return [tid for tid in self.ran if self.records[tid]["status"] not in FINISHED]


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
            problems = [p.removeprefix("override ") for p in exc.problems]
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
    storage: str | None = None,
    figures: str = "best",
    track: Sequence[str] = (),
    on_warning: Callable[[str], None] | None = None,
) -> SweepResult:
    """Run (or resume) a sweep; returns every trial's latest record and the summary.

    ``storage``: the Optuna storage URL of a tpe or pruned sweep (default: a SQLite file in the
    sweep directory). ``figures``: ``best`` draws the best trial's figures and report.html once
    at the end, ``all`` every trial's, ``none`` none (``mlptrain report TRIAL_DIR`` later).
    With a tracker on (``track`` or the config's ``track:``), each trial is a run of its own;
    in MLflow they are nested under one parent run for the sweep (TPE trials too).
    """
    from mlptrain.config import config_to_dict, load_config
    from mlptrain.tracking import with_trackers

    _check_run_options(jobs=jobs, scheduler=scheduler, figures=figures)
    cfg = with_trackers(load_config(config, overrides), track)
    base = config_to_dict(cfg)
    monitor = check_study_options(spec, base, shard=shard, storage=storage)
    tpe = spec.search == "tpe"
    trials = [] if tpe else expand_trials(spec, cfg.seed)
    check_trials(base, trials, source=str(config))
    _check_validation_split(cfg.data.val_size, trials)
    sweep_dir = Path(out) if out is not None else sweep_dir_for(base, spec)
    _write_plan(sweep_dir, base, spec, trials)

    ref = None
    if spec.uses_study:
        from mlptrain.search.study import default_storage, study_ref

        budget = (spec.trials or DEFAULT_TRIALS) if tpe else len(trials)
        ref = study_ref(base, spec, storage or default_storage(sweep_dir), monitor, budget)
    records = latest_records(sweep_dir)
    mine = [t for t in trials if shard is None or t.index % shard[1] == shard[0]]
    skipped = [t.id for t in mine if records.get(t.id, {}).get("status") in FINISHED]
    todo = [t for t in mine if t.id not in skipped]
    parent = ParentRun(cfg, kind="sweep", out_dir=sweep_dir, params=spec.to_dict(), warn=on_warning)
    if ref is not None and tpe:
        skipped = [r["trial"] for r in records.values() if r.get("status") in FINISHED]
    stream = _trial_stream(
        ref, base, todo, sweep_dir, parent, tpe=tpe, jobs=jobs, figures=figures,
        scheduler=scheduler,
    )  # fmt: skip
    ran = _record_all(stream, sweep_dir, records, parent, on_record)
    # Other shards (or workers of a shared study) may have finished trials meanwhile:
    # summarise what the file (or the study) holds now.
    records = {**latest_records(sweep_dir), **{tid: records[tid] for tid in ran}}
    extra: dict[str, Any] = {}
    if ref is not None:
        from mlptrain.search.study import study_records, study_summary

        if tpe:
            everyone = study_records(ref)
            records.update({r["trial"]: r for r in everyone})
            trials = [Trial(r["index"], r["trial"], r["params"], r["seed"]) for r in everyone]
        extra = study_summary(ref)
    summary = summarise(trials, records, spec, base)
    summary.update(extra)
    if figures == "best":  # first, so that sweep.html can link the best trial's report.html
        draw_best_report(sweep_dir, summary, trained_here=set(ran))
    write_sweep_reports(sweep_dir, summary, spec, base)
    best = summary.get("best") or {}
    parent.finish(
        "completed" if all(records[t]["status"] in FINISHED for t in ran) else "failed",
        {f"best_{summary['monitor']}": best["mean"]} if best.get("mean") is not None else {},
        ["sweep.json", "sweep.md", "sweep.html", "sweep.png", RESULTS],
    )
    return SweepResult(sweep_dir, trials, records, ran, skipped, summary)


def _check_run_options(*, jobs: int, scheduler: str | None, figures: str) -> None:
    """How the trials run: local jobs or a Dask scheduler, and whose figures are drawn."""
    if scheduler is not None and jobs != 1:
        raise UserInputError(
            "«jobs» applies to local runs; with «scheduler» the cluster's workers set the "
            "parallelism (leave «jobs» out)"
        )
    if jobs < 1:
        raise UserInputError(f"«jobs» {jobs}: allowed: an integer >= 1")
    if figures not in FIGURES:
        raise UserInputError(f"«figures» {figures!r}: allowed: {', '.join(FIGURES)}")
    if scheduler is not None:
        dask_distributed()  # fail before any work if Dask is missing


def _write_plan(
    sweep_dir: Path, base: Mapping[str, Any], spec: SweepSpec, trials: Sequence[Trial]
) -> None:
    """The sweep directory and its sweep-plan.json; a rerun must be the same sweep."""
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
            "config, --set, --grid, --random, --trials, --seeds, --search or --prune); "
            "choose another --out"
        )
    atomic_write_text(plan_path, plan_text)


def _trial_stream(
    ref: dict[str, Any] | None,
    base: dict[str, Any],
    todo: list[Trial],
    sweep_dir: Path,
    parent: ParentRun,
    *,
    tpe: bool,
    jobs: int,
    figures: str,
    scheduler: str | None,
) -> Iterator[dict[str, Any]] | None:
    """The records of the trials this process runs, as they finish (None: nothing to run).

    A study (tpe, pruning) runs through its workers; the others locally or on Dask.
    """
    if ref is not None:
        if not (tpe or todo):
            return None
        from mlptrain.search.study_workers import run_study

        payloads = None if tpe else [_trial_payload(t) for t in todo]
        return run_study(
            ref, base, sweep_dir, payloads, parent.info,
            jobs=jobs, figures=figures == "all", scheduler=scheduler,
        )  # fmt: skip
    if not todo:
        return None
    if scheduler is not None:
        return _run_dask(base, todo, sweep_dir, scheduler, parent)
    return _run_local(base, todo, sweep_dir, jobs, figures == "all", parent)


def _record_all(
    stream: Iterator[dict[str, Any]] | None,
    sweep_dir: Path,
    records: dict[str, dict[str, Any]],
    parent: ParentRun,
    on_record: Callable[[dict[str, Any]], None] | None,
) -> list[str]:
    """Append each record to results.jsonl as it comes (and into ``records``); the trial ids
    that ran. An interrupt or a failure finishes the parent run before it propagates."""
    ran: list[str] = []
    try:
        for record in stream or ():
            append_line(sweep_dir / RESULTS, json.dumps(record, allow_nan=False, default=str))
            records[record["trial"]] = record
            ran.append(record["trial"])
            if on_record is not None:
                on_record(record)
    except (KeyboardInterrupt, Interrupted):
        parent.finish("interrupted", {}, [RESULTS])
        done = sum(r.get("status") in FINISHED for r in latest_records(sweep_dir).values())
        raise SweepInterrupted(sweep_dir, RESULTS, done) from None
    except BaseException:
        parent.finish("failed", {}, [RESULTS])
        raise
    return ran


def check_study_options(
    spec: SweepSpec,
    base: Mapping[str, Any],
    *,
    shard: tuple[int, int] | None,
    storage: str | None,
) -> str:
    """Flags that only go together with an Optuna study; returns the monitor to use."""
    from mlptrain.search.leaderboard import default_monitor

    monitor = spec.monitor or default_monitor(base, ())
    if not spec.uses_study:
        if storage is not None:
            raise UserInputError("--storage applies to --search tpe or --prune; add one of them")
        return monitor
    from mlptrain.search.study import check_storage_url, optuna_module

    optuna_module()  # fail before any work if Optuna is missing
    if storage is not None:
        check_storage_url(storage)
    what = "--search tpe" if spec.search == "tpe" else f"--prune {spec.prune}"
    if shard is not None and spec.search == "tpe":
        raise UserInputError(
            "--shard: --search tpe splits its trials through the study; run the same command "
            "on each machine with one --storage URL instead"
        )
    if base["data"]["val_size"] <= 0:
        raise UserInputError(
            f"{what} needs a validation split to watch (the test split is never used to "
            "choose); set data.val_size > 0, e.g. --set data.val_size=0.2"
        )
    if not monitor.startswith("val_"):
        raise UserInputError(
            f"--monitor {monitor}: {what} must see only validation metrics; allowed: val_loss "
            "or val_<metric>, e.g. val_accuracy"
        )
    headline = headline_metric(base)
    recorded = ["val_loss", *(f"val_{h}" for h in ([headline] if headline else ["accuracy", "r2"]))]
    if spec.prune != "none" and monitor not in recorded:
        raise UserInputError(
            f"--monitor {monitor}: --prune {spec.prune} compares the metric every epoch, and the "
            f"epochs record {' and '.join(recorded)}; allowed: {', '.join(recorded)}"
        )
    return monitor


def draw_best_report(
    sweep_dir: Path, summary: Mapping[str, Any], trained_here: Set[str] = frozenset()
) -> None:
    """The figures and report.html of the best trial (the best seed of the best row).

    A trial in ``trained_here`` was trained by this run of the sweep (its workers) moments
    ago, so its data is not read again to check it (as ``mlptrain report`` does; for a sweep
    over a large table that was a second read of the whole table). A best trial from an
    earlier run of the sweep (a resume) is checked.
    """
    from mlptrain.reporting.compare import rebuild_report

    best = summary.get("best")
    if best is None:
        return
    minimise = summary["mode"] == "min"
    candidates = [
        t for t in summary["trials"]
        if t["trial"] in best["trials"] and t["status"] == "completed" and t["monitor"] is not None
    ]  # fmt: skip
    if not candidates:
        return
    chosen = (min if minimise else max)(candidates, key=lambda t: t["monitor"])
    if (sweep_dir / chosen["trial"] / REPORT_JSON).is_file():
        trial = chosen["trial"]
        rebuild_report(sweep_dir / trial, check_data=trial not in trained_here)
