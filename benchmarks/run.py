"""Side-by-side training benchmark: mlptrain vs scikit-learn's MLPClassifier vs PyTorch (CPU).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/run.py [--quick] [--workload W1 --out FILE]

Every contender trains the same architecture on the same split with Adam (lr 1e-3, no
regularisation, no early stopping), the same batch size, epochs and dtype. After one warm-up
each, the contenders run in turn, round after round (mlptrain sklearn torch gemm_bound,
mlptrain sklearn torch gemm_bound, ...), so a change of machine load hits all of them alike;
"gemm_bound" times only the matrix products the workload must do. Reported per contender:
min / median / max and the spread (max − min) / median, with a warning above 15%; per pair:
the ratio of the two times of each round, and the median of those ratios (the figure to
quote). The load average is recorded before and after. Results go to benchmarks/results.json
(written atomically; a run of some workloads or contenders must name its own file with
--out, so that it cannot replace the others' figures); `python benchmarks/readme_table.py`
puts them into README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from mlptrain.store.atomic import atomic_write_text  # noqa: E402


@dataclass(frozen=True)
class Workload:
    name: str
    dataset: str
    hidden: tuple[int, ...]
    batch_size: int
    epochs: int
    dtype: str


WORKLOADS = [
    Workload("W1-float32", "digits", (256, 128), 64, 50, "float32"),
    Workload("W1-float64", "digits", (256, 128), 64, 50, "float64"),
    Workload("W2", "synthetic", (512, 256), 256, 3, "float32"),
    Workload("W3", "wide", (1024, 1024), 512, 1, "float32"),
]


def load_split(dataset: str, dtype: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The 80/20 split every contender trains on: standardised (fit on train), in ``dtype``."""
    from sklearn.datasets import load_digits, make_classification
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    if dataset == "digits":
        X, y = load_digits(return_X_y=True)
    elif dataset == "synthetic":
        X, y = make_classification(
            n_samples=100_000, n_features=128, n_informative=64, n_classes=10, random_state=0
        )
    else:
        X, y = make_classification(
            n_samples=60_000, n_features=784, n_informative=200, n_classes=10, random_state=0
        )
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)
    scaler = StandardScaler().fit(X_tr)
    X_tr = np.ascontiguousarray(scaler.transform(X_tr), dtype=dtype)
    X_te = np.ascontiguousarray(scaler.transform(X_te), dtype=dtype)
    return X_tr, X_te, y_tr.astype(np.int64), y_te.astype(np.int64)


# --------------------------------------------------------------------------- contenders


def mlptrain_runner(w: Workload, data: tuple) -> Callable[[], float]:
    from mlptrain.config import parse_config_dict
    from mlptrain.data import LabelEncoder, Prepared, Scaler, Split
    from mlptrain.training.setup import build
    from mlptrain.training.trainer import Trainer

    X_tr, X_te, y_tr, y_te = data
    layers: list[Any] = []
    for units in w.hidden:
        layers += [{"type": "linear", "units": units}, "relu"]
    layers.append({"type": "linear"})
    raw = {
        "name": f"bench-{w.name}",
        "seed": 0,
        "data": {"dataset": "classification", "val_size": 0.0, "scale": "none"},
        # glorot: scikit-learn's initialisation; mlptrain's default (He before ReLU) trails
        # it by ~3.5 points on W2 after 3 epochs (docs/performance.md).
        "model": {"layers": layers, "loss": "cross_entropy", "init": "glorot"},
        "train": {
            "epochs": w.epochs,
            "batch_size": w.batch_size,
            "dtype": w.dtype,
            "optimizer": {"type": "adam", "lr": 1e-3, "weight_decay": 0.0},
            "schedule": "constant",
            "early_stopping": None,
        },
    }
    cfg = parse_config_dict(raw, source="benchmark")
    prepared = Prepared(
        task="classification",
        train=Split(X_tr, y_tr),
        val=None,
        test=Split(X_te, y_te),
        encoder=LabelEncoder().fit(y_tr),
        scaler=Scaler("none").fit(X_tr[:2]),
        feature_names=[f"x{i}" for i in range(X_tr.shape[1])],
        n_features=X_tr.shape[1],
        n_outputs_hint=10,
        source="benchmark",
    )

    def run() -> float:
        setup = build(cfg, prepared)
        Trainer(setup).run()
        return float(np.mean(setup.model.predict(X_te) == y_te))

    return run


