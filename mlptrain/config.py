"""The config schema, ``load_config``, ``--set`` overrides and the resolved config.

A config is user input, so the schema is strict (``extra="forbid"``, no string-to-number
coercion, finite floats only) and every problem comes back as one line the user can act on::

    configs/x.yaml:14: model.layers[2].type: unknown layer 'relux'; did you mean 'relu'? ...
    configs/x.yaml:22: train.batch_size: 0 is not allowed; must be an integer from 1 to 10000000
    --set train.optimizer.lr=-1: train.optimizer.lr: -1 is not allowed; must be a number > 0

Pydantic's ``ValidationError`` never reaches the user: :func:`_translate` turns each of its
errors into such a line by walking the error's location through the schema (to find the field,
its constraints and, for discriminated unions, drop pydantic's internal tag segment), and the
YAML line comes from the :data:`~mlptrain.yamlsafe.LineMap` of the file. All problems of a file
are reported at once. Checks that span sections run after the sections validate; checks that
need the data (detected task, class count) are in :func:`check_against_data`.
"""

from __future__ import annotations

import copy
import difflib
import math
import os
import re
import types
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple, Union, get_args, get_origin

import yaml
from annotated_types import Ge, Gt, Le, Lt
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

from mlptrain.errors import ConfigError
from mlptrain.yamlsafe import (
    KeyPath,
    LineMap,
    SafeDumper,
    format_key_path,
    parse_yaml,
    parse_yaml_value,
    read_yaml,
)

__all__ = [
    "DATASETS",
    "LAYER_TYPES",
    "LOSSES",
    "MONITORS",
    "OPTIMIZERS",
    "SCHEDULES",
    "Config",
    "apply_overrides",
    "check_against_data",
    "config_to_dict",
    "config_to_yaml",
    "diff_configs",
    "load_config",
    "monitor_mode",
    "parse_config",
    "parse_config_dict",
]

DatasetName = Literal[
    "iris",
    "digits",
    "wine",
    "breast_cancer",
    "diabetes",
    "moons",
    "circles",
    "blobs",
    "classification",
    "regression",
    "csv",
    "npz",
]
LossName = Literal["cross_entropy", "mse", "bce"]
MonitorName = Literal[
    "val_loss",
    "val_accuracy",
    "val_balanced_accuracy",
    "val_f1_macro",
    "val_r2",
    "val_mse",
    "val_rmse",
    "val_mae",
    "train_loss",
]

DATASETS: tuple[str, ...] = get_args(DatasetName)
LOSSES: tuple[str, ...] = get_args(LossName)
MONITORS: tuple[str, ...] = get_args(MonitorName)
FILE_DATASETS = ("csv", "npz")
# Built-in datasets whose task is known without loading them; used for the default loss.
REGRESSION_DATASETS = ("diabetes", "regression")
CLASSIFICATION_LOSSES = ("cross_entropy", "bce")
CLASSIFICATION_MONITORS = ("val_accuracy", "val_balanced_accuracy", "val_f1_macro")
REGRESSION_MONITORS = ("val_r2", "val_mse", "val_rmse", "val_mae")

_MAX_SHOWN = 60


def monitor_mode(name: str) -> Literal["min", "max"]:
    """Whether a monitored metric improves downwards (losses, errors) or upwards (scores)."""
    if name not in MONITORS:
        raise ValueError(f"unknown monitor {name!r}; allowed: {', '.join(MONITORS)}")
    return "min" if name.endswith(("loss", "mse", "rmse", "mae")) else "max"


def _problem(subpath: KeyPath, message: str) -> PydanticCustomError:
    """An error raised inside a validator that points below the validated object."""
    return PydanticCustomError("mlptrain", "{message}", {"message": message, "subpath": subpath})


def _show(value: object) -> str:
    """A value as the user would recognise it from YAML, cut to about 60 characters."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return ".nan" if math.isnan(value) else (".inf" if value > 0 else "-.inf")
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def _bare_name(value: object) -> object:
    """``relu`` is shorthand for ``{type: relu}`` (layers, optimizer, schedule)."""
    return {"type": value} if isinstance(value, str) else value


class _Strict(BaseModel):
    """Base of every section: unknown keys, coercions and non-finite floats are errors."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class Linear(_Strict):
    """``y = x W + b``; ``units: null`` (last layer only) means "as many as the data needs"."""

    type: Literal["linear"] = "linear"
    units: int | None = Field(None, ge=1)


class ReLU(_Strict):
    type: Literal["relu"] = "relu"


class LeakyReLU(_Strict):
    type: Literal["leaky_relu"] = "leaky_relu"
    negative_slope: float = Field(0.01, ge=0)


