"""A SweepSpec from the command line's flags and an optional sweep file (``--spec``), checked
as a whole: which flags go together, which search and pruner, which monitor."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mlptrain.config.overrides import OVERRIDE_KEY
from mlptrain.errors import UserInputError
from mlptrain.search.spec import (
    _GRID_HELP,
    _RANDOM_HELP,
    PRUNERS,
    SEARCHES,
    SweepSpec,
    check_monitor,
    parse_distribution,
    parse_grid,
    parse_random,
)

_SPEC_KEYS = ("grid", "random", "trials", "seeds", "monitor", "search", "prune")


def read_spec_file(path: str | Path) -> SweepSpec:
    """A sweep YAML file: ``grid: {key: [values]}``, ``random: {key: "loguniform(a,b)"}``,
    ``trials``, ``seeds``, ``monitor``; read with the hardened YAML reader."""
    from mlptrain.config.yamlsafe import read_yaml

    raw, lines = read_yaml(path)
    if not isinstance(raw, dict):  # read_yaml already refuses any other top level
        raise UserInputError(f"{path}: the top level must be a mapping")

    def where(*key: str) -> str:
        line = lines.get(tuple(key))
        return f"{path}:{line}: {'.'.join(key)}" if line else f"{path}: {'.'.join(key)}"

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
    spec = SweepSpec()
    spec.grid.update(_file_grid(grid, where))
    spec.random.update(_file_random(random, where))
    _read_scalars(raw, where, spec)
    _read_choices(raw, where, spec)
    return spec


def _file_grid(grid: dict[Any, Any], where: Callable[..., str]) -> dict[str, list[Any]]:
    """The file's ``grid:`` entries, each a key path and a non-empty list of values."""
    for key, values in grid.items():
        if not OVERRIDE_KEY.match(str(key)) or key == "seed":
            raise UserInputError(f"{where('grid', str(key))}: not a key path; {_GRID_HELP}")
        if not isinstance(values, list) or not values:
            raise UserInputError(f"{where('grid', key)}: must be a non-empty list of values")
    return grid


def _file_random(random: dict[Any, Any], where: Callable[..., str]) -> dict[str, Any]:
    """The file's ``random:`` entries, each a key path and a distribution's text, parsed."""
    parsed: dict[str, Any] = {}
    for key, text in random.items():
        if not OVERRIDE_KEY.match(str(key)) or key == "seed":
            raise UserInputError(f"{where('random', str(key))}: not a key path; {_RANDOM_HELP}")
        if not isinstance(text, str):
            raise UserInputError(f"{where('random', key)}: must be a string; {_RANDOM_HELP}")
        parsed[key] = parse_distribution(text, where("random", key))
    return parsed


def _read_scalars(raw: dict[Any, Any], where: Callable[..., str], spec: SweepSpec) -> None:
    """``trials``, ``seeds`` (integers) and ``monitor`` (a string) into ``spec``."""
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


def _read_choices(raw: dict[Any, Any], where: Callable[..., str], spec: SweepSpec) -> None:
    """``search`` and ``prune`` into ``spec``, each one of its allowed names."""
    for name, allowed in (("search", SEARCHES), ("prune", PRUNERS)):
        value = raw.get(name)
        if value is not None:
            if value not in allowed:
                raise UserInputError(f"{where(name)}: {value!r}; allowed: {', '.join(allowed)}")
            setattr(spec, name, value)


def build_spec(
    *,
    grid: Sequence[str] = (),
    random: Sequence[str] = (),
    trials: int | None = None,
    seeds: int | None = None,
    monitor: str | None = None,
    spec_file: str | Path | None = None,
    search: str | None = None,
    prune: str | None = None,
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
    if prune is not None:
        spec.prune = _choose("--prune", prune, PRUNERS)
    if search is not None:
        spec.search = _choose("--search", search, SEARCHES)
    elif spec.search != "tpe":  # a sweep file may say tpe; otherwise the flags decide
        spec.search = "random" if spec.random else "grid"
    _check_spec(spec)
    return spec


def _choose(option: str, value: str, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise UserInputError(f"{option} {value!r}: allowed: {', '.join(allowed)}")
    return value


def _check_spec(spec: SweepSpec) -> None:
    both = [k for k in spec.grid if k in spec.random]
    if both:
        raise UserInputError(
            f"{both[0]} is swept by both --grid and --random; choose one for each key"
        )
    tpe = spec.search == "tpe"
    if spec.trials is not None and (spec.trials < 1 or not (spec.random or tpe)):
        raise UserInputError(
            f"--trials {spec.trials}: "
            + ("must be >= 1" if spec.trials < 1 else "applies to --random only; add a --random")
        )
    if spec.search == "grid" and spec.random:
        raise UserInputError("--search grid: --random is given too; use --search random or tpe")
    if spec.search == "random" and not spec.random:
        raise UserInputError("--search random needs at least one --random KEY=DIST")
    if tpe and not (spec.grid or spec.random):
        raise UserInputError("--search tpe needs a space to search: --random KEY=DIST or --grid")
    if tpe and spec.seeds != 1:
        raise UserInputError(
            f"--seeds {spec.seeds}: --search tpe runs one seed per trial (the sampler learns "
            "from each result); leave out --seeds, then repeat the best config with --seeds"
        )
    if not 1 <= spec.seeds <= 1000:
        raise UserInputError(f"--seeds {spec.seeds}: allowed: an integer from 1 to 1000")
    if not spec.grid and not spec.random and spec.seeds == 1:
        raise UserInputError(
            "nothing to sweep: give --grid, --random, --seeds N (N > 1) or --spec FILE"
        )
    if spec.monitor is not None:
        check_monitor(spec.monitor)
        if spec.uses_study and not spec.monitor.startswith("val_"):
            raise UserInputError(
                f"--monitor {spec.monitor}: the TPE sampler and the pruner must see only "
                "validation metrics (never test ones); allowed: val_loss or val_<metric>, e.g. "
                "val_accuracy"
            )
