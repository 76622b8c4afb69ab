"""What report.md and report.html share for their tables: how a number is written and which
epochs a learning-curve table shows."""

from __future__ import annotations

from typing import Any

# Learning-curve tables show at most this many epochs.
LEARNING_CURVE_ROWS = 12


def format_number(value: float) -> str:
    """Four decimals read best for metrics; tiny or huge values (learning rates, MSE in the
    target's units) keep four significant digits instead of rounding to 0.0000."""
    if value != 0 and not 1e-3 <= abs(value) < 1e4:
        return f"{value:.4g}"  # also nan and ±inf, which no comparison above admits
    return f"{value:.4f}"


def sample_epochs(
    history: list[dict[str, Any]], limit: int = LEARNING_CURVE_ROWS, best: Any = None
) -> list[dict[str, Any]]:
    """At most ``limit`` evenly spaced epochs, always the first and the last, and the epoch
    numbered ``best`` when given (the row a reader looks for first)."""
    if len(history) <= limit:
        return history
    last = len(history) - 1
    picks = {round(i * last / (limit - 1)) for i in range(limit)}
    picks |= {i for i, record in enumerate(history) if best and record.get("epoch") == best}
    return [history[i] for i in sorted(picks)]


def markdown_cell(value: Any) -> str:
    """One cell of a markdown table: numbers as :func:`format_number`, None as '–', and a
    '|' or a line break in text escaped so a label like 'a|b' stays in its column."""
    if isinstance(value, float):
        text = format_number(value)
    elif value is None:
        text = "–"
    else:
        text = str(value)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def markdown_table(header: list[str], rows: list[list[Any]]) -> list[str]:
    """The one markdown table writer of report.md, compare, sweep.md and cv.md: its lines."""
    lines = ["| " + " | ".join(markdown_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(markdown_cell(v) for v in row) + " |" for row in rows]
    return lines


def shape_text(row: dict[str, Any], n: str = "n") -> str:
    """A summary row's output shape: ``(n, 256)``, or ``(8·n, 256)`` inside an ensemble."""
    members = int(row.get("members", 1))
    rows = n if members == 1 else f"{members}·{n}"
    return f"({rows}, {row['output_shape'][1]})"


def baseline_column(report: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """(column title, metrics) of the report's baseline, for the metrics tables."""
    baseline = report.get("baseline")
    if not baseline:
        return None
    return f"baseline: {baseline['strategy']} ({baseline['split']})", baseline["metrics"]


def metric_notes(metrics: dict[str, dict[str, Any]]) -> list[str]:
    """What the metrics tables need said beneath them: why a metric is undefined, and for a
    binary model which class is positive and the threshold its decisions use."""
    notes: list[str] = []
    for split in metrics.values():
        for note in split.get("notes") or []:
            if note not in notes:
                notes.append(note)
    first = next(iter(metrics.values()), {})
    if first.get("positive_class") is not None:
        notes.append(
            f"positive class: {first['positive_class']}; a row is predicted positive when its "
            f"probability is at least {first['threshold']:g}"
        )
    return notes
