"""Splits a table brings: data.split_column and data.group_column (mlptrain.data.assigned),
through the library and through fit -> predict, with their errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mlptrain.config import load_config
from mlptrain.data.splits import prepare
from mlptrain.errors import DataError
from tests.conftest import assert_no_traceback
from tests.data.test_tables import mixed_rows, write_rows

HEAD = """\
name: t
seed: 3
data:
  dataset: csv
  path: t.csv
  target: churn
{extra}
model:
  layers: [{{type: linear, units: 8}}, relu, {{type: linear}}]
train: {{epochs: 2, batch_size: 32, early_stopping: null}}
"""


def with_column(rows: list[list[str]], name: str, values: list[str]) -> list[list[str]]:
    return [[*rows[0][:2], name, *rows[0][2:]]] + [
        [*row[:2], value, *row[2:]] for row, value in zip(rows[1:], values, strict=True)
    ]


def table_config(tmp_path: Path, rows: list[list[str]], extra: str) -> Path:
    write_rows(tmp_path / "t.csv", rows)
    path = tmp_path / "c.yaml"
    path.write_text(HEAD.format(extra=extra))
    return path


def split_labels(n: int) -> list[str]:
    return [("train", "train", "val", "test", "train")[i % 5] for i in range(n)]


def test_split_column_places_every_row_and_is_no_feature(tmp_path: Path) -> None:
    labels = split_labels(200)
    rows = with_column(mixed_rows(200), "part", labels)
    cfg = load_config(table_config(tmp_path, rows, "  split_column: part"))
    data = prepare(cfg.data, seed=cfg.seed, dtype="float64")
    assert len(data.train.y) == labels.count("train") == 120
    assert len(data.val.y) == labels.count("val") == 40
    assert len(data.test.y) == labels.count("test") == 40
    churn = np.array([row[-1] for row in mixed_rows(200)[1:]])
    test_rows = [i for i, label in enumerate(labels) if label == "test"]
    assert data.encoder.decode(data.test.y).tolist() == churn[test_rows].tolist()
    assert not any(name == "part" or name.startswith("part=") for name in data.feature_names)
    assert "part" not in {c.name for c in data.columns}


def test_group_split_keeps_each_group_on_one_side_reproducibly(tmp_path: Path) -> None:
    groups = [f"g{i % 37}" for i in range(300)]
    rows = with_column(mixed_rows(300), "shop", groups)
    cfg = load_config(table_config(tmp_path, rows, "  group_column: shop"))
    raw_groups = np.array(groups)
    from mlptrain.data.datasets import load_raw
    from mlptrain.data.splits import split_rows

    raw = load_raw(cfg.data, seed=cfg.seed)
    train, val, test = split_rows(raw, cfg.data, seed=cfg.seed)
    parts = [set(raw_groups[train]), set(raw_groups[val]), set(raw_groups[test])]
    assert not (parts[0] & parts[1]) and not (parts[0] & parts[2]) and not (parts[1] & parts[2])
    assert sorted(np.concatenate([train, val, test]).tolist()) == list(range(300))
    # test_size is a share of the 37 groups: ceil(0.2 * 37) = 8 groups held out
    assert len(parts[2]) == 8
    again = split_rows(load_raw(cfg.data, seed=cfg.seed), cfg.data, seed=cfg.seed)
    assert all(np.array_equal(a, b) for a, b in zip((train, val, test), again, strict=True))
    other = split_rows(raw, cfg.data, seed=cfg.seed + 1)
    assert not np.array_equal(test, other[2])
    assert "shop" not in raw.feature_names and "shop" not in raw.table.columns


def test_split_column_fit_then_predict(tmp_path: Path, cli) -> None:
    labels = split_labels(200)
    rows = with_column(mixed_rows(200), "part", labels)
    path = table_config(tmp_path, rows, "  split_column: part")
    result = cli("fit", path, "--out", tmp_path / "run", "--no-figures")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert (report["data"]["n_train"], report["data"]["n_val"], report["data"]["n_test"]) == (
        120, 40, 40,
    )  # fmt: skip
    refit = cli("fit", tmp_path / "run" / "config.yaml", "--out", tmp_path / "again",
                "--no-figures")  # fmt: skip
    assert refit.exit_code == 0, refit.output
    outputs = []
    for run in ("run", "again"):
        out = tmp_path / f"{run}.csv"
        result = cli("predict", tmp_path / run, tmp_path / "t.csv", "--output", out)
        assert result.exit_code == 0, result.output
        outputs.append(out.read_text())
    assert len(outputs[0].splitlines()) == 201
    assert outputs[0] == outputs[1]  # the resolved config reproduces the run


@pytest.mark.parametrize(
    ("values", "extra", "message"),
    [
        (
            ["train", "test", "holdout"],
            "  split_column: part",
            "data.split_column 'part' holds 'holdout'; allowed values: train, val, test",
        ),
        (
            ["train", "val", ""],
            "  split_column: part",
            "data.split_column 'part': 66 row(s) have no value; each row needs train, val or test",
        ),
        (
            ["train", "val"],
            "  split_column: part",
            "data.split_column 'part': no row is marked 'test'; at least one is needed",
        ),
        (["train", "test"], "  split_column: prat", "data.split_column: column 'prat' not found"),
        (
            ["a", "b"],
            "  group_column: churn",
            "data.group_column 'churn' is the target column; name another column",
        ),
        (
            ["a", "a"],
            "  group_column: part",
            "1 group(s); a group split into train/validation/test needs at least 3",
        ),
    ],
)
def test_split_errors(tmp_path: Path, cli, values, extra, message) -> None:
    rows = with_column(mixed_rows(200), "part", [values[i % len(values)] for i in range(200)])
    result = cli("fit", table_config(tmp_path, rows, extra), "--out", tmp_path / "run")
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert_no_traceback(result)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            "  split_column: part\n  test_size: 0.3",
            "0.3 is not allowed with data.split_column (the column places every row); "
            "remove data.test_size",
        ),
        ("  split_column: part\n  val_size: 0.3", "remove data.val_size"),
        ("  split_column: part\n  group_column: shop", "is not allowed with data.split_column"),
    ],
)
def test_split_config_errors(tmp_path: Path, cli, extra, message) -> None:
    rows = with_column(mixed_rows(50), "part", split_labels(50))
    result = cli("fit", table_config(tmp_path, rows, extra), "--out", tmp_path / "run")
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert_no_traceback(result)


def test_group_column_is_refused_for_builtin_datasets(tmp_path: Path, cli) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("data: {dataset: iris, group_column: g}\nmodel: {layers: [linear]}\n")
    result = cli("validate", path)
    assert result.exit_code == 2, result.output
    assert "group_column" in result.output and "csv" in result.output


def test_missing_group_column_is_a_data_error(tmp_path: Path) -> None:
    rows = mixed_rows(40)
    cfg = load_config(table_config(tmp_path, rows, "  group_column: store"))
    with pytest.raises(DataError, match="data.group_column: column 'store' not found"):
        prepare(cfg.data, seed=0, dtype="float64")


def files_config(tmp_path: Path, extra: str, n_val: int = 0, n_test: int = 60) -> Path:
    rows = mixed_rows(200 + n_val + n_test, seed=5)
    header, body = rows[0], rows[1:]
    write_rows(tmp_path / "val.csv", [header, *body[200 : 200 + n_val]])
    write_rows(tmp_path / "test.csv", [header, *body[200 + n_val :]])
    return table_config(tmp_path, [header, *body[:200]], extra)


def test_test_path_holds_the_test_rows_and_val_comes_from_the_training_file(
    tmp_path: Path,
) -> None:
    cfg = load_config(files_config(tmp_path, "  test_path: test.csv"))
    data = prepare(cfg.data, seed=cfg.seed, dtype="float64")
    # val_size of the training file's 200 rows, as scikit-learn's train_test_split counts them
    assert (len(data.train.y), len(data.val.y), len(data.test.y)) == (180, 20, 60)
    churn = [row[-1] for row in mixed_rows(260, seed=5)[201:]]
    assert data.encoder.decode(data.test.y).tolist() == churn


def test_val_and_test_paths_together_leave_every_training_row_to_train(tmp_path: Path) -> None:
    extra = "  val_path: val.csv\n  test_path: test.csv"
    cfg = load_config(files_config(tmp_path, extra, n_val=50))
    data = prepare(cfg.data, seed=cfg.seed, dtype="float64")
    assert (len(data.train.y), len(data.val.y), len(data.test.y)) == (200, 50, 60)


def test_a_word_in_the_test_file_makes_the_column_text_in_every_file(tmp_path: Path) -> None:
    path = files_config(tmp_path, "  test_path: test.csv")
    lines = (tmp_path / "test.csv").read_text().splitlines()
    cells = lines[3].split(",")
    cells[1] = "unknown"  # the age column: numbers in the training file
    lines[3] = ",".join(cells)
    (tmp_path / "test.csv").write_text("\n".join(lines) + "\n")
    cfg = load_config(path)
    data = prepare(cfg.data, seed=cfg.seed, dtype="float64")
    kinds = {c.name: c.kind for c in data.columns}
    assert kinds["age"] == "categorical"
    assert "age=unknown" not in data.feature_names  # levels come from the training rows only


def test_test_path_fit_then_predict_and_refit(tmp_path: Path, cli) -> None:
    path = files_config(tmp_path, "  test_path: test.csv")
    result = cli("fit", path, "--out", tmp_path / "run", "--no-figures")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["data"]["n_test"] == 60
    refit = cli("fit", tmp_path / "run" / "config.yaml", "--out", tmp_path / "again",
                "--no-figures")  # fmt: skip
    assert refit.exit_code == 0, refit.output
    outputs = []
    for run in ("run", "again"):
        out = tmp_path / f"{run}.csv"
        result = cli("predict", tmp_path / run, tmp_path / "test.csv", "--output", out)
        assert result.exit_code == 0, result.output
        outputs.append(out.read_text())
    assert len(outputs[0].splitlines()) == 61
    assert outputs[0] == outputs[1]


def test_split_file_errors(tmp_path: Path, cli) -> None:
    path = files_config(tmp_path, "  test_path: tset.csv")
    result = cli("fit", path, "--out", tmp_path / "run")
    assert result.exit_code == 2, result.output
    assert result.output.strip().endswith("tset.csv: file not found"), result.output
    assert "data.test_path" in result.output
    assert len(result.output.strip().splitlines()) == 1

    path = files_config(tmp_path, "  test_path: test.csv")
    lines = (tmp_path / "test.csv").read_text().splitlines()
    (tmp_path / "test.csv").write_text(
        "\n".join(",".join(line.split(",")[:-2] + line.split(",")[-1:]) for line in lines)
    )
    result = cli("fit", path, "--out", tmp_path / "run")
    assert result.exit_code == 2, result.output
    assert "data.test_path must have the training file's columns; missing 'income'" in (
        result.output
    )
    assert len(result.output.strip().splitlines()) == 1


def test_split_column_with_a_test_file_is_refused(tmp_path: Path, cli) -> None:
    path = files_config(tmp_path, "  test_path: test.csv\n  split_column: plan")
    result = cli("validate", path)
    assert result.exit_code == 2, result.output
    assert "data.split_column: 'plan' is not allowed with data.test_path" in result.output