def sklearn_runner(w: Workload, data: tuple) -> Callable[[], float]:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    X_tr, X_te, y_tr, y_te = data

    def run() -> float:
        clf = MLPClassifier(
            hidden_layer_sizes=w.hidden,
            activation="relu",
            solver="adam",
            alpha=0.0,
            batch_size=w.batch_size,
            learning_rate_init=1e-3,
            max_iter=w.epochs,
            tol=0.0,
            n_iter_no_change=10**9,
            shuffle=True,
            early_stopping=False,
            random_state=0,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X_tr, y_tr)
        return float(clf.score(X_te, y_te))

    return run


def torch_runner(w: Workload, data: tuple, threads: int) -> Callable[[], float] | None:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    X_tr, X_te, y_tr, y_te = data
    tdtype = torch.float32 if w.dtype == "float32" else torch.float64
    Xt, yt = torch.from_numpy(X_tr), torch.from_numpy(y_tr)
    Xte = torch.from_numpy(X_te)
    n = len(y_tr)

    def run() -> float:
        torch.manual_seed(0)
        gen = torch.Generator().manual_seed(0)
        sizes = [X_tr.shape[1], *w.hidden, 10]
        mods: list[Any] = []
        for i in range(len(sizes) - 1):
            mods.append(torch.nn.Linear(sizes[i], sizes[i + 1], dtype=tdtype))
            if i < len(sizes) - 2:
                mods.append(torch.nn.ReLU())
        model = torch.nn.Sequential(*mods)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        loss_fn = torch.nn.CrossEntropyLoss()
        for _ in range(w.epochs):
            perm = torch.randperm(n, generator=gen)
            for i in range(0, n, w.batch_size):
                idx = perm[i : i + w.batch_size]
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(model(Xt[idx]), yt[idx])
                loss.backward()
                opt.step()
        with torch.no_grad():
            pred = model(Xte).argmax(dim=1).numpy()
        return float(np.mean(pred == y_te))

    return run


def gemm_runner(w: Workload, n_train: int, n_features: int) -> Callable[[], float]:
    """Only the matrix products of the workload's epochs (x·W, xᵀ·dy, dy·Wᵀ at its exact
    shapes, into preallocated outputs): the time no implementation can beat with this BLAS."""
    dtype = np.dtype(w.dtype)
    rng = np.random.default_rng(0)
    sizes = [n_features, *w.hidden, 10]
    batches = [w.batch_size] * (n_train // w.batch_size)
    if n_train % w.batch_size:
        batches.append(n_train % w.batch_size)
    Ws = [rng.standard_normal((a, b)).astype(dtype) for a, b in zip(sizes, sizes[1:], strict=False)]
    bufs = {}
    for n in set(batches):
        acts = [rng.standard_normal((n, s)).astype(dtype) for s in sizes]
        bufs[n] = acts, [np.empty_like(a) for a in acts]
    gW = [np.empty_like(W) for W in Ws]

    def run() -> float:
        for _ in range(w.epochs):
            for n in batches:
                acts, outs = bufs[n]
                for k, W in enumerate(Ws):
                    np.matmul(acts[k], W, out=outs[k + 1])  # forward x·W
                for k in reversed(range(len(Ws))):
                    np.matmul(acts[k].T, acts[k + 1], out=gW[k])  # xᵀ·dy
                    if k > 0:
                        np.matmul(acts[k + 1], Ws[k].T, out=outs[k])  # dy·Wᵀ
        return float("nan")

    return run


def alternate(
    runners: dict[str, Callable[[], float]],
    repeats: int,
    clock: Callable[[], float] = time.perf_counter,
) -> tuple[dict[str, list[float]], dict[str, float]]:
    """One warm-up each, then ``repeats`` rounds of every contender in turn (A B C A B C …),
    so a change of machine load hits all of them alike. Returns the times per contender
    (round by round) and the accuracy of each one's last run."""
    for fn in runners.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in runners}
    accuracy: dict[str, float] = {}
    for _ in range(repeats):
        for name, fn in runners.items():
            t0 = clock()
            accuracy[name] = fn()
            times[name].append(clock() - t0)
    return times, accuracy


