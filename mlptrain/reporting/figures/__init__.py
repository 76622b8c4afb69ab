"""The PNG figures of a run, drawn from the report dict alone (like report.md).

``make_figures`` picks the figures that apply to the report (learning curves, learning rate,
confusion matrix and per-class scores, ROC, precision-recall, calibration and threshold
curves, predicted-vs-true and residuals, layer diagnostics)
and writes each one atomically. One module per kind of figure; ``style`` holds the look and
the fixed layout they share.

Figures are built with matplotlib's object-oriented ``Figure`` and rendered by Agg through
``savefig(format="png")``, never through pyplot. pyplot keeps process-wide state: a registry
of open figures (the classic leak) and the current backend. Calling ``matplotlib.use("Agg")``
from ``api.fit`` in a notebook would switch the user's backend and close their open figures.
A bare ``Figure`` is never registered with pyplot, so nothing can leak or be switched, and
the PNG renderer is chosen by format, whatever the backend. matplotlib is imported only
inside functions so ``mlptrain --help`` does not pay for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlptrain.errors import RunError
from mlptrain.reporting.figures.classification import confusion, per_class
from mlptrain.reporting.figures.curves import curves, learning_rate
from mlptrain.reporting.figures.importance import importance
from mlptrain.reporting.figures.layers import diagnostics
from mlptrain.reporting.figures.ranking import calibration, pr, roc, threshold
from mlptrain.reporting.figures.regression import pred_vs_true, residuals
from mlptrain.reporting.figures.style import STYLE, png_bytes
from mlptrain.store.atomic import atomic_write_bytes

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# Display order; make_figures writes these in this order and the HTML keeps it.
FIGURES: dict[str, Callable[[dict[str, Any]], Figure | None]] = {
    "curves": curves,
    "lr": learning_rate,
    "confusion": confusion,
    "per_class": per_class,
    "roc": roc,
    "pr": pr,
    "calibration": calibration,
    "threshold": threshold,
    "pred_vs_true": pred_vs_true,
    "residuals": residuals,
    "importance": importance,
    "diagnostics": diagnostics,
}


def make_figures(
    report: dict[str, Any], out_dir: Path, names: Iterable[str] | None = None
) -> dict[str, Path]:
    """Write the figures that apply to ``report`` into ``out_dir`` (created if needed);
    only those in ``names`` when given (the figure workers split the set between them).

    Returns figure name -> PNG path, in display order; names are the file stems
    (``curves``, ``lr``, ``confusion``, ``per_class``, ``roc``, ``pr``, ``calibration``,
    ``threshold``, ``pred_vs_true``, ``residuals``, ``importance``, ``diagnostics``). Each file is written atomically: old or new, never partial.
    """
    from matplotlib import rc_context

    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunError(f"could not create the figure directory {out_dir}: {exc}") from exc
    wanted = set(FIGURES if names is None else names)
    written: dict[str, Path] = {}
    with rc_context(STYLE):
        for name, draw in FIGURES.items():
            if name not in wanted:
                continue
            fig = draw(report)
            if fig is None:
                continue
            path = out_dir / f"{name}.png"
            atomic_write_bytes(path, png_bytes(fig))
            written[name] = path
    return written
