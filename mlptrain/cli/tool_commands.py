"""``predict``, ``gradcheck``, ``validate``, ``datasets``, ``init``, ``inspect`` and ``export``.

Parsing and printing only: the work is in mlptrain.serving.predict, .validate, .starter, .export and
.checkpoint.
"""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from mlptrain.cli.app import ConfigArg, SetOpt, app, user_errors

ModelArg = Annotated[
    Path,
    typer.Argument(
        help="A run directory (uses its best checkpoint) or a checkpoint file.",
        show_default=False,
    ),
]


class InspectFormat(str, Enum):
    table = "table"
    json = "json"


class ExportFormat(str, Enum):
    numpy = "numpy"
    onnx = "onnx"


@app.command()
def predict(
    model: ModelArg,
    input: Annotated[
        Path,
        typer.Argument(
            help="Raw features: a CSV with a header, or an NPZ with array X; for a model "
            "trained on a table, a file in that table's format.",
            show_default=False,
        ),
    ],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the CSV here (default: stdout).")
    ] = None,
    proba: Annotated[
        bool, typer.Option("--proba", help="Add one proba_<label> column per class.")
    ] = False,
    keep: Annotated[
        list[str] | None,
        typer.Option(
            "--keep",
            help="Copy this input column into the output (repeatable; table models; id "
            "columns are always copied).",
        ),
    ] = None,
) -> None:
    """Predict labels from raw features (CSV/NPZ, or the raw table of a table model), as CSV.

    Example: mlptrain predict runs/digits/20260101-120000 new_digits.csv --proba -o out.csv
    """
    with user_errors():
        from mlptrain.serving.predict import predict_file

        notes: list[str] = []
        text = predict_file(model, input, output=output, proba=proba, keep=keep or [], notes=notes)
        for note in notes:
            typer.echo(f"note: {note}", err=True)
        if output is None:
            typer.echo(text, nl=False)
        else:
            typer.echo(f"wrote {text.count(chr(10)) - 1} predictions to {output}", err=True)


@app.command()
def gradcheck(
    config: ConfigArg,
    samples: Annotated[int, typer.Option(help="Training rows to check on.")] = 8,
    set_: SetOpt = None,
) -> None:
    """Check every layer's gradients by finite differences.

    Float64, on real samples of the configured data; exit 1 if any relative error exceeds 1e-5.

    Example: mlptrain gradcheck configs/digits.yaml --samples 8
    """
    with user_errors():
        from mlptrain.training.validate import gradcheck_config

        result = gradcheck_config(config, set_ or [], samples=samples)
        typer.echo(result.table())
        if not result.passed:
            typer.echo(f"error: gradient check failed for {', '.join(result.failures)}", err=True)
            raise typer.Exit(1)


@app.command()
def validate(config: ConfigArg, set_: SetOpt = None) -> None:
    """Validate a config, summarise the model, lint its layers.

    Example: mlptrain validate configs/wine.yaml
    """
    with user_errors():
        from mlptrain.training.validate import validate_config

        result = validate_config(config, set_ or [])
        if result.columns:
            from mlptrain.data.columns import format_summary

            typer.echo(format_summary(result.columns))
            for note in result.notes:
                typer.echo(f"note: {note}")
        typer.echo(result.table())
        if result.warnings:
            typer.echo(f"{len(result.warnings)} warning(s):")
            for warning in result.warnings:
                typer.echo(f"  warning: {warning}")
        else:
            typer.echo("config is valid; no warnings")


