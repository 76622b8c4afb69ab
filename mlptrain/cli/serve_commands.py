"""``mlptrain serve``: parsing and printing only; the server is mlptrain.serving.http."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlptrain.cli.app import app, user_errors


@app.command()
def serve(
    model: Annotated[
        Path,
        typer.Argument(
            help="A run directory (uses its best checkpoint) or a checkpoint file.",
            show_default=False,
        ),
    ],
    host: Annotated[
        str, typer.Option(help="Address to bind; 0.0.0.0 exposes the model to the network.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 5000,
    workers: Annotated[
        int | None,
        typer.Option(
            help="Worker processes, each with its own copy of the model "
            "[default: one per CPU core, at most 4].",
            show_default=False,
        ),
    ] = None,
    max_rows: Annotated[int, typer.Option(help="Most rows one request may hold.")] = 10_000,
    max_bytes: Annotated[int, typer.Option(help="Largest request body, in bytes.")] = 16 * 2**20,
) -> None:
    """Serve a model's predictions over HTTP with MLflow's scoring protocol.

    POST /invocations with JSON (dataframe_split, dataframe_records, instances, inputs) or
    text/csv; GET /ping, /health, /version, /metadata. The model is verified before the port
    opens. SIGTERM finishes the requests in flight and exits 0.

    Example: mlptrain serve runs/digits/20260101-120000 --port 5000
    """
    with user_errors():
        from mlptrain.serving.http.server import prepare

        server = prepare(
            model, host=host, port=port, workers=workers, max_rows=max_rows, max_bytes=max_bytes
        )
        typer.echo(
            f"serving {server.service.checkpoint} at {server.url} "
            f"(POST {server.url}/invocations; Ctrl-C or SIGTERM stops)"
        )
        server.run()
