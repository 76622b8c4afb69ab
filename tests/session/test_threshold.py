"""Issue 23: a binary classifier's decision threshold, chosen on validation, kept with the run
(threshold.json) and used by evaluate, predict, the NumPy script and ONNX."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from sklearn import metrics

import mlptrain
from mlptrain.errors import CheckpointError, UserInputError
from mlptrain.reporting.metrics import probabilities
from mlptrain.reporting.thresholds import choose_threshold, parse_rule
from mlptrain.session.directory import resolve_checkpoint
from mlptrain.store.layout import THRESHOLD_FILE
from mlptrain.store.run_meta import load_run_checkpoint
from mlptrain.training.run_state import setup_from_checkpoint
from tests.cli.test_cli_fit import assert_user_error
from tests.conftest import exported_script_output
from tests.data.test_tables import mixed_rows, write_rows


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A binary table model (churn yes/no) whose probabilities spread over (0, 1)."""
    folder = tmp_path_factory.mktemp("threshold")
    write_rows(folder / "t.csv", mixed_rows(400))
    (folder / "c.yaml").write_text(
        "data: {dataset: csv, path: t.csv, target: churn}\n"
        "model: {layers: [{type: linear, units: 16}, relu, linear]}\n"
        "train: {epochs: 4, dtype: float64}\n"
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("mlptrain.reporting.figures.make_figures", lambda r, o, names=None: {})
        return mlptrain.fit(folder / "c.yaml", out=folder / "run", html=False).dir


@pytest.fixture
def run(trained: Path, tmp_path: Path) -> Path:
    """A copy of the trained run, so that each test chooses its own threshold."""
    return Path(shutil.copytree(trained, tmp_path / "run"))


def _validation(run: Path) -> tuple[np.ndarray, np.ndarray]:
    """(is positive, p(positive)) of the run's validation rows, rebuilt from its checkpoint."""
    setup = setup_from_checkpoint(load_run_checkpoint(resolve_checkpoint(run)))
    val = setup.data.val
    return val.y == 1, probabilities(setup.trained.predict_log_proba(val.X))[:, 1]


def test_f1_rule_reproduces_the_best_f1_of_sklearns_precision_recall_curve(run: Path) -> None:
    positive, p1 = _validation(run)
    chosen = mlptrain.set_threshold(run, threshold_for="f1")
    precision, recall, _ = metrics.precision_recall_curve(positive, p1)
    with np.errstate(invalid="ignore"):
        best = np.nanmax(2 * precision * recall / (precision + recall))
    assert chosen.split == "val" and chosen.rule == "f1"
    assert chosen.score == pytest.approx(best, rel=1e-12)
    assert metrics.f1_score(positive, p1 >= chosen.value) == pytest.approx(best, rel=1e-12)


@pytest.mark.parametrize("level", [0.7, 0.9])
def test_precision_rule_keeps_the_most_recall_that_reaches_the_precision(run, level) -> None:
    positive, p1 = _validation(run)
    chosen = mlptrain.set_threshold(run, threshold_for=f"precision={level}")
    decided = p1 >= chosen.value
    assert metrics.precision_score(positive, decided) >= level
    # brute force over every threshold: none reaching the precision has more recall
    feasible = [
        metrics.recall_score(positive, p1 >= t)
        for t in np.unique(p1)
        if metrics.precision_score(positive, p1 >= t, zero_division=0) >= level
    ]
    assert metrics.recall_score(positive, decided) == pytest.approx(max(feasible))


def test_recall_rule_keeps_the_highest_threshold_that_reaches_the_recall(run) -> None:
    positive, p1 = _validation(run)
    chosen = mlptrain.set_threshold(run, threshold_for="recall=0.8")
    assert metrics.recall_score(positive, p1 >= chosen.value) >= 0.8
    highest = max(t for t in np.unique(p1) if metrics.recall_score(positive, p1 >= t) >= 0.8)
    # the stored value sits between the chosen score and the next lower one
    assert chosen.value <= highest
    assert (p1 >= chosen.value).sum() == (p1 >= highest).sum()


def test_evaluate_and_predict_decide_by_the_stored_threshold(run, cli, tmp_path) -> None:
    result = cli("evaluate", run, "--threshold", "0.2", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert "threshold 0.2 on p(yes), given; kept in the run's threshold.json" in result.stderr
    stored = json.loads((run / THRESHOLD_FILE).read_text())
    assert (stored["value"], stored["positive_class"], stored["rule"]) == (0.2, "yes", "given")
    # independently: the test split's probabilities, decided at 0.2
    setup = setup_from_checkpoint(load_run_checkpoint(resolve_checkpoint(run)))
    test = setup.data.test
    p1 = probabilities(setup.trained.predict_log_proba(test.X))[:, 1]
    decided = (p1 >= 0.2).astype(int)
    assert decided.sum() > (p1 >= 0.5).sum()  # the threshold changes decisions here
    scored = json.loads(result.stdout)["metrics"]
    assert scored["threshold"] == 0.2
    assert scored["accuracy"] == pytest.approx(metrics.accuracy_score(test.y, decided))
    assert scored["confusion_matrix"] == metrics.confusion_matrix(test.y, decided).tolist()
    # predict: labels at the threshold, and a note that says so
    rows = write_rows(tmp_path / "rows.csv", mixed_rows(60, seed=3))
    predicted = cli("predict", run, rows, "--proba")
    assert predicted.exit_code == 0, predicted.stderr
    assert "labels decided by the run's threshold 0.2 on p(yes), given" in predicted.stderr
    lines = [line.split(",") for line in predicted.stdout.strip().splitlines()]
    column = {name: j for j, name in enumerate(lines[0])}
    for row in lines[1:]:
        expected = "yes" if float(row[column["proba_yes"]]) >= 0.2 else "no"
        assert row[column["prediction"]] == expected
    # the NumPy script decides the same: ids and labels equal, probabilities to rounding
    script = exported_script_output(run, rows, tmp_path / "np").strip().splitlines()
    theirs = [line.split(",") for line in script]
    assert [row[:2] for row in theirs] == [row[:2] for row in lines]
    np.testing.assert_allclose(
        np.array([row[2:] for row in theirs[1:]], dtype=float),
        np.array([row[2:] for row in lines[1:]], dtype=float),
        rtol=1e-6,
    )


def test_onnx_label_output_follows_the_threshold(run, tmp_path) -> None:
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from mlptrain.serving.export import export_onnx

    mlptrain.set_threshold(run, threshold=0.3)
    predictor = mlptrain.load(run)
    raw = {
        "age": np.array([40.0, np.nan, 33.0, 61.0, 25.0, 70.0]),
        "plan": np.array(["basic", "", "plus", "premium", "basic", "plus"], dtype=object),
        "city": np.array(["city1", "x", "", "city2", "city3", "city1"], dtype=object),
        "income": np.array([1000.0, np.nan, 1200.5, 800.0, 950.0, 1500.0]),
    }
    (path,) = export_onnx(run, tmp_path / "onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    label, proba = session.run(
        ["label", "probabilities"], {k: v.reshape(-1, 1) for k, v in raw.items()}
    )
    as_input = {k: np.where(v == "", None, v) if v.dtype == object else v for k, v in raw.items()}
    assert label.tolist() == [str(c) for c in predictor.predict(as_input)]
    assert label.tolist() == ["yes" if p >= 0.3 else "no" for p in proba[:, 1]]


def test_a_threshold_chosen_for_another_checkpoint_is_not_applied(run, cli, tmp_path) -> None:
    mlptrain.set_threshold(run, threshold=0.2)
    stored = json.loads((run / THRESHOLD_FILE).read_text())
    (run / THRESHOLD_FILE).write_text(json.dumps({**stored, "checkpoint_sha256": "0" * 64}))
    predictor = mlptrain.load(run)
    assert predictor.trained.threshold is None
    assert predictor.threshold_note.startswith(
        "threshold.json holds a threshold chosen for another checkpoint (best.safetensors); "
        "this one decides by the most probable class (0.5)"
    )
    rows = write_rows(tmp_path / "rows.csv", mixed_rows(20, seed=4))
    result = cli("predict", run, rows)
    assert result.exit_code == 0
    assert "note: threshold.json holds a threshold chosen for another checkpoint" in result.stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "threshold.json: not a threshold file mlptrain wrote"),
        ('{"value": 0.3}', "threshold.json: not a threshold file mlptrain wrote"),
    ],
)
def test_a_damaged_threshold_file_is_one_line_and_exit_2(run, cli, tmp_path, text, message):
    (run / THRESHOLD_FILE).write_text(text)
    with pytest.raises(CheckpointError, match="not a threshold file"):
        mlptrain.load(run)
    rows = write_rows(tmp_path / "rows.csv", mixed_rows(20, seed=4))
    assert_user_error(cli("predict", run, rows), message)


