"""Helper processes of a run (the figure worker, the MLflow tracker): started one way; and
how many cores this process may run on (``usable_cores``), which sizes processes and threads.

Each runs ``python -m <module>`` of this very mlptrain (wherever it was imported from), in its
own session, so a Ctrl-C meant for the fit does not hit it mid-import, talking JSON over its
stdin and stdout; inside it, ``answer_channel`` keeps that stdout for the answers alone.
OpenBLAS gets one thread: a helper does no large matrix products, and idle BLAS threads would
only spin beside the training's.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import IO


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity on Linux, else the machine's)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def start_module(module: str, *args: str) -> subprocess.Popen[bytes]:
    """Start ``python -m module *args`` with pipes on stdin and stdout; stderr is discarded
    (its answers carry its errors). Raises OSError when it cannot be started."""
    import mlptrain

    package_root = str(Path(mlptrain.__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    env["OPENBLAS_NUM_THREADS"] = "1"
    return subprocess.Popen(
        [sys.executable, "-m", module, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )


def answer_channel() -> IO[str]:
    """In a helper process: its own copy of stdout for the answers the parent reads; fd 1
    and ``sys.stdout`` then go to stderr, so that what a library prints (MLflow prints a run's
    "View run ... at" link when it talks to a server) cannot corrupt them."""
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return answers
