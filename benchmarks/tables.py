"""Large mixed tables: which reader to use, and `mlptrain fit` against a pandas + sklearn script.

    python benchmarks/tables.py make [--rows 1000000] [--out /tmp/mlptrain_tables/big.csv]
    python benchmarks/tables.py readers FILE [--repeats 2]
    python benchmarks/tables.py fit FILE [--repeats 2]

``make`` writes 20 numeric columns (x00..x19), 10 categorical ones (c0..c9 with 5 to 200
levels, skewed frequencies), 2% empty cells in every feature column, and a 3-class target that
depends on both kinds of column. ``readers`` reads the file with each candidate reader in its
own fresh process (pyarrow.csv, pandas' C engine, pandas' pyarrow engine) and records wall time
and peak RSS. ``fit`` compares, alternating, the time from process start to the first epoch and
the peak RSS of ``mlptrain fit`` against a plain script that does ``pandas.read_csv`` +
``ColumnTransformer`` + ``fit_transform``. Each measurement runs in a fresh child process; peak
RSS is ru_maxrss of that child, read in an intermediate process that waits for it only.
Results go to benchmarks/tables_results.json with the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "tables_results.json"
READER_NAMES = {
    "baseline": "interpreter + imports only",
    "pyarrow": "`pyarrow.csv.read_csv` (whole table)",
    "pyarrow-dict": "`pyarrow.csv.read_csv`, strings dictionary-encoded",
    "pyarrow-stream": "`pyarrow.csv.open_csv`, streamed, dictionary-encoded (chosen)",
    "pandas-c": "`pandas.read_csv` (C engine)",
    "pandas-pyarrow": '`pandas.read_csv(engine="pyarrow")`',
}
LEVELS = (5, 8, 12, 20, 30, 50, 80, 120, 160, 200)


def make(rows: int, out: Path, seed: int = 0) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(seed)
    columns: dict[str, object] = {}
    logit = np.zeros((rows, 3))
    for j in range(20):
        x = rng.normal(loc=j, scale=1 + j % 3, size=rows)
        logit[:, j % 3] += 0.4 * (x - j) / (1 + j % 3)
        x = np.round(x, 4)
        columns[f"x{j:02d}"] = pa.array(x, mask=rng.random(rows) < 0.02)
    for j, n_levels in enumerate(LEVELS):
        weights = 1.0 / np.arange(1, n_levels + 1)  # Zipf-like: a few common levels
        codes = rng.choice(n_levels, size=rows, p=weights / weights.sum())
        effect = rng.normal(size=(n_levels, 3)) * 0.5
        logit += effect[codes]
        names = np.array([f"c{j}_level{k}" for k in range(n_levels)])
        columns[f"c{j}"] = pa.array(names[codes], mask=rng.random(rows) < 0.02)
    noise = rng.gumbel(size=logit.shape)
    columns["target"] = pa.array(np.array(["a", "b", "c"])[np.argmax(logit + noise, axis=1)])
    out.parent.mkdir(parents=True, exist_ok=True)
    pacsv.write_csv(pa.table(columns), out, pacsv.WriteOptions(quoting_style="none"))
    print(f"wrote {out} ({out.stat().st_size / 2**20:.0f} MiB, {rows} rows)")


def read_child(reader: str, path: str) -> None:
    if reader == "pyarrow":
        import pyarrow.csv as pacsv

        table = pacsv.read_csv(path)
        n = table.num_rows
    elif reader == "pyarrow-dict":
        import pyarrow.csv as pacsv

        convert = pacsv.ConvertOptions(auto_dict_encode=True, auto_dict_max_cardinality=2**30)
        n = pacsv.read_csv(path, convert_options=convert).num_rows
    elif reader == "pyarrow-stream":
        import pyarrow.csv as pacsv

        convert = pacsv.ConvertOptions(auto_dict_encode=True, auto_dict_max_cardinality=2**30)
        n = sum(batch.num_rows for batch in pacsv.open_csv(path, convert_options=convert))
    elif reader == "pandas-c":
        import pandas as pd

        n = len(pd.read_csv(path))
    elif reader == "pandas-pyarrow":
        import pandas as pd

        n = len(pd.read_csv(path, engine="pyarrow"))
    else:  # baseline: the interpreter and the imports only
        import pandas  # noqa: F401
        import pyarrow.csv  # noqa: F401

        n = 0
    print(n)


def measured(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """(wall seconds, peak RSS MiB, stdout) of ``cmd`` in a fresh process."""
    code = (
        "import resource, subprocess, sys, time, json\n"
        "t = time.perf_counter()\n"
        f"p = subprocess.run({cmd!r}, capture_output=True, text=True)\n"
        "dt = time.perf_counter() - t\n"
        "sys.stderr.write(p.stderr[-2000:])\n"
        "print(json.dumps([dt, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, p.stdout, p.returncode]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env
    )
    seconds, kib, stdout, rc = json.loads(out.stdout.strip().splitlines()[-1])
    if rc != 0:
        raise SystemExit(f"{cmd} failed with {rc}: {out.stderr[-2000:]}")
    return seconds, kib / 1024, stdout


def fit_child(contender: str, path: str) -> None:
    """One contender, up to the moment training could start; prints its own peak RSS."""
    import resource

    if contender == "mlptrain":
        import tempfile

        from mlptrain.api import fit
        from mlptrain.training.trainer import Callbacks

        def first_epoch(epoch: int, epochs: int, n_batches: int) -> None:
            # the data is read, typed, imputed, encoded and split; the model is built
            print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, flush=True)
            os._exit(0)

        with tempfile.TemporaryDirectory() as out:
            fit(HERE / "tables.yaml", overrides=[f"data.path={path}"], out=Path(out) / "run",
                callbacks=Callbacks(on_epoch_start=first_epoch), figures=False)  # fmt: skip
    else:
        import pandas as pd
        from sklearn.compose import ColumnTransformer
        from sklearn.impute import SimpleImputer
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import OneHotEncoder, StandardScaler

        frame = pd.read_csv(path)
        X = frame.drop(columns=["target"])
        categorical = [c for c in X.columns if c.startswith("c")]
        numeric = [c for c in X.columns if c.startswith("x")]
        prep = ColumnTransformer([
            ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
            ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"),
                                  OneHotEncoder(handle_unknown="infrequent_if_exist",
                                                max_categories=50)), categorical),
        ])  # fmt: skip
        encoded = prep.fit_transform(X)
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, flush=True)
        print(encoded.shape, type(encoded).__name__, file=sys.stderr)


def fits(path: str, repeats: int) -> dict:
    contenders = ("mlptrain", "pandas+sklearn")
    runs: dict[str, list[tuple[float, float]]] = {c: [] for c in contenders}
    for _ in range(repeats):
        for name in contenders:  # alternating
            seconds, mib, _ = measured([sys.executable, __file__, "_fit", name, path])
            runs[name].append((seconds, mib))
            print(f"{name:15s} {seconds:6.2f} s {mib:7.0f} MiB  load {os.getloadavg()[0]:.1f}",
                  flush=True)  # fmt: skip
    out = {
        name: {
            "seconds": [r[0] for r in values],
            "peak_rss_mib": [r[1] for r in values],
            "median_seconds": statistics.median(r[0] for r in values),
            "median_peak_rss_mib": statistics.median(r[1] for r in values),
        }
        for name, values in runs.items()
    }
    for key in ("median_seconds", "median_peak_rss_mib"):
        out[f"ratio_{key}"] = out["mlptrain"][key] / out["pandas+sklearn"][key]
    return out


def readers(path: str, repeats: int) -> dict:
    contenders = tuple(
        os.environ.get(
            "READERS", "baseline,pyarrow,pyarrow-dict,pyarrow-stream,pandas-c,pandas-pyarrow"
        ).split(",")
    )
    runs: dict[str, list[tuple[float, float]]] = {c: [] for c in contenders}
    for _ in range(repeats):
        for name in contenders:  # alternating, so load drifts hit every contender alike
            seconds, mib, _ = measured([sys.executable, __file__, "_read", name, path])
            runs[name].append((seconds, mib))
            print(f"{name:15s} {seconds:6.2f} s {mib:7.0f} MiB", flush=True)
    return {
        name: {
            "seconds": [r[0] for r in values],
            "peak_rss_mib": [r[1] for r in values],
            "median_seconds": statistics.median(r[0] for r in values),
            "median_peak_rss_mib": statistics.median(r[1] for r in values),
        }
        for name, values in runs.items()
    }


def accuracy(config: str, seeds: int) -> dict:
    """Test accuracy of ``mlptrain fit CONFIG`` and of a scikit-learn Pipeline (impute +
    one-hot + scale + MLPClassifier with the same hidden layer) on the same split, per seed."""
    import tempfile

    import numpy as np
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    import mlptrain
    from mlptrain.config import load_config
    from mlptrain.data import split_indices

    cfg = load_config(config)
    frame = pd.read_csv(cfg.data.path, keep_default_na=False, na_values=list(cfg.data.na_values))
    target = cfg.data.target
    ids = [name for name, kind in cfg.data.columns.items() if kind in ("id", "ignore")]
    X = frame.drop(columns=[target, *ids])
    y = frame[target].astype(str).to_numpy()
    categorical = [c for c in X.columns if X[c].dtype == object or str(X[c].dtype) == "str"]
    numeric = [c for c in X.columns if c not in categorical]
    units = next(layer.units for layer in cfg.model.layers if getattr(layer, "units", None))
    rows = []
    for seed in range(seeds):
        with tempfile.TemporaryDirectory() as out:
            run = mlptrain.fit(config, overrides=[f"seed={seed}"], out=Path(out) / "run",
                               figures=False)  # fmt: skip
        ours = run.report["metrics"]["test"]["accuracy"]
        train, _, test = split_indices(y, task="classification", test_size=cfg.data.test_size,
                                       val_size=cfg.data.val_size, seed=seed)  # fmt: skip
        prep = ColumnTransformer([
            ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
            ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"),
                                  OneHotEncoder(handle_unknown="infrequent_if_exist",
                                                max_categories=50)), categorical),
        ])  # fmt: skip
        model = make_pipeline(prep, MLPClassifier(hidden_layer_sizes=(units,), batch_size=64,
                                                  early_stopping=True, max_iter=500,
                                                  random_state=seed))  # fmt: skip
        model.fit(X.iloc[train], y[train])
        theirs = float(np.mean(model.predict(X.iloc[test]) == y[test]))
        rows.append({"seed": seed, "mlptrain": ours, "sklearn_pipeline": theirs})
        print(f"seed {seed}: mlptrain {ours:.4f}  sklearn Pipeline {theirs:.4f}", flush=True)
    mean = {k: float(np.mean([r[k] for r in rows])) for k in ("mlptrain", "sklearn_pipeline")}
    print(f"mean: mlptrain {mean['mlptrain']:.4f}  sklearn Pipeline {mean['sklearn_pipeline']:.4f}")
    return {"config": config, "per_seed": rows, "mean": mean}


def markdown() -> str:
    """The docs' tables, generated from the results file (never typed by hand)."""
    saved = json.loads(RESULTS.read_text())
    out = []
    fit = saved.get("fit")
    if fit:
        res = fit["results"]
        out += [
            f"{fit['size_mib']} MiB CSV, {fit['time']}, load average before/after "
            f"{fit['load_average_before'][0]:.1f} / {fit['load_average_after'][0]:.1f}:",
            "",
            "| contender | start to first epoch (s) | peak RSS (MiB) |",
            "|---|---|---|",
        ]
        for name in ("mlptrain", "pandas+sklearn"):
            r = res[name]
            secs = ", ".join(f"{v:.1f}" for v in r["seconds"])
            mib = ", ".join(f"{v:.0f}" for v in r["peak_rss_mib"])
            out.append(f"| {name} | {secs} (median {r['median_seconds']:.1f}) | "
                       f"{mib} (median {r['median_peak_rss_mib']:.0f}) |")  # fmt: skip
        out += [
            "",
            f"Ratios mlptrain ÷ script (medians): time {res['ratio_median_seconds']:.2f}, "
            f"peak RSS {res['ratio_median_peak_rss_mib']:.2f}.",
        ]
    readers = saved.get("readers")
    if readers:
        out += [
            "",
            f"Readers, {readers['size_mib']} MiB CSV, {readers['time']}, load average "
            f"before/after {readers['load_average_before'][0]:.1f} / "
            f"{readers['load_average_after'][0]:.1f}:",
            "",
            "| reader | wall time (s) | peak RSS (MiB) |",
            "|---|---|---|",
        ]
        for name, r in readers["results"].items():
            secs = ", ".join(f"{v:.1f}" for v in r["seconds"])
            mib = ", ".join(f"{v:.0f}" for v in r["peak_rss_mib"])
            out.append(f"| {READER_NAMES.get(name, name)} | {secs} | {mib} |")
    acc = saved.get("accuracy")
    if acc:
        out += ["", "| seed | mlptrain | scikit-learn Pipeline |", "|---|---|---|"]
        out += [f"| {r['seed']} | {r['mlptrain']:.4f} | {r['sklearn_pipeline']:.4f} |"
                for r in acc["per_seed"]]  # fmt: skip
        out.append(
            f"| mean | {acc['mean']['mlptrain']:.4f} | {acc['mean']['sklearn_pipeline']:.4f} |"
        )
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_make = sub.add_parser("make")
    p_make.add_argument("--rows", type=int, default=1_000_000)
    p_make.add_argument("--out", type=Path, default=Path("/tmp/mlptrain_tables/big.csv"))
    p_read = sub.add_parser("readers")
    p_read.add_argument("file")
    p_read.add_argument("--repeats", type=int, default=2)
    p_child = sub.add_parser("_read")
    p_child.add_argument("reader")
    p_child.add_argument("file")
    p_fit = sub.add_parser("fit")
    p_fit.add_argument("file")
    p_fit.add_argument("--repeats", type=int, default=2)
    p_fchild = sub.add_parser("_fit")
    p_fchild.add_argument("contender")
    p_fchild.add_argument("file")
    sub.add_parser("table")
    p_acc = sub.add_parser("accuracy")
    p_acc.add_argument("config", nargs="?", default="configs/customers_csv.yaml")
    p_acc.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    if args.command == "table":
        print(markdown())
    elif args.command == "accuracy":
        saved = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        saved["accuracy"] = accuracy(args.config, args.seeds)
        RESULTS.write_text(json.dumps(saved, indent=2) + "\n")
    elif args.command == "make":
        make(args.rows, args.out)
    elif args.command == "_fit":
        fit_child(args.contender, args.file)
    elif args.command == "fit":
        before = os.getloadavg()
        result = fits(args.file, args.repeats)
        saved = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        saved["fit"] = {
            "file": args.file,
            "size_mib": round(Path(args.file).stat().st_size / 2**20, 1),
            "load_average_before": before,
            "load_average_after": os.getloadavg(),
            "time": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "results": result,
        }
        RESULTS.write_text(json.dumps(saved, indent=2) + "\n")
    elif args.command == "_read":
        read_child(args.reader, args.file)
    elif args.command == "readers":
        before = os.getloadavg()
        result = readers(args.file, args.repeats)
        saved = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        saved["readers"] = {
            "file": args.file,
            "size_mib": round(Path(args.file).stat().st_size / 2**20, 1),
            "load_average_before": before,
            "load_average_after": os.getloadavg(),
            "time": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "results": result,
        }
        RESULTS.write_text(json.dumps(saved, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
