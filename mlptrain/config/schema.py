"""The pydantic schema of a config: every section, layer, optimizer and schedule, strict."""

from __future__ import annotations

import codecs
import math
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, NamedTuple, Union, get_args, get_origin

from pydantic import (
    Field,
    PrivateAttr,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)

from mlptrain.config.monitors import AUTO_MONITOR
from mlptrain.config.optim_spec import (  # noqa: F401  (re-exported: the config's models)
    SGD,
    Adam,
    AdamW,
    ConstantSchedule,
    CosineSchedule,
    Optimizer,
    PlateauSchedule,
    Schedule,
    StepSchedule,
)
from mlptrain.config.problems import problem as _problem
from mlptrain.config.problems import show_value
from mlptrain.config.stream_spec import FIT_SAMPLE, SHUFFLE_BUFFER, check_stream_options
from mlptrain.config.strict import Strict
from mlptrain.config.table_spec import (
    CategoricalSpec,
    ColumnKind,
    MissingSpec,
    check_table_options,
)
from mlptrain.config.track import TRACKERS, TrackSpec  # noqa: F401  (TRACKERS: re-exported)
from mlptrain.config.vocabulary import (
    FILE_DATASETS,
    REGRESSION_DATASETS,
    TABLE_DATASETS,
    TASK_HEADLINE_MONITORS,
    TASK_LOSSES,
    DatasetName,
    LossName,
    StoppingMonitor,
)
from mlptrain.config.yamlsafe import KeyPath, LineMap
from mlptrain.data.frame import DEFAULT_NA_VALUES
from mlptrain.data.numbers import Decimal, Thousands
from mlptrain.nn.build import UNCLOSED_ENSEMBLE, ensemble_problem
from mlptrain.nn.registry import LAYERS, LayerType


def _bare_name(value: object) -> object:
    """``relu`` is shorthand for ``{type: relu}`` (layers, optimizer, schedule)."""
    return {"type": value} if isinstance(value, str) else value


_Strict = Strict


# A layer's model class, made at run time by create_model (a _Strict subclass): its fields
# (units, p, ...) are invisible to a type checker, so it is typed as type[Any].
LayerModel = type[Any]


def _layer_model(entry: LayerType) -> LayerModel:
    """The strict pydantic model of one registry entry: ``type`` and the entry's options."""
    fields: dict[str, Any] = {"type": (Literal[entry.name], entry.name)}  # type: ignore[valid-type]
    for name, option in entry.options.items():
        bounds: dict[str, Any] = dict(option.bounds)  # ge, gt, le, lt: Field's keywords
        fields[name] = (
            option.type,
            Field(option.default, description=option.description, **bounds),
        )
    return create_model(
        entry.module.__name__, __base__=_Strict, __doc__=entry.doc or None, **fields
    )


# One model per entry of the layer registry (mlptrain.nn.registry), in its order.
LAYER_MODELS: dict[str, LayerModel] = {name: _layer_model(e) for name, e in LAYERS.items()}
LinearLayer = LAYER_MODELS["linear"]
# the layer types that may produce the outputs (the loss reads the last one's)
OUTPUT_LAYERS: tuple[LayerModel, ...] = (LinearLayer, LAYER_MODELS["ensemble_linear"])


def layer_model(module: type) -> LayerModel:
    """The config model of the layer type whose nn class is ``module`` (e.g. ``Dropout``)."""
    for name, entry in LAYERS.items():
        if entry.module is module:
            return LAYER_MODELS[name]
    raise KeyError(f"no layer type for {module.__name__}")


if TYPE_CHECKING:
    # The union is built at run time, one model per registry entry (create_model): a type
    # checker cannot see those models, so to it a layer spec is Any.
    Layer = Any
else:
    Layer = Annotated[
        Union[tuple(LAYER_MODELS.values())],  # noqa: UP007
        Field(discriminator="type"),
    ]


def union_tags(union: object) -> dict[str, type[_Strict]]:
    """Tag value -> member model of a discriminated union (through Annotated)."""
    if get_origin(union) is Annotated:
        union = get_args(union)[0]
    return {get_args(m.model_fields["type"].annotation)[0]: m for m in get_args(union)}


LAYER_TYPES: tuple[str, ...] = tuple(union_tags(Layer))
OPTIMIZERS: tuple[str, ...] = tuple(union_tags(Optimizer))
SCHEDULES: tuple[str, ...] = tuple(union_tags(Schedule))
UNION_NOUNS = {LAYER_TYPES: "layer", OPTIMIZERS: "optimizer", SCHEDULES: "schedule"}


