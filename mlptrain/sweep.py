"""Hyper-parameter sweeps: a grid and/or random search, repeated over seeds, run anywhere.

A sweep is a list of trials; a trial is the base config plus a few ``--set`` style overrides
(the swept parameters and ``seed``), trained by :func:`mlptrain.api.fit` into an ordinary run
directory ``<sweep>/<trial id>/``. The search itself is scikit-learn's: ``ParameterGrid`` for
``--grid``, ``ParameterSampler`` (seeded with the config's seed) for ``--random``.

Trial ids are ``t<index>-<hash of the overrides>``: the same sweep expands to the same ids in
every process, so shards (``index % N == i``) and resumes agree without a coordinator. Each
finished or failed trial appends one JSON line to ``results.jsonl``; a rerun skips the trials
whose last line says ``completed``.

Where trials run: in this process (``jobs=1``), in joblib's loky worker processes
(``jobs>1``, BLAS threads limited so that jobs × threads ≤ cores), or on a Dask cluster
(``scheduler=...``); there the worker trains into a temporary directory and sends the run's
files back as bytes, which this process writes, so workers need not share our disk.

Everything crossing a process boundary is plain data (dicts, lists, strings, bytes).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlptrain.atomic import append_line, atomic_write_bytes, atomic_write_text, read_jsonl
from mlptrain.errors import MlptrainError, RunError, UserInputError

RESULTS = "results.jsonl"
DEFAULT_TRIALS = 10
CONNECT_TIMEOUT = "10s"  # how long to wait for a Dask scheduler
DISTRIBUTIONS = ("loguniform", "uniform", "randint", "choice")
SPLITS = ("train", "val", "test")
# Metrics where smaller is better; everything else (accuracy, r2, f1 ...) is maximised.
_MINIMISED = ("loss", "log_loss", "mse", "rmse", "mae")

_KEY = re.compile(r"^[\w-]+(?:\.[\w-]+|\[\d+\])*$")
_DIST = re.compile(r"^\s*([a-z_]+)\s*\((.*)\)\s*$", re.DOTALL)
_GRID_HELP = "allowed: --grid key.path=v1,v2,... e.g. --grid model.layers[0].units=32,64"
_RANDOM_HELP = (
    "allowed: --random key.path=DIST with DIST one of loguniform(a,b), uniform(a,b), "
    "randint(a,b) (integers a..b inclusive) or choice(v1,v2,...), "
    "e.g. --random train.optimizer.lr=loguniform(1e-4,1e-1)"
)


@dataclass(frozen=True)
class Distribution:
    """A parsed ``--random`` value: ``kind`` in DISTRIBUTIONS and its arguments."""

    kind: str
    args: tuple[Any, ...]

    def sampler(self) -> Any:
        """What ``ParameterSampler`` takes: a frozen scipy distribution or a list."""
        from scipy import stats

        if self.kind == "loguniform":
            return stats.loguniform(*self.args)
        if self.kind == "uniform":
            low, high = self.args
            return stats.uniform(loc=low, scale=high - low)
        if self.kind == "randint":
            low, high = self.args
            return stats.randint(low, high + 1)  # scipy's high is exclusive; ours is not
        return list(self.args)

    @property
    def log_scale(self) -> bool:
        return self.kind == "loguniform"

    def __str__(self) -> str:
        return f"{self.kind}({', '.join(_yaml_text(a) for a in self.args)})"


@dataclass
class SweepSpec:
    """What to search: grid values and random distributions per key path, trials, seeds."""

    grid: dict[str, list[Any]] = field(default_factory=dict)
    random: dict[str, Distribution] = field(default_factory=dict)
    trials: int | None = None
    seeds: int = 1
    monitor: str | None = None

    @property
    def keys(self) -> list[str]:
        return [*self.grid, *(k for k in self.random if k not in self.grid)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "grid": self.grid,
            "random": {k: str(v) for k, v in self.random.items()},
            "trials": self.trials,
            "seeds": self.seeds,
            "monitor": self.monitor,
        }


@dataclass(frozen=True)
class Trial:
    """One run of the sweep: its id, the swept values, and its seed."""

    index: int
    id: str
    params: dict[str, Any]
    seed: int

    @property
    def overrides(self) -> list[str]:
        return [*(f"{k}={_yaml_text(v)}" for k, v in self.params.items()), f"seed={self.seed}"]

    @property
    def group(self) -> str:
        """Trials that differ only in their seed share a group (one leaderboard row)."""
        return _short_hash(json.dumps(self.params, sort_keys=True))


def _yaml_text(value: Any) -> str:
    """A value as one line of flow YAML that ``parse_yaml_value`` reads back to it exactly."""
    import yaml

    from mlptrain.yamlsafe import SafeDumper

    text = yaml.dump(value, Dumper=SafeDumper, default_flow_style=True, width=10**6)
    return text.removesuffix("\n...\n").strip()


def _short_hash(text: str, n: int = 8) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:n]


def _split_values(text: str) -> list[str]:
    """Split at top-level commas: ``[1, 2],3`` is two values, ``'a,b'`` one."""
    parts: list[str] = []
    depth = 0
    quote: str | None = None
    current: list[str] = []
    for char in text:
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "[{(":
            depth += 1
        elif char in "]})":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return [part.strip() for part in parts]


def _key_and_text(option: str, text: str, help_text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep:
        raise UserInputError(f"{option} {text}: no '=' in the option; {help_text}")
    if not _KEY.match(key):
        raise UserInputError(f"{option} {text}: {key!r} is not a key path; {help_text}")
    if key == "seed":
        raise UserInputError(
            f"{option} {text}: the seed is swept with --seeds N (seeds base, base+1, ...); "
            "sweep other keys here"
        )
    if not value.strip():
        raise UserInputError(f"{option} {text}: no values after '='; {help_text}")
    return key, value


def _scalar(text: str, source: str) -> Any:
    from mlptrain.errors import ConfigError
    from mlptrain.yamlsafe import parse_yaml_value

    if not text:
        raise UserInputError(f"{source}: an empty value")
    try:
        return parse_yaml_value(text, source)
    except ConfigError as exc:
        raise UserInputError(str(exc)) from None


def parse_grid(text: str) -> tuple[str, list[Any]]:
    """``key.path=v1,v2`` -> (key, [v1, v2]); each value read as YAML (``128``, ``1e-3``)."""
    key, values_text = _key_and_text("--grid", text, _GRID_HELP)
    values = [_scalar(v, f"--grid {text}") for v in _split_values(values_text)]
    if any(isinstance(v, float) and not math.isfinite(v) for v in values):
        raise UserInputError(f"--grid {text}: values must be finite; {_GRID_HELP}")
    if len(set(map(_yaml_text, values))) != len(values):
        raise UserInputError(f"--grid {text}: a value is given twice; list each value once")
    return key, values


def _number(text: str, source: str, *, integer: bool) -> float | int:
    value = _scalar(text, source)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UserInputError(f"{source}: {text!r} is not a number; {_RANDOM_HELP}")
    if integer and not isinstance(value, int):
        raise UserInputError(f"{source}: {text!r} is not an integer; randint takes integers")
    if not math.isfinite(value):
        raise UserInputError(f"{source}: {text!r} is not finite; {_RANDOM_HELP}")
    return value


def parse_distribution(text: str, source: str = "--random") -> Distribution:
    """``loguniform(1e-4,1e-1)`` -> Distribution, parsed without eval."""
    match = _DIST.match(text)
    if not match:
        raise UserInputError(f"{source}: {text!r} is not a distribution; {_RANDOM_HELP}")
    kind, inner = match.group(1), match.group(2)
    if kind not in DISTRIBUTIONS:
        import difflib

        close = difflib.get_close_matches(kind, DISTRIBUTIONS, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise UserInputError(
            f"{source}: unknown distribution {kind!r}; {hint}allowed: {', '.join(DISTRIBUTIONS)}"
        )
    parts = _split_values(inner)
    if kind == "choice":
        if parts == [""]:
            raise UserInputError(f"{source}: choice() needs at least one value")
        return Distribution(kind, tuple(_scalar(p, source) for p in parts))
    if len(parts) != 2:
        raise UserInputError(
            f"{source}: {kind} takes 2 arguments (low, high), got {len(parts)}; {_RANDOM_HELP}"
        )
    low, high = (_number(p, source, integer=kind == "randint") for p in parts)
    if kind == "randint" and low > high:
        raise UserInputError(f"{source}: randint({low}, {high}) needs low <= high")
    if kind != "randint" and not low < high:
        raise UserInputError(f"{source}: {kind}({low}, {high}) needs low < high")
    if kind == "loguniform" and low <= 0:
        raise UserInputError(f"{source}: loguniform({low}, {high}) needs 0 < low < high")
    return Distribution(kind, (low, high))


def parse_random(text: str) -> tuple[str, Distribution]:
    key, dist_text = _key_and_text("--random", text, _RANDOM_HELP)
    return key, parse_distribution(dist_text, f"--random {text}")


def check_monitor(monitor: str) -> str:
    """``val_loss`` or ``<split>_<metric>`` such as ``val_accuracy``, ``test_r2``."""
    split, _, metric = monitor.partition("_")
    if split not in SPLITS or not metric:
        raise UserInputError(
            f"--monitor {monitor!r}: allowed: val_loss, train_loss, or <split>_<metric> with "
            "split one of train, val, test and a report metric, e.g. val_accuracy, test_r2"
        )
    return monitor


def monitor_minimised(monitor: str) -> bool:
    return monitor.partition("_")[2] in _MINIMISED


def build_spec(
    *,
    grid: Sequence[str] = (),
    random: Sequence[str] = (),
    trials: int | None = None,
    seeds: int | None = None,
    monitor: str | None = None,
    spec_file: str | Path | None = None,
) -> SweepSpec:
    """A SweepSpec from the command line flags, on top of an optional ``--spec`` YAML file."""
    spec = read_spec_file(spec_file) if spec_file is not None else SweepSpec()
    for text in grid:
        key, values = parse_grid(text)
        spec.grid[key] = values
    for text in random:
        key, dist = parse_random(text)
        spec.random[key] = dist
    if trials is not None:
        spec.trials = trials
    if seeds is not None:
        spec.seeds = seeds
    if monitor is not None:
        spec.monitor = monitor
    _check_spec(spec)
    return spec


def _check_spec(spec: SweepSpec) -> None:
    both = [k for k in spec.grid if k in spec.random]
    if both:
        raise UserInputError(
            f"{both[0]} is swept by both --grid and --random; choose one for each key"
        )
    if spec.trials is not None and (spec.trials < 1 or not spec.random):
        raise UserInputError(
            f"--trials {spec.trials}: "
            + ("must be >= 1" if spec.trials < 1 else "applies to --random only; add a --random")
        )
    if not 1 <= spec.seeds <= 1000:
        raise UserInputError(f"--seeds {spec.seeds}: allowed: an integer from 1 to 1000")
    if not spec.grid and not spec.random and spec.seeds == 1:
        raise UserInputError(
            "nothing to sweep: give --grid, --random, --seeds N (N > 1) or --spec FILE"
        )
    if spec.monitor is not None:
        check_monitor(spec.monitor)


_SPEC_KEYS = ("grid", "random", "trials", "seeds", "monitor")


def read_spec_file(path: str | Path) -> SweepSpec:
    """A sweep YAML file: ``grid: {key: [values]}``, ``random: {key: "loguniform(a,b)"}``,
    ``trials``, ``seeds``, ``monitor``; read with the hardened YAML reader."""
    from mlptrain.yamlsafe import read_yaml

    raw, lines = read_yaml(path)
    if not isinstance(raw, dict):  # read_yaml already refuses any other top level
        raise UserInputError(f"{path}: the top level must be a mapping")

    def where(*key: str) -> str:
        line = lines.get(tuple(key))
        return f"{path}:{line}: {'.'.join(key)}" if line else f"{path}: {'.'.join(key)}"

    spec = SweepSpec()
    for key in raw:
        if key not in _SPEC_KEYS:
            raise UserInputError(
                f"{where(str(key))}: unknown key; allowed: {', '.join(_SPEC_KEYS)}"
            )
    grid = raw.get("grid") or {}
    random = raw.get("random") or {}
    if not isinstance(grid, dict) or not isinstance(random, dict):
        name = "grid" if not isinstance(grid, dict) else "random"
        raise UserInputError(f"{where(name)}: must be a mapping from key paths to values")
    for key, values in grid.items():
        if not _KEY.match(str(key)) or key == "seed":
            raise UserInputError(f"{where('grid', str(key))}: not a key path; {_GRID_HELP}")
        if not isinstance(values, list) or not values:
            raise UserInputError(f"{where('grid', key)}: must be a non-empty list of values")
        spec.grid[key] = values
    for key, text in random.items():
        if not _KEY.match(str(key)) or key == "seed":
            raise UserInputError(f"{where('random', str(key))}: not a key path; {_RANDOM_HELP}")
        if not isinstance(text, str):
            raise UserInputError(f"{where('random', key)}: must be a string; {_RANDOM_HELP}")
        spec.random[key] = parse_distribution(text, where("random", key))
    for name in ("trials", "seeds"):
        value = raw.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise UserInputError(f"{where(name)}: {value!r} is not an integer")
    spec.trials = raw.get("trials")
    spec.seeds = raw.get("seeds") or 1
    monitor = raw.get("monitor")
    if monitor is not None and not isinstance(monitor, str):
        raise UserInputError(f"{where('monitor')}: must be a string such as val_loss")
    spec.monitor = monitor
    return spec


def expand_trials(spec: SweepSpec, base_seed: int) -> list[Trial]:
    """Every trial in a fixed order: grid points × random samples × seeds.

    Random samples come from ``ParameterSampler`` seeded with the config's seed, so every
    process that expands the same sweep gets the same values, bit for bit.
    """
    from sklearn.model_selection import ParameterGrid, ParameterSampler

    points: list[dict[str, Any]] = list(ParameterGrid(spec.grid)) if spec.grid else [{}]
    samples: list[dict[str, Any]] = [{}]
    if spec.random:
        distributions = {k: d.sampler() for k, d in spec.random.items()}
        n_iter = spec.trials or DEFAULT_TRIALS
        samples = [
            {k: _plain(v) for k, v in sample.items()}
            for sample in ParameterSampler(distributions, n_iter=n_iter, random_state=base_seed)
        ]
    order = spec.keys
    trials = []
    for point in points:
        for sample in samples:
            merged = {**point, **sample}
            params = {k: _plain(merged[k]) for k in order}
            for offset in range(spec.seeds):
                index = len(trials)
                seed = base_seed + offset
                digest = _short_hash(json.dumps([params, seed], sort_keys=True))
                trials.append(Trial(index, f"t{index:04d}-{digest}", params, seed))
    return trials


def _plain(value: Any) -> Any:
    """numpy scalars -> Python ones (JSON, YAML and the config schema want plain values)."""
    return value.item() if hasattr(value, "item") and not isinstance(value, list | dict) else value


def parse_shard(text: str) -> tuple[int, int]:
    """``i/N`` with 0 <= i < N."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match or not 0 <= int(match.group(1)) < int(match.group(2)):
        raise UserInputError(
            f"--shard {text!r}: allowed: i/N with 0 <= i < N, e.g. --shard 0/4 (the trials "
            "whose index % N == i)"
        )
    return int(match.group(1)), int(match.group(2))


