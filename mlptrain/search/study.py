"""Optuna behind ``--search tpe`` and ``--prune``: the study, its sampler and pruner, one trial's
ask / train / tell, and the trial budget that several workers share.

The study lives in an Optuna storage (any SQLAlchemy URL; by default a SQLite file in the sweep
directory), so any number of processes on any number of machines can run the same command:
each asks the study for a trial, trains it, tells the result, and stops when the study holds
``budget`` finished trials (completed or pruned). A trial is claimed by its number, which the
storage hands out atomically: a worker whose new trial would be one too many marks it failed
(``mlptrain_skipped``) without running it, so exactly ``budget`` trials run, none twice.

Everything crossing a process boundary is plain data: the study is named by a ``StudyRef``
dict, reopened in each worker.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlptrain.errors import UserInputError
from mlptrain.search.spec import SweepSpec, Trial, _short_hash, monitor_minimised, yaml_text

STUDY_FILE = "study.db"
RECORD_ATTR = "mlptrain_record"
WORKER_ATTR = "mlptrain_worker"
SKIPPED_ATTR = "mlptrain_skipped"
_SCALARS = (bool, int, float, str, type(None))


def optuna_module() -> Any:
    try:
        import optuna
    except ImportError:
        raise UserInputError(
            "--search tpe and --prune need Optuna; install mlptrain[optuna] "
            '(pip install "mlptrain[optuna]")'
        ) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def default_storage(sweep_dir: Path) -> str:
    return f"sqlite:///{(Path(sweep_dir) / STUDY_FILE).resolve()}"


def study_ref(
    base: Mapping[str, Any], spec: SweepSpec, storage: str, monitor: str, budget: int
) -> dict[str, Any]:
    """What names and configures a study, as plain data; the name is the same on every machine
    that runs the same config and sweep (whatever its --out)."""
    # Trackers watch a sweep without changing it (as in its plan.json): not part of the name.
    untracked = {k: v for k, v in base.items() if k != "track"}
    digest = _short_hash(json.dumps([untracked, spec.to_dict()], sort_keys=True, default=str))
    return {
        "storage": storage,
        "name": f"{base['name']}-{digest}",
        "direction": "minimize" if monitor_minimised(monitor) else "maximize",
        "monitor": monitor,
        "prune": spec.prune,
        "search": spec.search,
        "epochs": int(base["train"]["epochs"]),
        "budget": budget,
        "seed": int(base["seed"]),
        "spec": spec.to_dict(),
    }


def make_pruner(kind: str, epochs: int) -> Any:
    """The pruner for ``--prune``; steps are epochs (1 .. epochs)."""
    optuna = optuna_module()
    if kind == "median":
        # Five trials run whole before any is compared; the first tenth of the epochs (at
        # least one) is never pruned: every curve is noisy there. Steps are epochs from 1, and
        # Optuna prunes from step n_warmup_steps on.
        warmup = max(1, epochs // 10)
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=warmup + 1)
    if kind == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=max(1, epochs // 27), max_resource=epochs, reduction_factor=3
        )
    return optuna.pruners.NopPruner()


_STORAGES: dict[str, Any] = {}


def _storage(url: str) -> Any:
    """One RDBStorage per URL and process (creating the engine is the slow part)."""
    if url not in _STORAGES:
        optuna = optuna_module()
        kwargs = _sqlite_engine_kwargs(url) if url.startswith("sqlite") else {}
        try:
            _STORAGES[url] = _open_storage(optuna, url, kwargs)
        except Exception as exc:  # SQLAlchemy's errors: a bad URL, a missing driver, no server
            raise UserInputError(
                f"--storage {url}: cannot open the Optuna storage ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0] if str(exc) else ''}); allowed: an SQLAlchemy URL "
                "such as sqlite:///study.db or postgresql://user:password@host/db"
            ) from None
    return _STORAGES[url]


def _sqlite_engine_kwargs(url: str) -> dict[str, Any]:
    """SQLite in write-ahead-log mode with ``synchronous=NORMAL``: a trial reports after every
    epoch, and a full fsync per report cost more than a small model's epoch (0.066 s against
    0.064 s measured on digits). The database stays consistent after any crash; a power cut
    may lose the last few reports. Several processes wait up to a minute for the lock."""
    import sqlite3

    from sqlalchemy.engine import make_url

    path = make_url(url).database
    if not path or path == ":memory:":
        return {"connect_args": {"timeout": 60}}

    def connect() -> sqlite3.Connection:
        connection = sqlite3.connect(path, timeout=60, check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        return connection

    return {"creator": connect}


def _open_storage(optuna: Any, url: str, kwargs: dict[str, Any], attempts: int = 5) -> Any:
    """Workers starting together race to create the tables of a new database: the loser sees
    an OperationalError or IntegrityError (SQLite), or a ProgrammingError (PostgreSQL: a table
    the other process created a moment before already exists), and simply tries again."""
    import time

    from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

    for attempt in range(attempts):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
        except (OperationalError, IntegrityError, ProgrammingError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def open_study(ref: Mapping[str, Any]) -> Any:
    optuna = optuna_module()
    return optuna.create_study(
        study_name=ref["name"],
        storage=_storage(ref["storage"]),
        direction=ref["direction"],
        pruner=make_pruner(ref["prune"], ref["epochs"]),
        load_if_exists=True,
    )


def distributions(spec: SweepSpec) -> dict[str, Any]:
    """Optuna distributions of the swept keys: --grid keys are categorical choices."""
    optuna = optuna_module()
    dists = optuna.distributions
    found: dict[str, Any] = {}
    for key, values in spec.grid.items():
        found[key] = dists.CategoricalDistribution(_choices(values))
    for key, dist in spec.random.items():
        if dist.kind == "choice":
            found[key] = dists.CategoricalDistribution(_choices(list(dist.args)))
        elif dist.kind == "randint":
            found[key] = dists.IntDistribution(*dist.args)
        else:
            low, high = dist.args
            found[key] = dists.FloatDistribution(low, high, log=dist.kind == "loguniform")
    return found


def _choices(values: list[Any]) -> tuple[Any, ...]:
    """Optuna stores scalar choices; a list or mapping value is stored as its YAML text."""
    if all(isinstance(v, _SCALARS) for v in values):
        return tuple(values)
    return tuple(yaml_text(v) for v in values)


def _to_config_value(spec: SweepSpec, key: str, value: Any) -> Any:
    """An Optuna parameter value back to the config value it stands for."""
    values = spec.grid.get(key)
    if values is None and key in spec.random and spec.random[key].kind == "choice":
        values = list(spec.random[key].args)
    if values is not None and not all(isinstance(v, _SCALARS) for v in values):
        return next(v for v in values if yaml_text(v) == value)
    return value


def _to_optuna_value(spec: SweepSpec, key: str, value: Any) -> Any:
    values = spec.grid.get(key)
    if values is None and key in spec.random and spec.random[key].kind == "choice":
        values = list(spec.random[key].args)
    if values is not None and not all(isinstance(v, _SCALARS) for v in values):
        return yaml_text(value)
    return value


def suggest(trial: Any, dists: Mapping[str, Any]) -> dict[str, Any]:
    """Ask the trial for every parameter through Optuna's public suggest API."""
    optuna = optuna_module()
    values: dict[str, Any] = {}
    for key, dist in dists.items():
        if isinstance(dist, optuna.distributions.CategoricalDistribution):
            values[key] = trial.suggest_categorical(key, list(dist.choices))
        elif isinstance(dist, optuna.distributions.IntDistribution):
            values[key] = trial.suggest_int(key, dist.low, dist.high)
        else:
            values[key] = trial.suggest_float(key, dist.low, dist.high, log=dist.log)
    return values