@app.command()
def datasets() -> None:
    """List the built-in datasets and generators.

    Example: mlptrain datasets
    """
    from mlptrain.data import DATASETS

    def show(value: object) -> str:
        return "-" if value is None else str(value)

    header = ("name", "kind", "samples", "features", "task", "classes", "description")
    rows = [
        (
            d.name,
            d.kind,
            show(d.n_samples),
            show(d.n_features),
            d.task,
            show(d.n_classes),
            d.description,
        )
        for d in DATASETS.values()
    ]
    widths = [max(len(r[c]) for r in [header, *rows]) for c in range(len(header) - 1)]
    for row in [header, *rows]:
        cells = [f"{cell:<{w}}" for cell, w in zip(row[:-1], widths, strict=True)]
        typer.echo("  ".join([*cells, row[-1]]))


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Config file to write.", show_default=False)],
    dataset: Annotated[
        str | None,
        typer.Option(
            "--dataset",
            help="Dataset name (see mlptrain datasets); leave out with a --data table for the "
            "tabular preset.",
            show_default=False,
        ),
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option("--data", help="The data file: a table (with --target), or for --dataset."),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option(
            "--target",
            metavar="COL",
            help="The target column of --data (CSV); default: the last column.",
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented starter config for a dataset, or the tabular preset for a table.

    Example: mlptrain init wine.yaml --dataset wine

    Example: mlptrain init houses.yaml --data houses.csv --target price
    """
    with user_errors():
        from mlptrain.config.starter import write_starter

        written = write_starter(path, dataset, data=data, target=target, force=force)
        typer.echo(f"wrote {written}; check it with: mlptrain validate {written}")


@app.command()
def inspect(
    checkpoint: Annotated[
        Path, typer.Argument(help="A checkpoint file or run directory.", show_default=False)
    ],
    format: Annotated[
        InspectFormat, typer.Option("--format", help="Output format.")
    ] = InspectFormat.table,
) -> None:
    """Show a checkpoint's metadata, tensors and integrity.

    Example: mlptrain inspect runs/digits/20260101-120000/checkpoints/best.safetensors
    """
    with user_errors():
        from mlptrain.session.directory import resolve_checkpoint
        from mlptrain.store.checkpoint import inspect_checkpoint

        info = inspect_checkpoint(resolve_checkpoint(checkpoint))
        if format is InspectFormat.json:
            typer.echo(json.dumps(info, indent=2))
        else:
            typer.echo(_inspect_table(info))
        if info["integrity"] != "ok":
            typer.echo(f"error: {info['path']}: {info['integrity']}", err=True)
            raise typer.Exit(2)


def _inspect_table(info: dict) -> str:
    meta = info.get("meta") or {}
    config = meta.get("config") or {}
    classes = meta.get("classes")
    facts = [
        ("path", info["path"]),
        ("file size", f"{info['file_bytes']:,} bytes"),
        ("format", f"{info['format']} v{info['format_version']}"),
        ("written by", f"mlptrain {info['mlptrain_version']}"),
        ("integrity", info["integrity"]),
        ("sha256", info["sha256"]),
        ("run", config.get("name", "-")),
        ("kind", meta.get("kind", "-")),
        ("task", meta.get("task", "-")),
        ("features", meta.get("n_features", "-")),
        ("classes", "-" if classes is None else ", ".join(map(str, classes))),
        ("epoch / step", f"{meta.get('epoch', '-')} / {meta.get('step', '-')}"),
    ]
    width = max(len(k) for k, _ in facts)
    lines = [f"{key:<{width}}  {value}" for key, value in facts]
    rows = [
        (t["name"], t["dtype"], "x".join(map(str, t["shape"])) or "scalar", f"{t['nbytes']:,}")
        for t in info["tensors"]
    ]
    header = ("tensor", "dtype", "shape", "bytes")
    widths = [max(len(r[c]) for r in [header, *rows]) for c in range(4)]
    lines += ["", f"{info['n_tensors']} tensors, {info['tensor_bytes']:,} bytes:"]
    for row in [header, *rows]:
        lines.append(
            f"  {row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:<{widths[2]}}  {row[3]:>{widths[3]}}"
        )
    return "\n".join(lines)


@app.command()
def export(
    model: ModelArg,
    out: Annotated[Path, typer.Option("--out", help="Folder to write into.", show_default=False)],
    format: Annotated[
        ExportFormat,
        typer.Option(
            "--format", help="numpy: standalone predict.py + weights.npz; onnx: model.onnx."
        ),
    ] = ExportFormat.numpy,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite files already in --out.")
    ] = False,
) -> None:
    """Export a model as a standalone NumPy script or ONNX.

    Example: mlptrain export runs/digits/20260101-120000 --format numpy --out digits_model
    """
    with user_errors():
        from mlptrain.serving.export import export_numpy, export_onnx

        writer = export_numpy if format is ExportFormat.numpy else export_onnx
        for written in writer(model, out, force=force):
            typer.echo(f"wrote {written}")
