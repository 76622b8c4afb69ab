"""A Dask cluster as a sweep's workers: connecting to its scheduler, and the files a remote
trial sends back.

A Dask worker may not share the client's disk, so its trial trains in a temporary directory
and returns the files; the client writes them into the sweep directory (names checked).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlptrain.errors import RunError, UserInputError
from mlptrain.store.atomic import atomic_write_bytes

CONNECT_TIMEOUT = "10s"  # how long to wait for a Dask scheduler


def dask_distributed() -> tuple[Any, Any]:
    """Dask's ``Client`` and ``as_completed``; a clear error when the extra is missing."""
    try:
        from dask.distributed import Client, as_completed
    except ImportError:
        raise UserInputError(
            "«scheduler» needs Dask's distributed scheduler; install mlptrain[dask] "
            '(pip install "mlptrain[dask]")'
        ) from None
    return Client, as_completed


def connect(scheduler: str) -> Any:
    """A client of the Dask scheduler at ``scheduler`` (use it as a context manager)."""
    client_cls, _ = dask_distributed()
    try:
        return client_cls(scheduler, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        raise RunError(
            f"«scheduler» {scheduler}: cannot connect to the Dask scheduler ({exc}); start one "
            "with `dask scheduler --port 8786` and workers with `dask worker <address>`"
        ) from None


def slots(client: Any) -> int:
    """How many trials the cluster runs at once: one per worker thread (at least one)."""
    return max(1, sum(client.nthreads().values()))


def write_files(run_dir: Path, files: Mapping[str, bytes]) -> None:
    """The files a remote worker sent back, written under ``run_dir`` (names checked)."""
    for name, data in files.items():
        parts = Path(name).parts
        if Path(name).is_absolute() or ".." in parts or not parts:
            raise RunError(f"a worker returned a file outside the run directory: {name!r}")
        target = run_dir.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(target, data)