def trial_seed(seed: int, number: int) -> int:
    """The TPE sampler's seed for one trial: reproducible, and different for every trial, so
    workers that start together never draw the same first samples."""
    import numpy as np

    return int(np.random.SeedSequence([seed, number]).generate_state(1)[0])


def _here() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def fail_lost_trials(study: Any) -> None:
    """Trials left RUNNING by a killed process of this machine are marked failed, so a rerun of
    the same command does not wait for them (other machines' trials are left alone)."""
    optuna = optuna_module()
    host = socket.gethostname()
    for frozen in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        worker = str(frozen.user_attrs.get(WORKER_ATTR, ""))
        name, _, pid = worker.rpartition(":")
        if name == host and pid.isdigit() and not _alive(int(pid)):
            # Another worker may have failed it first.
            with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
                study._storage.set_trial_state_values(
                    frozen._trial_id, state=optuna.trial.TrialState.FAIL
                )


def _claimed(study: Any, number: int | None = None) -> int:
    """Trials that count against the budget (finished, running or waiting), up to ``number``."""
    optuna = optuna_module()
    state = optuna.trial.TrialState
    live = (state.COMPLETE, state.PRUNED, state.RUNNING, state.WAITING)
    trials = study.get_trials(deepcopy=False, states=live)
    return sum(1 for t in trials if number is None or t.number <= number)


