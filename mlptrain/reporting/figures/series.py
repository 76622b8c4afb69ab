"""Reading the numbers a figure draws out of a report dict, and making user text safe to draw."""

from __future__ import annotations

from typing import Any

import numpy as np

from mlptrain.reporting.page import is_number

MAX_TICK_LABEL = 18


def plain(text: object) -> str:
    """User text (labels, names) shown literally: an unescaped ``$`` would start mathtext,
    and a malformed formula in a class name would make ``savefig`` raise."""
    return str(text).replace("$", r"\$")


def short(text: object, limit: int = MAX_TICK_LABEL) -> str:
    """Long labels would squeeze the plot area to nothing; the HTML tables show them whole."""
    value = str(text)
    return plain(value if len(value) <= limit else value[: limit - 1] + "…")


def series(history: list[dict[str, Any]], key: str) -> tuple[np.ndarray, np.ndarray]:
    """(epochs, values) of one history key, skipping epochs where it is missing or null."""
    epochs: list[float] = []
    values: list[float] = []
    for position, record in enumerate(history):
        value = record.get(key)
        if is_number(value):
            epochs.append(float(record.get("epoch", position + 1)))
            values.append(float(value))
    return np.asarray(epochs), np.asarray(values)


def wide_range(values: np.ndarray, ratio: float) -> bool:
    """True when all values are positive and span more than ``ratio`` (log scale reads better)."""
    return bool(values.size and values.min() > 0 and values.max() / values.min() > ratio)


def layer_series(
    history: list[dict[str, Any]],
) -> tuple[dict[str, dict[str, tuple[list[float], list[float]]]], list[str]]:
    """quantity -> layer -> (epochs, values); and the layers in model order (as recorded)."""
    found: dict[str, dict[str, tuple[list[float], list[float]]]] = {}
    order: dict[str, None] = {}
    for position, record in enumerate(history):
        layers = record.get("layers")
        if not isinstance(layers, dict):
            continue
        epoch = float(record.get("epoch", position + 1))
        for layer, stats in layers.items():
            if not isinstance(stats, dict):
                continue
            order[str(layer)] = None
            for quantity, value in stats.items():
                if is_number(value):
                    epochs, values = found.setdefault(quantity, {}).setdefault(str(layer), ([], []))
                    epochs.append(epoch)
                    values.append(float(value))
    return found, list(order)
