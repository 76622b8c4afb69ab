"""benchmarks/tables_scoring.py against values worked by hand, and README's real-tables block.

Needs none of the ``bench`` extra: the scoring module is NumPy only.
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        f"bench_{name}", ROOT / "benchmarks" / f"{name}.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def scoring() -> ModuleType:
    return _load("tables_scoring")


@pytest.fixture(scope="module")
def table() -> ModuleType:
    return _load("tables_suite_table")


def test_metrics_match_hand_computed_values(scoring: ModuleType) -> None:
    # 3 of 4 labels right; labels compared as text, so 1 and "1" agree.
    assert scoring.accuracy(["a", "b", "a", 1], ["a", "a", "a", "1"]) == 0.75
    # errors 0, 0, -2: MSE 4/3; SST about the mean 2 is 1 + 0 + 1 = 2, SSE 4: R² = 1 - 4/2.
    assert scoring.rmse([1, 2, 3], [1, 2, 5]) == pytest.approx(math.sqrt(4 / 3), abs=1e-15)
    assert scoring.r2([1, 2, 3], [1, 2, 5]) == pytest.approx(-1.0, abs=1e-15)
    assert scoring.score("regression", [1, 2, 3], [1, 2, 5])["score"] == pytest.approx(-1.0)
    assert scoring.score("classification", ["x", "y"], ["x", "x"]) == {
        "score": 0.5,
        "accuracy": 0.5,
    }


def test_normalise_and_ranks(scoring: ModuleType) -> None:
    norm = scoring.normalise({"a": 0.9, "b": 0.8, "c": 0.5})
    assert norm["a"] == 1.0 and norm["c"] == 0.0
    assert norm["b"] == pytest.approx(0.75)  # (0.8 - 0.5) / (0.9 - 0.5)
    assert scoring.normalise({"a": 0.7, "b": 0.7}) == {"a": 1.0, "b": 1.0}
    # b and c tie for places 2 and 3: both get 2.5.
    assert scoring.ranks({"a": 0.9, "b": 0.8, "c": 0.8, "d": 0.1}) == {
        "a": 1.0,
        "b": 2.5,
        "c": 2.5,
        "d": 4.0,
    }


def test_summary_uses_only_seeds_every_method_finished(scoring: ModuleType) -> None:
    fits = [
        {"table": "t1", "seed": 0, "method": "x", "score": 0.8, "fit_seconds": 1.0},
        {"table": "t1", "seed": 0, "method": "y", "score": 0.6, "fit_seconds": 3.0},
        {"table": "t1", "seed": 1, "method": "x", "score": 0.6, "fit_seconds": 2.0},
        {"table": "t1", "seed": 1, "method": "y", "score": 0.8, "fit_seconds": 5.0},
        {"table": "t1", "seed": 2, "method": "x", "score": 0.1, "fit_seconds": 4.0},
        {"table": "t1", "seed": 2, "method": "y", "error": "ValueError: broken"},
        {"table": "t2", "seed": 0, "method": "x", "score": 0.3, "fit_seconds": 6.0},
        {"table": "t2", "seed": 0, "method": "y", "score": 0.5, "fit_seconds": 7.0},
        {"table": "t3", "seed": 0, "method": "x", "score": 0.9, "fit_seconds": 8.0},
    ]
    summary = scoring.summarise(fits, ["x", "y"])
    # t1: seed 2 left out (y failed): x 0.7, y 0.7, a tie; t2: y wins; t3: y never ran.
    assert summary["tables"] == ["t1", "t2"]
    assert summary["per_table"]["t1"]["mean_score"] == pytest.approx({"x": 0.7, "y": 0.7})
    x, y = summary["methods"]["x"], summary["methods"]["y"]
    assert x["mean_normalised_score"] == pytest.approx(0.5)  # (1 + 0) / 2
    assert y["mean_normalised_score"] == pytest.approx(1.0)
    assert x["mean_rank"] == pytest.approx(1.75)  # (1.5 + 2) / 2
    assert y["mean_rank"] == pytest.approx(1.25)
    assert (x["best_on"], y["best_on"]) == (1, 2)
    assert x["median_fit_seconds"] == 4.0  # of 1, 2, 4, 6, 8: every fit that finished
    assert y["median_fit_seconds"] == 5.0  # of 3, 5, 7
    means = scoring.table_means(fits, ["x", "y"])
    assert scoring.beats(means, "y", "x") == 1 and scoring.beats(means, "x", "y") == 0


def test_readme_block_is_what_the_results_file_gives(table: ModuleType) -> None:
    results = json.loads(
        (ROOT / "benchmarks" / "tables_suite_results.json").read_text(encoding="utf-8")
    )
    kept = json.loads(
        (ROOT / "benchmarks" / "tables_suite_ids_kept.json").read_text(encoding="utf-8")
    )
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = table.render(results, kept)
    assert "No leak:" in block
    assert block in readme, "README.md is stale: run python benchmarks/tables_suite_table.py"
    assert table.main(["--check"]) == 0


def test_readme_check_fails_on_a_hand_edit(table: ModuleType, tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index(table.START)
    edited = tmp_path / "README.md"
    edited.write_text(readme[:start] + readme[start:].replace("| mlptrain |", "| mlp |", 1))
    assert table.main(["--check", "--readme", str(edited)]) == 1
    assert table.main(["--readme", str(edited)]) == 0
    assert edited.read_text(encoding="utf-8") == readme


def test_leak_rows_put_the_ids_kept_run_beside_the_dropped_one(table: ModuleType) -> None:
    results = {
        "tables": {"p/t": {"dropped": ["rownames", "logy"]}, "p/u": {"dropped": ["rownames"]}},
        "summary": {
            "per_table": {
                "p/t": {"mean_score": {"mlptrain": 0.8, "hist_gradient_boosting": 0.85}},
                "p/u": {"mean_score": {"mlptrain": 0.5, "lightgbm": 0.4, "sklearn_mlp": 0.45}},
            }
        },
    }
    kept = {
        "tables": {"p/t": {"dropped": ["logy"]}, "p/u": {"dropped": []}},
        "summary": {
            "per_table": {
                "p/t": {"mean_score": {"mlptrain": 0.81}},
                "p/u": {"mean_score": {"mlptrain": 0.5}},
            }
        },
    }
    rows = table._leak_rows(results, kept)
    assert rows[2] == "| p/t | rownames | 0.810 | 0.800 | 0.850 |"
    assert rows[3] == "| p/u | rownames | 0.500 | 0.500 | 0.450 |"


def test_the_ablation_table_in_the_docs_is_the_results_file(monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))  # its own imports, as a script
    defaults = _load("tables_defaults")
    results = json.loads(
        (ROOT / "benchmarks" / "tables_defaults_results.json").read_text(encoding="utf-8")
    )
    text = defaults.markdown(results)
    assert text.splitlines()[3].startswith("| base | ")
    assert text in (ROOT / "docs" / "tables.md").read_text(encoding="utf-8")


def test_the_held_out_block_in_the_docs_is_the_results_file(table: ModuleType) -> None:
    results = json.loads(
        (ROOT / "benchmarks" / "tables_suite_heldout.json").read_text(encoding="utf-8")
    )
    block = table.render_held_out(results)
    assert "| mlptrain |" in block and "Ecdat/Males" in block
    assert block in (ROOT / "docs" / "tables.md").read_text(encoding="utf-8")
