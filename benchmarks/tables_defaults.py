"""Which defaults of the tabular config win: one change at a time, on tables NOT in the suite.

    python benchmarks/tables_defaults.py [--seeds 2]   # writes tables_defaults_results.json
    python benchmarks/tables_defaults.py --table       # its markdown table

The suite's tables (benchmarks/tables_suite.py) are kept out so the defaults are not tuned to
them. Each variant changes one setting of ``tables_suite.mlptrain_config`` (the tabular
preset): the ensemble's size or kind, no ensemble at all, the patience; scikit-learn's MLP
pipeline is run on the same splits as a reference. ``--table`` prints the ablation table of
docs/tables.md from the results file.
Scores as in the suite (accuracy, R²); the best epoch kept is recorded for mlptrain.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import tables_scoring as scoring
import tables_suite as suite
from tables_suite import HELD_OUT


def _layers(k: int | None, hidden: str = "linear") -> list[Any]:
    """The preset's 256-256 ReLU stack; an ensemble of ``k`` members around it (``hidden``:
    ``linear`` shares the hidden layers, ``ensemble_linear`` gives each member its own)."""
    if k is None:
        return [{"type": "linear", "units": 256}, "relu"] * 2 + [{"type": "linear"}]
    body = [{"type": hidden, "units": 256}, "relu"] * 2
    return [{"type": "ensemble", "k": k}, *body, {"type": "ensemble_linear"}, "ensemble_mean"]


# name -> (overrides, layers or None for the preset's own)
VARIANTS: dict[str, tuple[list[str], list[Any] | None]] = {
    "base": ([], None),
    "no ensemble (one MLP)": ([], _layers(None)),
    "k=4": ([], _layers(4)),
    "k=16": ([], _layers(16)),
    "independent members": ([], _layers(8, "ensemble_linear")),
    "patience 20": (["train.early_stopping.patience=20"], None),
}


def fit_variant(
    table: suite.Table,
    seed: int,
    folder: Path,
    overrides: list[str],
    layers: list[Any] | None = None,
) -> dict[str, Any]:
    import numpy as np
    import pandas as pd

    import mlptrain

    train_csv, test_csv = folder / "train.csv", folder / "test.csv"
    config = suite.mlptrain_config(train_csv, table, seed)
    if layers is not None:  # overrides cannot replace the layer list
        config["model"] = {**config.get("model", {}), "layers": layers}
    start = time.perf_counter()
    run = mlptrain.fit(
        config,
        overrides=overrides,
        out=folder / "variant_run",
        overwrite=True,
        figures=False,
        html=False,
    )
    seconds = time.perf_counter() - start
    test = pd.read_csv(test_csv)
    pred = np.asarray(mlptrain.load(run.dir).predict(test.drop(columns=[table.target]))).ravel()
    row = scoring.score(table.task, list(test[table.target]), list(pred))
    row.update(
        fit_seconds=seconds,
        best_epoch=run.report["training"]["best_epoch"],
        epochs=len(run.history),
    )
    return row


def markdown(results: dict[str, Any]) -> str:
    """The ablation table of a results file: per-table mean scores, mean normalised score,
    mean rank and median fit time of every variant."""
    summary = results["summary"]
    tables = summary["tables"]
    head = "| variant | " + " | ".join(t.split("/")[1] for t in tables)
    lines = [head + " | mean normalised score | mean rank | median fit time |"]
    lines.append("|---|" + "---:|" * (len(tables) + 3))
    for name, m in summary["methods"].items():
        cells = [f"{summary['per_table'][t]['mean_score'][name]:.3f}" for t in tables]
        lines.append(
            f"| {name} | " + " | ".join(cells) + f" | {m['mean_normalised_score']:.2f} | "
            f"{m['mean_rank']:.2f} | {m['median_fit_seconds']:.1f} s |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=suite.HERE / "tables_defaults_results.json")
    parser.add_argument("--table", action="store_true", help="print the results as markdown")
    args = parser.parse_args(argv)
    if args.table:
        print(markdown(json.loads(args.out.read_text(encoding="utf-8"))))
        return 0
    results: dict[str, Any] = {
        "command": "python benchmarks/tables_defaults.py --seeds " + str(args.seeds),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load_average_before": list(os.getloadavg()),
        "variants": {name: {"overrides": o, "layers": v} for name, (o, v) in VARIANTS.items()},
        "tables": {t.name: t.why for t in HELD_OUT},
        "fits": [],
    }
    with tempfile.TemporaryDirectory(prefix="tables_defaults_") as tmp:
        for seed in range(args.seeds):
            for table in HELD_OUT:
                folder = Path(tmp) / table.item / f"seed{seed}"
                suite.write_split(table, seed, folder)
                rows = {"sklearn_mlp": suite.run_one("sklearn_mlp", table, seed, folder)}
                for name, (overrides, layers) in VARIANTS.items():
                    try:
                        rows[name] = fit_variant(table, seed, folder, overrides, layers)
                    except Exception as exc:  # recorded, not hidden
                        rows[name] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
                for name, row in rows.items():
                    fit = {"table": table.name, "seed": seed, **row, "method": name}
                    results["fits"].append(fit)
                    print(json.dumps(fit), flush=True)
                results["load_average_after"] = list(os.getloadavg())
                results["summary"] = scoring.summarise(results["fits"], ["sklearn_mlp", *VARIANTS])
                args.out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