def sweep_dir_for(base: Mapping[str, Any], spec: SweepSpec, root: Path = Path("runs")) -> Path:
    """``runs/<name>/sweep-<hash of the base config and the spec>``: reruns find it again."""
    digest = _short_hash(json.dumps([base, spec.to_dict()], sort_keys=True, default=str))
    return root / str(base["name"]) / f"sweep-{digest}"


# --- running trials -------------------------------------------------------------------------


def _blas_threads(jobs: int) -> int:
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
) -> dict[str, Any]:
    """Train one trial; never raises for the trial's own failure (it is recorded instead).

    ``out`` is the run directory; ``None`` means "train in a temporary directory and return
    its files" (a Dask worker that may not share the client's disk).
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
            run = fit(cfg, out=run_dir, overwrite=True)
        record.update(status="completed", error=None, metrics=trial_metrics(run.report))
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
    base: dict[str, Any], todo: list[Trial], sweep_dir: Path, jobs: int
) -> Iterator[dict[str, Any]]:
    threads = _blas_threads(jobs)
    if jobs == 1 or len(todo) == 1:
        for trial in todo:
            yield run_trial(base, _trial_payload(trial), str(sweep_dir / trial.id), threads)
        return
    from joblib import Parallel, delayed

    parallel = Parallel(n_jobs=jobs, backend="loky", return_as="generator_unordered")
    yield from parallel(
        delayed(run_trial)(base, _trial_payload(t), str(sweep_dir / t.id), threads) for t in todo
    )


def _run_dask(
    base: dict[str, Any], todo: list[Trial], sweep_dir: Path, scheduler: str
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
                run_trial, base, _trial_payload(t), None, 1, key=f"mlptrain-{t.id}", pure=False
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
) -> SweepResult:
    """Run (or resume) a sweep; returns every trial's latest record and the summary."""
    from mlptrain.config import config_to_dict, load_config

    if jobs < 1:
        raise UserInputError(f"--jobs {jobs}: allowed: an integer >= 1")
    if scheduler is not None:
        _dask()  # fail before any work if Dask is missing
    cfg = load_config(config, overrides)
    base = config_to_dict(cfg)
    trials = expand_trials(spec, cfg.seed)
    sweep_dir = Path(out) if out is not None else sweep_dir_for(base, spec)
    try:
        sweep_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunError(f"cannot create the sweep directory {sweep_dir}: {exc}") from None
    plan = {
        "config": base,
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
    if todo:
        stream = (
            _run_dask(base, todo, sweep_dir, scheduler)
            if scheduler is not None
            else _run_local(base, todo, sweep_dir, jobs)
        )
        for record in stream:
            append_line(sweep_dir / RESULTS, json.dumps(record, allow_nan=False, default=str))
            records[record["trial"]] = record
            ran.append(record["trial"])
            if on_record is not None:
                on_record(record)
    # Other shards may have finished trials meanwhile: summarise what the file holds now.
    records = {**latest_records(sweep_dir), **{tid: records[tid] for tid in ran}}
    summary = summarise(trials, records, spec, base)
    write_sweep_reports(sweep_dir, summary, spec, base)
    return SweepResult(sweep_dir, trials, records, ran, skipped, summary)


# --- results --------------------------------------------------------------------------------


def default_monitor(base: Mapping[str, Any], records: Iterable[Mapping[str, Any]]) -> str:
    """val_loss when the config has a validation split, else the test headline metric."""
    if base["data"]["val_size"] > 0:
        return "val_loss"
    for record in records:
        if "test_r2" in record.get("metrics", {}):
            return "test_r2"
    return "test_r2" if base["model"]["loss"] == "mse" else "test_accuracy"


def _mean_std(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    mean = sum(values) / len(values)
    # Population std (ddof=0), as numpy's default: a single seed has std 0.
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))


