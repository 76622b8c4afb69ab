"""Running the app under uvicorn: one process, or ``workers`` processes sharing the port.

The model is loaded and its SHA-256 verified before the port is opened (``prepare``), so a
damaged checkpoint fails at start, not at the first request. With several workers, each
process loads the model again (uvicorn starts them from an import string), told which one
through the environment.

A server process runs BLAS on one thread (``one_blas_thread``): a request's products are small
(1,000 rows of the example table take well under a millisecond on one core), and OpenBLAS's
extra threads spin-wait between them, which on the 2-core benchmark machine tripled the
server's CPU per 1,000-row request (29 -> 8 ms) and slowed the event loop. More cores are
used with more worker processes.
"""

from __future__ import annotations

import json
import os
import signal
from dataclasses import asdict, dataclass
from pathlib import Path

from mlptrain.errors import UserInputError
from mlptrain.serving.http.service import Limits, Service

_ENVIRONMENT = "MLPTRAIN_SERVE"


def _require_stack() -> None:
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise UserInputError(
            "serving needs Starlette and uvicorn: pip install 'mlptrain[serve]'"
        ) from None


def one_blas_thread() -> None:
    """Limit BLAS to one thread for the rest of this process (it is a server's)."""
    from threadpoolctl import threadpool_limits  # a declared dependency

    threadpool_limits(limits=1, user_api="blas")


@dataclass(frozen=True)
class Server:
    """A verified model ready to be served at ``url``."""

    service: Service
    model: str
    host: str
    port: int
    workers: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def run(self) -> None:
        """Serve until SIGINT or SIGTERM. On SIGTERM, uvicorn stops accepting, finishes the
        requests in flight, and this returns (uvicorn then raises the signal again; the
        handler set here makes that a no-op so that the process exits 0)."""
        import uvicorn

        signal.signal(signal.SIGTERM, lambda signum, frame: None)
        one_blas_thread()
        options = {"host": self.host, "port": self.port, "log_level": "warning"}
        if self.workers == 1:
            from mlptrain.serving.http.app import create_app

            uvicorn.run(create_app(self.service), access_log=False, **options)  # type: ignore[arg-type]
            return
        limits = self.service.limits
        os.environ[_ENVIRONMENT] = json.dumps({"model": self.model, "limits": asdict(limits)})
        uvicorn.run(
            "mlptrain.serving.http.server:app_from_environment",
            factory=True,
            workers=self.workers,
            access_log=False,
            **options,  # type: ignore[arg-type]
        )


# Each worker process holds its own copy of the model: the default stops at this many.
MAX_DEFAULT_WORKERS = 4


def prepare(
    model: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 5000,
    workers: int | None = None,
    max_rows: int = 10_000,
    max_bytes: int = 16 * 2**20,
) -> Server:
    """Load and verify the model of a run directory or checkpoint; check the arguments.
    ``workers`` None: one per usable core, at most ``MAX_DEFAULT_WORKERS``."""
    _require_stack()
    if workers is None:
        from mlptrain.children import usable_cores

        workers = min(usable_cores(), MAX_DEFAULT_WORKERS)
    for name, value in (("workers", workers), ("max_rows", max_rows), ("max_bytes", max_bytes)):
        if value < 1:
            raise UserInputError(f"«{name}» must be at least 1, got {value}")
    if not 0 <= port <= 65535:
        raise UserInputError(f"«port» must be between 0 and 65535, got {port}")
    service = Service.load(model, Limits(max_rows=max_rows, max_bytes=max_bytes))
    return Server(service, str(model), host, port, workers)


def app_from_environment():  # type: ignore[no-untyped-def]
    """The app of one worker process (uvicorn's factory when ``workers`` > 1)."""
    from mlptrain.serving.http.app import create_app

    one_blas_thread()
    spec = json.loads(os.environ[_ENVIRONMENT])
    return create_app(Service.load(spec["model"], Limits(**spec["limits"])))
