"""mlptrain.sklearn.MLPClassifier against scikit-learn's MLPClassifier, same arguments, one run.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/sklearn_estimator.py \
        [--repeats 5] [--workload W1] [--markdown RESULTS.json]

Both estimators get the same constructor arguments (the issue's:
``hidden_layer_sizes``, ``batch_size``, ``max_iter``, ``tol=0`` and ``n_iter_no_change=max_iter``
so that every fit runs all epochs; everything else at its default, ``random_state=0``) and the
same standardised float32 split of benchmarks/run.py (W1: digits, W2: 100k x 128 synthetic).
Each repeat times one fit of each, in alternating order (A then B, then B then A, ...), and the
ratio mlptrain / scikit-learn is taken per repeat pair, so load from other processes hits both
sides of a ratio alike; the median ratio and its spread (min, max) are reported.

The estimator's overhead over the engine is measured inside the same fits: the time of
``fit`` minus the time spent in ``build`` and the Trainer (what benchmarks/run.py times as
"mlptrain"), i.e. input validation, label encoding, the config and the data preparation.

Results: benchmarks/sklearn_estimator.json (written atomically), with the load average
before and after. ``--markdown FILE`` prints the docs/performance.md table from a results file.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from run import load_split, machine_info  # noqa: E402

from mlptrain.store.atomic import atomic_write_text  # noqa: E402

WORKLOADS = {
    "W1": {"dataset": "digits", "hidden_layer_sizes": (256, 128), "batch_size": 64, "max_iter": 50},
    "W2": {
        "dataset": "synthetic",
        "hidden_layer_sizes": (512, 256),
        "batch_size": 256,
        "max_iter": 3,
    },
}


def arguments(workload: dict[str, Any]) -> dict[str, Any]:
    return {
        "hidden_layer_sizes": workload["hidden_layer_sizes"],
        "batch_size": workload["batch_size"],
        "max_iter": workload["max_iter"],
        "tol": 0.0,
        "n_iter_no_change": workload["max_iter"],
        "random_state": 0,
    }


class EngineClock:
    """Adds up the seconds spent in ``build`` and in the Trainer during one estimator fit."""

    def __init__(self) -> None:
        import mlptrain.sklearn.base as base
        import mlptrain.sklearn.engine as engine

        self.seconds = 0.0
        self._base, self._engine = base, engine
        self._build, self._train = base.build, engine.train

        def timed(fn):
            def wrapper(*args, **kwargs):
                started = time.perf_counter()
                try:
                    return fn(*args, **kwargs)
                finally:
                    self.seconds += time.perf_counter() - started

            return wrapper

        base.build, engine.train = timed(self._build), timed(self._train)

    def close(self) -> None:
        self._base.build, self._engine.train = self._build, self._train


def fit_mlptrain(
    args: dict[str, Any], data: tuple, clock: EngineClock
) -> tuple[float, float, float]:
    from mlptrain.sklearn import MLPClassifier

    X_tr, X_te, y_tr, y_te = data
    clock.seconds = 0.0
    started = time.perf_counter()
    clf = MLPClassifier(**args).fit(X_tr, y_tr)
    seconds = time.perf_counter() - started
    return seconds, float(clf.score(X_te, y_te)), seconds - clock.seconds


def fit_sklearn(args: dict[str, Any], data: tuple) -> tuple[float, float]:
    from sklearn.neural_network import MLPClassifier

    X_tr, X_te, y_tr, y_te = data
    started = time.perf_counter()
    clf = MLPClassifier(**args).fit(X_tr, y_tr)
    seconds = time.perf_counter() - started
    return seconds, float(clf.score(X_te, y_te))


def run_workload(name: str, repeats: int, clock: EngineClock) -> dict[str, Any]:
    workload = WORKLOADS[name]
    data = load_split(workload["dataset"], "float32")
    args = arguments(workload)
    fit_mlptrain(args, data, clock)  # warm-up: imports, BLAS buffers
    fit_sklearn(args, data)
    pairs = []
    for repeat in range(repeats):
        if repeat % 2 == 0:
            ours = fit_mlptrain(args, data, clock)
            theirs = fit_sklearn(args, data)
        else:
            theirs = fit_sklearn(args, data)
            ours = fit_mlptrain(args, data, clock)
        pairs.append(
            {
                "mlptrain_s": ours[0],
                "sklearn_s": theirs[0],
                "ratio": ours[0] / theirs[0],
                "mlptrain_acc": ours[1],
                "sklearn_acc": theirs[1],
                "overhead_ms": ours[2] * 1000,
            }
        )
        print(f"{name} repeat {repeat + 1}: {pairs[-1]}", flush=True)
    ratios = [p["ratio"] for p in pairs]
    return {
        "arguments": {k: list(v) if isinstance(v, tuple) else v for k, v in args.items()},
        "n_train": len(data[2]),
        "pairs": pairs,
        "ratio_median": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
        "mlptrain_s_median": statistics.median(p["mlptrain_s"] for p in pairs),
        "sklearn_s_median": statistics.median(p["sklearn_s"] for p in pairs),
        "mlptrain_acc": pairs[-1]["mlptrain_acc"],
        "sklearn_acc": pairs[-1]["sklearn_acc"],
        "overhead_ms_median": statistics.median(p["overhead_ms"] for p in pairs),
        "overhead_ms_max": max(p["overhead_ms"] for p in pairs),
    }


def markdown(results: dict[str, Any]) -> str:
    load = results["load_average"]
    threads = {b["num_threads"] for b in results["machine"]["blas"]}
    lines = [
        f"Command: `{results['command']}`, {results['repeats']} repeat pairs, BLAS threads "
        f"{', '.join(map(str, sorted(threads)))}; load average {load['before'][0]:.1f} before, "
        f"{load['after'][0]:.1f} after (1-minute).",
        "",
        "| workload | mlptrain s (median) | sklearn s (median) | ratio median (min–max) "
        "| test acc mlptrain / sklearn | estimator overhead ms (median, max) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, row in results["workloads"].items():
        lines.append(
            f"| {name} | {row['mlptrain_s_median']:.3f} | {row['sklearn_s_median']:.3f} | "
            f"**{row['ratio_median']:.2f}** ({row['ratio_min']:.2f}–{row['ratio_max']:.2f}) | "
            f"{row['mlptrain_acc']:.4f} / {row['sklearn_acc']:.4f} | "
            f"{row['overhead_ms_median']:.1f}, {row['overhead_ms_max']:.1f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workload", action="append", choices=sorted(WORKLOADS))
    parser.add_argument("--out", type=Path, default=HERE / "sklearn_estimator.json")
    parser.add_argument("--markdown", type=Path, help="print the table of a results file")
    args = parser.parse_args(argv)
    if args.markdown:
        print(markdown(json.loads(args.markdown.read_text())))
        return 0
    from sklearn.exceptions import ConvergenceWarning

    warnings.simplefilter("ignore", ConvergenceWarning)
    results: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "repeats": args.repeats,
        "machine": machine_info(),
        "load_average": {"before": list(os.getloadavg())},
        "workloads": {},
    }
    clock = EngineClock()
    try:
        for name in args.workload or sorted(WORKLOADS):
            results["workloads"][name] = run_workload(name, args.repeats, clock)
    finally:
        clock.close()
    results["load_average"]["after"] = list(os.getloadavg())
    atomic_write_text(args.out, json.dumps(results, indent=2) + "\n")
    print(markdown(results))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
