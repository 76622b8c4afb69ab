"""``mlptrain sweep`` and ``mlptrain cv``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mlptrain.cli.app import ConfigArg, SetOpt, TrackOpt, app, user_errors


@app.command()
def sweep(
    config: ConfigArg,
    grid: Annotated[
        list[str] | None,
        typer.Option(
            "--grid", metavar="KEY=V1,V2", help="key.path=v1,v2,... values to try (repeatable)."
        ),
    ] = None,
    random: Annotated[
        list[str] | None,
        typer.Option(
            "--random",
            metavar="KEY=DIST",
            help="key.path=DIST, DIST one of loguniform(a,b), uniform(a,b), randint(a,b), "
            "choice(v1,v2,...) (repeatable).",
        ),
    ] = None,
    trials: Annotated[
        int | None,
        typer.Option("--trials", help="Random samples, or the TPE study's total (default 10)."),
    ] = None,
    seeds: Annotated[
        int | None, typer.Option("--seeds", help="Repeat each setting with N seeds.")
    ] = None,
    monitor: Annotated[
        str | None,
        typer.Option(
            "--monitor",
            help="Rank by this train/val metric (default val_loss; test metrics never rank).",
        ),
    ] = None,
    spec: Annotated[
        Path | None,
        typer.Option(
            "--spec", help="Sweep YAML file (grid/random/trials/seeds/monitor/search/prune)."
        ),
    ] = None,
    set_: SetOpt = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Sweep directory (default runs/<name>/sweep-<id>)."),
    ] = None,
    jobs: Annotated[int, typer.Option("--jobs", help="Trials run in parallel locally.")] = 1,
    scheduler: Annotated[
        str | None,
        typer.Option("--scheduler", help="Dask scheduler address, e.g. tcp://HOST:8786."),
    ] = None,
    shard: Annotated[
        str | None, typer.Option("--shard", help="Run only trials with index % N == i: i/N.")
    ] = None,
    track: TrackOpt = None,
    search: Annotated[
        str | None,
        typer.Option(
            "--search",
            metavar="grid|random|tpe",
            help="How to choose trials (default: random with --random, else grid); tpe is "
            "Optuna's TPE (mlptrain[optuna]).",
        ),
    ] = None,
    prune: Annotated[
        str | None,
        typer.Option(
            "--prune",
            metavar="none|median|hyperband",
            help="Stop hopeless trials early, watching the validation monitor each epoch.",
        ),
    ] = None,
    storage: Annotated[
        str | None,
        typer.Option(
            "--storage",
            metavar="URL",
            help="Optuna storage (SQLAlchemy URL) shared by workers; default: study.db in "
            "the sweep directory.",
        ),
    ] = None,
    figures: Annotated[
        str,
        typer.Option(
            "--figures",
            metavar="best|all|none",
            help="Whose figures and report.html to draw: the best trial's (at the end), "
            "every trial's, or none.",
        ),
    ] = "best",
) -> None:
    """Search hyper-parameters: grid, random or TPE, with pruning and seeds.

    Trials run here, in parallel processes, on a Dask cluster, or from a shared Optuna study
    on many machines; resumable.

    Example: mlptrain sweep configs/iris.yaml --grid model.layers[0].units=16,32 --seeds 3
    """
    with user_errors():
        from mlptrain.search import build_spec, parse_shard, run_sweep

        sweep_spec = build_spec(
            grid=grid or [], random=random or [], trials=trials, seeds=seeds,
            monitor=monitor, spec_file=spec, search=search, prune=prune,
        )  # fmt: skip
        shard_pair = parse_shard(shard) if shard is not None else None

        def show(record: dict[str, Any]) -> None:
            line = f"{record['trial']} {record['status']} ({record['seconds']:.1f} s)"
            if record["status"] == "pruned":
                line += f" at epoch {record['epochs']}"
            elif record["status"] != "completed":
                line += f": {record['error']}"
            typer.echo(line)

        result = run_sweep(
            config, sweep_spec, overrides=set_ or [], out=out, jobs=jobs,
            scheduler=scheduler, shard=shard_pair, on_record=show, storage=storage,
            figures=figures, track=track or [],
            on_warning=lambda line: typer.echo(line, err=True),
        )  # fmt: skip
        summary = result.summary
        if result.skipped:
            typer.echo(f"skipped {len(result.skipped)} finished trial(s)")
        best = summary["best"]
        if best is not None:
            from mlptrain.search import mean_text, params_text

            typer.echo(
                f"best: {params_text(best['params'])}: {summary['monitor']} {mean_text(best)}"
            )
            typer.echo(f"best config: {result.dir / 'best.yaml'}")
        typer.echo(f"sweep directory: {result.dir}")
        counts = summary["counts"]
        if counts.get("pruned"):
            typer.echo(
                f"{counts['pruned']} trial(s) pruned; {summary['epochs']} epochs trained in all"
            )
        failed = result.failed
        if failed:
            typer.echo(f"{len(failed)} of {len(result.ran)} trial(s) failed", err=True)
            raise typer.Exit(1)


@app.command()
def cv(
    config: ConfigArg,
    folds: Annotated[int, typer.Option("--folds", help="Number of folds.")] = 5,
    set_: SetOpt = None,
    jobs: Annotated[int, typer.Option("--jobs", help="Folds run in parallel.")] = 1,
    out: Annotated[Path | None, typer.Option("--out", help="Where cv.json and cv.md go.")] = None,
    track: TrackOpt = None,
) -> None:
    """k-fold cross-validation on train+val.

    The test split is left out; prints mean ± std of each metric over folds. A streamed
    table (data.stream: true) is cut into folds by each row's hash, never held in memory.

    Example: mlptrain cv configs/iris.yaml --folds 5 --jobs 2
    """
    with user_errors():
        from mlptrain.reporting.report import format_metrics_table
        from mlptrain.search.cv import cross_validate, monitoring_note
        from mlptrain.search.oof import OOF_FILE

        result = cross_validate(
            config,
            folds=folds,
            overrides=set_ or [],
            jobs=jobs,
            out=out,
            track=track or [],
            on_warning=lambda line: typer.echo(line, err=True),
        )
        typer.echo(f"{folds}-fold cross-validation of {result.summary['name']}:")
        typer.echo(monitoring_note(result.summary))
        for name, stat in result.summary["metrics"].items():
            typer.echo(f"  {name:<20} {stat['mean']:.4f} ± {stat['std']:.4f}")
        typer.echo("out of fold (every row's prediction by the fold that held it out):")
        typer.echo(format_metrics_table(result.summary["out_of_fold"], result.summary["task"]))
        typer.echo(f"results: {result.dir / 'cv.json'}; predictions: {result.dir / OOF_FILE}")
