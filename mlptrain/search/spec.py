"""What a sweep is: --grid/--random/--seeds parsing (no eval), sweep files, and the deterministic trial list."""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path
from typing import Any

from mlptrain.config.monitors import SELECTION_SPLITS, SPLITS, direction, split_of
from mlptrain.config.overrides import OVERRIDE_KEY
from mlptrain.errors import UserInputError

DEFAULT_TRIALS = 10
DISTRIBUTIONS = ("loguniform", "uniform", "randint", "choice")
SEARCHES = ("grid", "random", "tpe")
PRUNERS = ("none", "median", "hyperband")

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
        return f"{self.kind}({', '.join(yaml_text(a) for a in self.args)})"


@dataclass
class SweepSpec:
    """What to search: grid values and random distributions per key path, trials, seeds."""

    grid: dict[str, list[Any]] = field(default_factory=dict)
    random: dict[str, Distribution] = field(default_factory=dict)
    trials: int | None = None
    seeds: int = 1
    monitor: str | None = None
    search: str = "grid"  # set from the flags by build_spec: grid, random or tpe
    prune: str = "none"

    @property
    def uses_study(self) -> bool:
        """An Optuna study drives the sampling (tpe) or the pruning (median, hyperband)."""
        return self.search == "tpe" or self.prune != "none"

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
            # Only when not the default, so that older sweeps keep their directory and plan.
            **({"search": self.search} if self.search == "tpe" else {}),
            **({"prune": self.prune} if self.prune != "none" else {}),
        }


def spec_from_dict(data: Mapping[str, Any]) -> SweepSpec:
    """The inverse of ``SweepSpec.to_dict`` (a worker process rebuilds the spec from it)."""
    return SweepSpec(
        grid={k: list(v) for k, v in data["grid"].items()},
        random={k: parse_distribution(v) for k, v in data["random"].items()},
        trials=data["trials"],
        seeds=data["seeds"],
        monitor=data["monitor"],
        search=data.get("search") or ("random" if data["random"] else "grid"),
        prune=data.get("prune") or "none",
    )


@dataclass(frozen=True)
class Trial:
    """One run of the sweep: its id, the swept values, and its seed."""

    index: int
    id: str
    params: dict[str, Any]
    seed: int

    @property
    def overrides(self) -> list[str]:
        return [*(f"{k}={yaml_text(v)}" for k, v in self.params.items()), f"seed={self.seed}"]

    @property
    def group(self) -> str:
        """Trials that differ only in their seed share a group (one leaderboard row)."""
        return _short_hash(json.dumps(self.params, sort_keys=True))


def yaml_text(value: Any) -> str:
    """A value as one line of flow YAML that ``parse_yaml_value`` reads back to it exactly."""
    import yaml

    from mlptrain.config.yamlsafe import SafeDumper

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
    if not OVERRIDE_KEY.match(key):
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
    from mlptrain.config.yamlsafe import parse_yaml_value
    from mlptrain.errors import ConfigError

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
    if len(set(map(yaml_text, values))) != len(values):
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
    """``val_loss`` or ``<split>_<metric>`` such as ``val_accuracy``; never a test metric."""
    split, _, metric = monitor.partition("_")
    if split not in SPLITS or not metric:
        raise UserInputError(
            f"--monitor {monitor!r}: allowed: val_loss, train_loss, or <split>_<metric> with "
            f"split one of {', '.join(SELECTION_SPLITS)} and a report metric, e.g. val_accuracy"
        )
    if split_of(monitor) not in SELECTION_SPLITS:
        raise UserInputError(
            f"--monitor {monitor!r}: a sweep never ranks on the test split (that would pick the "
            "settings that fit the test rows); rank on a validation metric such as val_loss or "
            "val_accuracy, and read the test metrics in the leaderboard as information"
        )
    return monitor


def monitor_minimised(monitor: str) -> bool:
    return direction(monitor) == "min"


def expand_trials(spec: SweepSpec, base_seed: int) -> list[Trial]:
    """Every trial in a fixed order: grid points × random samples × seeds.

    Random samples come from ``ParameterSampler`` seeded with the config's seed, so every
    process that expands the same sweep gets the same values, bit for bit.
    """
    points = _grid_points(spec.grid)
    samples: list[dict[str, Any]] = [{}]
    if spec.random:
        from sklearn.model_selection import ParameterSampler

        distributions = {k: d.sampler() for k, d in spec.random.items()}
        n_iter = spec.trials or DEFAULT_TRIALS
        samples = [
            {k: _plain(v) for k, v in sample.items()}
            for sample in ParameterSampler(distributions, n_iter=n_iter, random_state=base_seed)
        ]
    order = spec.keys
    trials: list[Trial] = []
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


def _grid_points(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every point of the grid in scikit-learn's ``ParameterGrid`` order (keys sorted, the
    last varying fastest), without importing scikit-learn: that import took ~1.5 s of the
    sweep's own process before it started its workers (docs/sweeps.md)."""
    keys = sorted(grid)
    return [dict(zip(keys, values, strict=True)) for values in product(*(grid[k] for k in keys))]


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


def headline_metric(base: Mapping[str, Any]) -> str | None:
    """The score the epochs record beside the loss (r2 for mse, accuracy for the class
    losses); None while a file's data has yet to tell (its loss left out, its task auto)."""
    loss = base["model"]["loss"]
    if loss is None:
        return None
    return "r2" if loss == "mse" else "accuracy"
