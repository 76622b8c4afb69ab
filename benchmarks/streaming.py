"""Training from a streamed table (``data.stream: true``): peak RSS as the rows grow, and
throughput and accuracy against the in-memory path on the same rows.

    python benchmarks/streaming.py make --rows 1000000 [--out /tmp/mlptrain_stream]
    python benchmarks/streaming.py run --rows 1000000 5000000 [--epochs 1] [--memory-too]

``make`` writes the 31 columns of ``benchmarks/tables.py`` (x00..x19 numeric, c0..c9
categorical with 5 to 200 Zipf-like levels, 2% gaps in every feature, a 3-class target that
depends on both kinds) as a Parquet dataset folder, 250 000 rows per file, generated chunk by
chunk so the generator's own memory stays flat. Two more columns: ``id`` (the row number) and
``part`` (the train/val/test part that ``mlptrain.data.row_hash`` gives the id under the
config's seed). The streamed run places rows by ``data.split_key: id``, so its parts are
exactly ``part``; the in-memory run reads ``data.split_column: part``: both train, validate
and test on the same rows.

``run`` measures ``mlptrain fit`` on each folder in a fresh child process: peak RSS
(ru_maxrss of the child, read by an intermediate process that waits for it only), wall time,
training throughput (training rows x epochs / the epochs' seconds in metrics.jsonl, which
include each epoch's validation pass) and test accuracy. ``--memory-too`` also runs the
in-memory path (on the smallest row count only), ``--repeats`` alternates the two paths,
``--label`` names the code measured (saved as each run's ``code``; ``mlptrain`` records where
the child imported it from: PYTHONPATH or the installed package, never the working
directory). Results go to
benchmarks/streaming_results.json with ``uptime``'s load averages before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from tables import LEVELS, measured  # noqa: E402

RESULTS = HERE / "streaming_results.json"
CHUNK = 250_000
SEED = 0
CONFIG = """\
name: streaming_benchmark
seed: {seed}
data:
  dataset: parquet
  path: {path}
  target: target
  columns: {{id: ignore, part: ignore}}
{data_extra}
model:
  layers:
    - {{type: linear, units: 64}}
    - relu
    - {{type: linear}}
train:
  epochs: {epochs}
  batch_size: 256
  dtype: float32