def summarise(
    trials: list[Trial],
    records: Mapping[str, Mapping[str, Any]],
    spec: SweepSpec,
    base: Mapping[str, Any],
) -> dict[str, Any]:
    """The leaderboard: one row per parameter combination, mean ± std over its seeds."""
    monitor = spec.monitor or default_monitor(base, records.values())
    minimise = monitor_minimised(monitor)
    rows: dict[str, dict[str, Any]] = {}
    trial_rows = []
    for trial in trials:
        record = records.get(trial.id)
        status = record["status"] if record else "pending"
        value = (record or {}).get("metrics", {}).get(monitor)
        trial_rows.append(
            {
                "trial": trial.id,
                "params": trial.params,
                "seed": trial.seed,
                "status": status,
                "monitor": value,
                "metrics": (record or {}).get("metrics", {}),
                "seconds": (record or {}).get("seconds"),
                "error": (record or {}).get("error"),
            }
        )
        row = rows.setdefault(
            trial.group,
            {"group": trial.group, "params": trial.params, "trials": [], "values": [],
             "seconds": 0.0, "completed": 0, "failed": 0, "pending": 0},
        )  # fmt: skip
        row["trials"].append(trial.id)
        row[status if status in ("completed", "failed") else "pending"] += 1
        row["seconds"] += float((record or {}).get("seconds") or 0.0)
        if status == "completed" and isinstance(value, int | float) and math.isfinite(value):
            row["values"].append(float(value))
    board = []
    for row in rows.values():
        mean, std = _mean_std(row.pop("values"))
        row["mean"], row["std"] = mean, std
        row["n"] = row["completed"]
        board.append(row)
    sign = 1 if minimise else -1
    board.sort(key=lambda r: (r["mean"] is None, sign * (r["mean"] or 0.0)))
    for rank, row in enumerate(board, 1):
        row["rank"] = rank if row["mean"] is not None else None
    counts = {
        s: sum(1 for t in trial_rows if t["status"] == s)
        for s in ("completed", "failed", "pending")
    }
    return {
        "name": base["name"],
        "monitor": monitor,
        "mode": "min" if minimise else "max",
        "spec": spec.to_dict(),
        "n_trials": len(trials),
        "counts": counts,
        "leaderboard": board,
        "trials": trial_rows,
        "best": board[0] if board and board[0]["mean"] is not None else None,
    }