def test_a_threshold_out_of_range_in_the_file_is_refused(run, cli, tmp_path) -> None:
    mlptrain.set_threshold(run, threshold=0.2)
    stored = json.loads((run / THRESHOLD_FILE).read_text())
    (run / THRESHOLD_FILE).write_text(json.dumps({**stored, "value": 1.5}))
    assert_user_error(
        cli("evaluate", run), "threshold.json: threshold 1.5 is not strictly between 0 and 1"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--threshold", "1.5"],
            "error: --threshold 1.5: must be a probability strictly between 0 and 1",
        ),  # fmt: skip
        (
            ["--threshold", "0.3", "--threshold-for", "f1"],
            "error: give --threshold (a value) or --threshold-for (a rule): one of them",
        ),  # fmt: skip
        (
            ["--threshold-for", "accuracy"],
            "error: --threshold-for 'accuracy': unknown rule; "
            "allowed: f1, precision=P, recall=R with P and R in (0, 1]",
        ),  # fmt: skip
        (
            ["--threshold-for", "recall=x"],
            "error: --threshold-for 'recall=x': 'x' is not a number",
        ),  # fmt: skip
        (
            ["--threshold-for", "precision=0"],
            "error: --threshold-for 'precision=0': 0 is out of range",
        ),  # fmt: skip
    ],
)
def test_bad_threshold_options_are_one_line_and_exit_2(run, cli, args, message) -> None:
    result = cli("evaluate", run, *args)
    assert_user_error(result, message)
    assert not (run / THRESHOLD_FILE).exists()


