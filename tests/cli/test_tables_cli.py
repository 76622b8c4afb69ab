"""Tables through the CLI: fit, validate, predict on raw rows, resume, and every new error as
one line with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import mlptrain
from mlptrain.api import fit
from tests.data.test_tables import mixed_rows, write_rows
from tests.session.test_resume import Crash, assert_same_tensors, crash_at, state_of

CONFIG = """\
name: t
data:
  dataset: csv
  path: {path}
  target: churn
{extra}
model:
  layers: [{{type: linear, units: 16}}, relu, {{type: linear}}]
train: {{epochs: 2, batch_size: 32, early_stopping: null}}
"""


def config(tmp_path: Path, rows: list[list[str]], extra: str = "", name: str = "t.csv",
           delimiter: str = ",") -> Path:  # fmt: skip
    write_rows(tmp_path / name, rows, delimiter)
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG.format(path=name, extra=extra))
    return path


@pytest.fixture(scope="module")
def table_run(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("table")
    return fit(config(tmp, mixed_rows(300)), out=tmp / "run")


def test_fit_prints_and_reports_the_column_table(tmp_path: Path, cli) -> None:
    result = cli("fit", config(tmp_path, mixed_rows(200)), "--out", tmp_path / "run",
                 "--no-figures")  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "column    type         missing  levels" in lines
    assert any(line.split() == ["plan", "categorical", *line.split()[2:3], "3"] for line in lines)
    assert "note: column 'customer' looks like an id (200 distinct values in 200 rows)" in (
        result.stdout
    )
    assert "add 'customer: id' under data.columns" in result.stdout
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    kinds = {c["name"]: c["kind"] for c in report["data"]["columns"]}
    assert kinds == {"customer": "id", "age": "numeric", "plan": "categorical",
                     "city": "categorical", "income": "numeric", "churn": "target"}  # fmt: skip
    body = np.array(mixed_rows(200)[1:])
    missing = {c["name"]: c["n_missing"] for c in report["data"]["columns"]}
    assert missing["age"] == int((body[:, 1] == "").sum())
    assert "### Columns" in (tmp_path / "run" / "report.md").read_text()
    assert "<h3>Columns</h3>" in (tmp_path / "run" / "report.html").read_text()


def test_weight_norms_per_input_column(table_run) -> None:
    """The report's norms are those of the first layer's rows of each column group."""
    rows = table_run.report["input_weights"]
    predictor = mlptrain.load(table_run.dir)
    W = predictor.model.modules[0].params["W"].astype(np.float64)
    names = predictor.table.feature_names
    for row in rows:
        group = [j for j, n in enumerate(names) if n == row["column"] or
                 n.startswith(row["column"] + "=")]  # fmt: skip
        assert row["encoded_columns"] == len(group)
        assert row["norm"] == pytest.approx(np.sqrt(np.sum(W[group] ** 2)), rel=1e-6)
    assert [r["norm"] for r in rows] == sorted((r["norm"] for r in rows), reverse=True)
    assert {r["column"] for r in rows} == {"age", "plan", "city", "income"}


def test_validate_prints_every_column(tmp_path: Path, cli) -> None:
    result = cli("validate", config(tmp_path, mixed_rows(100), name="t.tsv", delimiter="\t"))
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines()[1:7]}
    assert lines["customer"] == ["id", "(likely)", "0", "100"]
    assert lines["plan"][0] == "categorical" and lines["plan"][-1] == "3"
    assert lines["age"][0] == "numeric"
    assert lines["churn"][0] == "target"


def test_predict_raw_rows_with_gaps_and_unseen_categories(table_run, tmp_path: Path, cli) -> None:
    rows = [
        ["churn", "note", "income", "city", "plan", "age", "customer"],  # reordered, extra
        ["", "a", "1000", "city1", "basic", "40", "N1"],
        ["", "b", "", "atlantis", "", "", "N2"],  # gaps and an unseen city
        ["", "c", "1200.5", "city2", "gold", "33", "N3"],  # an unseen plan
    ]
    path = write_rows(tmp_path / "new.csv", rows)
    result = cli("predict", table_run.dir, path, "--keep", "note", "--keep", "age", "--proba")
    assert result.exit_code == 0, result.output
    out = [line.split(",") for line in result.stdout.strip().splitlines()]
    assert out[0] == ["customer", "note", "age", "prediction", "proba_no", "proba_yes"]
    assert [r[:3] for r in out[1:]] == [["N1", "a", "40"], ["N2", "b", ""], ["N3", "c", "33"]]
    notes = [line for line in result.stderr.splitlines() if line.startswith("note:")]
    assert notes == [
        "note: 2 cell(s) hold categories not seen in training, encoded as the column's "
        "infrequent category or all zeros: 'plan' 1, 'city' 1"
    ]
    # the same predictions as the Python API on a dict of raw columns
    predictor = mlptrain.load(table_run.dir)
    raw = {name: [r[j] for r in rows[1:]] for j, name in enumerate(rows[0])}
    raw["age"] = [40.0, None, 33.0]
    raw["income"] = [1000.0, np.nan, 1200.5]
    raw["plan"] = ["basic", None, "gold"]
    assert [r[3] for r in out[1:]] == predictor.predict(raw).tolist()


def test_predict_extra_columns_said_once(table_run, tmp_path: Path, cli) -> None:
    rows = mixed_rows(20, seed=5)
    rows = [[*row, "x", "y"] for row in rows]
    rows[0][-2:] = ["extra1", "extra2"]
    result = cli("predict", table_run.dir, write_rows(tmp_path / "new.csv", rows))
    assert result.exit_code == 0, result.output
    assert (
        result.stderr.count("ignored 2 column(s) the model does not use: 'extra1', 'extra2'") == 1
    )
    assert len(result.stdout.strip().splitlines()) == 21


@pytest.mark.parametrize(
    ("rows", "args", "message"),
    [
        ([["customer", "age", "plan", "income"], ["a", "1", "basic", "3"]], [],
         "missing column(s) 'city'; the model reads 'age', 'plan', 'city', 'income'"),
        (mixed_rows(3), ["--keep", "nope"], "keep: no column named 'nope'"),
        ([["customer", "age", "plan", "city", "income"], ["a", "old", "basic", "c", "3"]], [],
         "column 'age' holds text such as 'old'; the model was trained on numbers"),
    ],
)  # fmt: skip
def test_predict_errors(table_run, tmp_path: Path, cli, rows, args, message: str) -> None:
    result = cli("predict", table_run.dir, write_rows(tmp_path / "new.csv", rows), *args)
    assert result.exit_code == 2 and result.exception is not None
    assert result.stderr.startswith("error: ") and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def _with(rows: list[list[str]], column: int, values: list[str]) -> list[list[str]]:
    out = [list(r) for r in rows]
    for i, value in enumerate(values, start=1):
        out[i][column] = value
    return out


ROWS = mixed_rows(120)
AGE_GAPS = np.flatnonzero(np.array(ROWS[1:])[:, 1] == "")


@pytest.mark.parametrize(
    ("rows", "extra", "message"),
    [
        (_with(ROWS, 1, [""] * 120), "", "column 'age' is empty (all 120 cells are missing); "
         "remove it or add 'age: ignore' under data.columns"),
        (_with(ROWS, 5, ["", "NA"]), "", "target column 'churn' has 2 missing value(s) (first "
         "at data row 1); drop those rows, or set data.drop_missing_target: true"),
        (ROWS, "  categorical: {max_categories: 5, infrequent: false}",
         "more than data.categorical.max_categories (5) allows with infrequent folding off"),
        (ROWS, "  columns: {plan: numeric}",
         "data.columns.plan: listed as numeric, but it holds text such as 'basic'"),
        (ROWS, "  columns: {plann: id}", "data.columns: no column named 'plann' (did you mean 'plan'?)"),
        (ROWS, "  missing: {numeric: refuse}",
         f"column 'age' has {AGE_GAPS.size} missing value(s) (first at data row "
         f"{AGE_GAPS[0] + 1}) and data.missing.numeric is 'refuse'"),
        (ROWS[1:], "  header: false", "data.target: index 9 is out of range"),
    ],
    ids=["empty-column", "target-gaps", "too-many-levels", "numeric-text", "unknown-column",
         "refuse", "target-index"],
)  # fmt: skip
def test_fit_errors(tmp_path: Path, cli, rows, extra: str, message: str) -> None:
    path = config(tmp_path, rows, extra)
    if "header: false" in extra:
        path.write_text(path.read_text().replace("target: churn", "target: 9"))
    result = cli("fit", path, "--out", tmp_path / "run")
    assert result.exit_code == 2 and result.exception is not None, result.output
    assert result.stderr.startswith("error: ") and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_unsniffable_delimiter_names_what_was_tried(tmp_path: Path, cli) -> None:
    (tmp_path / "t.csv").write_text("a b churn\n1 2 x\n3 4 y\n")
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG.format(path="t.csv", extra=""))
    result = cli("fit", path, "--out", tmp_path / "run")
    assert result.exit_code == 2 and result.exception is not None
    assert (
        "cannot tell the delimiter from the first 3 line(s): tried ',', ';', '\\t', '|', and "
        "none splits every line into the same number of fields (more than one); set "
        "data.delimiter"
    ) in result.stderr


def test_table_keys_refused_for_other_datasets(tmp_path: Path, cli) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("data: {dataset: iris, delimiter: ';'}\nmodel: {layers: [linear]}\n")
    result = cli("validate", path)
    assert result.exit_code == 2
    assert "data.delimiter: is not allowed with dataset 'iris'; it applies to csv and parquet" in (
        result.stderr
    )


def test_drop_missing_target_and_header_false(tmp_path: Path, cli) -> None:
    rows = _with(ROWS, 5, ["", "NA"])[1:]  # no header line
    extra = "  header: false\n  drop_missing_target: true\n  columns: {c0: id}"
    path = config(tmp_path, rows, extra).read_text().replace("target: churn", "target: 5")
    (tmp_path / "c.yaml").write_text(path)
    result = cli("fit", tmp_path / "c.yaml", "--out", tmp_path / "run", "--no-figures")
    assert result.exit_code == 0, result.output
    assert "note: 2 row(s) without a target value dropped (data.drop_missing_target)" in (
        result.stdout
    )
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    data = report["data"]
    assert data["n_train"] + data["n_val"] + data["n_test"] == 118
    # predict on headerless rows without the target column, by position
    new = write_rows(tmp_path / "new.csv", [r[:5] for r in ROWS[1:4]])
    result = cli("predict", tmp_path / "run", new)
    assert result.exit_code == 0, result.output
    assert [line.split(",")[0] for line in result.stdout.splitlines()] == [
        "c0", "C0000", "C0001", "C0002"]  # fmt: skip


def test_resume_is_bit_exact_on_a_table_run(tmp_path: Path) -> None:
    cfg = config(tmp_path, mixed_rows(200))
    reference = fit(cfg, out=tmp_path / "ref").dir
    out = tmp_path / "run"
    with pytest.raises(Crash):
        fit(cfg, out=out, checkpoint_every_steps=1, callbacks=crash_at(7))
    fit(resume=out)
    assert_same_tensors(state_of(out), state_of(reference))


def test_fit_and_predict_a_parquet_table(tmp_path: Path, cli) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    rows = mixed_rows(150)
    body = np.array(rows[1:])
    columns = {name: body[:, j].tolist() for j, name in enumerate(rows[0])}
    columns["age"] = [float(v) if v else None for v in columns["age"]]
    columns["plan"] = [None if v == "NA" else v for v in columns["plan"]]
    pq.write_table(pa.table(columns), tmp_path / "t.parquet")
    (tmp_path / "c.yaml").write_text(
        CONFIG.format(path="t.parquet", extra="").replace("dataset: csv", "dataset: parquet")
    )
    result = cli("fit", tmp_path / "c.yaml", "--out", tmp_path / "run", "--no-figures")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    missing = {c["name"]: c["n_missing"] for c in report["data"]["columns"]}
    assert missing["age"] == int((body[:, 1] == "").sum())
    assert missing["plan"] == int((body[:, 2] == "NA").sum())
    assert report["data"]["source"].startswith("Parquet ")
    result = cli("predict", tmp_path / "run", tmp_path / "t.parquet")
    assert result.exit_code == 0, result.output
    assert len(result.stdout.strip().splitlines()) == 151


def test_read_labelled_table_takes_the_target_out(table_run, tmp_path: Path) -> None:
    from mlptrain.data.features import read_labelled_table

    rows = _with(mixed_rows(40, seed=9), 5, ["", "NA"])
    path = write_rows(tmp_path / "labelled.csv", rows)
    predictor = mlptrain.load(table_run.dir)
    data = {"drop_missing_target": True}
    table, labels, notes = read_labelled_table(path, encoder=predictor.table, data=data)
    assert labels.tolist() == [r[5] for r in rows[3:]]
    assert table.n_rows == 38 and notes == ["2 row(s) without a target value dropped"]
    assert predictor.predict(table).shape == (38,)
    with pytest.raises(mlptrain.errors.DataError, match="target column 'churn' has 2 missing"):
        read_labelled_table(path, encoder=predictor.table, data={})


@pytest.mark.parametrize(
    "damage",
    [
        lambda state: state.pop("numeric"),
        lambda state: state["numeric"][0].update(scale="1"),
        lambda state: state["categorical"][0].update(categories=[1, 2]),
    ],
    ids=["key-missing", "string-number", "number-category"],
)
def test_malformed_table_state_is_one_error(table_run, tmp_path: Path, cli, damage) -> None:
    """A checkpoint re-signed with a damaged preprocessing state (the SHA-256 proves integrity,
    not good intent) is refused in one line."""
    from mlptrain.store.checkpoint import load_checkpoint, save_checkpoint

    ckpt = load_checkpoint(table_run.dir / "checkpoints" / "best.safetensors")
    damage(ckpt.meta["table"])
    path = tmp_path / "bad.safetensors"
    save_checkpoint(path, ckpt.tensors, ckpt.meta)
    new = write_rows(tmp_path / "new.csv", mixed_rows(5))
    result = cli("predict", path, new)
    assert result.exit_code == 2 and result.exception is not None
    assert "the table preprocessing state is malformed" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_predictor_takes_a_dataframe_and_a_positional_array(table_run) -> None:
    pd = pytest.importorskip("pandas")
    rows = mixed_rows(12, seed=3)
    frame = pd.DataFrame(rows[1:], columns=rows[0]).replace({"": None, "NA": None, "?": None,
                                                             "null": None})  # fmt: skip
    predictor = mlptrain.load(table_run.dir)
    from_frame = predictor.predict_proba(frame)
    features = predictor.table.features  # the feature columns in table order
    array = np.array([[r[rows[0].index(n)] for n in features] for r in rows[1:]], dtype=object)
    from_array = predictor.predict_proba(array)
    np.testing.assert_array_equal(from_frame, from_array)
    assert from_frame.shape == (12, 2)


def test_evaluate_data_scores_raw_labelled_rows(table_run, tmp_path: Path, cli) -> None:
    """evaluate --data on a table model: raw rows (reordered columns, gaps, unseen
    categories) through the saved preprocessing; the accuracy is predict's on the same rows."""
    rows = mixed_rows(60, seed=11)
    rows = [[r[5], r[3], r[0], r[2], r[1], r[4]] for r in rows]  # churn first, columns shuffled
    rows[1][1] = "atlantis"
    path = write_rows(tmp_path / "labelled.csv", rows)
    result = cli("evaluate", table_run.dir, "--data", path, "--format", "json")
    assert result.exit_code == 0, result.output
    scored = json.loads(result.stdout)
    predictor = mlptrain.load(table_run.dir)
    header = rows[0]
    raw = {name: [r[j] for r in rows[1:]] for j, name in enumerate(header) if name != "churn"}
    predicted = predictor.predict(raw)
    truth = np.array([r[0] for r in rows[1:]])
    assert scored["n_samples"] == 60
    assert scored["metrics"]["accuracy"] == pytest.approx(float(np.mean(predicted == truth)))
    assert "note: " in result.stderr and "'city'" in result.stderr
    no_target = write_rows(tmp_path / "unlabelled.csv", [r[1:] for r in rows])
    result = cli("evaluate", table_run.dir, "--data", no_target)
    assert result.exit_code == 2 and result.exception is not None
    assert "no target column 'churn'; a labelled file needs the column" in result.stderr


def test_evaluate_refuses_a_table_whose_categories_changed(tmp_path: Path, cli) -> None:
    """The data fingerprint covers a table's text columns, not only its numbers."""
    rows = mixed_rows(120)
    cfg = config(tmp_path, rows)
    run = fit(cfg, out=tmp_path / "run", figures=False)
    changed = [list(r) for r in rows]
    changed[5][3] = "city_renamed"  # one category cell, numbers untouched
    write_rows(tmp_path / "t.csv", changed)
    result = cli("evaluate", run.dir)
    assert result.exit_code == 2 and result.exception is not None
    assert "the feature values" in result.stderr and "changed" in result.stderr