class Sigmoid(_Strict):
    type: Literal["sigmoid"] = "sigmoid"


class Tanh(_Strict):
    type: Literal["tanh"] = "tanh"


class GELU(_Strict):
    type: Literal["gelu"] = "gelu"


class Identity(_Strict):
    type: Literal["identity"] = "identity"


class Dropout(_Strict):
    type: Literal["dropout"] = "dropout"
    p: float = Field(0.5, ge=0, lt=1)


class BatchNorm(_Strict):
    type: Literal["batchnorm"] = "batchnorm"
    momentum: float = Field(0.1, gt=0, le=1)
    eps: float = Field(1e-5, gt=0)


Layer = Annotated[
    Union[Linear, ReLU, LeakyReLU, Sigmoid, Tanh, GELU, Identity, Dropout, BatchNorm],  # noqa: UP007
    Field(discriminator="type"),
]


class SGD(_Strict):
    type: Literal["sgd"] = "sgd"
    lr: float = Field(0.01, gt=0)
    momentum: float = Field(0.0, ge=0, lt=1)
    nesterov: bool = False
    weight_decay: float = Field(0.0, ge=0)

    @model_validator(mode="after")
    def _nesterov_needs_momentum(self) -> SGD:
        if self.nesterov and self.momentum == 0:
            raise _problem(
                ("nesterov",),
                "true is not allowed while momentum is 0; Nesterov momentum needs "
                "0 < momentum < 1 (set momentum, e.g. 0.9, or nesterov: false)",
            )
        return self


_BETAS = "a list [beta1, beta2] of two numbers, each in [0, 1)"
_Beta = Annotated[float, Field(ge=0, lt=1)]


class Adam(_Strict):
    type: Literal["adam"] = "adam"
    lr: float = Field(1e-3, gt=0)
    betas: list[_Beta] = Field([0.9, 0.999], min_length=2, max_length=2, description=_BETAS)
    eps: float = Field(1e-8, gt=0)
    weight_decay: float = Field(0.0, ge=0)


class AdamW(_Strict):
    type: Literal["adamw"] = "adamw"
    lr: float = Field(1e-3, gt=0)
    betas: list[_Beta] = Field([0.9, 0.999], min_length=2, max_length=2, description=_BETAS)
    eps: float = Field(1e-8, gt=0)
    weight_decay: float = Field(0.01, ge=0)


Optimizer = Annotated[Union[SGD, Adam, AdamW], Field(discriminator="type")]  # noqa: UP007


class ConstantSchedule(_Strict):
    type: Literal["constant"] = "constant"


class StepSchedule(_Strict):
    type: Literal["step"] = "step"
    step_size: int = Field(10, ge=1)
    gamma: float = Field(0.1, gt=0, le=1)


class CosineSchedule(_Strict):
    type: Literal["cosine"] = "cosine"
    warmup_epochs: int = Field(0, ge=0)
    min_lr: float = Field(0.0, ge=0)


class PlateauSchedule(_Strict):
    type: Literal["plateau"] = "plateau"
    factor: float = Field(0.1, gt=0, lt=1)
    patience: int = Field(5, ge=0)
    min_lr: float = Field(0.0, ge=0)
    monitor: MonitorName = "val_loss"


Schedule = Annotated[
    Union[ConstantSchedule, StepSchedule, CosineSchedule, PlateauSchedule],  # noqa: UP007
    Field(discriminator="type"),
]


def _union_tags(union: object) -> dict[str, type[_Strict]]:
    """Tag value -> member model of a discriminated union (through Annotated)."""
    if get_origin(union) is Annotated:
        union = get_args(union)[0]
    return {get_args(m.model_fields["type"].annotation)[0]: m for m in get_args(union)}


LAYER_TYPES: tuple[str, ...] = tuple(_union_tags(Layer))
OPTIMIZERS: tuple[str, ...] = tuple(_union_tags(Optimizer))
SCHEDULES: tuple[str, ...] = tuple(_union_tags(Schedule))
_UNION_NOUNS = {LAYER_TYPES: "layer", OPTIMIZERS: "optimizer", SCHEDULES: "schedule"}


class EarlyStopping(_Strict):
    monitor: MonitorName = "val_loss"
    patience: int = Field(10, ge=0)
    min_delta: float = Field(0.0, ge=0)


_PARAMS = "a mapping of generator arguments whose values are numbers, strings, booleans or lists"
_CLASS_WEIGHT = "null, 'balanced', or a mapping {label: weight > 0}"
_PATH = "a file path string, relative to the config file"
_NAME = "a non-empty string without '/', '\\\\' or control characters (used as a directory name)"


