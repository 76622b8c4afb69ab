"""Peak resident memory of a W2 fit: mlptrain vs scikit-learn, each in its own process.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/memory.py

The W2 split is made once and saved to a temporary .npz (generating it costs more memory than
either fit and would hide them). Each contender then runs in a fresh subprocess (this script
with --child NAME FILE) that loads the split and fits once; its peak RSS is read with
resource.getrusage(RUSAGE_CHILDREN) in an intermediate process that waits for that one child
only (ru_maxrss is the largest over the children waited for). A "data" child that loads the
split and imports both libraries without fitting gives the baseline both share.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def child(name: str, path: str) -> None:
    sys.path.insert(0, str(HERE))
    import numpy as np
    import run

    w = next(x for x in run.WORKLOADS if x.name == "W2")
    with np.load(path, allow_pickle=False) as f:
        data = tuple(f[k] for k in ("X_tr", "X_te", "y_tr", "y_te"))
    if name == "mlptrain":
        run.mlptrain_runner(w, data)()
    elif name == "sklearn":
        run.sklearn_runner(w, data)()
    else:  # "data": the shared baseline, imports included
        import sklearn.neural_network  # noqa: F401

        import mlptrain.training.trainer  # noqa: F401


def peak_rss_mib(name: str, path: str) -> float:
    """Spawn a measuring process that spawns the child: RUSAGE_CHILDREN then is this child's."""
    code = (
        "import resource, subprocess, sys\n"
        f"subprocess.run([sys.executable, {str(Path(__file__))!r}, '--child', {name!r}, {path!r}], "
        "check=True)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    return int(out.strip().splitlines()[-1]) / 1024  # KiB on Linux


def main() -> int:
    parser = argparse.ArgumentParser(description="peak RSS of a W2 fit")
    parser.add_argument("--child", nargs=2, metavar=("NAME", "FILE"))
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return 0
    import tempfile

    import numpy as np

    sys.path.insert(0, str(HERE))
    import run

    w = next(x for x in run.WORKLOADS if x.name == "W2")
    X_tr, X_te, y_tr, y_te = run.load_split(w.dataset, w.dtype)
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "w2.npz")
        np.savez(path, X_tr=X_tr, X_te=X_te, y_tr=y_tr, y_te=y_te)
        result = {name: peak_rss_mib(name, path) for name in ("data", "mlptrain", "sklearn")}
    for name, mib in result.items():
        print(f"{name:9s} peak RSS {mib:8.1f} MiB")
    verdict = "met" if result["mlptrain"] <= result["sklearn"] else "NOT met"
    print(f"target mlptrain <= sklearn: {verdict}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