class EarlyStopping(_Strict):
    monitor: StoppingMonitor = "val_loss"
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
    # a column name, or a 0-based column index (written as a number; kept as its text)
    target: str | None = None
    # a tab is "\t" in a double-quoted YAML string or '\t' (backslash, t) in a single-quoted one
    delimiter: Literal["auto", ",", ";", "\t", "\\t", "|"] = "auto"
    header: bool = True
    columns: dict[str, ColumnKind] = Field(default_factory=dict)
    missing: MissingSpec = Field(default_factory=MissingSpec)
    categorical: CategoricalSpec = Field(default_factory=CategoricalSpec)
    na_values: list[str] = Field(default_factory=lambda: list(DEFAULT_NA_VALUES))
    # how a CSV's text and numbers are written (mlptrain.data.numbers, docs/tables.md)
    encoding: str = Field("utf-8", min_length=1)
    thousands: Thousands = "auto"
    decimal: Decimal = "."
    drop_missing_target: bool = False
    val_path: Path | None = Field(None, description=_PATH)
    test_path: Path | None = Field(None, description=_PATH)
    split_column: str | None = Field(None, min_length=1)
    group_column: str | None = Field(None, min_length=1)
    task: Literal["auto", "classification", "regression"] = "auto"
    # 0: no test split (the user holds a test file of their own; evaluate RUN --data scores it)
    test_size: float = Field(0.2, ge=0, lt=1)
    val_size: float = Field(0.1, ge=0, lt=1)
    scale: Literal["standard", "minmax", "none"] = "standard"
    # train from record batches, never holding the table (mlptrain.config.stream_spec)
    stream: bool = False
    shuffle_buffer: int = Field(SHUFFLE_BUFFER, ge=1)
    fit_sample: int = Field(FIT_SAMPLE, ge=1)
    # a column whose value places a row in train/val/test (default: a hash of the whole row)
    split_key: str | None = Field(None, min_length=1)

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
                        f"{show_value(item)} is not allowed; must be a finite number, string, "
                        "boolean or null, or a list of those",
                    )
        return params

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise _problem(
                (),
                f"{show_value(value)} is not an encoding Python knows; e.g. utf-8, latin-1, "
                "cp1252, utf-16",
            ) from None
        return value

    @field_validator("target", mode="before")
    @classmethod
    def _index_as_text(cls, value: object) -> object:
        """``target: 3`` (a column index) is kept as the text "3"; a bool stays an error."""
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("path", "val_path", "test_path", mode="before")
    @classmethod
    def _absolute_path(cls, value: object, info: ValidationInfo) -> object:
        """Store data paths absolute so a resolved config works from any directory."""
        if isinstance(value, str):
            if not value.strip():
                raise _problem((), f"{show_value(value)} is not allowed; must be {_PATH}")
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
                f"{show_value(str(self.path))} is not allowed with dataset {self.dataset!r}; "
                "path is only for csv, parquet and npz (remove it)",
            )
        if self.target is not None and self.dataset not in TABLE_DATASETS:
            raise _problem(
                ("target",),
                f"{show_value(self.target)} is not allowed with dataset {self.dataset!r}; "
                "target names a column of a csv or parquet table (remove it)",
            )
        check_table_options(self, is_table=self.dataset in TABLE_DATASETS)
        check_stream_options(self)
        if self.thousands == self.decimal:
            raise _problem(
                ("thousands",),
                f"{show_value(self.thousands)} is not allowed: it is data.decimal too; the "
                "thousands separator must differ from the decimal mark",
            )
        return self


class ModelSpec(_Strict):
    init: Literal["auto", "he", "glorot"] = "auto"
    layers: list[Layer] = Field(
        min_length=1, description="a non-empty list of layers (names or mappings with 'type')"
    )
    # None: not written, and the task is known only once the data is read (Config.for_task)
    loss: LossName | None = None

    @property
    def settled_loss(self) -> LossName:
        """The loss, once :meth:`Config.for_task` has filled an omitted one from the task."""
        if self.loss is None:
            raise ValueError("the loss is not settled yet: Config.for_task fills it from the task")
        return self.loss

    @field_validator("layers", mode="before")
    @classmethod
    def _bare_layer_names(cls, value: object) -> object:
        return [_bare_name(item) for item in value] if isinstance(value, list) else value

    @property
    def output_index(self) -> int:
        """The index of the layer that produces the outputs: the last one, or the one before
        a closing ``ensemble_mean``."""
        last = len(self.layers) - 1
        return last - 1 if last > 0 and self.layers[last].type == "ensemble_mean" else last

    @model_validator(mode="after")
    def _output_layer(self) -> ModelSpec:
        members = 1
        for index, layer in enumerate(self.layers):
            problem = ensemble_problem(layer.type, members)
            if problem:
                raise _problem(("layers", index), problem)
            if layer.type == "ensemble":
                members = layer.k
            elif layer.type == "ensemble_mean":
                members = 1
        if members != 1:
            raise _problem(("layers",), UNCLOSED_ENSEMBLE)
        out = self.output_index
        if not isinstance(self.layers[out], OUTPUT_LAYERS):
            where = "last layer" if out == len(self.layers) - 1 else "layer before ensemble_mean"
            raise _problem(
                ("layers", out),
                f"the {where} is {self.layers[out].type!r}; the {where} must be 'linear' "
                "(or 'ensemble_linear' inside an ensemble): it produces the outputs the loss "
                "reads, logits or predictions",
            )
        for index, layer in enumerate(self.layers[:out]):
            if isinstance(layer, OUTPUT_LAYERS) and layer.units is None:
                raise _problem(
                    ("layers", index, "units"),
                    "null is not allowed here; units may be left out only in the output layer "
                    "(it is inferred from the data); must be an integer >= 1",
                )
        return self


