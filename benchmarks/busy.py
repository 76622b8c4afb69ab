"""A fit next to a process keeping every core busy, against the same fit on the idle machine.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/busy.py [--repeats 3]

Each round runs every command once on the idle machine, then once more while one
``while True: pass`` process per core runs (started a second before, killed after), so the
two times of a command are seconds apart. Commands: `mlptrain fit benchmarks/w1.yaml
--no-figures` (digits 64-256-128-10, 50 epochs), a small table (`mlptrain fit
configs/customers_csv.yaml --no-figures`), and W1 under the rule before issue 25 (BLAS threads
for any product over 1M multiply-adds, so W1 on two threads), for comparison. Reported per
command: idle and busy seconds, and the per-round ratio busy / idle with its median. Target
(issue 25): W1 and the small table at most 2.5x. The load average before and after is
printed. Results: benchmarks/busy_results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from mlptrain.store.atomic import atomic_write_text  # noqa: E402

PREVIOUS_RULE = (
    "import sys, mlptrain.training.threads as t; t.SINGLE_THREAD_MACS = 1_000_000; "
    "from mlptrain.cli import main; sys.argv = ['mlptrain', *sys.argv[1:]]; main()"
)


def _time(cmd: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
    return time.perf_counter() - started


def _hogs() -> list[subprocess.Popen[bytes]]:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(cores or 1)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=HERE / "busy_results.json")
    args = parser.parse_args(argv)
    mlptrain = shutil.which("mlptrain") or "mlptrain"
    with tempfile.TemporaryDirectory() as tmp:
        common = ["--out", tmp, "--overwrite", "-q", "--no-figures"]
        w1 = ["fit", str(HERE / "w1.yaml"), *common]
        commands = {
            "W1": [mlptrain, *w1],
            "small table": [mlptrain, "fit", str(ROOT / "configs/customers_csv.yaml"), *common],
            "W1, previous rule (2 threads)": [sys.executable, "-c", PREVIOUS_RULE, *w1],
        }
        results: dict[str, Any] = {
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "date": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
            "load_average_before": list(os.getloadavg()),
            "commands": {},
        }
        for cmd in commands.values():  # warm-up: the OS file cache
            _time(cmd)
        times: dict[str, dict[str, list[float]]] = {
            name: {"idle": [], "busy": []} for name in commands
        }
        for _ in range(args.repeats):
            for name, cmd in commands.items():
                times[name]["idle"].append(_time(cmd))
                hogs = _hogs()
                try:
                    time.sleep(1.0)
                    times[name]["busy"].append(_time(cmd))
                finally:
                    for hog in hogs:
                        hog.kill()
                        hog.wait()
    for name, found in times.items():
        ratios = [b / a for a, b in zip(found["idle"], found["busy"], strict=True)]
        results["commands"][name] = {**found, "busy / idle": ratios}
        print(
            f"{name:32s} idle {statistics.median(found['idle']):6.2f} s  busy "
            f"{statistics.median(found['busy']):6.2f} s  busy/idle median "
            f"{statistics.median(ratios):.2f} (min {min(ratios):.2f}, max {max(ratios):.2f})",
            flush=True,
        )
    results["load_average_after"] = list(os.getloadavg())
    print(
        f"load average before {results['load_average_before']}, after {results['load_average_after']}"
    )
    atomic_write_text(args.out, json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
