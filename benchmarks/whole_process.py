"""Whole-process times: `mlptrain fit` of W1 and W2 against a plain scikit-learn script.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/whole_process.py [--repeats 5]

For each workload, fresh processes in turn, round after round (after one warm-up round that
fills the OS file cache): `mlptrain fit benchmarks/wN.yaml` (with its figures and
report.html), the same with `--no-figures`, the same with the figures drawn in the fit's own
process (the figure worker switched off), and `python benchmarks/sklearn_fit.py WN` (load,
split, scale, fit, score). Reported: min / median / max per command, and per round the ratios
fit ÷ script and the seconds the figures add (fit − fit --no-figures of the same round), with
their medians; the load average before and after. Also `mlptrain --help`. Targets
(issue 14): W1 fit ≤ 1.4× the script, W2 ≤ 0.8×; figures add ≤ 0.6 s on W1, ≤ 0.8 s on W2.
Results: benchmarks/whole_process.json.
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
sys.path.insert(0, str(HERE.parent))

from mlptrain.store.atomic import atomic_write_text  # noqa: E402

IN_PROCESS = (
    "import sys, mlptrain.reporting.figures.worker as w; w.start_worker = lambda idle=None: None; "
    "from mlptrain.cli import main; sys.argv = ['mlptrain', *sys.argv[1:]]; main()"
)


def _time(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - t0


def _stats(values: list[float]) -> dict[str, Any]:
    return {
        "min": min(values),
        "median": statistics.median(values),
        "max": max(values),
        "all": values,
    }


def measure(commands: dict[str, list[str]], repeats: int) -> dict[str, list[float]]:
    """One warm-up round, then ``repeats`` rounds of every command in turn."""
    for cmd in commands.values():
        _time(cmd)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(repeats):
        for name, cmd in commands.items():
            times[name].append(_time(cmd))
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workload", action="append", help="W1 or W2 (default both)")
    parser.add_argument("--out", type=Path, default=HERE / "whole_process.json")
    args = parser.parse_args(argv)
    mlptrain = shutil.which("mlptrain") or "mlptrain"
    results: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "repeats": args.repeats,
        "load_average_before": list(os.getloadavg()),
        "workloads": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        for workload in args.workload or ["W1", "W2"]:
            config = str(HERE / f"{workload.lower()}.yaml")
            fit = [mlptrain, "fit", config, "--out", tmp, "--overwrite", "-q"]
            commands = {
                "fit": fit,
                "fit --no-figures": [*fit, "--no-figures"],
                # The same fit with its figures drawn in the fit's own process: does the
                # figure worker pay for itself (issue 21)?
                "fit, figures in-process": [sys.executable, "-c", IN_PROCESS, *fit[1:]],
                "sklearn script": [sys.executable, str(HERE / "sklearn_fit.py"), workload],
            }
            times = measure(commands, args.repeats)
            script = times["sklearn script"]
            entry: dict[str, Any] = {name: _stats(t) for name, t in times.items()}
            entry["fit / script"] = _stats(
                [a / b for a, b in zip(times["fit"], script, strict=True)]
            )
            entry["fit --no-figures / script"] = _stats(
                [a / b for a, b in zip(times["fit --no-figures"], script, strict=True)]
            )
            for variant, label in (("fit", ""), ("fit, figures in-process", ", in-process")):
                entry[f"figures add{label} (s)"] = _stats(
                    [a - b for a, b in zip(times[variant], times["fit --no-figures"], strict=True)]
                )
            results["workloads"][workload] = entry
            print(workload)
            for name, row in entry.items():
                print(
                    f"  {name:28s} median {row['median']:7.3f}"
                    f"  (min {row['min']:.3f}, max {row['max']:.3f})",
                    flush=True,
                )
        results["mlptrain --help"] = _stats(measure({"h": [mlptrain, "--help"]}, args.repeats)["h"])
    results["load_average_after"] = list(os.getloadavg())
    print(
        f"load average before {results['load_average_before']}, "
        f"after {results['load_average_after']}"
    )
    atomic_write_text(args.out, json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
