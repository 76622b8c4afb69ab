"""Checks of a config before training: the model summary, a lint of the layer stack, gradcheck.

``validate_config`` validates a config like ``fit`` does (same ConfigError, exit 2), loads only
the raw data to learn the feature count and the classes, builds the model to get its shapes,
and returns a Keras-like summary with the lint warnings (``lint_layers``). ``gradcheck_config``
checks every layer of the configured model, alone and as a stack with the loss, against
central finite differences in float64 on real samples of the configured data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlptrain.config import Config, ConfigSource, check_against_data, resolve_config
from mlptrain.errors import RunError, UserInputError
from mlptrain.nn.build import layer_type
from mlptrain.nn.gradcheck import GradcheckResult
from mlptrain.nn.losses import LOSS_TYPES
from mlptrain.nn.registry import (
    BATCH_STATISTICS,
    LAYERS,
    NONLINEAR,
    PROBABILITY,
    RANDOM_MASK,
    RELU_FAMILY,
    SQUASHING,
)


def _has(kind: str, fact: str) -> bool:
    """Whether the registry entry of layer ``kind`` carries a lint fact."""
    entry = LAYERS.get(kind)
    return entry is not None and fact in entry.lint


def _is_linear(kind: str) -> bool:
    entry = LAYERS.get(kind)
    return entry is not None and entry.role == "linear"


def _units(spec: Any) -> int | None:
    if isinstance(spec, Mapping):
        return spec.get("units")
    return getattr(spec, "units", None)


def lint_layers(
    layers: Sequence[Any], *, loss: str, init: str = "auto", n_outputs: int | None = None
) -> list[str]:
    """Warnings about a layer stack that is valid but probably not what was meant.

    ``layers`` are config layer specs (pydantic models, mappings or bare names); ``n_outputs``
    is the width of the last linear layer once resolved against the data.
    """
    kinds = [layer_type(spec) for spec in layers]
    return [
        *_first_layer_warnings(kinds),
        *_adjacent_activation_warnings(kinds),
        *_stacking_warnings(kinds),
        *_output_warnings(kinds, layers, loss, n_outputs),
        *_init_warnings(kinds, init),
    ]


def _first_layer_warnings(kinds: list[str]) -> list[str]:
    if kinds and _has(kinds[0], NONLINEAR):
        return [
            f"model.layers[0]: {kinds[0]} as the first layer acts on the scaled features "
            "themselves, before any weights; start the stack with a linear layer"
        ]
    return []


def _adjacent_activation_warnings(kinds: list[str]) -> list[str]:
    return [
        f"model.layers[{index - 1}] and model.layers[{index}]: two activations in a row "
        f"({kinds[index - 1]}, {kinds[index]}) with no linear layer between them; "
        "keep one of them"
        for index in range(1, len(kinds))
        if _has(kinds[index], NONLINEAR) and _has(kinds[index - 1], NONLINEAR)
    ]


def _stacking_warnings(kinds: list[str]) -> list[str]:
    """Two linear layers with no activation between them; batch statistics after a mask."""
    warnings: list[str] = []
    previous_linear: int | None = None
    for index, kind in enumerate(kinds):
        if _has(kind, NONLINEAR):
            previous_linear = None
        elif _is_linear(kind):
            if previous_linear is not None:
                warnings.append(
                    f"model.layers[{previous_linear}] and model.layers[{index}]: two linear "
                    "layers with no activation between them compose to one linear map; add an "
                    "activation (relu, gelu, tanh) between them or drop one"
                )
            previous_linear = index
        elif _has(kind, BATCH_STATISTICS) and index > 0 and _has(kinds[index - 1], RANDOM_MASK):
            before = kinds[index - 1]
            warnings.append(
                f"model.layers[{index}]: {kind} right after {before} sees different statistics "
                f"in training (dropped units) and at inference; put {kind} before {before}"
            )
    return warnings


def _output_warnings(
    kinds: list[str], layers: Sequence[Any], loss: str, n_outputs: int | None
) -> list[str]:
    """Layers after the last linear one, and a bce output wider than one logit."""
    linear_at = [i for i, kind in enumerate(kinds) if _is_linear(kind)]
    if not linear_at:
        return []
    entry = LOSS_TYPES.get(loss)
    last = linear_at[-1]
    warnings: list[str] = []
    for index in range(last + 1, len(kinds)):
        kind = kinds[index]
        if _has(kind, PROBABILITY) and entry is not None and entry.task == "classification":
            warnings.append(
                f"model.layers[{index}]: {kind} before the {loss} loss: the loss applies "
                f"{entry.head} to the logits "
                "itself, so this squashes twice; remove it"
            )
        elif _has(kind, NONLINEAR) or _has(kind, RANDOM_MASK):
            warnings.append(
                f"model.layers[{index}]: {kind} after the last linear layer acts on the "
                "outputs the loss reads; end the stack with a linear layer"
            )
    units = n_outputs if n_outputs is not None else _units(layers[last])
    if entry is not None and entry.one_logit and units is not None and units > 1:
        warnings.append(
            f"model.layers[{last}]: bce with {units} outputs; binary cross-entropy reads "
            "one logit: set units: 1 (or leave it out), or use cross_entropy for classes"
        )
    return warnings


def _init_warnings(kinds: list[str], init: str) -> list[str]:
    """An initialisation meant for another family of activations."""
    warnings: list[str] = []
    for index, kind in enumerate(kinds):
        if not _has(kind, NONLINEAR):
            continue
        if init == "he" and _has(kind, SQUASHING):
            warnings.append(
                f"model.init: he with {kind} (model.layers[{index}]): He initialisation is for "
                "ReLU-family activations; use init: glorot or auto for sigmoid/tanh"
            )
        elif init == "glorot" and _has(kind, RELU_FAMILY):
            warnings.append(
                f"model.init: glorot with {kind} (model.layers[{index}]): ReLU halves the "
                "variance that Glorot preserves; use init: he or auto"
            )
    return warnings


@dataclass
class Validation:
    """A valid config's model: summary rows (like report.model_summary) and lint warnings."""

    config: Config
    task: str
    n_features: int
    classes: list[Any] | None
    rows: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)
    class_counts: list[int] | None = None  # samples per class, in the order of ``classes``
    # tables: every column's inferred type, missing count and levels (ColumnInfo), and notes
    columns: list[Any] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def total_params(self) -> int:
        return int(sum(row["params"] for row in self.rows))

    def table(self) -> str:
        """``Layer | Output shape | Param #`` and the total, as Keras' model.summary prints."""
        from mlptrain.reporting.tables import shape_text

        header = ("Layer (type)", "Output shape", "Param #")
        body = [
            (
                f"{row['index']} {row['layer']}",
                shape_text(row, "None"),
                f"{row['params']:,}",
            )
            for row in self.rows
        ]
        widths = [max(len(r[c]) for r in [header, *body]) for c in range(3)]
        rule = "-" * (sum(widths) + 4)

        def line(cells: tuple[str, str, str]) -> str:
            return f"{cells[0]:<{widths[0]}}  {cells[1]:<{widths[1]}}  {cells[2]:>{widths[2]}}"

        lines = [
            f"Model: {self.config.name} ({self.task}, {self.n_features} features"
            + (f", {len(self.classes)} classes)" if self.classes is not None else ")"),
            rule,
            line(header),
            rule.replace("-", "="),
            *(line(row) for row in body),
            rule.replace("-", "="),
            f"Total params: {self.total_params:,}",
            f"Input: (None, {self.n_features}); loss: {self.config.model.loss}; "
            f"init: {self.config.model.init}",
        ]
        if self.classes is not None and self.class_counts is not None:
            counts = ", ".join(
                f"{label} {count}"
                for label, count in zip(self.classes, self.class_counts, strict=True)
            )
            lines.append(f"Classes (samples): {counts}")
        return "\n".join(lines)