def spread(times: list[float]) -> dict[str, float]:
    """min / median / max of a contender's repeats, and (max − min) / median."""
    median = statistics.median(times)
    return {
        "min": min(times),
        "median": median,
        "max": max(times),
        "spread": (max(times) - min(times)) / median,
    }


def paired_ratios(mine: list[float], theirs: list[float]) -> dict[str, Any]:
    """mine[i] / theirs[i] for each round i (timed back to back under the same load); the
    median of those ratios is the figure to quote, min and max say how much it moved."""
    ratios = [a / b for a, b in zip(mine, theirs, strict=True)]
    return {
        "median": statistics.median(ratios),
        "min": min(ratios),
        "max": max(ratios),
        "per_round": ratios,
    }


SPREAD_WARN = 0.15
# Environment variables that change what BLAS runs, recorded and shown in the command.
THREAD_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")


# --------------------------------------------------------------------------- machine


def machine_info() -> dict[str, Any]:
    import sklearn
    from threadpoolctl import threadpool_info

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    blas = [
        {k: i.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
        for i in threadpool_info()
        if i.get("user_api") == "blas"
    ]
    try:
        import torch

        torch_version: str | None = torch.__version__
    except ImportError:
        torch_version = None
    import mlptrain

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "blas": blas,
        "env": {k: os.environ.get(k) for k in THREAD_ENV},
        "python": platform.python_version(),
        "numpy": np.__version__,
        "sklearn": sklearn.__version__,
        "torch": torch_version,
        "mlptrain": mlptrain.__version__,
    }


def blas_threads() -> int:
    from threadpoolctl import threadpool_info

    counts = [i["num_threads"] for i in threadpool_info() if i.get("user_api") == "blas"]
    return counts[0] if counts else 1


