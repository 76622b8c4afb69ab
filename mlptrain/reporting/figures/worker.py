"""The figure worker: a process that imports matplotlib while the model trains, then draws.

Importing matplotlib and warming its font cache costs ~0.7 s, drawing a digits run's figures
~1.3 s on one core (docs/performance.md). ``FigureDrawer`` launches one worker process after
a fit's first epoch, if the machine left a core idle during that epoch (Linux's /proc/stat;
elsewhere the load average) and the epochs left take long enough to hide its start-up;
it imports matplotlib and draws a throw-away figure while training runs on the other core
(small models train on one BLAS thread: mlptrain.training.threads). A fit that trains on every
core starts its worker when training ends instead, if nothing else kept the machine busy
meanwhile: it imports while the fit computes its metrics. When training ends,
``draw_early`` hands the worker the figures that need only the training history (``EARLY``);
the worker forks (where the platform can) and the fork draws them while the fit computes its
metrics. When the report is ready, ``draw`` hands over the rest: the fork draws
``FORK_REST`` of them after its early ones, the worker the others, in parallel. A ``draw``
without ``draw_early`` before it (a rebuilt report's) sends the early job itself, so the worker
has one path, the fit's.
Each PNG is written atomically, exactly as ``make_figures`` does in-process.

Anything that goes wrong with the worker (it cannot start, dies, answers garbage, hangs past
``TIMEOUT``) falls back to drawing in this process, so a figure error still surfaces as the
same ``RunError`` and a missing worker never loses a figure. The worker runs in its own
session, so a Ctrl-C meant for the fit does not hit it mid-import; ``close`` ends it, and a
worker whose parent died sees its stdin close and exits.

Protocol: the parent writes two lines to the worker's stdin, each a JSON object
``{"report": ..., "out_dir": ..., "names": [...]}`` (the first with ``"early": true``), and
closes it; the worker prints one JSON object, ``{"written": {name:
path}}`` for every figure of both jobs or ``{"error": message}``, and exits.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

from mlptrain.children import usable_cores

# Figures drawn from the training history alone: sent to the worker as soon as training ends,
# so they are drawn while the fit computes its metrics and importance. The worker's fork draws
# them, then FORK_REST of the final report; the worker draws the rest once the report comes.
# Drawing times in a warm process, digits: curves, lr and diagnostics ~0.55 s; ROC and
# precision-recall ~0.27 s; confusion, per-class scores, calibration and importance ~0.6 s.
EARLY: tuple[str, ...] = ("curves", "lr", "diagnostics")
FORK_REST: tuple[str, ...] = ("roc", "pr", "residuals")
TIMEOUT = 300.0
# Start the worker only when at least this much training is left to hide its start-up, and
# when the machine left at least this many cores idle during the first epoch.
MIN_REMAINING = 0.5
MIN_IDLE_CORES = 0.5


class Worker:
    """A started worker process; see the module docstring."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process: subprocess.Popen[bytes] | None = process
        self._early: threading.Thread | None = None

    def draw_early(self, report: dict[str, Any], out_dir: Path) -> None:
        """Send the figures of ``EARLY`` (drawn from ``report``'s history) ahead of the rest.

        Written from a thread: the worker may still be importing matplotlib, and a job
        larger than the pipe's buffer would block the fit until it reads."""
        process = self.process
        if process is None or process.stdin is None or self._early is not None:
            return
        job = {"early": True, "report": report, "out_dir": str(out_dir), "names": list(EARLY)}
        line = json.dumps(job, allow_nan=False).encode() + b"\n"
        self._early = threading.Thread(target=_send, args=(process.stdin, line), daemon=True)
        self._early.start()

    def draw(self, report: dict[str, Any], out_dir: Path) -> dict[str, Path]:
        """Figure name -> PNG path, in display order, as ``make_figures`` returns it."""
        from mlptrain.reporting.figures import FIGURES, make_figures

        out_dir = Path(out_dir)
        process = self.process
        if process is None:
            return make_figures(report, out_dir)
        # A worker that hangs (in its imports, or drawing) is killed at TIMEOUT, which ends
        # the blocked write or read below and sends the figures to the fallback.
        watchdog = threading.Timer(TIMEOUT, _kill, args=(process,))
        watchdog.start()
        try:
            if self._early is None:  # a rebuilt report: its final history will do
                self.draw_early(report, out_dir)
            if self._early is None:
                raise ValueError("no pipe to the figure worker")
            self._early.join()
            names = [name for name in FIGURES if name not in EARLY]
            written = _ask(process, report, out_dir, names)
        except (OSError, ValueError):
            # No usable answer: draw here; a real drawing error is raised from make_figures.
            self.close()
            return make_figures(report, out_dir)
        finally:
            watchdog.cancel()
            self.close()
        return {name: written[name] for name in FIGURES if name in written}

    def close(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            _kill(process)
        process.wait()
        for stream in (process.stdin, process.stdout, process.stderr):
            if stream is not None and not stream.closed:
                stream.close()

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _kill(process: subprocess.Popen[bytes]) -> None:
    """Kill the worker and its fork: the worker leads a process group of its own."""
    if hasattr(os, "killpg"):
        with contextlib.suppress(OSError):
            os.killpg(process.pid, signal.SIGKILL)
            return
    process.kill()


def _send(stream: IO[bytes], data: bytes) -> None:
    """Write ``data`` to a worker's stdin; a dead worker is noticed by ``_ask`` later."""
    with contextlib.suppress(OSError, ValueError):
        stream.write(data)
        stream.flush()


def _ask(
    process: subprocess.Popen[bytes], report: dict[str, Any], out_dir: Path, names: list[str]
) -> dict[str, Path]:
    assert process.stdin is not None and process.stdout is not None
    message = {"report": report, "out_dir": str(out_dir), "names": names}
    process.stdin.write(json.dumps(message, allow_nan=False).encode() + b"\n")
    process.stdin.close()
    # Not ``communicate``: stdin is closed already, and ``communicate`` raises on that
    # (ValueError: flush of closed file), which once sent every fit to the in-process
    # fallback unnoticed.
    out = process.stdout.read()
    process.wait()
    answer = json.loads(out.decode() or "null")
    if not isinstance(answer, dict) or "written" not in answer:
        # The worker's own error (or a crash): let the in-process drawing raise it.
        raise ValueError(f"figure worker failed: {answer!r}")
    return {str(name): Path(path) for name, path in answer["written"].items()}


class FigureDrawer:
    """Draws a fit's figures, in the worker when the fit trains long enough to hide its start.

    ``observe_epoch`` is called after each epoch; after the first one, when the epochs left
    should take at least ``MIN_REMAINING`` seconds (about what the worker needs to import
    matplotlib), the worker is started. Shorter fits and fits killed in their first epoch
    never start a process. A fit told ``worker=False`` trains on every core, where a worker's
    imports would slow training: its worker starts when training ends (``draw_early``), if
    nothing else kept the machine busy meanwhile, and imports matplotlib while the fit
    computes its metrics. ``draw`` uses the worker if it was started, else draws here.
    """

    def __init__(self, epochs: int, *, worker: bool = True) -> None:
        self.epochs = epochs
        self.worker: Worker | None = None
        self._decided = not worker  # worker=False: none while training
        self._after_training = not worker
        self._since = _machine_busy()
        self._own_since = _own_cpu()

    @classmethod
    def started_now(cls) -> FigureDrawer:
        """A drawer whose worker starts at once, if the load average leaves a core idle: for
        redrawing a finished run's report (``mlptrain report``), whose check of the run's data
        then overlaps the worker's imports."""
        drawer = cls(0, worker=False)
        drawer._after_training = False
        drawer.worker = start_worker()
        return drawer

    def observe_epoch(self, record: dict[str, Any]) -> None:
        if self._decided:
            return
        self._decided = True
        seconds = record.get("seconds")
        per_epoch = float(seconds) if isinstance(seconds, int | float) else 0.0
        if per_epoch * (self.epochs - int(record.get("epoch", self.epochs))) >= MIN_REMAINING:
            self.worker = start_worker(idle_cores(self._since))

    def draw_early(self, report: Callable[[], dict[str, Any]], out_dir: Path) -> None:
        """Hand the worker, if there is one, the figures of ``EARLY``: ``report()`` builds a
        report whose training history is final (its metrics need not be)."""
        if self._after_training:
            self._after_training = False
            self.worker = start_worker(self._left_beside_this_fit())
        if self.worker is not None:
            self.worker.draw_early(report(), out_dir)

    def _left_beside_this_fit(self) -> float | None:
        """The cores' worth of CPU that everything but this process left idle since the fit
        began, less the one core the fit's metrics take next: what a worker would get. None
        when it cannot tell (``start_worker`` then goes by the load average)."""
        now = _machine_busy()
        if self._since is None or now is None or now[0] <= self._since[0]:
            return None
        own = _own_cpu() - self._own_since
        others = (now[1] - self._since[1] - own) / (now[0] - self._since[0])
        return usable_cores() - max(others, 0.0) - 1.0

    def draw(self, report: dict[str, Any], out_dir: Path) -> dict[str, Path]:
        from mlptrain.reporting.figures import make_figures

        if self.worker is None:
            return make_figures(report, out_dir)
        return self.worker.draw(report, out_dir)

    def close(self) -> None:
        if self.worker is not None:
            self.worker.close()


def start_worker(idle: float | None = None) -> Worker | None:
    """Launch the worker; None when no core is idle or it cannot be started. ``idle``: the
    cores the machine left idle while the fit's first epoch ran (``idle_cores``), at least
    half a core to start; without it (no /proc/stat), a load average below cores − 1.

    The worker pays off only by using an idle core: on a saturated machine its own
    interpreter, numpy and matplotlib imports are extra CPU time that the fit waits for, and
    drawing in the fit's own process was measured faster (docs/performance.md). The load
    average is the weaker sign: it still counts the fit that ran just before this one, so
    fits run back to back on 2 cores (a benchmark, a script) never started the worker."""
    cores = usable_cores()
    if cores < 2 or (_load() >= cores - 1 if idle is None else idle < MIN_IDLE_CORES):
        return None
    from mlptrain.children import start_module

    try:
        process = start_module("mlptrain.reporting.figures.worker")
    except OSError:
        return None
    return Worker(process)


def _machine_busy() -> tuple[float, float] | None:
    """(now, CPU seconds the machine's cores have been busy since boot) from Linux's
    /proc/stat (user, nice, system, irq, softirq, steal); None without /proc/stat."""
    try:
        with open("/proc/stat", "rb") as stat:
            fields = stat.readline().split()
        user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[1:9])
    except (OSError, ValueError):
        return None
    busy = (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
    return time.monotonic(), busy


def _own_cpu() -> float:
    """CPU seconds this process (every thread of it) has used."""
    return time.process_time()


def idle_cores(since: tuple[float, float] | None) -> float | None:
    """Cores' worth of CPU the whole machine (this fit included) left idle since ``since``
    (a ``_machine_busy`` reading); None when it cannot tell."""
    now = _machine_busy()
    if since is None or now is None or now[0] <= since[0]:
        return None
    return usable_cores() - (now[1] - since[1]) / (now[0] - since[0])


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


def _draw(report: dict[str, Any], out_dir: Path, names: Iterable[str]) -> dict[str, Any]:
    from mlptrain.reporting.figures import make_figures

    try:
        written = make_figures(report, out_dir, names=names)
    except Exception as exc:  # reported to the parent, which redraws in-process and raises
        return {"error": f"{type(exc).__name__}: {exc}"}
    return {"written": {k: str(v) for k, v in written.items()}}


def _draw_after_early(early: dict[str, Any], jobs: IO[bytes]) -> dict[str, Any]:
    """Draw ``early``'s figures in a fork at once; when the final job arrives on ``jobs``,
    the fork goes on with its ``FORK_REST`` and this process draws the others, in parallel.
    Without ``os.fork`` (Windows), all here, one after the other."""
    out_dir = Path(early["out_dir"])
    if not hasattr(os, "fork"):
        answer = _draw(early["report"], out_dir, early["names"])
        raw = jobs.readline()
        if not raw or "written" not in answer:
            return answer
        job = json.loads(raw)
        return _merge(answer, _draw(job["report"], Path(job["out_dir"]), job["names"]))
    answer_read, answer_write = os.pipe()
    job_read, job_write = os.pipe()
    child = os.fork()
    if child == 0:  # the fork: the early figures, then its share of the final job
        os.close(answer_read)
        os.close(job_write)
        try:
            answer = _draw(early["report"], out_dir, early["names"])
            with os.fdopen(job_read, "rb") as pipe:
                raw = pipe.read()
            if raw and "written" in answer:
                job = json.loads(raw)
                theirs = [name for name in job["names"] if name in FORK_REST]
                answer = _merge(answer, _draw(job["report"], Path(job["out_dir"]), theirs))
            with os.fdopen(answer_write, "wb") as pipe:
                pipe.write(json.dumps(answer).encode())
        finally:
            os._exit(0)  # no atexit handlers, no flush of the parent's stdout buffer
    os.close(answer_write)
    os.close(job_read)
    raw = jobs.readline()
    # The fork reads the job only when its early figures are done: hand it over from a
    # thread, so that a job larger than the pipe's buffer does not wait for that here.
    forward = threading.Thread(target=_send_and_close, args=(job_write, raw))
    forward.start()
    mine: dict[str, Any] = {"written": {}}
    if raw:
        job = json.loads(raw)
        names = [name for name in job["names"] if name not in FORK_REST]
        mine = _draw(job["report"], Path(job["out_dir"]), names)
    forward.join()
    return _merge(_fork_answer(answer_read, child), mine)


def _fork_answer(fd: int, child: int) -> dict[str, Any]:
    """The fork's answer from the pipe ``fd``, once it has exited; an error if it died."""
    with os.fdopen(fd, "rb") as pipe:
        raw = pipe.read()
    os.waitpid(child, 0)
    answer = json.loads(raw.decode() or "null")
    return answer if isinstance(answer, dict) else {"error": "the figure fork died"}


def _send_and_close(fd: int, data: bytes) -> None:
    with contextlib.suppress(OSError), os.fdopen(fd, "wb") as pipe:  # a dead fork: no answer
        pipe.write(data)


def _merge(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    """Two answers as one: the first error, else every figure written."""
    for answer in (first, second):
        if "written" not in answer:
            return answer
    return {"written": {**first["written"], **second["written"]}}


def main() -> int:
    from mlptrain.children import answer_channel

    answers = answer_channel()
    _warm_up()
    jobs = sys.stdin.buffer
    first = jobs.readline()
    if not first:  # the parent closed without a job (the fit failed or was stopped)
        return 0
    try:
        job = json.loads(first)
        if not job.get("early"):
            raise ValueError("the first job must be the early one")
        answer = _draw_after_early(job, jobs)
    except Exception as exc:  # a malformed job: reported to the parent, which draws itself
        answer = {"error": f"{type(exc).__name__}: {exc}"}
    answers.write(json.dumps(answer))
    answers.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