def validate_config(path: ConfigSource, overrides: Sequence[str] = ()) -> Validation:
    """Validate a config against its data and lint its model; raises ConfigError/DataError."""
    from mlptrain.data import load_raw, split_rows
    from mlptrain.nn.build import build_model
    from mlptrain.reporting.report import model_summary
    from mlptrain.training.setup import DTYPES, head_for

    cfg = resolve_config(path, overrides)
    raw = load_raw(cfg.data, seed=cfg.seed)
    cfg = cfg.for_task(raw.task)
    # The split fit makes, so a class too small to split fails here as it would there.
    train_rows, _, _ = split_rows(raw, cfg.data, seed=cfg.seed)
    classes = counts = None
    if raw.task == "classification":
        values, counted = np.unique(raw.y, return_counts=True)
        classes, counts = [c.item() for c in values], [int(n) for n in counted]
        n_outputs = 1 if LOSS_TYPES[str(cfg.model.loss)].one_logit else len(classes)
    else:
        n_outputs = 1 if raw.y.ndim == 1 else raw.y.shape[1]
    check_against_data(
        cfg,
        task=raw.task,
        n_classes=None if classes is None else len(classes),
        classes=classes,
        n_targets=None if classes is not None else n_outputs,
    )
    n_inputs = raw.X.shape[1]
    if raw.table is not None:
        # the width of the encoded matrix depends on the categories of the training rows
        from mlptrain.data.encoding import Settings, TableEncoder

        encoder = TableEncoder.fit(
            raw.table, raw.columns or [], train_rows, Settings.from_config(cfg.data)
        )
        n_inputs = encoder.width
    model = build_model(
        cfg.model.layers,
        n_inputs=n_inputs,
        n_outputs=n_outputs,
        rng=np.random.default_rng(cfg.seed),
        dtype=DTYPES[cfg.train.dtype],
        init=cfg.model.init,
        head=head_for(cfg.model.settled_loss),
    )
    rows = model_summary(model, n_inputs)
    warnings = lint_config(cfg, n_outputs=rows[-1]["output_shape"][1] if rows else None)
    return Validation(
        cfg, raw.task, n_inputs, classes, rows, warnings, counts, raw.columns, list(raw.notes)
    )


