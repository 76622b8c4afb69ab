"""TPE with pruning against random search: best validation accuracy and epochs spent.

    python benchmarks/search_efficiency.py [--seeds 0 1 2] [--jobs 1]

The search space of issue 15 on configs/digits.yaml (40 epochs, 24 trials each): learning rate
loguniform(1e-5, 0.3), first-layer width in {4, 8, 16, 32, 64, 128}, weight decay
loguniform(1e-6, 0.1); ranked by val_accuracy. For each config seed, four sweeps run one after
another: random search (no pruning), TPE + Hyperband, TPE + median pruning, random + median.
Writes benchmarks/search_results.json and prints a Markdown table (docs/sweeps.md shows it).
Needs mlptrain[optuna].
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CONFIG = HERE.parent / "configs" / "digits.yaml"
SPACE = [
    "--random", "train.optimizer.lr=loguniform(1e-5,0.3)",
    "--random", "model.layers[0].units=choice(4,8,16,32,64,128)",
    "--random", "train.optimizer.weight_decay=loguniform(1e-6,0.1)",
    "--trials", "24", "--monitor", "val_accuracy", "--set", "train.epochs=40",
    "--figures", "none",
]  # fmt: skip
VARIANTS = {
    "random": ["--search", "random"],
    "tpe+hyperband": ["--search", "tpe", "--prune", "hyperband"],
    "tpe+median": ["--search", "tpe", "--prune", "median"],
    "random+median": ["--search", "random", "--prune", "median"],
}


def run_variant(name: str, seed: int, jobs: int, root: Path) -> dict[str, object]:
    out = root / f"{name}-{seed}"
    mlptrain = shutil.which("mlptrain") or "mlptrain"
    command = [mlptrain, "sweep", str(CONFIG), *SPACE, *VARIANTS[name], "--set", f"seed={seed}",
               "--jobs", str(jobs), "--out", str(out)]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    seconds = time.perf_counter() - started
    summary = json.loads((out / "sweep.json").read_text())
    best = summary["best"]
    return {
        "variant": name,
        "seed": seed,
        "best_val_accuracy": best["mean"] if best else None,
        "best_params": best["params"] if best else None,
        "epochs": summary["epochs"],
        "completed": summary["counts"]["completed"],
        "pruned": summary["counts"]["pruned"],
        "failed": summary["counts"]["failed"],
        "seconds": round(seconds, 1),
        "command": " ".join(command[:1] + command[1:]).replace(str(out), "OUT"),
    }


def table(rows: list[dict[str, object]]) -> str:
    lines = [
        "| seed | search | best val_accuracy | epochs | vs random: accuracy | vs random: epochs "
        "| completed / pruned / failed | seconds |",
        "|---|---|---|---|---|---|---|---|",
    ]
    baseline = {r["seed"]: r for r in rows if r["variant"] == "random"}
    for row in rows:
        ref = baseline.get(row["seed"])
        gap = epochs = "–"
        if ref and row is not ref:
            gap = f"{row['best_val_accuracy'] - ref['best_val_accuracy']:+.4f}"  # type: ignore[operator]
            epochs = f"{row['epochs'] / ref['epochs']:.0%}"  # type: ignore[operator]
        lines.append(
            f"| {row['seed']} | {row['variant']} | {row['best_val_accuracy']:.4f} | "
            f"{row['epochs']} | {gap} | {epochs} | {row['completed']} / {row['pruned']} / "
            f"{row['failed']} | {row['seconds']} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS))
    args = parser.parse_args()
    load_before = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            for name in args.variants:
                rows.append(run_variant(name, seed, args.jobs, Path(tmp)))
                print(json.dumps(rows[-1]), file=sys.stderr)
    result = {
        "rows": rows,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "cores": os.cpu_count(),
    }
    (HERE / "search_results.json").write_text(json.dumps(result, indent=2) + "\n")
    print(table(rows))
    print(f"\nload average before {load_before}, after {result['load_average_after']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
