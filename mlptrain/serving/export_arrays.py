"""What an exported model is made of: plain arrays (no objects, no pickles) for weights.npz.

Each layer contributes its registry ``export`` op (``layer_types``) and its params, buffers and
``export_values`` under ``layer<i>.<name>``; the scaler, labels, head, dtype and the regression
output scaling complete what the standalone script (standalone_predict.py) needs.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from mlptrain.errors import UserInputError
from mlptrain.nn.registry import layer_of

EXPORT_FORMAT_VERSION = 1


def layer_arrays(model: Any) -> tuple[list[str], dict[str, np.ndarray]]:
    """Export ops in layer order (the registry's ``export``), and each layer's params, buffers
    and ``export_values`` under ``layer<i>.<name>``."""
    kinds: list[str] = []
    arrays: dict[str, np.ndarray] = {}
    for index, module in enumerate(model.modules):
        entry = layer_of(module)
        if entry is None or entry.export is None:
            raise UserInputError(f"layer {index} {module!r}: cannot be exported")
        kinds.append(entry.export)
        key = f"layer{index}."
        for name, value in {**module.params, **module.buffers}.items():
            arrays[key + name] = value.copy()
        for name in entry.export_values:
            arrays[key + name] = np.array(getattr(module, name), dtype=np.float64)
    return kinds, arrays


def input_scaling(predictor: Any) -> tuple[np.ndarray, np.ndarray]:
    """(shift, scale) of the inputs, ``x' = (x - shift) / scale``. A model trained on a table
    of numeric columns folds its scaler into these (within float rounding); a table with gaps
    indicators or categorical columns is encoded by the exported code itself (identity here)."""
    table = getattr(predictor, "table", None)
    if table is None:
        shift, scale = predictor.scaler.shift, predictor.scaler.scale
        return np.asarray(shift, dtype=np.float64), np.asarray(scale, dtype=np.float64)
    if table.categorical or table.indicators:
        # the standalone script encodes the raw columns itself (table_arrays): identity here
        width = table.width
        return np.zeros(width), np.ones(width)
    # ((x - s) / c) * m + a  ==  (x - (s - a * c / m)) / (c / m)
    s, c, m, a = (np.array([col[k] for col in table.numeric], dtype=np.float64)
                  for k in ("shift", "scale", "mul", "add"))  # fmt: skip
    return s - a * c / m, c / m


def export_arrays(predictor: Any) -> dict[str, np.ndarray]:
    """Everything the standalone script needs, as plain (non-object) arrays."""
    model = predictor.model
    kinds, arrays = layer_arrays(model)
    arrays["format_version"] = np.array(EXPORT_FORMAT_VERSION)
    arrays["layer_types"] = np.array(kinds, dtype=str)
    arrays["head"] = np.array(model.head, dtype=str)
    arrays["dtype"] = np.array(str(model.dtype), dtype=str)
    shift, scale = input_scaling(predictor)
    arrays["scaler_shift"], arrays["scaler_scale"] = shift, scale
    names = predictor.feature_names or [f"x{j}" for j in range(predictor.meta.n_features)]
    arrays["feature_names"] = np.array(names, dtype=str)
    if predictor.encoder is not None:
        arrays["classes"] = np.array([str(c) for c in predictor.encoder.to_list()], dtype=str)
    if predictor.trained.threshold is not None:  # the run's decision threshold on p(class 1)
        arrays["threshold"] = np.array(predictor.trained.threshold, dtype=np.float64)
    if getattr(predictor, "table", None) is not None:
        from mlptrain.serving.table_export import table_arrays

        arrays.update(table_arrays(predictor))
    trained = predictor.trained
    if trained.output_scale is not None and trained.output_shift is not None:
        arrays["output_scale"] = trained.output_scale.copy()
        arrays["output_shift"] = trained.output_shift.copy()
    return arrays


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]  # numpy stub: **arrays vs allow_pickle
    return buffer.getvalue()
