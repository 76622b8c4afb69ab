"""The config schema, ``load_config``, ``--set`` overrides and the resolved config.

A config is user input, so the schema is strict (``extra="forbid"``, no string-to-number
coercion, finite floats only) and every problem comes back as one line the user can act on::

    configs/x.yaml:14: model.layers[2].type: unknown layer 'relux'; did you mean 'relu'? ...
    configs/x.yaml:22: train.batch_size: 0 is not allowed; must be an integer from 1 to 10000000
    override train.optimizer.lr=-1: train.optimizer.lr: -1 is not allowed; must be a number > 0

(the last from ``overrides=[...]``; the CLI writes it ``--set train.optimizer.lr=-1: ...``).

Pydantic's ``ValidationError`` never reaches the user: :func:`translate_errors` turns each of its
errors into such a line by walking the error's location through the schema (to find the field,
its constraints and, for discriminated unions, drop pydantic's internal tag segment), and the
YAML line comes from the :data:`~mlptrain.config.yamlsafe.LineMap` of the file. All problems of a file
are reported at once. Checks that span sections run after the sections validate; checks that
need the data (detected task, class count) are in :func:`check_against_data`.

| module | what it holds |
|---|---|
| ``schema`` | the pydantic models and the lookup tables of names (layers, optimizers, ...) |
| ``loading`` | ``load_config``, ``parse_config``, ``parse_config_dict``, dumping the resolved config |
| ``messages`` | pydantic errors → one line per problem (file:line, key path, value, allowed) |
| ``checks`` | checks across sections, and ``check_against_data`` |
| ``overrides`` | ``--set`` overrides and ``diff_configs`` |
| ``track`` | the ``track:`` section (MLflow, TensorBoard) and ``TRACKERS`` |
"""

from mlptrain.config.checks import check_against_data
from mlptrain.config.loading import (
    ConfigSource,
    config_to_dict,
    config_to_yaml,
    load_config,
    parse_config,
    parse_config_dict,
    resolve_config,
)
from mlptrain.config.overrides import apply_overrides, diff_configs
from mlptrain.config.schema import (
    LAYER_TYPES,
    OPTIMIZERS,
    SCHEDULES,
    SGD,
    TRACKERS,
    Adam,
    AdamW,
    Config,
)
from mlptrain.config.vocabulary import DATASETS, LOSSES, MONITORS, monitor_mode

__all__ = [
    "DATASETS",
    "LAYER_TYPES",
    "LOSSES",
    "MONITORS",
    "OPTIMIZERS",
    "SGD",
    "Adam",
    "AdamW",
    "SCHEDULES",
    "TRACKERS",
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
    "resolve_config",
    "ConfigSource",
]
