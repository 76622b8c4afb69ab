"""A sweep (and a cv) against the same fits run as separate `mlptrain fit --no-figures` processes.

    python benchmarks/sweep_overhead.py [--repeats 3]

Contenders, alternated repeat by repeat (A B C D A B C D ...) so that drift hits all alike:

- sweep: `mlptrain sweep configs/iris.yaml --grid train.optimizer.lr=0.003,0.01,0.03,0.1
  --seeds 2 --jobs 2 --set train.epochs=30` (8 trials; figures: the best trial's, the default)
- fits: the same 8 trials as 8 `mlptrain fit --no-figures` processes, one after another
- cv: `mlptrain cv configs/iris.yaml --folds 8 --jobs 2 --set train.epochs=30`
- cv fits: 8 `mlptrain fit --no-figures` processes of the same config

Target (issue 14): sweep <= 0.35x fits, cv <= 0.35x cv fits. Reports min / median / max per
contender, the median of the per-repeat ratios, the load average before and after, and writes
benchmarks/sweep_overhead.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CONFIG = str(HERE.parent / "configs" / "iris.yaml")
LRS = ["0.003", "0.01", "0.03", "0.1"]


def timed(commands: list[list[str]]) -> float:
    started = time.perf_counter()
    for command in commands:
        subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - started


def contenders(mlptrain: str, tmp: Path) -> dict[str, list[list[str]]]:
    sweep = [mlptrain, "sweep", CONFIG, "--grid", f"train.optimizer.lr={','.join(LRS)}",
             "--seeds", "2", "--jobs", "2", "--set", "train.epochs=30", "--out", str(tmp / "sw")]  # fmt: skip
    fits = [
        [mlptrain, "fit", CONFIG, "--no-figures", "-q", "--overwrite", "--out",
         str(tmp / f"fit-{lr}-{seed}"), "--set", f"train.optimizer.lr={lr}", "--set",
         f"seed={seed}", "--set", "train.epochs=30"]
        for lr in LRS for seed in (0, 1)
    ]  # fmt: skip
    cv = [mlptrain, "cv", CONFIG, "--folds", "8", "--jobs", "2", "--set", "train.epochs=30",
          "--out", str(tmp / "cv")]  # fmt: skip
    cv_fits = [
        [mlptrain, "fit", CONFIG, "--no-figures", "-q", "--overwrite", "--out",
         str(tmp / f"cvfit-{k}"), "--set", "train.epochs=30"]
        for k in range(8)
    ]  # fmt: skip
    return {"sweep": [sweep], "fits": fits, "cv": [cv], "cv fits": cv_fits}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    mlptrain = shutil.which("mlptrain") or "mlptrain"
    load_before = os.getloadavg()
    times: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        runs = contenders(mlptrain, Path(tmp))
        timed(runs["fits"][:1])  # warm-up: the OS file cache
        for _ in range(args.repeats):
            for name, commands in runs.items():
                shutil.rmtree(Path(tmp) / "sw", ignore_errors=True)  # a sweep would resume
                times.setdefault(name, []).append(timed(commands))
    ratios = {
        "sweep / fits": [a / b for a, b in zip(times["sweep"], times["fits"], strict=True)],
        "cv / cv fits": [a / b for a, b in zip(times["cv"], times["cv fits"], strict=True)],
    }
    result = {
        "seconds": {
            k: {"min": min(v), "median": statistics.median(v), "max": max(v), "all": v}
            for k, v in times.items()
        },  # fmt: skip
        "ratios": {k: {"median": statistics.median(v), "all": v} for k, v in ratios.items()},
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "cores": os.cpu_count(),
    }
    (HERE / "sweep_overhead.json").write_text(json.dumps(result, indent=2) + "\n")
    for name, stat in result["seconds"].items():
        spread = (stat["max"] - stat["min"]) / stat["median"]
        print(f"{name:8s} min {stat['min']:.2f} s  median {stat['median']:.2f} s  "
              f"max {stat['max']:.2f} s  spread {spread:.0%}")  # fmt: skip
    for name, stat in result["ratios"].items():
        print(f"{name}: median ratio {stat['median']:.2f} (per repeat: "
              f"{', '.join(f'{r:.2f}' for r in stat['all'])})")  # fmt: skip
    print(f"load average before {load_before}, after {result['load_average_after']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