class DataSpec(_Strict):
    dataset: DatasetName
    params: dict[str, Any] = Field(default_factory=dict, description=_PARAMS)
    path: Path | None = Field(None, description=_PATH)
    target: str | None = None
    task: Literal["auto", "classification", "regression"] = "auto"
    test_size: float = Field(0.2, gt=0, lt=1)
    val_size: float = Field(0.1, ge=0, lt=1)
    scale: Literal["standard", "minmax", "none"] = "standard"

    @field_validator("params", mode="after")
    @classmethod
    def _scalar_params(cls, params: dict[str, Any]) -> dict[str, Any]:
        for key, value in params.items():
            items = value if isinstance(value, list) else [value]
            for index, item in enumerate(items):
                sub = (key, index) if isinstance(value, list) else (key,)
                if isinstance(item, (dict, list)) or (
                    isinstance(item, float) and not math.isfinite(item)
                ):
                    raise _problem(
                        sub,
                        f"{_show(item)} is not allowed; must be a finite number, string, "
                        "boolean or null, or a list of those",
                    )
        return params

    @field_validator("path", mode="before")
    @classmethod
    def _absolute_path(cls, value: object, info: ValidationInfo) -> object:
        """Store data paths absolute so a resolved config works from any directory."""
        if isinstance(value, str):
            if not value.strip():
                raise _problem((), f"{_show(value)} is not allowed; must be {_PATH}")
            value = Path(value)
        if isinstance(value, Path):
            base = (info.context or {}).get("base_dir", Path.cwd())
            return Path(os.path.abspath(Path(base) / value.expanduser()))
        return value

    @model_validator(mode="after")
    def _file_fields(self) -> DataSpec:
        if self.dataset in FILE_DATASETS and self.path is None:
            raise _problem(
                ("path",),
                f"is required for dataset {self.dataset!r}; must be {_PATH}",
            )
        if self.dataset not in FILE_DATASETS and self.path is not None:
            raise _problem(
                ("path",),
                f"{_show(str(self.path))} is not allowed with dataset {self.dataset!r}; "
                "path is only for csv and npz (remove it)",
            )
        if self.target is not None and self.dataset != "csv":
            raise _problem(
                ("target",),
                f"{_show(self.target)} is not allowed with dataset {self.dataset!r}; "
                "target names a csv column (remove it)",
            )
        return self


class ModelSpec(_Strict):
    init: Literal["auto", "he", "glorot"] = "auto"
    layers: list[Layer] = Field(
        min_length=1, description="a non-empty list of layers (names or mappings with 'type')"
    )
    loss: LossName = "cross_entropy"

    @field_validator("layers", mode="before")
    @classmethod
    def _bare_layer_names(cls, value: object) -> object:
        return [_bare_name(item) for item in value] if isinstance(value, list) else value

    @model_validator(mode="after")
    def _output_layer(self) -> ModelSpec:
        last = len(self.layers) - 1
        if not isinstance(self.layers[last], Linear):
            raise _problem(
                ("layers", last),
                f"the last layer is {self.layers[last].type!r}; the last layer must be "
                "'linear' (it produces the outputs the loss reads: logits or predictions)",
            )
        for index, layer in enumerate(self.layers[:last]):
            if isinstance(layer, Linear) and layer.units is None:
                raise _problem(
                    ("layers", index, "units"),
                    "null is not allowed here; units may be left out only in the last layer "
                    "(it is inferred from the data); must be an integer >= 1",
                )
        return self


class TrainSpec(_Strict):
    epochs: int = Field(50, ge=1, le=1_000_000)
    batch_size: int = Field(64, ge=1, le=10_000_000)
    dtype: Literal["float32", "float64"] = "float32"
    optimizer: Optimizer = Field(default_factory=Adam)
    schedule: Schedule = Field(default_factory=ConstantSchedule)
    clip_grad_norm: float | None = Field(None, gt=0)
    class_weight: Any = Field(None, description=_CLASS_WEIGHT)
    early_stopping: EarlyStopping | None = Field(default_factory=EarlyStopping)

    @field_validator("optimizer", "schedule", mode="before")
    @classmethod
    def _bare_names(cls, value: object) -> object:
        return _bare_name(value)

    @field_validator("class_weight", mode="after")
    @classmethod
    def _class_weight(cls, value: object) -> object:
        if value is None or value == "balanced":
            return value
        if not isinstance(value, dict) or not value:
            raise _problem((), f"{_show(value)} is not allowed; must be {_CLASS_WEIGHT}")
        weights: dict[str, float] = {}
        for label, weight in value.items():
            if (
                isinstance(weight, bool)
                or not isinstance(weight, (int, float))
                or not math.isfinite(weight)
                or weight <= 0
            ):
                raise _problem(
                    (label,), f"{_show(weight)} is not allowed; must be a finite number > 0"
                )
            weights[label] = float(weight)
        return weights


