"""The Starlette app: MLflow's scoring routes over a ``Service`` (docs/serving.md).

``POST /invocations`` (JSON or CSV rows → ``{"predictions": [...]}``), ``GET /ping``,
``/health``, ``/version``, ``/metadata``. Every refusal is a 4xx with a JSON body
``{"error_code", "message"}``, the message one line; nothing answers with a traceback.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from mlptrain.serving.http.protocol import (
    CSV_TYPES,
    RequestError,
    check_rows,
    csv_rows,
    json_rows,
    media_type,
)
from mlptrain.serving.http.service import Service

# MLflow's error codes for the statuses the server answers with
ERROR_CODES = {
    400: "BAD_REQUEST",
    404: "ENDPOINT_NOT_FOUND",
    405: "BAD_REQUEST",
    413: "REQUEST_LIMIT_EXCEEDED",
    415: "BAD_REQUEST",
    500: "INTERNAL_ERROR",
}

log = logging.getLogger("mlptrain.serve")


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse(
        {"error_code": ERROR_CODES.get(status, "BAD_REQUEST"), "message": message}, status
    )


async def _body(request: Request, max_bytes: int) -> bytes:
    """The body, refused (413) as soon as it passes ``max_bytes``, before it is all read."""
    too_big = RequestError(
        f"the body is larger than this server's limit of {max_bytes} bytes; split the batch",
        status=413,
    )
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_bytes:
        raise too_big
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)


def _flag(request: Request, name: str) -> bool:
    value = request.query_params.get(name, "false").lower()
    if value not in ("true", "false", "1", "0"):
        raise RequestError(f"{name}={value!r} is not allowed; give {name}=true or {name}=false")
    return value in ("true", "1")


# a body up to this size is answered on the event loop itself (about 1,600 rows of the example
# table, a few ms); a larger one on the app's thread, so that the loop goes on reading requests
INLINE_BYTES = 128 * 1024


def create_app(service: Service) -> Starlette:
    """The app serving ``service``'s model.

    The model answers one request at a time (``Service``'s lock, and the GIL). A small request
    is answered on the event loop when no other is being answered: handing it to a thread and
    back cost more than the prediction (one row: ~1.5 -> ~0.95 ms of server CPU, the wall time
    halved; docs/serving.md). A large one, or any while one is on the thread, goes to one thread
    of the app's own, a queue, instead of Starlette's pool of up to 40 threads taking turns at
    the lock (at 8 and 32 clients, 1,000-row batches went ~1.4x faster). Only the loop's
    thread counts the requests on the thread, so the loop never waits for the lock."""
    predicting = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlptrain-predict")
    queued = [0]  # requests handed to ``predicting`` and not yet answered

    def answer(kind: str, body: bytes, proba: bool, keep: list[str]) -> dict:
        if kind in CSV_TYPES:
            data = (service.predictor.meta.get("config") or {}).get("data") or {}
            rows = csv_rows(body, header=bool(data.get("header", True)))
        else:
            rows = json_rows(body, names=service.input_names)
        check_rows(rows, service.limits.max_rows)
        return service.predict(rows, proba=proba, keep=keep)

    async def invocations(request: Request) -> Response:
        kind = media_type(request.headers.get("content-type"))
        proba = _flag(request, "proba")
        keep = request.query_params.getlist("keep")
        body = await _body(request, service.limits.max_bytes)
        if not queued[0] and len(body) <= INLINE_BYTES:
            return JSONResponse(answer(kind, body, proba, keep))
        queued[0] += 1
        try:
            loop = asyncio.get_running_loop()
            result = await loop.run_in_executor(predicting, answer, kind, body, proba, keep)
        finally:
            queued[0] -= 1
        return JSONResponse(result)

    async def ping(request: Request) -> Response:
        return PlainTextResponse("\n")

    async def version(request: Request) -> Response:
        from mlptrain import __version__

        return PlainTextResponse(__version__)

    async def metadata(request: Request) -> Response:
        return JSONResponse(service.metadata())

    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestError)
        return error(exc.status, str(exc).splitlines()[0] if str(exc) else "bad request")

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return error(exc.status_code, str(exc.detail))

    async def crashed(request: Request, exc: Exception) -> Response:
        # logged for the operator; the client gets one line, never the traceback
        log.exception("request failed")
        return error(500, f"internal error ({type(exc).__name__}); the server log has details")

    return Starlette(
        routes=[
            Route("/invocations", invocations, methods=["POST"]),
            Route("/ping", ping, methods=["GET"]),
            Route("/health", ping, methods=["GET"]),
            Route("/version", version, methods=["GET"]),
            Route("/metadata", metadata, methods=["GET"]),
        ],
        exception_handlers={
            RequestError: refused,
            HTTPException: http_error,
            Exception: crashed,
        },
    )
