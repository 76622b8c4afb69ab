"""Tables: reading (delimiters, header, gzip, Parquet, missing markers), column typing, the
preprocessing against scikit-learn's own transformers, and every new error's line and exit."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from mlptrain.data.columns import resolve_target, type_columns
from mlptrain.data.encoder_fit import (
    Settings,
    build_column_transformer,
    extended_levels,
    fit_matrix,
)
from mlptrain.data.encoding import TableEncoder
from mlptrain.data.tables import have_pyarrow, load_table
from mlptrain.errors import DataError

ENGINES = ["python", *(["pyarrow"] if have_pyarrow() else [])]


def mixed_rows(n: int = 240, seed: int = 0) -> list[list[str]]:
    """A small table with an id, numbers with gaps, categories with gaps and a rare tail."""
    rng = np.random.default_rng(seed)
    rows = [["customer", "age", "plan", "city", "income", "churn"]]
    for i in range(n):
        age = "" if rng.random() < 0.1 else str(int(rng.integers(18, 80)))
        plan = "NA" if rng.random() < 0.1 else str(rng.choice(["basic", "plus", "premium"]))
        city = "?" if rng.random() < 0.1 else f"city{int(rng.zipf(1.6)) % 30}"
        income = "null" if rng.random() < 0.1 else f"{rng.normal(1000, 300):.2f}"
        churn = "yes" if (plan == "basic") ^ (rng.random() < 0.15) else "no"
        rows.append([f"C{i:04d}", age, plan, city, income, churn])
    return rows


def write_rows(path: Path, rows: list[list[str]], delimiter: str = ",") -> Path:
    text = "\n".join(delimiter.join(row) for row in rows) + "\n"
    if path.name.endswith(".gz"):
        with gzip.open(path, "wt") as handle:
            handle.write(text)
    else:
        path.write_text(text)
    return path


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("delimiter", "name"), [(",", "t.csv"), (";", "t.csv"),
                                                 ("\t", "t.tsv"), ("|", "t.csv.gz")])  # fmt: skip
def test_delimiters_are_sniffed_and_gaps_read(tmp_path: Path, engine: str, delimiter: str,
                                              name: str) -> None:  # fmt: skip
    rows = mixed_rows(60)
    path = write_rows(tmp_path / name, rows, delimiter)
    table = load_table(path, engine=engine)
    assert table.delimiter == delimiter
    assert table.names == rows[0] and table.n_rows == 60
    body = np.array(rows[1:])
    age = table.columns["age"]
    assert not age.is_text and age.integer
    expected = np.array([float(v) if v else np.nan for v in body[:, 1]])
    np.testing.assert_array_equal(age.values, expected)
    plan = table.columns["plan"]
    assert plan.is_text and list(plan.levels) == sorted(set(body[:, 2]) - {"NA"})
    decoded = np.where(plan.values < 0, "NA", plan.levels[plan.values])
    assert decoded.tolist() == body[:, 2].tolist()
    assert int(table.columns["city"].missing.sum()) == int((body[:, 3] == "?").sum())
    assert int(table.columns["income"].missing.sum()) == int((body[:, 4] == "null").sum())


def test_both_engines_give_identical_columns(tmp_path: Path) -> None:
    if not have_pyarrow():
        pytest.skip("pyarrow not installed")
    path = write_rows(tmp_path / "t.csv", mixed_rows(300))
    a, b = load_table(path, engine="python"), load_table(path, engine="pyarrow")
    for name in a.names:
        np.testing.assert_array_equal(a.columns[name].values, b.columns[name].values)
        assert (a.columns[name].levels is None) == (b.columns[name].levels is None)
        if a.columns[name].levels is not None:
            assert a.columns[name].levels.tolist() == b.columns[name].levels.tolist()


def test_arrow_retypes_a_column_whose_words_start_after_the_first_block(tmp_path: Path) -> None:
    if not have_pyarrow():
        pytest.skip("pyarrow not installed")
    import mlptrain.data.arrow as tables

    rows = [["a", "b", "y"]] + [[str(i), str(i % 7), "p" if i % 2 else "q"] for i in range(3000)]
    rows[2500][1] = "seven"  # a word far below the first block
    rows[2600][0] = "2.5"  # and a float in an integer column
    path = write_rows(tmp_path / "t.csv", rows)
    original = tables.BLOCK_BYTES
    tables.BLOCK_BYTES = 1024  # several blocks on a small file
    try:
        table = load_table(path, engine="pyarrow")
    finally:
        tables.BLOCK_BYTES = original
    assert table.columns["b"].is_text and "seven" in table.columns["b"].levels
    assert not table.columns["a"].is_text and table.columns["a"].values[2599] == 2.5
    assert not table.columns["a"].integer


def test_header_false_names_columns_and_target_by_index(tmp_path: Path) -> None:
    path = write_rows(tmp_path / "t.csv", mixed_rows(30)[1:])
    table = load_table(path, header=False)
    assert table.names == [f"c{j}" for j in range(6)]
    assert resolve_target(table, 5) == "c5" and resolve_target(table, None) == "c5"
    with pytest.raises(DataError, match=r"data.target: index 6 is out of range; the table has 6"):
        resolve_target(table, 6)


def test_parquet_round_trip(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    csv_path = write_rows(tmp_path / "t.csv", mixed_rows(80))
    from_csv = load_table(csv_path)
    arrays = {}
    for name, column in from_csv.columns.items():
        if column.is_text:
            values = np.where(column.values < 0, None, column.strings()).tolist()
            arrays[name] = pa.array(values, type=pa.string())
        else:
            arrays[name] = pa.array(column.values, mask=np.isnan(column.values))
    pq.write_table(pa.table(arrays), tmp_path / "t.parquet")
    from_parquet = load_table(tmp_path / "t.parquet")
    for name in from_csv.names:
        np.testing.assert_array_equal(
            from_csv.columns[name].values, from_parquet.columns[name].values
        )


def test_na_values_are_configurable(tmp_path: Path) -> None:
    path = write_rows(tmp_path / "t.csv", [["a", "b"], ["1", "x"], ["-", "y"], ["3", "-"]])
    assert load_table(path).columns["a"].is_text  # '-' is not a default marker
    table = load_table(path, na_values=["-"])
    np.testing.assert_array_equal(table.columns["a"].values, [1.0, np.nan, 3.0])
    assert table.columns["b"].values.tolist() == [0, 1, -1]


def test_types_inferred_listed_and_likely_id() -> None:
    rows = mixed_rows(100)
    from mlptrain.data.tables import table_from_mapping

    body = np.array(rows[1:])
    table = table_from_mapping(
        {name: body[:, j] for j, name in enumerate(rows[0])},
        names=rows[0],
        text_columns=(),
        na_values=["", "NA", "?", "null"],
        source="t",
    )
    infos = {i.name: i for i in type_columns(table, "churn", {})}
    assert (infos["customer"].kind, infos["customer"].how) == ("id", "likely id")
    assert infos["age"].kind == "numeric" and infos["plan"].kind == "categorical"
    assert infos["plan"].n_levels == 3 and infos["age"].n_missing == int((body[:, 1] == "").sum())
    listed = {i.name: i for i in type_columns(table, "churn", {"customer": "categorical"})}
    assert (listed["customer"].kind, listed["customer"].how) == ("categorical", "listed")


@pytest.mark.parametrize(
    "settings",
    [
        Settings(),
        Settings(categorical_missing="constant", indicator=True, scale="minmax", max_categories=5),
        Settings(numeric_missing="zero", min_frequency=4, scale="none"),
        Settings(numeric_missing="mean", infrequent=False, max_categories=None),
        Settings(min_frequency=1000),  # every category infrequent: one column per feature
    ],
    ids=["defaults", "constant-indicator-minmax", "zero-minfreq", "mean-no-folding", "all-rare"],
)
def test_encoder_matches_the_fitted_column_transformer(tmp_path: Path, settings) -> None:
    """Every cell of our NumPy transform equals scikit-learn's, on training rows and on rows
    it never saw (gaps, rare and unseen categories)."""
    rows = mixed_rows(400)
    table = load_table(write_rows(tmp_path / "t.csv", rows))
    infos = type_columns(table, "churn", {})
    train = np.arange(0, 400, 2)  # the odd rows hold cities the training rows never saw
    encoder = TableEncoder.fit(table, infos, train, settings)
    numeric = [i.name for i in infos if i.kind == "numeric"]
    categorical = [i.name for i in infos if i.kind == "categorical"]
    constant = settings.categorical_missing == "constant"
    missing_code = [
        float(np.flatnonzero(extended_levels(table.columns[c].levels, constant) == "missing")[0])
        if constant
        else 0.0
        for c in categorical
    ]
    reference = build_column_transformer(numeric, categorical, settings, missing_code)
    reference.fit(fit_matrix(table, numeric, categorical, train, constant))
    expected = reference.transform(
        fit_matrix(table, numeric, categorical, np.arange(400), constant)
    )
    expected = expected.toarray() if hasattr(expected, "toarray") else expected
    ours, unseen = encoder.transform(table, np.arange(400), np.float64)
    assert ours.shape == expected.shape == (400, encoder.width)
    np.testing.assert_array_equal(ours, expected)
    codes = table.columns["city"].values
    n_new = int(((codes >= 0) & ~np.isin(codes, codes[train])).sum())
    assert n_new > 0
    assert unseen.get("city", 0) == n_new
    # the state is plain JSON: rebuilt from it, the encoder gives the same matrix
    import json

    rebuilt = TableEncoder.from_state(json.loads(json.dumps(encoder.state)), "ckpt")
    np.testing.assert_array_equal(rebuilt.transform(table, None, np.float64)[0], expected)


@pytest.mark.parametrize(
    "settings",
    [Settings(), Settings(categorical_missing="constant", indicator=True, scale="minmax")],
    ids=["defaults", "constant-indicator-minmax"],
)
def test_parts_fitted_alone_give_the_state_of_the_whole_column_transformer(
    tmp_path: Path, monkeypatch, settings
) -> None:
    """fit_parts fits each part on its columns without building the encoded matrix: the state
    is the one of ColumnTransformer.fit (which is fit_transform) on the same rows."""
    from mlptrain.data import encoder_fit

    table = load_table(write_rows(tmp_path / "t.csv", mixed_rows(400)))
    infos = type_columns(table, "churn", {})
    train = np.arange(0, 400, 2)
    by_parts = TableEncoder.fit(table, infos, train, settings).state
    monkeypatch.setattr(
        encoder_fit, "fit_parts", lambda transformer, X: transformer.fit(X).named_transformers_
    )
    assert TableEncoder.fit(table, infos, train, settings).state == by_parts


def test_encoded_matrix_is_written_in_the_training_dtype(tmp_path: Path) -> None:
    table = load_table(write_rows(tmp_path / "t.csv", mixed_rows(50)))
    encoder = TableEncoder.fit(table, type_columns(table, "churn", {}), np.arange(40), Settings())
    out, _ = encoder.transform(table, np.arange(40, 50), np.float32)
    assert out.dtype == np.float32 and out.flags.c_contiguous and out.shape[0] == 10


@pytest.mark.parametrize(
    "settings",
    [Settings(), Settings(categorical_missing="constant", indicator=True, max_categories=5)],
    ids=["defaults", "constant-indicator-folding"],
)
def test_onnx_preprocessing_matches_the_encoder(tmp_path: Path, settings) -> None:
    """The ai.onnx.ml graph of the preprocessing, on raw columns with gaps and unseen
    categories, gives the encoder's matrix."""
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper

    from mlptrain.data.frame import DEFAULT_NA_VALUES
    from mlptrain.serving.table_export import table_graph

    rows = mixed_rows(300)
    table = load_table(write_rows(tmp_path / "t.csv", rows))
    encoder = TableEncoder.fit(table, type_columns(table, "churn", {}), np.arange(0, 300, 2),
                               settings)  # fmt: skip
    nodes, inits, counter = [], [], [0]

    def node(op, inputs, **attrs):
        counter[0] += 1
        out = f"t{counter[0]}"
        nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    inputs, encoded = table_graph(encoder, np.float64, list(DEFAULT_NA_VALUES), node, inits)
    nodes.append(helper.make_node("Identity", [encoded], ["encoded"]))
    graph = helper.make_graph(nodes, "prep", inputs,
                              [helper.make_tensor_value_info("encoded", TensorProto.DOUBLE,
                                                             [None, None])], initializer=inits)  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("ai.onnx.ml", 3)])  # fmt: skip
    model.ir_version = 8
    session = ort.InferenceSession(model.SerializeToString())
    body = np.array(rows[1:])
    feeds = {}
    for j, name in enumerate(rows[0]):
        if name in encoder.features:
            column = table.columns[name]
            if column.is_text:
                feeds[name] = body[:, j].astype(object).reshape(-1, 1)  # raw cells, gaps as read
            else:
                feeds[name] = column.values.reshape(-1, 1)
    (got,) = session.run(None, feeds)
    expected, unseen = encoder.transform(table, None, np.float64)
    assert unseen  # the odd rows hold cities the training rows never saw
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("engine", ENGINES)
def test_whole_numbers_beyond_2_to_53_read_as_the_nearest_float(tmp_path: Path, engine) -> None:
    """pyarrow reads them as int64; its safe cast to float64 refused them, and the file could
    not be read at all. Each is the float Python's float(int) gives (round to nearest)."""
    big = [2**53 + 1, 2**63 - 1, -(2**60) - 3]
    path = tmp_path / "big.csv"
    path.write_text("n,y\n" + "".join(f"{v},{i}\n" for i, v in enumerate(big)))
    column = load_table(path, engine=engine).columns["n"]
    assert column.values.tolist() == [float(v) for v in big]
    assert column.integer
