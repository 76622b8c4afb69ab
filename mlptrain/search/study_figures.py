"""The figure of an Optuna-driven sweep: optimisation history (value and best so far against
trial number) and each parameter's importance, drawn with matplotlib as the other figures."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any


def best_so_far(values: list[float], minimise: bool) -> list[float]:
    best: list[float] = []
    for value in values:
        if not best:
            best.append(value)
        else:
            best.append(min(best[-1], value) if minimise else max(best[-1], value))
    return best


def render_study_figure(summary: Mapping[str, Any]) -> bytes | None:
    """PNG bytes: history panel, and an importance panel when importances were computed."""
    from matplotlib.figure import Figure

    history = summary.get("history") or []
    completed = [h for h in history if h["status"] == "complete"]
    pruned = [h for h in history if h["status"] == "pruned"]
    if not history:
        return None
    importances = summary.get("importances") or {}
    panels = 2 if importances else 1
    fig = Figure(figsize=(4.6 * panels, 3.4), layout="constrained")
    axes = fig.subplots(1, panels, squeeze=False)[0]
    ax = axes[0]
    monitor = str(summary["monitor"]).replace("_", " ")
    if completed:
        numbers = [h["number"] for h in completed]
        values = [h["value"] for h in completed]
        ax.plot(numbers, values, "o", label="completed", alpha=0.8)
        ax.step(numbers, best_so_far(values, summary["mode"] == "min"), where="post",
                label="best so far", color="C3")  # fmt: skip
    if pruned:
        ax.plot([h["number"] for h in pruned], [h["value"] for h in pruned], "x", color="C7",
                label="pruned (last value)")  # fmt: skip
    ax.set_xlabel("trial")
    ax.set_ylabel(monitor)
    ax.set_title("optimisation history")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    if importances:
        names = list(importances)[::-1]  # most important on top
        ax = axes[1]
        ax.barh(range(len(names)), [importances[n] for n in names], color="C0")
        ax.set_yticks(range(len(names)), [n.replace("$", r"\$")[:28] for n in names])
        ax.set_xlabel("importance")
        ax.set_title("parameter importance")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    fig.clear()
    return buffer.getvalue()