def test_a_threshold_needs_a_binary_classifier(cli, fruit_run, diabetes_run) -> None:
    assert_user_error(
        cli("evaluate", fruit_run.dir, "--threshold", "0.3"),
        "error: a decision threshold needs a binary classifier; this model has 4 classes",
    )
    assert_user_error(
        cli("evaluate", diabetes_run.dir, "--threshold-for", "f1"),
        "error: a decision threshold needs a binary classifier; this model does regression",
    )


def test_threshold_for_needs_a_validation_split(tmp_path, cli) -> None:
    write_rows(tmp_path / "t.csv", mixed_rows(200))
    (tmp_path / "c.yaml").write_text(
        "data: {dataset: csv, path: t.csv, target: churn, val_size: 0}\n"
        "model: {layers: [linear]}\ntrain: {epochs: 1, early_stopping: null}\n"
    )
    run = mlptrain.fit(tmp_path / "c.yaml", out=tmp_path / "run", html=False).dir
    assert_user_error(
        cli("evaluate", run, "--threshold-for", "f1"),
        "error: --threshold-for chooses on the validation split, and this run has none "
        "(data.val_size is 0); give a value with --threshold instead",
    )


def test_an_unreachable_precision_is_refused_with_what_is_reachable() -> None:
    # the most probable row is a negative: precision is at most 2/3 at any threshold
    positive = np.array([False, True, True, False, False])
    p1 = np.array([0.9, 0.8, 0.7, 0.2, 0.1])
    with pytest.raises(UserInputError) as caught:
        choose_threshold(positive, p1, parse_rule("precision=0.9"))
    assert str(caught.value) == (
        "threshold_for precision=0.9: no threshold reaches precision 0.9 on the validation "
        "split (the most it reaches is 0.6667); ask for less"
    )
    assert choose_threshold(positive, p1, parse_rule("precision=0.6")) == (
        pytest.approx((0.7 + 0.2) / 2),
        pytest.approx(2 / 3),
    )


def test_a_validation_split_of_one_class_cannot_choose() -> None:
    with pytest.raises(UserInputError, match="needs both classes among the validation rows"):
        choose_threshold(np.ones(4, dtype=bool), np.linspace(0.1, 0.9, 4), parse_rule("f1"))


def test_serve_decides_by_the_threshold_and_says_so(run, tmp_path) -> None:
    pytest.importorskip("starlette")
    from starlette.testclient import TestClient

    from mlptrain.serving.http.app import create_app
    from mlptrain.serving.http.service import Limits, Service

    mlptrain.set_threshold(run, threshold=0.2)
    rows = mixed_rows(30, seed=5)
    body = "\n".join(",".join(row) for row in rows) + "\n"
    served = TestClient(create_app(Service.load(run, Limits())))
    meta = served.get("/metadata").json()
    assert meta["threshold"] == {"value": 0.2, "positive_class": "yes", "rule": "given"}
    answer = served.post("/invocations?proba=true", content=body,
                         headers={"Content-Type": "text/csv"}).json()  # fmt: skip
    yes = answer["classes"].index("yes")
    assert answer["predictions"] == ["yes" if p[yes] >= 0.2 else "no"
                                     for p in answer["probabilities"]]  # fmt: skip
    assert "labels decided by the run's threshold 0.2 on p(yes), given" in answer["notes"]