CONTENDERS = ("mlptrain", "sklearn", "torch")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds instead of 7")
    parser.add_argument("--repeats", type=int, help="rounds of every contender (default 7)")
    parser.add_argument(
        "--workload", action="append", help="W1, W2 or W3 (repeatable; default all)"
    )
    parser.add_argument(
        "--only", default=",".join(CONTENDERS), help="comma-separated contenders to run"
    )
    parser.add_argument(
        "--out", type=Path, help="results file (default: benchmarks/results.json, full runs only)"
    )
    args = parser.parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 7)
    only = set(args.only.split(","))
    chosen = [w for w in WORKLOADS if not args.workload or w.name.split("-")[0] in args.workload]
    if args.out is None:
        if len(chosen) < len(WORKLOADS) or only != set(CONTENDERS):
            # README's engine table is generated from results.json: a partial run written
            # there would replace every other workload's figures
            parser.error("a run of some workloads or contenders needs --out FILE")
        args.out = HERE / "results.json"
    threads = blas_threads()
    results: dict[str, Any] = {
        "command": command_line(),
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "repeats": repeats,
        "machine": machine_info(),
        "load_average_before": list(os.getloadavg()),
        "workloads": {},
    }
    print(json.dumps(results["machine"]))
    print(f"load average before: {fmt_load(results['load_average_before'])}", flush=True)
    for w in chosen:
        data = load_split(w.dataset, w.dtype)
        n_train = len(data[2])
        runners: dict[str, Callable[[], float] | None] = {}
        if "mlptrain" in only:
            runners["mlptrain"] = mlptrain_runner(w, data)
        if "sklearn" in only:
            runners["sklearn"] = sklearn_runner(w, data)
        if "torch" in only:
            runners["torch"] = torch_runner(w, data, threads)
        runners["gemm_bound"] = gemm_runner(w, n_train, data[0].shape[1])
        skipped = {name: "torch is not installed" for name, fn in runners.items() if fn is None}
        live = {name: fn for name, fn in runners.items() if fn is not None}
        load_before = list(os.getloadavg())
        times, accuracy = alternate(live, repeats)
        results["workloads"][w.name] = summarise(
            w, n_train, data[0].shape[1], times, accuracy, skipped, load_before
        )
        print(format_workload(w.name, results["workloads"][w.name]), flush=True)
    results["load_average_after"] = list(os.getloadavg())
    print(f"load average after: {fmt_load(results['load_average_after'])}")
    atomic_write_text(args.out, json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


def summarise(
    w: Workload,
    n_train: int,
    n_features: int,
    times: dict[str, list[float]],
    accuracy: dict[str, float],
    skipped: dict[str, str],
    load_before: list[float],
) -> dict[str, Any]:
    """One workload's entry of results.json: per-contender spread, per-round ratios."""
    rows: dict[str, Any] = {name: {"skipped": why} for name, why in skipped.items()}
    warnings_: list[str] = []
    for name, series in times.items():
        row: dict[str, Any] = {"seconds": spread(series), "all_seconds": series}
        if name != "gemm_bound":
            row["samples_per_s"] = n_train * w.epochs / row["seconds"]["median"]
            row["test_accuracy"] = accuracy[name]
        rows[name] = row
        if row["seconds"]["spread"] > SPREAD_WARN:
            warnings_.append(
                f"{name}: spread {row['seconds']['spread']:.0%} > {SPREAD_WARN:.0%} "
                "(machine busy? compare the per-round ratios, not the times)"
            )
    ratios: dict[str, Any] = {}
    if "mlptrain" in times:
        for ref in ("sklearn", "torch"):
            if ref in times:
                ratios[f"mlptrain/{ref}"] = paired_ratios(times["mlptrain"], times[ref])
        ratios["gemm_bound/mlptrain"] = paired_ratios(times["gemm_bound"], times["mlptrain"])
    return {
        "n_train": n_train,
        "n_features": n_features,
        "hidden": list(w.hidden),
        "batch_size": w.batch_size,
        "epochs": w.epochs,
        "dtype": w.dtype,
        "load_average_before": load_before,
        "load_average_after": list(os.getloadavg()),
        "contenders": rows,
        "ratios": ratios,
        "warnings": warnings_,
    }


def command_line() -> str:
    """How this run was started, with the BLAS environment it ran under."""
    unset = [f"-u {k}" for k in THREAD_ENV[:2] if k not in os.environ]
    given = [f"{k}={os.environ[k]}" for k in THREAD_ENV if k in os.environ]
    prefix = ["env", *unset, *given] if unset or given else []
    return " ".join([*prefix, Path(sys.executable).name, *sys.argv])


def fmt_load(load: list[float]) -> str:
    return " ".join(f"{x:.2f}" for x in load)


def format_workload(name: str, entry: dict[str, Any]) -> str:
    lines = [
        f"{name} (load {fmt_load(entry['load_average_before'])} -> "
        f"{fmt_load(entry['load_average_after'])}):"
    ]
    for who, r in entry["contenders"].items():
        if "skipped" in r:
            lines.append(f"  {who:10s} skipped: {r['skipped']}")
            continue
        t = r["seconds"]
        acc = f" acc {r['test_accuracy']:.4f}" if "test_accuracy" in r else ""
        lines.append(
            f"  {who:10s} median {t['median']:7.3f} s  (min {t['min']:.3f}, max {t['max']:.3f},"
            f" spread {t['spread']:.0%}){acc}"
        )
    for pair, r in entry["ratios"].items():
        lines.append(f"  {pair:20s} {r['median']:.2f}x  (rounds: {r['min']:.2f}-{r['max']:.2f})")
    lines += [f"  WARNING {text}" for text in entry["warnings"]]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
