"""benchmarks/: the alternating timer, the per-round ratios, and README's generated table."""

from __future__ import annotations

import importlib.util
import json
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
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def run() -> ModuleType:
    return _load("run")


@pytest.fixture(scope="module")
def readme_table() -> ModuleType:
    return _load("readme_table")


def test_readme_block_is_what_results_json_gives(readme_table: ModuleType) -> None:
    results = json.loads((ROOT / "benchmarks" / "results.json").read_text(encoding="utf-8"))
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme_table.render(results)
    assert block in readme, "README.md is stale: run python benchmarks/readme_table.py"
    assert readme_table.replace_block(readme, block) == readme
    assert readme_table.main(["--check"]) == 0


def test_readme_check_fails_on_a_hand_edit(readme_table: ModuleType, tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index(readme_table.START)  # a hand edit inside the generated block
    edited = tmp_path / "README.md"
    edited.write_text(readme[:start] + readme[start:].replace("**", "*", 1), encoding="utf-8")
    assert readme_table.main(["--check", "--readme", str(edited)]) == 1
    assert readme_table.main(["--readme", str(edited)]) == 0
    assert edited.read_text(encoding="utf-8") == readme


def test_contenders_alternate_round_by_round(run: ModuleType) -> None:
    calls: list[str] = []
    ticks = iter(range(1000))

    def contender(name: str):
        def fn() -> float:
            calls.append(name)
            return 0.5

        return fn

    times, accuracy = run.alternate(
        {"a": contender("a"), "b": contender("b"), "c": contender("c")},
        repeats=3,
        clock=lambda: float(next(ticks)),
    )
    # One warm-up each, then a b c a b c a b c.
    assert calls == ["a", "b", "c"] + ["a", "b", "c"] * 3
    assert times == {"a": [1.0] * 3, "b": [1.0] * 3, "c": [1.0] * 3}
    assert accuracy == {"a": 0.5, "b": 0.5, "c": 0.5}


def test_ratios_are_taken_per_round(run: ModuleType) -> None:
    # Round 2 ran under load: both contenders slowed, their ratio did not.
    mine, theirs = [1.0, 4.0, 1.1], [2.0, 8.0, 2.0]
    ratios = run.paired_ratios(mine, theirs)
    assert ratios["per_round"] == [0.5, 0.5, 0.55]
    assert ratios["median"] == 0.5 and ratios["min"] == 0.5 and ratios["max"] == 0.55
    # The ratio of the medians would have said 1.1 / 2.0.
    assert run.spread(mine) == {"min": 1.0, "median": 1.1, "max": 4.0, "spread": 3.0 / 1.1}


def test_summary_warns_about_spread(run: ModuleType) -> None:
    w = run.WORKLOADS[0]
    times = {
        "mlptrain": [1.0, 1.05, 1.02],
        "sklearn": [2.0, 3.0, 2.1],
        "gemm_bound": [0.5, 0.5, 0.5],
    }
    entry = run.summarise(w, 100, 64, times, {"mlptrain": 0.9, "sklearn": 0.8}, {}, [0.1] * 3)
    assert [text.split(":")[0] for text in entry["warnings"]] == ["sklearn"]
    assert entry["ratios"]["mlptrain/sklearn"]["median"] == pytest.approx(1.02 / 2.1)
    assert entry["ratios"]["gemm_bound/mlptrain"]["median"] == pytest.approx(0.5 / 1.02)
    assert entry["contenders"]["mlptrain"]["samples_per_s"] == pytest.approx(100 * w.epochs / 1.02)


def test_streaming_make_writes_a_table_whose_part_column_is_the_streamed_split(
    tmp_path: Path,
) -> None:
    """benchmarks/streaming.py compares a streamed fit (splits by a hash of ``id``) with an
    in-memory fit of the same folder (splits by its ``part`` column): they train on the same
    rows only if ``make`` writes each row's streamed part there. (``make`` once called
    assign_parts with an old signature and no test noticed.)"""
    from mlptrain.config import load_config
    from mlptrain.training.setup import prepare_data

    streaming = _load("streaming")
    folder = streaming.make(1000, tmp_path)
    assert (folder / "_SUCCESS").exists()
    sizes = []
    for stream in (True, False):
        extra = streaming.STREAM if stream else streaming.IN_MEMORY
        text = streaming.CONFIG.format(seed=streaming.SEED, path=folder, data_extra=extra, epochs=1)
        if not stream:  # as fit_once writes it: one columns: key
            text = text.replace("  columns: {id: ignore, part: ignore}\n", "")
        config = tmp_path / f"stream_{stream}.yaml"
        config.write_text(text)
        prepared = prepare_data(load_config(config))
        if stream:
            sizes.append(prepared.stream.n_rows)
        else:
            held = {"train": prepared.train, "val": prepared.val, "test": prepared.test}
            sizes.append({name: len(split.y) for name, split in held.items()})
    assert sizes[0] == sizes[1]
    assert sum(sizes[0].values()) == 1000


def test_a_partial_run_must_name_its_results_file(
    run: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    """README's engine table is generated from results.json: a run of one workload (or some
    contenders) written there would replace every other workload's figures."""
    for argv in (["--workload", "W1"], ["--only", "mlptrain,sklearn"]):
        with pytest.raises(SystemExit) as exited:
            run.main(argv)
        assert exited.value.code == 2
        assert "a run of some workloads or contenders needs --out FILE" in capsys.readouterr().err
