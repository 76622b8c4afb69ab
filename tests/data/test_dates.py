"""Issue 22: date columns become numeric features (year, month, day of the week, day of the
year, days since 1970) instead of a categorical with a level per day; the same in training,
predict, the Python API and the exported script; refused by ONNX with the way out."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest

import mlptrain
from mlptrain.data.columns import type_columns
from mlptrain.data.dates import ISO, date_parts, detect_format, part_names
from mlptrain.data.frame import Column
from mlptrain.data.tables import table_from_mapping
from mlptrain.errors import DataError
from mlptrain.store.layout import REPORT_JSON
from tests.conftest import assert_no_traceback, assert_same_predictions, exported_script_output


def _column(values: list[str], name: str = "when") -> Column:
    levels, codes = np.unique(np.array(values), return_inverse=True)
    codes = np.where(np.array(values) == "", -1, codes).astype(np.int32)
    keep = levels != ""
    renumber = np.cumsum(keep) - 1
    codes = np.where(codes < 0, -1, renumber[np.maximum(codes, 0)]).astype(np.int32)
    return Column(name, codes, levels[keep])


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["2021-03-04", "2020-02-29"], ISO),
        (["2021-03-04 17:30", "2021-03-04T08:00:00"], ISO),
        (["03/24/2021", "12/01/2020"], "%m/%d/%Y"),  # 24 is a day: month first
        (["24/03/2021", "01/12/2020"], "%d/%m/%Y"),
        (["24.03.2021", "1.12.2020"], "%d.%m.%Y"),
        (["03/04/2021", "11/12/2020"], None),  # both orders read every value: ambiguous
        (["2021-03-04", "soon"], None),
        (["1-2", "3-4"], None),
        (["north", "south"], None),
    ],
)
def test_date_formats_are_detected_when_unambiguous(values, expected) -> None:
    assert detect_format(_column(values)) == expected


def test_date_parts_match_python_datetime() -> None:
    cells = ["2021-03-04", "2020-02-29 12:00:00", "", "1999-12-31T06:00", "1969-07-20 20:17"]
    parts = date_parts(_column(cells), ISO, "t")
    assert list(parts) == part_names("when")
    for row, cell in enumerate(cells):
        got = [parts[name].values[row] for name in part_names("when")]
        if not cell:
            assert np.isnan(got).all()
            continue
        when = dt.datetime.fromisoformat(cell)
        days = (when - dt.datetime(1970, 1, 1)).total_seconds() / 86400
        expected = [when.year, when.month, when.weekday(), when.timetuple().tm_yday, days]
        assert got == pytest.approx(expected, rel=0, abs=1e-9), cell


def test_a_date_column_is_typed_date_and_a_listed_one_is_checked() -> None:
    data = {"when": ["2021-03-04"] * 30 + ["2021-05-06"] * 30, "y": list(range(60))}
    table = table_from_mapping(data, names=list(data), text_columns=(), na_values=[""], source="t")
    (info, _) = type_columns(table, "y", {})
    assert (info.kind, info.date_format) == ("date", ISO)
    (info, _) = type_columns(table, "y", {"when": "categorical"})
    assert (info.kind, info.date_format) == ("categorical", None)
    bad = {"when": ["2021-03-04"] * 59 + ["soon"], "y": list(range(60))}
    table = table_from_mapping(bad, names=list(bad), text_columns=(), na_values=[""], source="t")
    with pytest.raises(DataError, match=r"^t: data.columns.when: listed as date, but its values"):
        type_columns(table, "y", {"when": "date"})


@pytest.fixture
def days_csv(tmp_path: Path) -> Path:
    """Whether a day falls on a weekend: learnable from the day of the week only."""
    rng = np.random.default_rng(0)
    start = dt.date(2015, 1, 1)
    lines = ["when,amount,y"]
    for i in range(400):
        day = start + dt.timedelta(days=int(rng.integers(0, 2000)))
        when = day.isoformat() if i % 37 else ""  # a few gaps
        lines.append(f"{when},{rng.normal():.3f},{'weekend' if day.weekday() >= 5 else 'week'}")
    path = tmp_path / "days.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_fit_predict_and_the_exported_script_read_dates_alike(
    cli, days_csv: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    result = cli(
        "fit", days_csv, "--target", "y", "--out", run,
        "--set", "train.epochs=60", "--set", "model.layers[0].k=4",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1].split()[:3] == ["when", "date", "(ISO"]
    assert "column 'when' holds dates (ISO 8601): the model reads their year" in result.stdout
    predictor = mlptrain.load(run)
    assert predictor.meta.n_features == 6  # amount and the 5 parts of when
    # 5 of 7 days are week days: well above that, the model read the day of the week
    report = json.loads((run / REPORT_JSON).read_text())
    assert report["metrics"]["test"]["accuracy"] > 0.85
    new = tmp_path / "new.csv"
    new.write_text("when,amount\n2024-06-01,0.1\n2024-06-03,0.1\n,0.5\n2024-06-09,-1\n")
    predicted = cli("predict", run, new, "--proba")
    assert predicted.exit_code == 0, predicted.output
    labels = [line.split(",")[0] for line in predicted.stdout.strip().splitlines()[1:]]
    assert len(labels) == 4
    import pandas as pd

    frame = pd.DataFrame(
        {"when": pd.to_datetime(["2024-06-01", "2024-06-03", None, "2024-06-09"]),
         "amount": [0.1, 0.1, 0.5, -1]}
    )  # fmt: skip
    assert list(predictor.predict(frame)) == labels  # pandas datetimes, through the API
    script = exported_script_output(run, new, tmp_path / "exported")
    assert_same_predictions(predicted.stdout, script)

    onnx = cli("export", run, "--format", "onnx", "--out", tmp_path / "onnx")
    assert onnx.exit_code == 2
    assert_no_traceback(onnx)
    assert (
        "the model reads date column(s) 'when', and ONNX has no operator that reads dates from "
        "text; export --format numpy" in onnx.stderr
    )
    bad = tmp_path / "bad.csv"
    bad.write_text("when,amount\n2024-06-01,0.1\nsoon,0.2\n")
    refused = cli("predict", run, bad)
    assert refused.exit_code == 2
    assert_no_traceback(refused)
    assert (
        "column 'when' holds 'soon', which is not a date in the format the model was trained on"
        in refused.stderr
    )


def test_a_parquet_timestamp_column_is_a_date(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    from mlptrain.data.tables import load_table

    stamps = [dt.datetime(2021, 3, 4, 17, 30), None, dt.datetime(2020, 2, 29)] * 10
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"when": stamps, "y": list(range(30))}), path)
    table = load_table(path)
    (info, _) = type_columns(table, "y", {})
    assert (info.kind, info.date_format) == ("date", ISO)
    days = date_parts(table.columns["when"], ISO, "t")["when:days"].values
    assert days[0] == pytest.approx(18690 + 17.5 / 24) and np.isnan(days[1])