def _failures(study: Any) -> int:
    optuna = optuna_module()
    failed = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.FAIL,))
    return sum(1 for t in failed if not t.user_attrs.get(SKIPPED_ATTR))


def ask_trial(
    study: Any, ref: Mapping[str, Any], fixed: dict[str, Any] | None = None
) -> tuple[Any, dict[str, Any]] | None:
    """A new trial of the study and the payload it trains; ``None`` when the study is full.

    ``fixed``: a grid/random trial's payload (its parameters are given, the study only prunes);
    otherwise TPE samples the parameters and the study's budget applies. The trial is marked
    as this process's (``host:pid``): if the process dies, a rerun here fails it.
    """
    from mlptrain.search.spec import spec_from_dict

    optuna = optuna_module()
    spec = spec_from_dict(ref["spec"])
    budget = int(ref["budget"])
    if fixed is None:
        fail_lost_trials(study)
        if _claimed(study) >= budget or _failures(study) >= budget:
            return None
    trial = study.ask()
    if fixed is None and _claimed(study, trial.number) > budget:
        trial.set_user_attr(SKIPPED_ATTR, f"the study already had {budget} trials; not run")
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        return None
    trial.set_user_attr(WORKER_ATTR, _here())
    if fixed is not None:
        given = {k: _to_optuna_value(spec, k, v) for k, v in fixed["params"].items()}
        with warnings.catch_warnings():  # "experimental" since Optuna 2.4; stable in use
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.sampler = optuna.samplers.PartialFixedSampler(
                given, optuna.samplers.RandomSampler(0)
            )
    else:
        study.sampler = optuna.samplers.TPESampler(seed=trial_seed(ref["seed"], trial.number))
    try:
        sampled = suggest(trial, distributions(spec))
    except BaseException:
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        raise
    if fixed is not None:
        return trial, dict(fixed)
    params = {k: _to_config_value(spec, k, sampled[k]) for k in spec.keys}
    return trial, _payload(trial.number, params, int(ref["seed"]))


def tell_trial(study: Any, trial: Any, record: dict[str, Any], monitor: str) -> None:
    """Store the trial's record in the study and tell its outcome (once)."""
    record["study_trial"] = trial.number
    trial.set_user_attr(RECORD_ATTR, json.dumps(record, allow_nan=False, default=str))
    _tell(study, trial, record, monitor)


def fail_trial(study: Any, trial: Any) -> None:
    """A trial that will not finish (interrupted, or lost with its worker) is failed, so it
    never stays RUNNING in the study."""
    optuna = optuna_module()
    with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
        study.tell(trial, state=optuna.trial.TrialState.FAIL)


def reporter_for(ref: Mapping[str, Any], trial_id: int) -> Any:
    """The trial (by its storage id) for a process that only trains it and reports epochs
    (a Dask worker); ``None`` when the sweep does not prune."""
    if ref["prune"] == "none":
        return None
    optuna = optuna_module()
    return optuna.trial.Trial(open_study(ref), trial_id)


