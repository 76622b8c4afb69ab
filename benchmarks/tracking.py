"""Tracking overhead: W1 (benchmarks/w1.yaml) trained with MLflow and TensorBoard on vs off.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/tracking.py [--repeats 5]

Each repeat is a fresh `mlptrain fit` process, alternating off/on (after one warm-up of each),
so both see the same machine load. Times: the training time the run reports (the sum of its
epochs) and the whole process. The MLflow store is a SQLite file in a temporary directory,
created by the warm-up. Also the import time of the two TensorBoard writers the tracker could
use. Results go to benchmarks/tracking_results.json.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
print = functools.partial(print, flush=True)  # noqa: A001  (progress shows in a log)
sys.path.insert(0, str(HERE.parent))

from mlptrain.store.atomic import atomic_write_text  # noqa: E402

IMPORTS = {
    "tensorboard EventFileWriter": "from tensorboard.summary.writer.event_file_writer import "
    "EventFileWriter; from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2",
    "tensorboardX SummaryWriter": "from tensorboardX import SummaryWriter",
}


def fit_once(out: Path, store: Path, tracked: bool) -> tuple[float, float]:
    """(training seconds from report.json, whole-process seconds) of one fresh fit."""
    mlptrain = shutil.which("mlptrain") or "mlptrain"
    cmd = [mlptrain, "fit", str(HERE / "w1.yaml"), "--out", str(out), "--overwrite", "-q",
           "--no-figures"]  # fmt: skip
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    if tracked:
        cmd += ["--track", "mlflow", "--track", "tensorboard",
                "--set", f"track.mlflow.tracking_uri=sqlite:///{store}"]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env=env)
    wall = time.perf_counter() - started
    report = json.loads((out / "report.json").read_text())
    if tracked:
        assert all(t["status"] == "ok" for t in report["tracking"].values()), report["tracking"]
    return report["training"]["seconds"], wall


def import_seconds(statement: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", statement], check=True, capture_output=True)
    return time.perf_counter() - started


def summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    load_before = os.getloadavg()
    times: dict[str, dict[str, list[float]]] = {
        "off": {"train": [], "wall": []},
        "on": {"train": [], "wall": []},
    }
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "mlruns.db"
        fit_once(Path(tmp) / "run", store, True)  # warm-up: file cache, the store's tables
        for repeat in range(args.repeats):
            for key, tracked in (("off", False), ("on", True)):
                train, wall = fit_once(Path(tmp) / "run", store, tracked)
                times[key]["train"].append(train)
                times[key]["wall"].append(wall)
                load = os.getloadavg()[0]
                print(f"{repeat} {key}: train {train:.2f} s, wall {wall:.2f} s, load {load:.1f}")
    imports: dict[str, list[float]] = {name: [] for name in IMPORTS}
    for _ in range(args.repeats):
        for name, statement in IMPORTS.items():
            imports[name].append(import_seconds(statement))
    off, on = times["off"], times["on"]
    result = {
        "workload": "W1 (benchmarks/w1.yaml) via `mlptrain fit --no-figures`",
        "repeats": args.repeats,
        "cpus": os.cpu_count(),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "train_seconds": {"off": summary(off["train"]), "on": summary(on["train"])},
        "wall_seconds": {"off": summary(off["wall"]), "on": summary(on["wall"])},
        "train_ratio_on_off": statistics.median(on["train"]) / statistics.median(off["train"]),
        "wall_ratio_on_off": statistics.median(on["wall"]) / statistics.median(off["wall"]),
        "raw": times,
        "import_seconds": {name: summary(v) for name, v in imports.items()},
    }
    atomic_write_text(HERE / "tracking_results.json", json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "raw"}, indent=2), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
