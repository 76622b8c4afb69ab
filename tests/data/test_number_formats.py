"""Issue 22: numbers written with a thousands separator or a decimal comma, and files that are
not UTF-8 (data.thousands, data.decimal, data.encoding): read, refused with the option to set,
and the same in predict and in the exported script."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import mlptrain
from mlptrain.data.numbers import NumberFormat
from mlptrain.data.tables import load_table
from mlptrain.errors import DataError
from tests.conftest import assert_no_traceback, assert_same_predictions, exported_script_output

ENGINES = ["pyarrow", "python"]


@pytest.mark.parametrize(
    ("thousands", "decimal", "levels", "expected"),
    [
        ("auto", ".", ["1,234,567.5", "950", "-12,000", ".5"], [1234567.5, 950, -12000, 0.5]),
        ("auto", ",", ["1.234.567,5", "950", "-3,25"], [1234567.5, 950, -3.25]),
        (" ", ".", ["1 234", "12"], [1234, 12]),
        ("'", ".", ["1'234'000.25"], [1234000.25]),
        ("none", ",", ["3,5", "10"], [3.5, 10]),
    ],
)
def test_number_formats_parse(thousands, decimal, levels, expected) -> None:
    parsed = NumberFormat.from_options(thousands, decimal).parse(np.array(levels))
    np.testing.assert_array_equal(parsed, np.array(expected, dtype=float))


@pytest.mark.parametrize(
    ("thousands", "decimal", "levels"),
    [
        ("auto", ".", ["12,34"]),  # not groups of three
        ("auto", ".", ["1,2345"]),
        ("none", ".", ["1,234"]),  # no separator allowed
        ("auto", ".", ["1,234", "abc"]),
        ("auto", ",", ["1,2,3"]),
    ],
)
def test_what_is_not_a_number_stays_text(thousands, decimal, levels) -> None:
    assert NumberFormat.from_options(thousands, decimal).parse(np.array(levels)) is None


def _write(path: Path, lines: list[str], encoding: str = "utf-8") -> Path:
    path.write_text("\n".join(lines) + "\n", encoding=encoding)
    return path


@pytest.mark.parametrize("engine", ENGINES)
def test_grouped_numbers_are_numbers_with_a_note(tmp_path: Path, engine: str) -> None:
    path = _write(
        tmp_path / "t.csv", ["id,income,y", 'a,"64,324",1', 'b,"1,200,000.5",0', "c,950,1"]
    )
    table = load_table(path, engine=engine)
    income = table.columns["income"]
    assert not income.is_text
    np.testing.assert_array_equal(income.values, [64324, 1200000.5, 950])
    assert table.notes == [
        "t.csv: column 'income' read as numbers with ',' as the thousands separator "
        "(data.thousands, data.decimal)"
    ]
    plain = load_table(path, engine=engine, thousands="none")
    assert plain.columns["income"].is_text


@pytest.mark.parametrize("engine", ENGINES)
def test_a_decimal_comma_file(tmp_path: Path, engine: str) -> None:
    path = _write(tmp_path / "t.csv", ["price;w;y", "1.234,50;3,5;1", "99,00;4;0", "7;-0,25;1"])
    table = load_table(path, engine=engine, decimal=",")
    np.testing.assert_array_equal(table.columns["price"].values, [1234.5, 99, 7])
    np.testing.assert_array_equal(table.columns["w"].values, [3.5, 4, -0.25])
    # with the default decimal point the columns stay text, and a note says what to set
    as_text = load_table(path, engine=engine)
    assert as_text.columns["price"].is_text
    assert (
        "t.csv: column 'price' is read as text, but every value would be a number with ',' as "
        "the decimal mark: set data.decimal: ',' if it is"
    ) in as_text.notes


@pytest.mark.parametrize("engine", ENGINES)
def test_a_latin1_file_is_refused_with_the_option_then_read_with_it(
    tmp_path: Path, engine: str
) -> None:
    path = _write(tmp_path / "t.csv", ["name,y", "Zoe,1", "Zoë,0"], encoding="latin-1")
    with pytest.raises(DataError) as info:
        load_table(path, engine=engine)
    assert str(info.value) == (
        f"{path}: line 3: byte 0xEB is not utf-8 text; set data.encoding to the file's encoding "
        "(for example latin-1 or cp1252), or save the file as UTF-8"
    )
    table = load_table(path, engine=engine, encoding="latin-1")
    assert list(table.columns["name"].levels) == ["Zoe", "Zoë"]


def test_utf8_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes("\ufeffa,y\n1,2\n3,4\n".encode())
    for engine in ENGINES:
        assert load_table(path, engine=engine).names == ["a", "y"]


@pytest.fixture
def latin_table(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    income = rng.integers(500, 2_000_000, 120)
    lines = ["name,income,score,y"] + [
        f'Zoë{i % 5},"{v:,}",{rng.normal():.3f},{"yes" if v > 900_000 else "no"}'
        for i, v in enumerate(income)
    ]
    return _write(tmp_path / "latin.csv", lines, encoding="latin-1")


def test_the_cli_says_which_option_to_set(cli, latin_table: Path, tmp_path: Path) -> None:
    result = cli("fit", latin_table, "--target", "y", "--out", tmp_path / "run")
    assert result.exit_code == 2
    assert_no_traceback(result)
    assert "line 2: byte 0xEB is not utf-8 text; set data.encoding" in result.stderr


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "data.encoding=klingon",
            "data.encoding: 'klingon' is not an encoding Python knows; e.g. utf-8, latin-1",
        ),
        (
            'data.thousands="."',
            "data.thousands: '.' is not allowed: it is data.decimal too; the thousands separator "
            "must differ from the decimal mark",
        ),
        ("data.decimal=';'", "data.decimal: unknown value ';'; allowed: ',', '.'"),
    ],
)
def test_bad_format_options_exit_2(
    cli, latin_table: Path, tmp_path: Path, override: str, message: str
) -> None:
    result = cli("fit", latin_table, "--target", "y", "--out", tmp_path / "r", "--set", override)
    assert result.exit_code == 2, result.output
    assert_no_traceback(result)
    assert message in result.stderr


def test_predict_and_the_exported_script_read_the_file_as_training_did(
    cli, latin_table: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    result = cli(
        "fit", latin_table, "--target", "y", "--out", run,
        "--set", "data.encoding=latin-1", "--set", "train.epochs=3",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "column 'income' read as numbers with ',' as the thousands separator" in result.stdout
    assert mlptrain.load(run).meta.n_features == 5 + 2  # 5 names one-hot, income, score
    new = _write(
        tmp_path / "new.csv",
        ["name,income,score", 'Zoë1,"1,500,000",0.5', "Zoë2,800,-1.0"],
        encoding="latin-1",
    )
    predicted = cli("predict", run, new, "--proba")
    assert predicted.exit_code == 0, predicted.output
    script = exported_script_output(run, new, tmp_path / "exported")
    assert_same_predictions(predicted.stdout, script)
    # the same rows with plain numbers give the same predictions
    plain = _write(
        tmp_path / "plain.csv",
        ["name,income,score", "Zoë1,1500000,0.5", "Zoë2,800,-1.0"],
        encoding="latin-1",
    )
    again = cli("predict", run, plain, "--proba")
    assert again.stdout == predicted.stdout
