"""Whole-process and start-up times: `mlptrain fit benchmarks/w1.yaml` vs a plain sklearn script.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/whole_process.py

Times, as the median of 5 fresh processes each (after one warm-up run that fills the OS file
cache): `mlptrain --help`, `mlptrain fit --help`, `mlptrain fit benchmarks/w1.yaml` (into a
temporary run directory) and `python benchmarks/sklearn_w1.py`. Targets: each --help < 0.3 s;
the fit <= 0.8x the script.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def median_seconds(cmd: list[str], repeats: int = 5) -> float:
    subprocess.run(cmd, check=True, capture_output=True)  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> int:
    mlptrain = shutil.which("mlptrain") or "mlptrain"
    with tempfile.TemporaryDirectory() as tmp:
        fit = [mlptrain, "fit", str(HERE / "w1.yaml"), "--out", tmp, "--overwrite", "-q"]
        rows = {
            "mlptrain --help": median_seconds([mlptrain, "--help"]),
            "mlptrain fit --help": median_seconds([mlptrain, "fit", "--help"]),
            "mlptrain fit benchmarks/w1.yaml": median_seconds(fit),
            # The same fit without the PNG figures (report.html without images):
            # matplotlib's import and drawing are most of the default fit's time.
            "mlptrain fit ... --no-figures": median_seconds([*fit, "--no-figures"]),
            "python benchmarks/sklearn_w1.py": median_seconds(
                [sys.executable, str(HERE / "sklearn_w1.py")]
            ),
        }
    for name, seconds in rows.items():
        print(f"{name:34s} {seconds:7.3f} s")
    script = rows["python benchmarks/sklearn_w1.py"]
    for name in ("mlptrain fit benchmarks/w1.yaml", "mlptrain fit ... --no-figures"):
        print(f"{name} / sklearn script: {rows[name] / script:.2f}x (target <= 0.8x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