class CheckpointSpec(_Strict):
    every: int = Field(1, ge=1)
    every_steps: int | None = Field(None, ge=1)


class _Origin(NamedTuple):
    """Where a config came from, so later checks can cite file lines and overrides."""

    source: str
    lines: LineMap
    overrides: dict[KeyPath, str]


class Config(_Strict):
    """A validated config; sections are attributes (``cfg.train.optimizer.lr``)."""

    name: str = Field(description=_NAME)
    seed: int = Field(0, ge=0)
    data: DataSpec
    model: ModelSpec
    train: TrainSpec = Field(default_factory=TrainSpec)
    checkpoint: CheckpointSpec = Field(default_factory=CheckpointSpec)

    _origin: _Origin | None = PrivateAttr(None)

    @field_validator("name", mode="after")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        if not value or value in (".", "..") or re.search(r"[/\\\x00-\x1f\x7f]", value):
            raise _problem((), f"{_show(value)} is not allowed; must be {_NAME}")
        return value

    @model_validator(mode="before")
    @classmethod
    def _default_loss(cls, raw: object) -> object:
        """An omitted loss follows the task: mse for regression, cross_entropy otherwise.

        The task is the explicit ``data.task`` or, for ``auto``, the known task of a built-in
        dataset, so ``dataset: diabetes`` works without naming a loss.
        """
        if not isinstance(raw, dict) or not isinstance(raw.get("model"), dict):
            return raw
        if "loss" in raw["model"]:
            return raw
        data = raw.get("data") if isinstance(raw.get("data"), dict) else {}
        task = data.get("task", "auto")
        regression = task == "regression" or (
            task == "auto" and data.get("dataset") in REGRESSION_DATASETS
        )
        return {**raw, "model": {**raw["model"], "loss": "mse" if regression else "cross_entropy"}}

    def __eq__(self, other: object) -> bool:
        """Equal when the settings are equal; where the config was read from does not count."""
        if not isinstance(other, Config):
            return NotImplemented
        return self.model_dump() == other.model_dump()

    __hash__ = None  # type: ignore[assignment]

    def with_output_units(self, n: int) -> Config:
        """A copy whose last layer's ``units: null`` is replaced by ``n`` (the resolved config).

        An explicit ``units`` is left as written; checking it against the data is the model
        builder's job, which knows how each loss maps classes to outputs.
        """
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"output units must be an integer >= 1, got {n!r}")
        last = self.model.layers[-1]
        if not isinstance(last, Linear) or last.units is not None:
            return self.model_copy(deep=True)
        layers = [*self.model.layers[:-1], last.model_copy(update={"units": n})]
        model = self.model.model_copy(update={"layers": layers})
        return self.model_copy(update={"model": model})


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> Config:
    """Read, override and validate a config file; every problem is one ConfigError line."""
    path = Path(path)
    raw, lines = read_yaml(path)
    return _build(
        raw,
        lines,
        source=str(path),
        base_dir=path.absolute().parent,
        default_name=path.stem,
        overrides=overrides,
    )


def parse_config(
    text: str,
    *,
    source: str,
    base_dir: Path,
    default_name: str,
    overrides: Sequence[str] = (),
) -> Config:
    """Validate config text; ``base_dir`` anchors ``data.path``, ``default_name`` fills ``name``."""
    raw, lines = parse_yaml(text, source)
    return _build(
        raw,
        lines,
        source=source,
        base_dir=base_dir,
        default_name=default_name,
        overrides=overrides,
    )