def best_config(base: Mapping[str, Any], best: Mapping[str, Any]) -> str:
    """The base config with the best row's values (and the base seed), as validated YAML."""
    from mlptrain.config import config_to_yaml, parse_config_dict

    overrides = [f"{k}={_yaml_text(v)}" for k, v in best["params"].items()]
    return config_to_yaml(parse_config_dict(base, source="best config", overrides=overrides))


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _params_text(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={_yaml_text(v)}" for k, v in params.items()) or "(base config)"


def _mean_text(row: Mapping[str, Any]) -> str:
    if row["mean"] is None:
        return "–"
    return f"{row['mean']:.4g} ± {row['std']:.2g}"


def render_markdown(summary: Mapping[str, Any]) -> str:
    counts = summary["counts"]
    lines = [
        f"# Sweep: {summary['name']}",
        "",
        f"{summary['n_trials']} trials: {counts['completed']} completed, {counts['failed']} "
        f"failed, {counts['pending']} pending. Ranked by **{summary['monitor']}** "
        f"({'lower' if summary['mode'] == 'min' else 'higher'} is better), mean ± std over seeds.",
        "",
        "| rank | parameters | " + summary["monitor"] + " | seeds ok | failed | seconds |",
        "|---|---|---|---|---|---|",
    ]
    for row in summary["leaderboard"]:
        params = _params_text(row["params"]).replace("|", "\\|")
        lines.append(
            f"| {_fmt(row['rank'])} | {params} | {_mean_text(row)} | {row['completed']}/"
            f"{len(row['trials'])} | {row['failed']} | {row['seconds']:.1f} |"
        )
    lines += ["", "## Trials", "", "| trial | parameters | seed | status | value | seconds |",
              "|---|---|---|---|---|---|"]  # fmt: skip
    for trial in summary["trials"]:
        params = _params_text(trial["params"]).replace("|", "\\|")
        lines.append(
            f"| {trial['trial']} | {params} | {trial['seed']} | {trial['status']} | "
            f"{_fmt(trial['monitor'])} | {_fmt(trial['seconds'])} |"
        )
    failed = [t for t in summary["trials"] if t["status"] == "failed"]
    if failed:
        lines += ["", "## Failures", ""]
        lines += [f"- {t['trial']}: {t['error']}".replace("\n", " ") for t in failed]
    return "\n".join(lines) + "\n"


_CSS = (
    "body{font-family:system-ui,sans-serif;margin:2em;color:#222}"
    "table{border-collapse:collapse;margin:1em 0}"
    "th,td{border:1px solid #ccc;padding:4px 8px;text-align:left}"
    "th{background:#f3f3f3}.failed{color:#b00}.pending{color:#888}img{max-width:100%}"
)


def render_html(summary: Mapping[str, Any], png: bytes | None) -> str:
    """A self-contained page: inline CSS, the figure as a data URI, every string escaped."""
    import base64
    from html import escape

    def cell(value: Any) -> str:
        return f"<td>{escape(str(value))}</td>"

    counts = summary["counts"]
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>Sweep {escape(str(summary['name']))}</title><style>{_CSS}</style></head><body>",
        f"<h1>Sweep: {escape(str(summary['name']))}</h1>",
        f"<p>{summary['n_trials']} trials: {counts['completed']} completed, "
        f"{counts['failed']} failed, {counts['pending']} pending. Ranked by "
        f"<b>{escape(summary['monitor'])}</b> ({'lower' if summary['mode'] == 'min' else 'higher'}"
        " is better), mean ± std over seeds.</p>",
        "<table><tr><th>rank</th><th>parameters</th>"
        f"<th>{escape(summary['monitor'])}</th><th>seeds ok</th><th>failed</th>"
        "<th>seconds</th></tr>",
    ]
    for row in summary["leaderboard"]:
        parts.append(
            "<tr>" + cell(_fmt(row["rank"])) + cell(_params_text(row["params"]))
            + cell(_mean_text(row)) + cell(f"{row['completed']}/{len(row['trials'])}")
            + cell(row["failed"]) + cell(f"{row['seconds']:.1f}") + "</tr>"
        )  # fmt: skip
    parts.append("</table>")
    if png:
        data = base64.b64encode(png).decode("ascii")
        parts.append(
            f"<h2>Metric against each parameter</h2><img alt='sweep figure' src='data:image/png;base64,{data}'>"
        )
    parts.append(
        "<h2>Trials</h2><table><tr><th>trial</th><th>parameters</th><th>seed</th>"
        "<th>status</th><th>value</th><th>seconds</th><th>error</th></tr>"
    )
    for trial in summary["trials"]:
        parts.append(
            f"<tr class='{escape(trial['status'])}'>" + cell(trial["trial"])
            + cell(_params_text(trial["params"])) + cell(trial["seed"]) + cell(trial["status"])
            + cell(_fmt(trial["monitor"])) + cell(_fmt(trial["seconds"]))
            + cell(trial["error"] or "") + "</tr>"
        )  # fmt: skip
    parts.append("</table></body></html>\n")
    return "\n".join(parts)


