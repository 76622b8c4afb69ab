"""Tracking overhead: W1 (benchmarks/w1.yaml) trained with MLflow and TensorBoard on vs off.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/tracking.py [--repeats 3]
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/tracking.py --whole digits W2

``--whole``: what a user waits for, whole `mlptrain fit --no-figures` processes without and
with `--track mlflow`, alternating (issue 25: at most +0.5 s on digits, +5% on W2); results
in benchmarks/tracking_whole_results.json.

In one process, after one warm-up fit of each kind (imports, the SQLite store's tables),
`mlptrain.fit` runs alternately without and with both trackers (MLflow into a SQLite file in a
temporary directory, TensorBoard into the run directory), so both see the same machine load.
Per fit: the training time the run reports (its epochs), the wall time of `fit`, and the CPU
time of the whole process (every thread: training and the trackers'). Also the import time of
the two TensorBoard writers the tracker could use, in fresh processes. Results go to
benchmarks/tracking_results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE.parent))

from mlptrain.store.atomic import atomic_write_text  # noqa: E402

IMPORTS = {
    "tensorboard EventFileWriter": "from tensorboard.summary.writer.event_file_writer import "
    "EventFileWriter; from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2",
    "tensorboardX SummaryWriter": "from tensorboardX import SummaryWriter",
}


def fit_once(out: Path, store: Path, tracked: bool) -> dict[str, float]:
    from mlptrain.api import fit

    overrides = [f"track.mlflow.tracking_uri=sqlite:///{store}"] if tracked else []
    track = ["mlflow", "tensorboard"] if tracked else []
    cpu, wall = time.process_time(), time.perf_counter()
    run = fit(HERE / "w1.yaml", out=out, overwrite=True, figures=False, overrides=overrides,
              track=track)  # fmt: skip
    result = {
        "train": run.report["training"]["seconds"],
        "wall": time.perf_counter() - wall,
        "cpu": time.process_time() - cpu,
    }
    if tracked:
        states = run.report["tracking"]
        assert all(t["status"] == "ok" for t in states.values()), states
    return result


def cli_seconds(args: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "mlptrain", *args], check=True, capture_output=True)
    return time.perf_counter() - started


def whole_process(repeats: int, workloads: list[str]) -> dict[str, object]:
    """Fresh `mlptrain fit --no-figures` processes without and with `--track mlflow` (the
    default SQLite store, its tables created by the warm-up round, as for a user's second
    run), alternating; per round the seconds tracking adds."""
    found: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "mlruns.db"
        for name in workloads:
            config = {"digits": str(ROOT / "configs" / "digits.yaml"), "W2": str(HERE / "w2.yaml")}[
                name
            ]
            base = ["fit", config, "--no-figures", "-q", "--out", str(Path(tmp) / "run"),
                    "--overwrite"]  # fmt: skip
            tracked = [*base, "--track", "mlflow", "--set",
                       f"track.mlflow.tracking_uri=sqlite:///{store}"]  # fmt: skip
            cli_seconds(base)
            cli_seconds(tracked)
            off: list[float] = []
            on: list[float] = []
            for _ in range(repeats):
                off.append(cli_seconds(base))
                on.append(cli_seconds(tracked))
                print(f"{name}: off {off[-1]:.2f} s, on {on[-1]:.2f} s, "
                      f"load {os.getloadavg()[0]:.2f}", flush=True)  # fmt: skip
            added = [b - a for a, b in zip(off, on, strict=True)]
            found[name] = {
                "off_seconds": summary(off),
                "on_seconds": summary(on),
                "added_seconds": summary(added),
                "ratio_on_off": summary([b / a for a, b in zip(off, on, strict=True)]),
                "raw": {"off": off, "on": on},
            }
    return found


def import_seconds(statement: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", statement], check=True, capture_output=True)
    return time.perf_counter() - started


def summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-imports", action="store_true")
    parser.add_argument(
        "--whole", nargs="*", choices=["digits", "W2"], default=None,
        help="only the whole-process CLI measurement, of these workloads (default: digits)",
    )  # fmt: skip
    args = parser.parse_args()
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    load_before = os.getloadavg()
    if args.whole is not None:
        result = {
            "workload": "whole `mlptrain fit --no-figures` processes, --track mlflow off/on",
            "repeats": args.repeats,
            "cpus": os.cpu_count(),
            "load_average_before": load_before,
            "whole_process": whole_process(args.repeats, args.whole or ["digits"]),
            "load_average_after": os.getloadavg(),
        }
        path = HERE / "tracking_whole_results.json"
        atomic_write_text(path, json.dumps(result, indent=2) + "\n")
        print(json.dumps(result, indent=2), flush=True)
        return 0
    times: dict[str, list[dict[str, float]]] = {"off": [], "on": []}
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "mlruns.db"
        for tracked in (True, False):
            fit_once(Path(tmp) / "run", store, tracked)
        for repeat in range(args.repeats):
            for key, tracked in (("off", False), ("on", True)):
                one = fit_once(Path(tmp) / "run", store, tracked)
                times[key].append(one)
                print(
                    f"{repeat} {key}: train {one['train']:.2f} s, wall {one['wall']:.2f} s, "
                    f"cpu {one['cpu']:.2f} s, load {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
    imports: dict[str, list[float]] = {name: [] for name in IMPORTS}
    if not args.skip_imports:
        for _ in range(args.repeats):
            for name, statement in IMPORTS.items():
                imports[name].append(import_seconds(statement))

    def med(key: str, what: str) -> float:
        return statistics.median(t[what] for t in times[key])

    result = {
        "workload": "W1 (benchmarks/w1.yaml) via mlptrain.fit(figures=False), in one process",
        "repeats": args.repeats,
        "cpus": os.cpu_count(),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        **{
            f"{what}_seconds": {k: summary([t[what] for t in times[k]]) for k in times}
            for what in ("train", "wall", "cpu")
        },
        **{
            f"{what}_ratio_on_off": med("on", what) / med("off", what)
            for what in ("train", "wall", "cpu")
        },
        "raw": times,
        "import_seconds": {name: summary(v) for name, v in imports.items() if v},
    }
    atomic_write_text(HERE / "tracking_results.json", json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "raw"}, indent=2), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