def lint_config(cfg: Config, *, n_outputs: int | None) -> list[str]:
    """The lint warnings of a config's model; ``validate`` and ``fit`` show these same ones."""
    return lint_layers(
        cfg.model.layers, loss=cfg.model.settled_loss, init=cfg.model.init, n_outputs=n_outputs
    )


class GradcheckFailed(RunError):
    """``fit(gradcheck=True)`` stopped before training: a derivative disagrees with finite
    differences. ``result`` holds every row of the check."""

    def __init__(self, result: GradcheckResult) -> None:
        super().__init__(f"gradient check failed for {', '.join(result.failures)}")
        self.result = result


def gradcheck_gate(config: ConfigSource | None, overrides: Sequence[str] = ()) -> GradcheckResult:
    """The check ``fit(gradcheck=True)`` runs first: the result, or ``GradcheckFailed``."""
    if config is None:
        raise UserInputError("«gradcheck» needs a «config» (it is not available with «resume»)")
    result = gradcheck_config(config, overrides)
    if not result.passed:
        raise GradcheckFailed(result)
    return result


def gradcheck_config(
    path: ConfigSource, overrides: Sequence[str] = (), *, samples: int = 8
) -> GradcheckResult:
    """Gradient check of the configured model in float64 on ``samples`` training rows.

    Every layer alone (input and parameters), the loss, then the whole stack with the loss;
    dropout masks are held fixed during the check (see mlptrain.nn.gradcheck).
    """
    from mlptrain.nn.gradcheck import check_model
    from mlptrain.training.setup import build

    if samples < 2:
        raise UserInputError(
            f"«samples» {samples}: must be at least 2 (batch norm needs two rows for a variance)"
        )
    cfg = resolve_config(path, overrides)
    cfg = cfg.model_copy(update={"train": cfg.train.model_copy(update={"dtype": "float64"})})
    setup = build(cfg)  # a streamed table: its first pass only, no rows held
    if setup.data.stream is not None:
        x, y = _first_training_rows(setup.data.stream, samples)
    else:
        train = setup.data.train
        x, y = train.X[:samples], train.y[:samples]
    target = setup.loss_targets(y)
    setup.model.train()
    rows = check_model(setup.model, setup.loss, x, target, rng=np.random.default_rng(cfg.seed))
    return GradcheckResult(rows)


def _first_training_rows(plan: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` training rows of a streamed table (fewer if its first record batch with
    training rows holds fewer), encoded in float64, with their targets."""
    from mlptrain.data.row_hash import TRAIN

    for table, y, _ in plan.placed(TRAIN):
        return plan.encode(table, np.arange(min(n, table.n_rows)), y, np.float64)
    raise AssertionError("a planned stream has training rows")  # plan_stream refuses none