def study_trial(
    ref: Mapping[str, Any],
    base: dict[str, Any],
    sweep_dir: str,
    blas_threads: int,
    figures: bool,
    fixed: dict[str, Any] | None = None,
    tracking_parent: Mapping[str, Any] | None = None,
) -> dict[str, Any] | None:
    """Ask the study for one trial, train it, tell the result; ``None`` when the study is full.

    ``fixed``: as in :func:`ask_trial`. ``tracking_parent``: the sweep's parent run
    (``ParentRun.info``); the trial's MLflow run is nested under it with the trial's id.
    """
    from mlptrain.search.trial import run_trial
    from mlptrain.tracking.parents import nested

    study = open_study(ref)
    asked = ask_trial(study, ref, fixed)
    if asked is None:
        return None
    trial, payload = asked
    try:
        record = run_trial(
            base, payload, str(Path(sweep_dir) / payload["id"]), blas_threads,
            figures=figures, reporter=trial if ref["prune"] != "none" else None,
            monitor=ref["monitor"], tracking_parent=nested(tracking_parent or {}, payload["id"]),
        )  # fmt: skip
    except BaseException:
        # Interrupted (Ctrl-C) or a bug: the trial must not stay RUNNING in the study.
        fail_trial(study, trial)
        raise
    tell_trial(study, trial, record, ref["monitor"])
    return record


def _tell(study: Any, trial: Any, record: Mapping[str, Any], monitor: str) -> None:
    optuna = optuna_module()
    state = optuna.trial.TrialState
    value = record["metrics"].get(monitor)
    if record["status"] == "pruned":
        study.tell(trial, state=state.PRUNED)
    elif record["status"] == "completed" and isinstance(value, float | int):
        study.tell(trial, float(value))
    else:
        study.tell(trial, state=state.FAIL)


def _payload(number: int, params: dict[str, Any], seed: int) -> dict[str, Any]:
    trial = Trial(number, "", params, seed)
    digest = _short_hash(json.dumps([params, seed], sort_keys=True))
    return {
        "id": f"t{number:04d}-{digest}",
        "index": number,
        "group": trial.group,
        "params": params,
        "seed": seed,
        "overrides": trial.overrides,
    }


def study_records(ref: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every trial's record stored in the study (all workers, all machines), by trial number."""
    study = open_study(ref)
    records = []
    for frozen in study.get_trials(deepcopy=False):
        text = frozen.user_attrs.get(RECORD_ATTR)
        if text:
            records.append(json.loads(text))
    return sorted(records, key=lambda r: r["index"])


def study_summary(ref: Mapping[str, Any]) -> dict[str, Any]:
    """The optimisation history (value per finished trial) and the parameter importances."""
    optuna = optuna_module()
    study = open_study(ref)
    state = optuna.trial.TrialState
    history = [
        {"number": t.number, "value": t.value, "status": t.state.name.lower()}
        for t in study.get_trials(deepcopy=False, states=(state.COMPLETE, state.PRUNED))
        if t.value is not None
    ]
    importances: dict[str, float] | None
    try:
        found = optuna.importance.get_param_importances(study)
        importances = {k: float(v) for k, v in found.items()}
    except (RuntimeError, ValueError):  # too few completed trials, or one value per parameter
        importances = None
    counts = {
        name: len(study.get_trials(deepcopy=False, states=(getattr(state, name.upper()),)))
        for name in ("complete", "pruned", "fail", "running")
    }
    return {"history": history, "importances": importances or None, "study_counts": counts}


def check_storage_url(url: str) -> str:
    """A light syntax check before any work: an SQLAlchemy URL has a ``dialect://`` prefix."""
    if "://" not in url:
        raise UserInputError(
            f"--storage {url!r}: not a database URL; allowed: an SQLAlchemy URL such as "
            "sqlite:///study.db or postgresql://user:password@host/db"
        )
    return url
