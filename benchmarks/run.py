"""Side-by-side training benchmark: mlptrain vs scikit-learn's MLPClassifier vs PyTorch (CPU).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/run.py [--quick] [--workload W1]

Every contender trains the same architecture on the same split with Adam (lr 1e-3, no
regularisation, no early stopping), the same batch size, epochs and dtype. Each is timed as the
median of N repeats after one warm-up; the GEMM-only bound is the best of 3 of the matrix
products one epoch must do. Results go to benchmarks/results.json (written atomically).
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


def gemm_bound(w: Workload, n_train: int, n_features: int) -> float:
    """Seconds for only the matrix products of one epoch, best of 3, times the epochs."""
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
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for n in batches:
            acts, outs = bufs[n]
            for k, W in enumerate(Ws):
                np.matmul(acts[k], W, out=outs[k + 1])  # forward x·W
            for k in reversed(range(len(Ws))):
                np.matmul(acts[k].T, acts[k + 1], out=gW[k])  # xᵀ·dy
                if k > 0:
                    np.matmul(acts[k + 1], Ws[k].T, out=outs[k])  # dy·Wᵀ
        best = min(best, time.perf_counter() - t0)
    return best * w.epochs


def timed(fn: Callable[[], float], repeats: int) -> tuple[float, float, list[float]]:
    fn()  # warm-up
    times, acc = [], 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        acc = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), acc, times


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
        "env": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")},
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 repeats instead of 5")
    parser.add_argument(
        "--workload", action="append", help="W1, W2 or W3 (repeatable; default all)"
    )
    parser.add_argument(
        "--only", default="mlptrain,sklearn,torch", help="comma-separated contenders to run"
    )
    parser.add_argument("--out", type=Path, default=HERE / "results.json")
    args = parser.parse_args(argv)
    repeats = 2 if args.quick else 5
    only = set(args.only.split(","))
    chosen = [w for w in WORKLOADS if not args.workload or w.name.split("-")[0] in args.workload]
    threads = blas_threads()
    results: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "repeats": repeats,
        "machine": machine_info(),
        "workloads": {},
    }
    print(json.dumps(results["machine"]))
    for w in chosen:
        data = load_split(w.dataset, w.dtype)
        n_train = len(data[2])
        bound = gemm_bound(w, n_train, data[0].shape[1])
        rows: dict[str, Any] = {}
        runners: dict[str, Callable[[], float] | None] = {}
        if "mlptrain" in only:
            runners["mlptrain"] = mlptrain_runner(w, data)
        if "sklearn" in only:
            runners["sklearn"] = sklearn_runner(w, data)
        if "torch" in only:
            runners["torch"] = torch_runner(w, data, threads)
        for name, fn in runners.items():
            if fn is None:
                rows[name] = {"skipped": "torch is not installed"}
                continue
            median, acc, times = timed(fn, repeats)
            rows[name] = {
                "seconds": median,
                "all_seconds": times,
                "samples_per_s": n_train * w.epochs / median,
                "test_accuracy": acc,
                "gemm_bound_share": bound / median,
            }
        for row in rows.values():
            if "seconds" not in row:
                continue
            for ref in ("sklearn", "torch"):
                if "seconds" in rows.get(ref, {}):
                    row[f"ratio_to_{ref}"] = row["seconds"] / rows[ref]["seconds"]
        results["workloads"][w.name] = {
            "n_train": n_train,
            "n_features": data[0].shape[1],
            "hidden": list(w.hidden),
            "batch_size": w.batch_size,
            "epochs": w.epochs,
            "dtype": w.dtype,
            "gemm_bound_seconds": bound,
            "contenders": rows,
        }
        print(format_rows(w.name, bound, rows), flush=True)
    atomic_write_text(args.out, json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


def format_rows(name: str, bound: float, rows: dict[str, Any]) -> str:
    lines = [f"{name}: GEMM-only bound {bound:.3f} s"]
    for who, r in rows.items():
        if "seconds" not in r:
            lines.append(f"  {who:9s} skipped: {r['skipped']}")
            continue
        ratios = " ".join(
            f"{k.removeprefix('ratio_to_')}={r[k]:.2f}x" for k in r if k.startswith("ratio_to_")
        )
        lines.append(
            f"  {who:9s} {r['seconds']:8.3f} s {r['samples_per_s']:11,.0f} samples/s "
            f"acc {r['test_accuracy']:.4f} bound-share {r['gemm_bound_share']:.2f} {ratios}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
