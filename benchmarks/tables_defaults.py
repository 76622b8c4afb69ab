"""Which defaults of the tabular config win: one change at a time, on tables NOT in the suite.

    python benchmarks/tables_defaults.py [--seeds 2]   # writes tables_defaults_results.json

The suite's tables (benchmarks/tables_suite.py) are kept out so the defaults are not tuned to
them. Each variant changes one setting of ``tables_suite.mlptrain_config`` (the tabular
preset, or its mirror); scikit-learn's MLP pipeline is run on the same splits as a reference.
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

HELD_OUT = (
    suite.Table(
        "Ecdat",
        "Males",
        "wage",
        "regression",
        ("rownames", "nr"),
        "young males' wages; 4,360 rows; gaps in residence",
    ),
    suite.Table(
        "AER",
        "NMES1988",
        "visits",
        "regression",
        ("rownames", "nvisits", "ovisits", "novisits"),
        "physician visits; 4,406 rows; 9 text columns; other visit counts dropped",
    ),
    suite.Table(
        "Ecdat",
        "Benefits",
        "ui",
        "classification",
        ("rownames",),
        "unemployment insurance take-up; 4,877 rows; 11 text columns",
    ),
    suite.Table(
        "openintro",
        "smoking",
        "smoke",
        "classification",
        ("rownames", "amt_weekends", "amt_weekdays", "type"),
        "UK smoking survey; 1,691 rows; gaps; amounts and type reveal the target",
    ),
)

VARIANTS: dict[str, list[str]] = {
    "base": [],
    "batch 64": ["train.batch_size=64"],
    "batch 512": ["train.batch_size=512"],
    "patience 20": ["train.early_stopping.patience=20"],
    "validation 20%": ["data.val_size=0.2"],
    "width 512": ["model.units=512"],  # both hidden layers (not a real override: see below)
    "glorot init": ["model.init=glorot"],
}


def fit_variant(
    table: suite.Table, seed: int, folder: Path, overrides: list[str]
) -> dict[str, Any]:
    import numpy as np
    import pandas as pd

    import mlptrain

    train_csv, test_csv = folder / "train.csv", folder / "test.csv"
    config = suite.mlptrain_config(train_csv, table, seed)
    if overrides == ["model.units=512"]:  # overrides cannot index into the layer list
        for layer in config["model"]["layers"][:-1]:
            if isinstance(layer, dict):
                layer["units"] = 512
        overrides = []
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=suite.HERE / "tables_defaults_results.json")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {
        "command": "python benchmarks/tables_defaults.py --seeds " + str(args.seeds),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load_average_before": list(os.getloadavg()),
        "variants": VARIANTS,
        "tables": {t.name: t.why for t in HELD_OUT},
        "fits": [],
    }
    with tempfile.TemporaryDirectory(prefix="tables_defaults_") as tmp:
        for seed in range(args.seeds):
            for table in HELD_OUT:
                folder = Path(tmp) / table.item / f"seed{seed}"
                suite.write_split(table, seed, folder)
                rows = {"sklearn_mlp": suite.run_one("sklearn_mlp", table, seed, folder)}
                for name, overrides in VARIANTS.items():
                    try:
                        rows[name] = fit_variant(table, seed, folder, overrides)
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
