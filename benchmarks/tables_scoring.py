"""Scores of benchmarks/tables_suite.py: per-fit metrics, and the summary over tables.

Numpy only, so tests run without the ``bench`` extra. Classification is scored by accuracy,
regression by R² (both: higher is better); RMSE is recorded beside R² for regression.

Summary, per table: each method's metric is the mean over the seeds that every method
finished on that table; the normalised score is ``(m - worst) / (best - worst)`` over the
methods (1 = best, 0 = worst; all 1 when every method ties); the rank is 1 for the best
(ties share the mean of their ranks). Mean normalised score and mean rank average these over
tables; fit time is the median over every (table, seed) fit of a method.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def accuracy(y_true: Sequence[Any], y_pred: Sequence[Any]) -> float:
    """Share of rows whose predicted label equals the true one (compared as strings)."""
    truth = np.asarray([str(v) for v in y_true])
    pred = np.asarray([str(v) for v in y_pred])
    return float(np.mean(truth == pred))


def rmse(y_true: Sequence[float], y_pred: Sequence[float]) -> float:
    """Root mean squared error."""
    diff = np.asarray(y_true, dtype=np.float64) - np.asarray(y_pred, dtype=np.float64)
    return float(np.sqrt(np.mean(diff**2)))


def r2(y_true: Sequence[float], y_pred: Sequence[float]) -> float:
    """Coefficient of determination: 1 - SSE / SST (SST about the test rows' own mean)."""
    truth = np.asarray(y_true, dtype=np.float64)
    sse = float(np.sum((truth - np.asarray(y_pred, dtype=np.float64)) ** 2))
    sst = float(np.sum((truth - truth.mean()) ** 2))
    return 1.0 - sse / sst


def score(task: str, y_true: Sequence[Any], y_pred: Sequence[Any]) -> dict[str, float]:
    """The metrics of one fit; ``score`` is the one the summary compares (higher is better)."""
    if task == "classification":
        acc = accuracy(y_true, y_pred)
        return {"score": acc, "accuracy": acc}
    value = r2(y_true, y_pred)
    return {"score": value, "r2": value, "rmse": rmse(y_true, y_pred)}


def normalise(scores: dict[str, float]) -> dict[str, float]:
    """Min-max normalised scores of the methods on one table: best 1, worst 0."""
    best, worst = max(scores.values()), min(scores.values())
    if best == worst:
        return dict.fromkeys(scores, 1.0)
    return {m: (s - worst) / (best - worst) for m, s in scores.items()}


def ranks(scores: dict[str, float]) -> dict[str, float]:
    """Rank 1 = highest score; tied methods share the mean of the ranks they span."""
    ordered = sorted(scores.values(), reverse=True)
    out = {}
    for method, value in scores.items():
        first = ordered.index(value) + 1
        count = ordered.count(value)
        out[method] = first + (count - 1) / 2
    return out


def table_means(fits: list[dict[str, Any]], methods: Sequence[str]) -> dict[str, dict[str, float]]:
    """Per table: each method's mean score over the seeds that all ``methods`` finished."""
    by_cell: dict[tuple[str, int], dict[str, float]] = {}
    for fit in fits:
        if "score" in fit:
            by_cell.setdefault((fit["table"], fit["seed"]), {})[fit["method"]] = fit["score"]
    per_table: dict[str, dict[str, list[float]]] = {}
    for (table, _seed), cell in by_cell.items():
        if all(m in cell for m in methods):
            bucket = per_table.setdefault(table, {m: [] for m in methods})
            for m in methods:
                bucket[m].append(cell[m])
    return {t: {m: float(np.mean(v)) for m, v in d.items()} for t, d in per_table.items()}


def summarise(fits: list[dict[str, Any]], methods: Sequence[str]) -> dict[str, Any]:
    """Mean normalised score, mean rank, tables won and median fit time of each method."""
    means = table_means(fits, methods)
    norm = {t: normalise(s) for t, s in means.items()}
    rank = {t: ranks(s) for t, s in means.items()}
    summary: dict[str, Any] = {"tables": sorted(means), "methods": {}}
    for m in methods:
        times = [f["fit_seconds"] for f in fits if f["method"] == m and "fit_seconds" in f]
        summary["methods"][m] = {
            "mean_normalised_score": float(np.mean([norm[t][m] for t in means])) if means else None,
            "mean_rank": float(np.mean([rank[t][m] for t in means])) if means else None,
            "best_on": sum(1 for t in means if rank[t][m] == min(rank[t].values())),
            "median_fit_seconds": float(np.median(times)) if times else None,
        }
    summary["per_table"] = {
        t: {"mean_score": means[t], "normalised": norm[t], "rank": rank[t]} for t in means
    }
    return summary


def beats(means: dict[str, dict[str, float]], method: str, other: str) -> int:
    """Number of tables on which ``method``'s mean score is strictly above ``other``'s."""
    return sum(1 for s in means.values() if s[method] > s[other])
