"""Where a command's wall time went: named phases, always recorded, printed on request.

``mlptrain fit --timings`` prints them after the summary (docs/performance.md explains
each). A phase is a ``with phase("train"):`` block; the same name entered again adds to its
total, and phases do not nest (what a phase's block calls is not timed twice). Recording costs
two ``perf_counter`` calls per block, so it is always on and has no switch of its own.

The record is per process, like the ``logging`` module's loggers: a command is one process,
and a library caller who wants the breakdown of one call reads ``recorded()`` after
``reset()``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

_totals: dict[str, float] = {}
_started = time.perf_counter()


@contextmanager
def phase(name: str) -> Iterator[None]:
    """Add the wall time of the block to phase ``name``."""
    start = time.perf_counter()
    try:
        yield
    finally:
        _totals[name] = _totals.get(name, 0.0) + time.perf_counter() - start


def add(name: str, seconds: float) -> None:
    """Add ``seconds`` measured elsewhere (the interpreter's start-up) to phase ``name``."""
    _totals[name] = _totals.get(name, 0.0) + seconds


def reset() -> None:
    """Forget the phases recorded so far and restart the clock of ``since_start``."""
    global _started
    _totals.clear()
    _started = time.perf_counter()


def recorded() -> dict[str, float]:
    """Phase name -> wall seconds, in the order the phases were first entered."""
    return dict(_totals)


def since_start() -> float:
    """Wall seconds since mlptrain was imported (or since ``reset``)."""
    return time.perf_counter() - _started


def process_age() -> float | None:
    """Wall seconds since this process started (the interpreter's own start-up included),
    from Linux's /proc; None where that cannot be read."""
    try:
        with open("/proc/self/stat", "rb") as stat:
            # the command name (field 2) may hold spaces: fields are counted after its ')'
            fields = stat.read().rsplit(b")", 1)[1].split()
        with open("/proc/uptime", "rb") as uptime:
            now = float(uptime.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    started = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22: starttime, in ticks
    return now - started


def table(total: float | None = None) -> str:
    """The phases as an aligned text table with each one's share of ``total`` (default: the
    process's age, else the time since import); what no phase covers is 'other'."""
    if total is None:
        total = process_age() or since_start()
    rows = list(_totals.items())
    rows.append(("other", max(total - sum(_totals.values()), 0.0)))
    width = max(len(name) for name, _ in rows)
    lines = [f"  {'phase':<{width}}  seconds  share"]
    for name, seconds in rows:
        share = seconds / total if total > 0 else 0.0
        lines.append(f"  {name:<{width}}  {seconds:7.3f}  {share:5.1%}")
    lines.append(f"  {'total':<{width}}  {total:7.3f}")
    return "\n".join(lines)
