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


def export_arrays(predictor: Any) -> dict[str, np.ndarray]:
    """Everything the standalone script needs, as plain (non-object) arrays."""
    model = predictor.model
    kinds, arrays = layer_arrays(model)
    arrays["format_version"] = np.array(EXPORT_FORMAT_VERSION)
    arrays["layer_types"] = np.array(kinds, dtype=str)
    arrays["head"] = np.array(model.head, dtype=str)
    arrays["dtype"] = np.array(str(model.dtype), dtype=str)
    arrays["scaler_shift"] = np.asarray(predictor.scaler.shift, dtype=np.float64)
    arrays["scaler_scale"] = np.asarray(predictor.scaler.scale, dtype=np.float64)
    names = predictor.feature_names or [f"x{j}" for j in range(int(predictor.meta["n_features"]))]
    arrays["feature_names"] = np.array(names, dtype=str)
    if predictor.encoder is not None:
        arrays["classes"] = np.array([str(c) for c in predictor.encoder.to_list()], dtype=str)
    trained = predictor.trained
    if trained.output_scale is not None and trained.output_shift is not None:
        arrays["output_scale"] = trained.output_scale.copy()
        arrays["output_shift"] = trained.output_shift.copy()
    return arrays


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()