class TrainSpec(_Strict):
    epochs: int = Field(50, ge=1, le=1_000_000)
    batch_size: int = Field(64, ge=1, le=10_000_000)
    shuffle: bool = True  # a fresh permutation each epoch; false: the rows in order
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
            raise _problem((), f"{show_value(value)} is not allowed; must be {_CLASS_WEIGHT}")
        weights: dict[str, float] = {}
        for label, weight in value.items():
            if (
                isinstance(weight, bool)
                or not isinstance(weight, (int, float))
                or not math.isfinite(weight)
                or weight <= 0
            ):
                raise _problem(
                    (label,), f"{show_value(weight)} is not allowed; must be a finite number > 0"
                )
            weights[label] = float(weight)
        return weights


class CheckpointSpec(_Strict):
    every: int = Field(1, ge=1)
    every_steps: int | None = Field(None, ge=1)


class Origin(NamedTuple):
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
    track: TrackSpec = Field(default_factory=TrackSpec)

    _origin: Origin | None = PrivateAttr(None)

    @field_validator("name", mode="after")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        if not value or value in (".", "..") or re.search(r"[/\\\x00-\x1f\x7f]", value):
            raise _problem((), f"{show_value(value)} is not allowed; must be {_NAME}")
        return value

    @model_validator(mode="before")
    @classmethod
    def _default_loss(cls, raw: object) -> object:
        """An omitted loss follows the task: mse for regression, cross_entropy otherwise.

        The task is the written ``data.task`` or, for ``auto``, the known task of a built-in
        dataset, so ``dataset: diabetes`` works without naming a loss. A file's task is known
        only once it is read: the loss stays None until :meth:`for_task` fills it.
        """
        if not isinstance(raw, dict) or not isinstance(raw.get("model"), dict):
            return raw
        if "loss" in raw["model"]:
            return raw
        data = raw.get("data")
        if not isinstance(data, dict):
            data = {}
        task = data.get("task", "auto")
        if task == "auto":
            if data.get("dataset") in FILE_DATASETS:
                return raw
            task = "regression" if data.get("dataset") in REGRESSION_DATASETS else "classification"
        if task not in TASK_LOSSES:
            return raw  # the schema refuses the task with its own message
        return {**raw, "model": {**raw["model"], "loss": TASK_LOSSES[task]}}

    def for_task(self, task: str) -> Config:
        """This config with what the data's task settles written out.

        An omitted loss becomes the task's (mse, cross_entropy) and ``early_stopping.monitor:
        auto`` its headline validation score (val_r2, val_accuracy). Written values stay.
        """
        model, train = self.model, self.train
        if model.loss is None:
            model = model.model_copy(update={"loss": TASK_LOSSES[task]})
        stopping = train.early_stopping
        if stopping is not None and stopping.monitor == AUTO_MONITOR:
            stopping = stopping.model_copy(update={"monitor": TASK_HEADLINE_MONITORS[task]})
            train = train.model_copy(update={"early_stopping": stopping})
        if model is self.model and train is self.train:
            return self
        resolved = self.model_copy(update={"model": model, "train": train})
        resolved._origin = self._origin
        return resolved

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
        out = self.model.output_index
        last = self.model.layers[out]
        if not isinstance(last, OUTPUT_LAYERS) or last.units is not None:
            return self.model_copy(deep=True)
        layers = list(self.model.layers)
        layers[out] = last.model_copy(update={"units": n})
        model = self.model.model_copy(update={"layers": layers})
        return self.model_copy(update={"model": model})
