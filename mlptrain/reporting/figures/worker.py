"""Figure workers: processes that import matplotlib while the model trains, then draw.

Importing matplotlib and warming its font cache costs ~0.45 s, drawing a run's figures
~0.6-0.9 s (docs/performance.md). ``FigureDrawer`` launches two worker processes after a fit's
first epoch, if a core is idle and the epochs left take long enough to hide the start-up; each imports matplotlib and draws a throw-away figure while training runs (training
small networks uses one BLAS thread, so the second core is otherwise idle). When the report
is ready, ``Workers.draw`` hands each worker the report and its share of the figures; they
draw in parallel and write the PNGs atomically, exactly as ``make_figures`` does in-process.

Anything that goes wrong with a worker (it cannot start, dies, answers garbage, hangs past
``TIMEOUT``) falls back to drawing in this process, so a figure error still surfaces as the
same ``RunError`` and a missing worker never loses a figure. Workers run in their own session,
so a Ctrl-C meant for the fit does not hit them mid-import; ``close`` ends them, and a worker
whose parent died sees its stdin close and exits.

Protocol: the parent writes one JSON object ``{"report": ..., "out_dir": ..., "names": [...]}``
to the worker's stdin and closes it; the worker prints one JSON object, ``{"written":
{name: path}}`` or ``{"error": message}``, and exits.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

# Two groups of about equal drawing time (measured on a digits report: ~1.1 s and ~1.3 s at
# load ~1.7): the diagnostics grid, learning rate, ROC, precision-recall and importance;
# everything else. A worker per group.
GROUPS: tuple[tuple[str, ...], ...] = (
    ("diagnostics", "lr", "roc", "pr", "importance"),
    ("curves", "confusion", "per_class", "calibration", "threshold", "pred_vs_true", "residuals"),
)
TIMEOUT = 300.0
# Start workers only when at least this much training is left to hide their start-up.
MIN_REMAINING = 0.5


class Workers:
    """Started worker processes, one per figure group; see the module docstring."""

    def __init__(self, processes: list[subprocess.Popen[bytes]]) -> None:
        self.processes = processes

    def draw(self, report: dict[str, Any], out_dir: Path) -> dict[str, Path]:
        """Figure name -> PNG path, in display order, as ``make_figures`` returns it."""
        from mlptrain.reporting.figures import FIGURES, make_figures

        out_dir = Path(out_dir)
        written: dict[str, Path] = {}
        try:
            groups = GROUPS if len(self.processes) > 1 else (tuple(FIGURES),)
            for process, names in zip(self.processes, groups, strict=False):
                message = {"report": report, "out_dir": str(out_dir), "names": list(names)}
                assert process.stdin is not None
                process.stdin.write(json.dumps(message, allow_nan=False).encode())
                process.stdin.close()
            for process in self.processes:
                written.update(_answer(process))
        except (OSError, ValueError, subprocess.TimeoutExpired):
            # No usable answer: draw here; a real drawing error is raised from make_figures.
            self.close()
            return make_figures(report, out_dir)
        finally:
            self.close()
        return {name: written[name] for name in FIGURES if name in written}

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            process.wait()
            for stream in (process.stdin, process.stdout, process.stderr):
                if stream is not None and not stream.closed:
                    stream.close()
        self.processes = []

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FigureDrawer:
    """Draws a fit's figures, in workers when the fit trains long enough to hide their start.

    ``observe_epoch`` is called after each epoch; after the first one, when the epochs left
    should take at least ``MIN_REMAINING`` seconds (about what a worker needs to import
    matplotlib), the workers are started. Shorter fits, and fits killed in their first epoch,
    never start a process. ``draw`` uses the workers if they were started, else draws here.
    """

    def __init__(self, epochs: int) -> None:
        self.epochs = epochs
        self.workers: Workers | None = None
        self._decided = False

    def observe_epoch(self, record: dict[str, Any]) -> None:
        if self._decided:
            return
        self._decided = True
        seconds = record.get("seconds")
        per_epoch = float(seconds) if isinstance(seconds, int | float) else 0.0
        if per_epoch * (self.epochs - int(record.get("epoch", self.epochs))) >= MIN_REMAINING:
            self.workers = start_workers()

    def draw(self, report: dict[str, Any], out_dir: Path) -> dict[str, Path]:
        from mlptrain.reporting.figures import make_figures

        if self.workers is None:
            return make_figures(report, out_dir)
        return self.workers.draw(report, out_dir)

    def close(self) -> None:
        if self.workers is not None:
            self.workers.close()


def _answer(process: subprocess.Popen[bytes]) -> dict[str, Path]:
    out, _ = process.communicate(timeout=TIMEOUT)
    answer = json.loads(out.decode() or "null")
    if not isinstance(answer, dict) or "written" not in answer:
        # The worker's own error (or a crash): let the in-process drawing raise it.
        raise ValueError(f"figure worker failed: {answer!r}")
    return {str(name): Path(path) for name, path in answer["written"].items()}


def start_workers(count: int | None = None) -> Workers | None:
    """Launch ``count`` workers (default: one per figure group); None when no core is idle
    (one core, or a load average of cores − 1 or more) or they cannot be started.

    Workers pay off only by using an idle core: on a saturated machine their own interpreter,
    numpy and matplotlib imports are extra CPU time that the fit waits for, and drawing in
    the fit's own process was measured faster (docs/performance.md)."""
    cores = _cores()
    if cores < 2 or _load() >= cores - 1:
        return None
    if count is None:
        count = len(GROUPS)
    import mlptrain

    # The workers must import this very mlptrain, wherever it was imported from.
    package_root = str(Path(mlptrain.__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for _ in range(min(count, len(GROUPS))):
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "mlptrain.reporting.figures.worker"],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                    env=env,
                    start_new_session=True,
                )
            )
    except OSError:
        Workers(processes).close()
        return None
    return Workers(processes)


def _cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _load() -> float:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):  # not available on this platform
        return 0.0


def _warm_up() -> None:
    """Import matplotlib and load the font and the Agg renderer with a throw-away figure."""
    import io

    from matplotlib.figure import Figure

    fig = Figure(figsize=(1, 1))
    ax = fig.subplots()
    ax.set_title("warm-up")
    ax.plot([0, 1], [0, 1])
    fig.savefig(io.BytesIO(), format="png")


def main() -> int:
    from mlptrain.reporting.figures import make_figures

    _warm_up()
    raw = sys.stdin.buffer.read()
    if not raw:  # the parent closed without a job (the fit failed or was stopped)
        return 0
    try:
        job = json.loads(raw)
        written = make_figures(job["report"], Path(job["out_dir"]), names=job["names"])
        answer: dict[str, Any] = {"written": {k: str(v) for k, v in written.items()}}
    except Exception as exc:  # reported to the parent, which redraws in-process and raises
        answer = {"error": f"{type(exc).__name__}: {exc}"}
    sys.stdout.write(json.dumps(answer))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
