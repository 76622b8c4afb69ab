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


def create_app(service: Service) -> Starlette:
    """The app serving ``service``'s model.

    Requests are answered off the event loop on one thread of the app's own: the model answers
    one request at a time anyway (``Service``'s lock, and the GIL), and a queue in front of one
    thread replaces up to 40 threads of Starlette's pool taking turns at that lock (at 8 and 32
    clients, 1,000-row batches went ~1.4x faster; docs/serving.md)."""
    predicting = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlptrain-predict")

    def answer(kind: str, body: bytes, proba: bool, keep: list[str]) -> dict:
        if kind in CSV_TYPES:
            data = service.predictor.meta.data_config
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
        loop = asyncio.get_running_loop()
        return JSONResponse(await loop.run_in_executor(predicting, answer, kind, body, proba, keep))

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