def render_figure(summary: Mapping[str, Any], spec: SweepSpec) -> bytes | None:
    """The monitored metric against each swept parameter (one panel each), as PNG bytes."""
    import io

    from matplotlib.figure import Figure

    keys = [k for k in spec.keys]
    done = [t for t in summary["trials"] if t["status"] == "completed" and t["monitor"] is not None]
    if not keys or not done:
        return None
    fig = Figure(figsize=(4.0 * len(keys), 3.2), layout="constrained")
    axes = fig.subplots(1, len(keys), squeeze=False)[0]
    for ax, key in zip(axes, keys, strict=True):
        values = [t["params"][key] for t in done]
        metric = [t["monitor"] for t in done]
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
        if numeric:
            ax.plot(values, metric, "o", alpha=0.7)
            dist = spec.random.get(key)
            positive = all(v > 0 for v in values)
            if positive and (dist is not None and dist.log_scale or _wide(values)):
                ax.set_xscale("log")
        else:
            labels = sorted({_yaml_text(v) for v in values})
            ax.plot([labels.index(_yaml_text(v)) for v in values], metric, "o", alpha=0.7)
            ax.set_xticks(range(len(labels)), [lbl[:20] for lbl in labels])
        ax.set_xlabel(key.replace("$", r"\$"))
        ax.set_ylabel(summary["monitor"].replace("_", " "))
        ax.grid(alpha=0.3)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    fig.clear()
    return buffer.getvalue()


def _wide(values: list[float]) -> bool:
    low, high = min(values), max(values)
    return low > 0 and high / low >= 100


def write_sweep_reports(
    sweep_dir: Path, summary: dict[str, Any], spec: SweepSpec, base: Mapping[str, Any]
) -> None:
    """sweep.json, sweep.md, sweep.png, sweep.html and (when a trial finished) best.yaml."""
    atomic_write_text(
        sweep_dir / "sweep.json", json.dumps(summary, indent=2, allow_nan=False, default=str) + "\n"
    )
    atomic_write_text(sweep_dir / "sweep.md", render_markdown(summary))
    png = render_figure(summary, spec)
    if png is not None:
        atomic_write_bytes(sweep_dir / "sweep.png", png)
    atomic_write_text(sweep_dir / "sweep.html", render_html(summary, png))
    if summary["best"] is not None:
        atomic_write_text(sweep_dir / "best.yaml", best_config(base, summary["best"]))