def parse_config_dict(
    data: Mapping[str, Any],
    *,
    source: str,
    base_dir: Path | None = None,
    default_name: str = "config",
    overrides: Sequence[str] = (),
) -> Config:
    """Validate already-parsed config data (e.g. the resolved config stored in a checkpoint).

    Same checks and error format as :func:`parse_config`, without line numbers. Data paths
    stored absolute stay as they are; relative ones are anchored at ``base_dir`` (default:
    the current directory).
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: {_show(data)} is not a config; must be a mapping")
    return _build(
        dict(data),
        {},
        source=source,
        base_dir=base_dir if base_dir is not None else Path.cwd(),
        default_name=default_name,
        overrides=overrides,
    )


def _build(
    raw: object,
    lines: LineMap,
    *,
    source: str,
    base_dir: Path,
    default_name: str,
    overrides: Sequence[str],
) -> Config:
    if not isinstance(raw, dict):  # parse_yaml already refuses this; kept for direct callers
        raise ConfigError(f"{source}: the top level must be a mapping")
    raw, overridden = _apply_overrides(raw, overrides)
    raw.setdefault("name", default_name)
    origin = _Origin(source, lines, overridden)
    try:
        config = Config.model_validate(raw, context={"base_dir": Path(base_dir)})
    except ValidationError as exc:
        raise _config_error(_translate(exc.errors(), raw), origin) from None
    config._origin = origin
    problems = _cross_section_problems(config)
    if problems:
        raise _config_error(problems, origin)
    return config


def _config_error(problems: list[tuple[KeyPath, str]], origin: _Origin | None) -> ConfigError:
    """One line per problem, sorted by line, each with its own location.

    Each line carries ``file:line``, so the error's message gets no extra ``source:`` head
    (it would print the path twice); ``.source`` is still set for callers that want it.
    """
    located: list[tuple[tuple[int, int, int], str]] = []
    for order, (path, message) in enumerate(problems):
        where, line = _locate(path, origin)
        key = (1 if line is None else 0, line or 0, order)
        located.append((key, f"{where}: {format_key_path(path)}: {message}"))
    lines = list(dict.fromkeys(text for _, text in sorted(located)))
    error = ConfigError(lines)
    error.source = origin.source if origin else None
    return error


def _locate(path: KeyPath, origin: _Origin | None) -> tuple[str, int | None]:
    """``--set ...`` if an override wrote this value, else ``file:line`` of the nearest key."""
    if origin is None:
        return "config", None
    for length in range(len(path), -1, -1):
        if path[:length] in origin.overrides:
            return f"--set {origin.overrides[path[:length]]}", None
    for length in range(len(path), 0, -1):
        line = origin.lines.get(path[:length])
        if line is not None:
            return f"{origin.source}:{line}", line
    return origin.source, None


class _Resolved(NamedTuple):
    path: KeyPath
    field: FieldInfo | None
    owner: type[BaseModel] | None
    target: object


def _strip_optional(annotation: object) -> object:
    if get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if get_origin(annotation) in (Union, types.UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return members[0]
    return annotation


def _resolve(loc: tuple[str | int, ...]) -> _Resolved:
    """Follow a pydantic error location through the schema.

    Returns the user-facing key path (without pydantic's union-tag and validator segments),
    the innermost field (for its constraints and description), the model that owns the last
    key (for unknown-key suggestions) and the type at the location.
    """
    target: object = Config
    path: list[str | int] = []
    field: FieldInfo | None = None
    owner: type[BaseModel] | None = None
    for part in loc:
        target = _strip_optional(target)
        if isinstance(target, type) and issubclass(target, BaseModel):
            owner = target
            path.append(part)
            if isinstance(part, str) and part in target.model_fields:
                field = target.model_fields[part]
                target = field.annotation
            else:
                target = None
            continue
        tags = _union_tags(target) if get_origin(target) in (Union, types.UnionType) else {}
        if isinstance(part, str) and part in tags:
            target = tags[part]
            continue
        if isinstance(part, str) and (part == "[key]" or part.startswith("function-")):
            continue
        origin = get_origin(target)
        if origin is list and isinstance(part, int):
            target = get_args(target)[0]
        elif origin is dict:
            target = get_args(target)[1]
        else:
            target = None
        path.append(part)
    return _Resolved(tuple(path), field, owner, _strip_optional(target))


def _number(value: object) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def _describe(field: FieldInfo | None, target: object = None) -> str:
    """What a field allows, in words: "an integer from 1 to 100", "a number in (0, 1)"."""
    if field is not None and field.description:
        return field.description
    annotation = field.annotation if field is not None else target
    nullable = type(None) in get_args(annotation)
    annotation = _strip_optional(annotation)
    tags = _union_tags(annotation) if get_origin(annotation) in (Union, types.UnionType) else {}
    if tags:
        base = f"a mapping with 'type' (one of: {', '.join(sorted(tags))}), or just the name"
    elif get_origin(annotation) is Literal:
        base = "one of: " + ", ".join(sorted(map(str, get_args(annotation))))
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        base = "a mapping"
    else:
        base = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(
            annotation,
            "a valid value",  # type: ignore[call-overload]
        )
    bounds = _bounds(field.metadata if field is not None else [])
    text = f"{base} {bounds}" if bounds else base
    return f"{text}, or null" if nullable else text


def _bounds(metadata: list[object]) -> str:
    low = high = None
    for item in metadata:
        if isinstance(item, Ge):
            low = ("[", item.ge)
        elif isinstance(item, Gt):
            low = ("(", item.gt)
        elif isinstance(item, Le):
            high = ("]", item.le)
        elif isinstance(item, Lt):
            high = (")", item.lt)
    if low and high:
        if low[0] == "[" and high[0] == "]":
            return f"from {_number(low[1])} to {_number(high[1])}"
        return f"in {low[0]}{_number(low[1])}, {_number(high[1])}{high[0]}"
    if low:
        return (">= " if low[0] == "[" else "> ") + _number(low[1])
    if high:
        return ("<= " if high[0] == "]" else "< ") + _number(high[1])
    return ""


def _suggest(value: object, allowed: Sequence[str], noun: str = "") -> str:
    """'did you mean 'relu'? allowed: a, b, c' (the suggestion only when one is close)."""
    close = difflib.get_close_matches(str(value), list(allowed), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"{hint}allowed{noun}: {', '.join(sorted(allowed))}"


_NOUNS = {
    "dataset": "dataset",
    "loss": "loss",
    "monitor": "monitor",
    "task": "task",
    "dtype": "dtype",
    "scale": "scaling",
    "init": "initialisation",
}


def _translate(errors: list[Any], raw: object) -> list[tuple[KeyPath, str]]:
    """Pydantic errors -> (key path, message) pairs in the project's words."""
    problems: list[tuple[KeyPath, str]] = []
    for error in errors:
        kind = error["type"]
        value = error.get("input")
        ctx = error.get("ctx") or {}
        path, field, owner, target = _resolve(error["loc"])
        if kind == "mlptrain":
            problems.append(((*path, *ctx["subpath"]), ctx["message"]))
        elif kind == "extra_forbidden":
            allowed = list(owner.model_fields) if owner else []
            problems.append((path, "unknown key; " + _suggest(path[-1], allowed, " keys")))
        elif kind in ("union_tag_invalid", "union_tag_not_found"):
            tags = tuple(_union_tags(target))
            noun = _UNION_NOUNS.get(tags, "type")
            if not isinstance(_lookup(raw, path), str):
                path = (*path, "type")
            if kind == "union_tag_not_found":
                message = f"'type' is missing; allowed: {', '.join(sorted(tags))}"
            elif isinstance(ctx.get("tag"), str) and isinstance(_lookup(raw, path), str):
                message = f"unknown {noun} {ctx['tag']!r}; " + _suggest(ctx["tag"], tags)
            else:
                message = f"{_show(_lookup(raw, path))} is not allowed; must be one of: " + (
                    ", ".join(sorted(tags))
                )
            problems.append((path, message))
        elif kind == "literal_error" and isinstance(value, str):
            allowed = [str(v) for v in get_args(_strip_optional(field.annotation))] if field else []
            noun = _NOUNS.get(str(path[-1]), "value") if path else "value"
            problems.append((path, f"unknown {noun} {value!r}; " + _suggest(value, allowed)))
        elif kind == "missing":
            problems.append((path, f"is required; must be {_describe(field, target)}"))
        else:
            is_union = get_origin(target) in (Union, types.UnionType)
            allowed = _describe(None if is_union else field, target)
            if kind == "finite_number":
                allowed = allowed.replace("a number", "a finite number", 1)
            if kind in ("list_type", "too_short", "too_long") and field and field.description:
                allowed = field.description
            problems.append((path, f"{_show(value)} is not allowed; must be {allowed}"))
    return problems


def _lookup(raw: object, path: KeyPath) -> object:
    """The raw value at ``path`` (None when absent)."""
    node = raw
    for part in path:
        if isinstance(node, dict) and isinstance(part, str):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            return None
    return node


def _task_of_loss(loss: str) -> str:
    return "regression" if loss == "mse" else "classification"


def _monitor_problems(config: Config, task: str, why: str) -> list[tuple[KeyPath, str]]:
    """Monitors that cannot be computed for ``task`` (accuracy on regression, r2 on classes)."""
    wrong = REGRESSION_MONITORS if task == "classification" else CLASSIFICATION_MONITORS
    problems = []
    for path, monitor in _monitors(config):
        if monitor in wrong:
            allowed = [m for m in MONITORS if m not in wrong]
            problems.append(
                (
                    path,
                    f"{monitor!r} is not allowed for {task} ({why}); allowed: "
                    + ", ".join(allowed),
                )
            )
    return problems


def _monitors(config: Config) -> list[tuple[KeyPath, str]]:
    found = []
    if config.train.early_stopping is not None:
        found.append((("train", "early_stopping", "monitor"), config.train.early_stopping.monitor))
    if isinstance(config.train.schedule, PlateauSchedule):
        found.append((("train", "schedule", "monitor"), config.train.schedule.monitor))
    return found


def _cross_section_problems(config: Config) -> list[tuple[KeyPath, str]]:
    """Checks that relate sections to each other; run once every section is valid."""
    problems: list[tuple[KeyPath, str]] = []
    loss, task = config.model.loss, config.data.task
    if task != "auto" and _task_of_loss(loss) != task:
        allowed = "mse" if task == "regression" else "cross_entropy, bce"
        problems.append(
            (
                ("model", "loss"),
                f"{loss!r} is not allowed with data.task {task!r}; allowed: {allowed}",
            )
        )
    if config.train.class_weight is not None and loss not in CLASSIFICATION_LOSSES:
        problems.append(
            (
                ("train", "class_weight"),
                f"{_show(config.train.class_weight)} is not allowed "
                f"with loss {loss!r}; class weights need a classification loss "
                "(cross_entropy, bce); allowed here: null",
            )
        )
    problems += _monitor_problems(config, _task_of_loss(loss), f"model.loss is {loss!r}")
    if config.data.val_size == 0:
        for path, monitor in _monitors(config):
            if monitor.startswith("val_"):
                problems.append(
                    (
                        path,
                        f"{monitor!r} is not allowed while data.val_size is 0 (there is no "
                        "validation split); allowed: train_loss, or set data.val_size > 0",
                    )
                )
    return problems


def check_against_data(
    cfg: Config,
    *,
    task: str,
    n_classes: int | None,
    classes: Sequence[object] | None = None,
) -> None:
    """Checks that need the loaded data; raises ConfigError citing the config's lines.

    ``task`` is the detected task ("classification" or "regression"), ``n_classes`` the
    number of classes (None for regression). ``classes`` optionally gives the class labels as
    the data has them; class-weight keys are matched against their ``str()``. Without it the
    labels are taken to be 0 .. n_classes-1.
    """
    if task not in ("classification", "regression"):
        raise ValueError(f"task must be 'classification' or 'regression', got {task!r}")
    problems: list[tuple[KeyPath, str]] = []
    loss = cfg.model.loss
    data_is = f"the data is {task} (dataset {cfg.data.dataset!r})"
    if _task_of_loss(loss) != task:
        allowed = "mse" if task == "regression" else "cross_entropy, bce"
        problems.append(
            (("model", "loss"), f"{loss!r} is not allowed: {data_is}; allowed: {allowed}")
        )
    if task == "classification" and loss == "bce" and n_classes != 2:
        problems.append(
            (
                ("model", "loss"),
                f"'bce' needs exactly 2 classes but the data has "
                f"{n_classes}; allowed: cross_entropy",
            )
        )
    weights = cfg.train.class_weight
    if weights is not None and task == "regression":
        problems.append(
            (
                ("train", "class_weight"),
                f"{_show(weights)} is not allowed: {data_is}; allowed: null",
            )
        )
    elif isinstance(weights, dict):
        labels = (
            [str(c) for c in classes]
            if classes is not None
            else [str(i) for i in range(n_classes or 0)]
        )
        for label in weights:
            if label not in labels:
                problems.append(
                    (
                        ("train", "class_weight", label),
                        f"{label!r} is not a class of the data; "
                        + _suggest(label, labels, " labels"),
                    )
                )
    problems += _monitor_problems(cfg, task, data_is)
    if problems:
        raise _config_error(problems, cfg._origin)


_OVERRIDE_KEY = re.compile(r"^[\w-]+(?:\.[\w-]+|\[\d+\])*$")
_OVERRIDE_PART = re.compile(r"\.?([\w-]+)|\[(\d+)\]")
_OVERRIDE_HELP = (
    "allowed: key.path=value, e.g. train.optimizer.lr=3e-3 or model.layers[0].units=128"
)


def apply_overrides(raw: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """A copy of ``raw`` with each ``key.path=value`` applied; the input is not modified.

    Values are read as YAML by the safe reader, so ``[1, 2]``, ``{type: sgd}``, ``true`` and
    ``null`` work. Unknown keys are left for the schema to report; malformed overrides (no
    ``=``, a bad path, an index out of range) are a ConfigError naming the override.
    """
    result, _ = _apply_overrides(raw, overrides)
    return result


def _apply_overrides(
    raw: Mapping[str, Any], overrides: Sequence[str]
) -> tuple[dict[str, Any], dict[KeyPath, str]]:
    result = copy.deepcopy(dict(raw))
    written: dict[KeyPath, str] = {}
    problems: list[str] = []
    if isinstance(overrides, str):  # a lone string would be applied character by character
        overrides = [overrides]
    for text in overrides:
        try:
            path, value = _parse_override(text)
            path = _set_path(result, path, value, text)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        written = {p: t for p, t in written.items() if p[: len(path)] != path}
        written[path] = text
    if problems:
        raise ConfigError(problems)
    return result, written


def _parse_override(text: str) -> tuple[KeyPath, object]:
    key, sep, value_text = text.partition("=")
    key = key.strip()
    if not sep:
        raise ConfigError(f"--set {text}: no '=' in the override; {_OVERRIDE_HELP}")
    if not _OVERRIDE_KEY.match(key):
        raise ConfigError(f"--set {text}: {key!r} is not a key path; {_OVERRIDE_HELP}")
    if not value_text.strip():
        raise ConfigError(
            f"--set {text}: the value is empty; allowed: a YAML value (write null for none, "
            "'' for an empty string)"
        )
    path: KeyPath = tuple(
        int(index) if index else name for name, index in _OVERRIDE_PART.findall(key)
    )
    return path, parse_yaml_value(value_text, f"--set {text}")


# Sections that are tagged unions get their default type when an override creates them, so
# `--set train.optimizer.lr=0.01` tunes the default Adam instead of failing on a missing type.
_DEFAULT_TYPES: dict[KeyPath, str] = {
    ("train", "optimizer"): "adam",
    ("train", "schedule"): "constant",
}


def _set_path(root: dict[str, Any], path: KeyPath, value: object, text: str) -> KeyPath:
    """Write ``value`` at ``path``, creating missing (or null) mappings on the way.

    Returns the shallowest path the override created or replaced, so that errors anywhere
    below it are attributed to the override rather than to a line of the file.
    """
    node: Any = root
    created: KeyPath | None = None
    for depth, part in enumerate(path):
        here = format_key_path(path[:depth]) if depth else "the top level"
        last = depth == len(path) - 1
        if isinstance(part, int):
            if not isinstance(node, list):
                raise ConfigError(
                    f"--set {text}: {here} is {_show(node)}, not a list; [{part}] needs a list"
                )
            if part >= len(node):
                raise ConfigError(
                    f"--set {text}: index [{part}] is out of range; {here} has "
                    f"{len(node)} item{'s' if len(node) != 1 else ''} "
                    f"(allowed: 0 to {len(node) - 1})"
                )
        elif not isinstance(node, dict):
            raise ConfigError(
                f"--set {text}: {here} is {_show(node)}, not a mapping; "
                f"cannot set key {part!r} in it"
            )
        if last:
            node[part] = value
            return created or path
        child = node[part] if isinstance(node, list) else node.get(part)
        if child is None:
            if isinstance(path[depth + 1], int):
                raise ConfigError(
                    f"--set {text}: {format_key_path(path[: depth + 1])} is not "
                    "set, so it has no items to index"
                )
            here_path = path[: depth + 1]
            default_type = _DEFAULT_TYPES.get(here_path)
            child = node[part] = {"type": default_type} if default_type else {}
            created = created or here_path
        elif (
            isinstance(child, str)
            and isinstance(path[depth + 1], str)
            and _is_shorthand(path[: depth + 1])
        ):
            child = node[part] = {"type": child}  # `relu` -> `{type: relu}` so it can gain fields
        node = child


def _is_shorthand(path: KeyPath) -> bool:
    """Whether ``path`` is a place where a bare name stands for ``{type: name}``."""
    return path in (("train", "optimizer"), ("train", "schedule")) or (
        len(path) == 3 and path[:2] == ("model", "layers") and isinstance(path[2], int)
    )


def config_to_dict(cfg: Config) -> dict[str, Any]:
    """Plain, JSON-safe data with every default written out (layers as full mappings)."""
    return cfg.model_dump(mode="json")


def config_to_yaml(cfg: Config) -> str:
    """The resolved config as YAML that :func:`parse_config` reads back to an equal Config."""
    return yaml.dump(config_to_dict(cfg), Dumper=SafeDumper, sort_keys=False, allow_unicode=True)


def diff_configs(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    """Dotted key paths (``train.optimizer.lr``, ``model.layers[2].units``) that differ.

    A key present on one side only counts as a difference; lists of different lengths are
    reported as the list's path. 1 and 1.0 are equal, True and 1 are not.
    """
    found: list[str] = []
    _diff(a, b, (), found)
    return found


def _diff(a: object, b: object, path: KeyPath, found: list[str]) -> None:
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        for key in [*a, *(k for k in b if k not in a)]:
            if key not in a or key not in b:
                found.append(format_key_path((*path, key)))
            else:
                _diff(a[key], b[key], (*path, key), found)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for index, (left, right) in enumerate(zip(a, b, strict=True)):
            _diff(left, right, (*path, index), found)
    elif (
        isinstance(a, bool) != isinstance(b, bool)
        or type(a) is not type(b)
        and not (isinstance(a, (int, float)) and isinstance(b, (int, float)))
        or a != b
    ):
        found.append(format_key_path(path))