"""
STREAM = "  stream: true\n  split_key: id"
IN_MEMORY = "  split_column: part\n  columns: {id: ignore}"


def make(rows: int, out: Path) -> Path:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from mlptrain.data.cells import table_from_mapping
    from mlptrain.data.row_hash import PART_NAMES, Placement, assign_parts, row_hashes

    folder = out / f"rows_{rows}"
    if (folder / "_SUCCESS").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    effects_rng = np.random.default_rng(SEED)
    effects = [effects_rng.normal(size=(n, 3)) * 0.5 for n in LEVELS]
    for k, start in enumerate(range(0, rows, CHUNK)):
        n = min(CHUNK, rows - start)
        rng = np.random.default_rng([SEED, k])
        columns: dict[str, object] = {}
        logit = np.zeros((n, 3))
        for j in range(20):
            x = rng.normal(loc=j, scale=1 + j % 3, size=n)
            logit[:, j % 3] += 0.4 * (x - j) / (1 + j % 3)
            columns[f"x{j:02d}"] = pa.array(np.round(x, 4), mask=rng.random(n) < 0.02)
        for j, n_levels in enumerate(LEVELS):
            weights = 1.0 / np.arange(1, n_levels + 1)
            codes = rng.choice(n_levels, size=n, p=weights / weights.sum())
            logit += effects[j][codes]
            names = np.array([f"c{j}_level{i}" for i in range(n_levels)])
            columns[f"c{j}"] = pa.array(names[codes], mask=rng.random(n) < 0.02)
        noise = rng.gumbel(size=logit.shape)
        columns["target"] = pa.array(np.array(["a", "b", "c"])[np.argmax(logit + noise, axis=1)])
        ids = np.arange(start, start + n, dtype=np.int64)
        table = table_from_mapping({"id": ids}, names=["id"], text_columns=(), na_values=(),
                                   source="ids")  # fmt: skip
        parts = assign_parts(row_hashes(table, ["id"], SEED), Placement(0.2, 0.1))
        columns["id"] = pa.array(ids)
        columns["part"] = pa.array(np.array(PART_NAMES)[parts])
        pq.write_table(pa.table(columns), folder / f"part-{k:05d}.parquet")
    (folder / "_SUCCESS").write_text("")
    print(f"wrote {folder} ({rows} rows)", flush=True)
    return folder


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def fit_once(folder: Path, stream: bool, epochs: int) -> dict:
    with tempfile.TemporaryDirectory() as work:
        config = Path(work) / "c.yaml"
        extra = STREAM if stream else IN_MEMORY
        text = CONFIG.format(seed=SEED, path=folder, data_extra=extra, epochs=epochs)
        if not stream:  # one columns: key, with the id ignored and part the split column
            text = text.replace("  columns: {id: ignore, part: ignore}\n", "")
        config.write_text(text)
        run = Path(work) / "run"
        # -P: the child imports mlptrain from PYTHONPATH or the installed package, never from
        # the working directory (which once made runs labelled as another tree measure this one)
        cmd = [sys.executable, "-P", "-c", "from mlptrain.cli import main; main()", "fit",
               str(config), "--out", str(run), "--no-figures"]  # fmt: skip
        started = load()
        seconds, mib, _ = measured(cmd, env={**os.environ})
        report = json.loads((run / "report.json").read_text())
        history = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    epoch_seconds = sum(r["seconds"] for r in history)
    n_train = report["data"]["n_train"]
    return {
        "path": "stream" if stream else "in-memory",
        "rows": report["data"]["n_train"] + report["data"]["n_val"] + report["data"]["n_test"],
        "n_train": n_train,
        "epochs": len(history),
        "peak_rss_mib": round(mib),
        "wall_seconds": round(seconds, 1),
        "epoch_seconds": round(epoch_seconds, 1),
        "train_rows_per_second": round(n_train * len(history) / epoch_seconds),
        "test_accuracy": report["metrics"]["test"]["accuracy"],
        "val_accuracy": history[-1]["val_accuracy"],
        "load_before": started,
        "load_after": load(),
        "mlptrain": imported(),
    }


def imported() -> str:
    """Where the fits' child processes import mlptrain from (the code measured)."""
    probe = [sys.executable, "-P", "-c", "import mlptrain; print(mlptrain.__file__)"]
    return subprocess.run(probe, capture_output=True, text=True, check=True).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("make")
    m.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    m.add_argument("--out", type=Path, default=Path("/tmp/mlptrain_stream"))
    r = sub.add_parser("run")
    r.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    r.add_argument("--out", type=Path, default=Path("/tmp/mlptrain_stream"))
    r.add_argument("--epochs", type=int, default=1)
    r.add_argument("--memory-too", action="store_true")
    r.add_argument("--repeats", type=int, default=1, help="rounds, alternating the paths")
    r.add_argument("--label", default="", help="saved with each run as its 'code'")
    args = parser.parse_args()
    if args.command == "make":
        for rows in args.rows:
            make(rows, args.out)
        return
    saved = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"runs": []}
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    saved.setdefault("uptime", []).append({"before": uptime, "at": time.strftime("%H:%M:%S")})
    for rows in args.rows:
        folder = make(rows, args.out)
        contenders = [True, False] if args.memory_too and rows == min(args.rows) else [True]
        # alternating rounds, so that a drift in the machine's load hits both paths alike
        for stream in contenders * args.repeats:
            result = fit_once(folder, stream, args.epochs)
            if args.label:
                result["code"] = args.label
            print(json.dumps(result), flush=True)
            saved["runs"].append(result)
            RESULTS.write_text(json.dumps(saved, indent=2) + "\n")
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    saved["uptime"][-1]["after"] = uptime
    RESULTS.write_text(json.dumps(saved, indent=2) + "\n")


if __name__ == "__main__":
    main()
