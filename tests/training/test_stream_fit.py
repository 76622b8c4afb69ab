"""Training from a streamed table (``data.stream: true``): a run with a report and metrics,
the same weights bit for bit twice and after a resume mid-epoch, and metrics summed over
batches equal to scikit-learn's on the same rows held at once."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn import metrics as skm

from mlptrain.api import fit
from mlptrain.data.row_hash import PART_NAMES, Placement, assign_parts, row_hashes
from mlptrain.data.splits import Split
from mlptrain.data.tables import load_table
from mlptrain.reporting.importance import importance_entry
from mlptrain.reporting.metrics import classification_metrics, regression_metrics
from mlptrain.reporting.prediction_sample import prediction_sample
from mlptrain.reporting.streamed_metrics import ClassificationTally, RegressionTally
from mlptrain.reporting.worst_rows import WORST_ROWS, worst_rows
from mlptrain.store.checkpoint import load_checkpoint
from mlptrain.training.setup import build
from mlptrain.training.trainer import Callbacks
from tests.session.test_resume import Crash, assert_same_tensors, crash_at, state_of

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

CONFIG = """\
name: streamed
seed: 5
data:
  dataset: parquet
  path: ds
  target: y
  stream: true
  shuffle_buffer: 300
  fit_sample: 700
model:
  layers:
    - {type: linear, units: 12}
    - relu
    - {type: dropout, p: 0.1}
    - {type: linear}
train:
  epochs: 3
  batch_size: 32
  optimizer: {type: adam, lr: 0.01}
"""


def write_mixed(folder: Path, n: int = 1500, files: int = 3) -> None:
    """Numbers with gaps, a category with a gap, a 3-class target; hive partitions by 'k'."""
    rng = np.random.default_rng(1)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    x2[::11] = np.nan
    c = rng.choice(["a", "b", "c", "d"], n).astype(object)
    c[::17] = None
    score = x1 + np.nan_to_num(x2) * 0.5 + (c == "a") + rng.normal(scale=0.4, size=n)
    y = np.array(["lo", "mid", "hi"])[np.digitize(score, [-0.5, 0.8])]
    table = pa.table({"x1": x1, "x2": pa.array(x2, mask=np.isnan(x2)), "c": c.tolist(),
                      "k": np.arange(n) % files, "y": y.tolist()})  # fmt: skip
    pq.write_to_dataset(table, folder, partition_cols=["k"])


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("stream")
    write_mixed(folder / "ds")
    (folder / "streamed.yaml").write_text(CONFIG)
    return folder / "streamed.yaml"


@pytest.fixture(scope="module")
def reference(config: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fit(config, out=tmp_path_factory.mktemp("ref") / "run", figures=False).dir


def test_streamed_fit_writes_a_run_with_report_and_metrics(reference: Path) -> None:
    report = json.loads((reference / "report.json").read_text())
    assert report["status"] == "completed"
    data = report["data"]
    assert data["n_train"] + data["n_val"] + data["n_test"] == 1500
    assert 0.15 < data["n_test"] / 1500 < 0.25
    for part in ("train", "val", "test"):
        metrics = report["metrics"][part]
        assert metrics["accuracy"] > 0.5
        assert 0.5 < metrics["roc_auc"] <= 1  # from histograms: the bound in the notes
        assert any("4096-bin histograms" in note for note in metrics["notes"])
        assert sum(map(sum, metrics["confusion_matrix"])) == data[f"n_{part}"]
    assert any("streamed:" in note for note in data["notes"])
    history = [json.loads(line) for line in (reference / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in history] == [1, 2, 3]
    assert history[-1]["train_loss"] < history[0]["train_loss"]


def test_a_streamed_fit_leaves_pyarrows_default_pool_as_it_found_it(
    config: Path, tmp_path: Path
) -> None:
    """The stream reads with the system allocator (memory flat over the rows) and gives the
    caller's pool back when it ends."""
    from mlptrain.data import record_stream

    try:
        callers = pa.mimalloc_memory_pool()
    except NotImplementedError:
        pytest.skip("this pyarrow has no mimalloc pool to stand for the caller's")
    original = pa.default_memory_pool()
    seen: list[str] = []
    real = record_stream.plain_batch

    def watch(batch, text_columns):  # type: ignore[no-untyped-def]
        seen.append(pa.default_memory_pool().backend_name)
        return real(batch, text_columns)

    pa.set_memory_pool(callers)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(record_stream, "plain_batch", watch)
            mp.delenv("ARROW_DEFAULT_MEMORY_POOL", raising=False)
            fit(config, out=tmp_path / "run", overrides=["train.epochs=1"], figures=False)
        assert seen and set(seen) == {"system"}
        assert pa.default_memory_pool().backend_name == "mimalloc"
    finally:
        pa.set_memory_pool(original)


def test_evaluate_gives_the_reports_streamed_metrics(reference: Path) -> None:
    from mlptrain.api import evaluate

    report = json.loads((reference / "report.json").read_text())
    for split in ("val", "test"):
        result = evaluate(reference, split=split)
        assert result["n_samples"] == report["data"][f"n_{split}"]
        assert result["metrics"] == report["metrics"][split]


def test_two_streamed_fits_are_bit_for_bit_equal(
    config: Path, reference: Path, tmp_path: Path
) -> None:
    again = fit(config, out=tmp_path / "again", figures=False)
    assert_same_tensors(state_of(again.dir), state_of(reference))
    ours = (again.dir / "metrics.jsonl").read_text().splitlines()
    theirs = (reference / "metrics.jsonl").read_text().splitlines()
    for mine, ref in zip(ours, theirs, strict=True):
        a, b = json.loads(mine), json.loads(ref)
        assert (a["train_loss"], a["val_loss"]) == (b["train_loss"], b["val_loss"])


@pytest.mark.parametrize("crash_step", [7, 40, 75])
def test_resume_mid_epoch_matches_the_uninterrupted_run(
    config: Path, reference: Path, tmp_path: Path, crash_step: int
) -> None:
    """Killed mid-epoch (after several shuffle-buffer refills: 300 rows, 32-row batches), the
    resumed run ends with the uninterrupted run's weights, moments and Generators exactly."""
    out = tmp_path / "run"
    with pytest.raises(Crash):
        fit(config, out=out, checkpoint_every_steps=1, callbacks=crash_at(crash_step),
            figures=False)  # fmt: skip
    saved = load_checkpoint(out / "checkpoints" / "last.safetensors").meta
    assert saved["step"] == crash_step - 1 and saved["batch"] > 0
    assert saved["epoch_rows"] == saved["batch"] * 32  # the stream position
    fit(resume=out, figures=False)
    assert_same_tensors(state_of(out), state_of(reference))
    mine = load_checkpoint(out / "checkpoints" / "last.safetensors").meta
    theirs = load_checkpoint(reference / "checkpoints" / "last.safetensors").meta
    for key in ("epoch", "step", "batch", "rng", "optimizer"):
        assert mine[key] == theirs[key], key
    for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy"):
        assert mine["metrics"][key] == theirs["metrics"][key], key


def test_streamed_metrics_equal_scikit_learn_on_the_same_rows(
    config: Path, reference: Path
) -> None:
    """The test rows found independently (the whole table in memory, hashed at once), scored
    by the trained model at once and measured by scikit-learn: the report's streamed numbers."""
    from mlptrain.config import load_config
    from mlptrain.training.run_state import load_model_state, model_tensors

    report = json.loads((reference / "report.json").read_text())
    setup = build(load_config(config))
    load_model_state(setup.model, model_tensors(state_of(reference, "best")), source="test")
    plan = setup.data.stream
    whole = load_table(config.parent / "ds")
    parts = assign_parts(row_hashes(whole, plan.key_columns, plan.seed), Placement(0.2, 0.1))
    for code, name in enumerate(PART_NAMES):
        rows = np.flatnonzero(parts == code)
        X, _ = plan.encoder.transform(whole, rows, np.float32)
        labels = plan.labels.encode(whole.columns["y"].strings()[rows])
        expected = classification_metrics(
            labels, setup.trained.predict_log_proba(X), [str(c) for c in plan.labels.classes]
        )
        got = report["metrics"][name]
        for key in ("accuracy", "balanced_accuracy", "mcc", "f1_macro", "f1_weighted",
                    "precision_macro", "recall_weighted", "log_loss"):  # fmt: skip
            assert got[key] == pytest.approx(expected[key], rel=1e-6, abs=1e-12), (name, key)
        assert got["confusion_matrix"] == expected["confusion_matrix"]
        assert_same_per_class(got["per_class"], expected["per_class"])
        # binned: within the bound the notes state (4096 bins; far tighter in practice)
        assert got["roc_auc"] == pytest.approx(expected["roc_auc"], abs=2e-3), name
        assert got["average_precision"] == pytest.approx(expected["average_precision"], abs=5e-3)
    # the baseline (the training rows' class shares for every test row), as in memory
    from mlptrain.reporting.report import baseline_metrics

    labels_of = {code: plan.labels.encode(whole.columns["y"].strings()[parts == code])
                 for code in (0, 2)}  # fmt: skip
    names = [str(c) for c in plan.labels.classes]
    test = Split(np.zeros((len(labels_of[2]), 1)), labels_of[2])
    expected = baseline_metrics("classification", labels_of[0], test, names)
    baseline = report["baseline"]
    assert (baseline["split"], baseline["strategy"]) == ("test", "majority class")
    for key in ("accuracy", "balanced_accuracy", "log_loss", "f1_macro", "roc_auc"):
        assert baseline["metrics"][key] == pytest.approx(expected[key], rel=1e-9), key
    assert baseline["metrics"]["confusion_matrix"] == expected["confusion_matrix"]
    # the worst test rows, kept batch by batch, are those of the test rows held at once
    rows = np.flatnonzero(parts == PART_NAMES.index("test"))
    X, _ = plan.encoder.transform(whole, rows, np.float32)
    held = worst_rows(setup.trained, Split(X, labels_of[2], rows=rows), names)
    assert len(held) == WORST_ROWS
    assert_same_worst(report["worst"], held)
    # permutation importance on the validation rows, as on the validation part held at once
    val_rows = np.flatnonzero(parts == PART_NAMES.index("val"))
    X_val, _ = plan.encoder.transform(whole, val_rows, np.float32)
    y_val = plan.labels.encode(whole.columns["y"].strings()[val_rows])
    groups = list(setup.data.table.raw_groups())
    held_importance = importance_entry(setup.trained.predict, X_val, y_val, groups,
                                       "classification", "val")  # fmt: skip
    got_importance = report["importance"]
    assert [c["column"] for c in got_importance["columns"]] == [
        c["column"] for c in held_importance["columns"]
    ]
    assert got_importance["rows"] == held_importance["rows"] == len(val_rows)
    for got_column, held_column in zip(
        got_importance["columns"], held_importance["columns"], strict=True
    ):
        assert got_column["mean"] == pytest.approx(held_column["mean"], abs=1e-12)
    # the prediction sample: the same evenly spaced test rows as the held split gives
    assert_same_sample(report["predictions"]["test"],
                       prediction_sample(setup.trained, Split(X, labels_of[2]), names))  # fmt: skip


def assert_same_sample(got: dict, expected: dict) -> None:
    assert got["y_true"] == expected["y_true"] and len(got["y_true"]) > 0
    assert got.get("n_rows") == expected.get("n_rows")
    values = "proba" if "proba" in expected else "y_pred"
    assert np.allclose(got[values], expected[values], rtol=1e-6, atol=2e-6)


def assert_same_worst(got: list[dict], expected: list[dict]) -> None:
    assert [(g["row"], g["true"], g["predicted"], g["ids"]) for g in got] == [
        (e["row"], e["true"], e["predicted"], e["ids"]) for e in expected
    ]
    score = "probability" if "probability" in expected[0] else "error"
    assert [g[score] for g in got] == pytest.approx([e[score] for e in expected], rel=1e-6)


def assert_same_per_class(got: list[dict], expected: list[dict]) -> None:
    assert [(g["label"], g["support"]) for g in got] == [
        (e["label"], e["support"]) for e in expected
    ]
    for g, e in zip(got, expected, strict=True):
        for key in ("precision", "recall", "f1"):
            assert g[key] == pytest.approx(e[key], rel=1e-9), (g["label"], key)


def test_tallies_over_chunks_equal_scikit_learn_at_once() -> None:
    rng = np.random.default_rng(3)
    n, k = 1000, 4
    labels = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) + 2 * np.eye(k)[labels]
    log_proba = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    tally = ClassificationTally(k)
    for start in range(0, n, 77):
        tally.add(labels[start : start + 77], log_proba[start : start + 77], None)
    names = [f"k{j}" for j in range(k)]
    expected = classification_metrics(labels, log_proba, names)
    got = tally.metrics(names, None)
    for key, value in expected.items():
        if key in ("roc_auc", "average_precision"):
            assert got[key] == pytest.approx(value, abs=2e-3), key  # binned (test below)
        elif key == "notes":
            continue
        elif key == "per_class":
            assert_same_per_class(got[key], value)
        elif isinstance(value, float):
            assert got[key] == pytest.approx(value, rel=1e-9), key
        else:  # the confusion matrix, the labels
            assert got[key] == value, key
    targets = rng.normal(3, 2, size=(n, 2))
    predictions = targets + rng.normal(size=(n, 2))
    regression = RegressionTally()
    for start in range(0, n, 101):
        regression.add(targets[start : start + 101], predictions[start : start + 101])
    expected = regression_metrics(targets, predictions)
    got = regression.metrics()
    for key in ("mse", "rmse", "mae", "r2"):
        assert got[key] == pytest.approx(expected[key], rel=1e-9), key
    # a quantile sketch (tests/reporting/test_quantile_sketch.py): within 0.1% of the exact
    assert got["median_absolute_error"] == pytest.approx(
        skm.median_absolute_error(targets, predictions), rel=1e-3
    )


def test_in_memory_fit_reads_the_same_dataset_folder(config: Path, tmp_path: Path) -> None:
    run = fit(config, overrides=["data.stream=false", "data.shuffle_buffer=65536",
                                 "data.fit_sample=200000"], out=tmp_path / "mem", figures=False)  # fmt: skip
    assert (
        run.report["data"]["n_train"] + run.report["data"]["n_val"] + run.report["data"]["n_test"]
        == 1500
    )
    assert run.report["metrics"]["test"]["accuracy"] > 0.5


def test_streamed_run_monitors_only_loss_and_headline(config: Path, tmp_path: Path) -> None:
    from mlptrain.errors import ConfigError

    with pytest.raises(ConfigError, match=r"cannot monitor 'val_f1_macro' with data.stream"):
        fit(config, overrides=["train.early_stopping={monitor: val_f1_macro}"],
            out=tmp_path / "run", figures=False, callbacks=Callbacks())  # fmt: skip


def test_a_buffer_holding_every_row_trains_as_the_rows_in_memory(tmp_path: Path) -> None:
    """The one loop: with a shuffle buffer and an encoder sample as large as the training rows,
    and the in-memory run given the same parts (``split_column``), the streamed run draws the
    same permutation and so learns the same weights, up to the float sums of the encoder's fit
    (its sample comes in another order)."""
    from mlptrain.data.cells import table_from_mapping

    rng = np.random.default_rng(4)
    n = 900
    ids = np.arange(n)
    key = table_from_mapping({"id": ids}, names=["id"], text_columns=(), na_values=(), source="i")
    parts = np.array(PART_NAMES)[assign_parts(row_hashes(key, ["id"], 5), Placement(0.2, 0.1))]
    x = rng.normal(size=n)
    table = pa.table({"id": ids, "x": x, "c": rng.choice(["a", "b"], n).tolist(),
                      "part": parts.tolist(), "y": np.where(x > 0, "p", "q").tolist()})  # fmt: skip
    pq.write_table(table, tmp_path / "t.parquet")
    base = CONFIG.replace("path: ds", "path: t.parquet").replace("{type: dropout, p: 0.1}", "tanh")
    streamed = base.replace(
        "  shuffle_buffer: 300\n  fit_sample: 700",
        "  shuffle_buffer: 5000\n  fit_sample: 5000\n  split_key: id\n"
        "  columns: {id: ignore, part: ignore}",
    )
    in_memory = base.replace(
        "  stream: true\n  shuffle_buffer: 300\n  fit_sample: 700",
        "  split_column: part\n  columns: {id: ignore}",
    )
    (tmp_path / "s.yaml").write_text(streamed)
    (tmp_path / "m.yaml").write_text(in_memory)
    a = fit(tmp_path / "s.yaml", out=tmp_path / "s", figures=False)
    b = fit(tmp_path / "m.yaml", out=tmp_path / "m", figures=False)
    assert a.report["data"]["n_test"] == b.report["data"]["n_test"]
    weights_a, weights_b = state_of(a.dir), state_of(b.dir)
    assert sorted(weights_a) == sorted(weights_b)
    for name in weights_a:
        np.testing.assert_allclose(weights_a[name], weights_b[name], rtol=1e-4, atol=1e-5)
    assert a.report["metrics"]["test"]["accuracy"] == b.report["metrics"]["test"]["accuracy"]
    base_a, base_b = a.report["baseline"]["metrics"], b.report["baseline"]["metrics"]
    for key in ("accuracy", "log_loss", "roc_auc", "average_precision", "mcc"):
        assert base_a[key] == pytest.approx(base_b[key], rel=1e-9, abs=1e-12), key


def test_streamed_regression_metrics_equal_scikit_learn(tmp_path: Path) -> None:
    """A streamed regression (targets standardised by the first pass's exact moments): the
    report's test metrics equal scikit-learn's on the same rows held at once."""
    from mlptrain.config import load_config
    from mlptrain.training.run_state import load_model_state, model_tensors

    rng = np.random.default_rng(2)
    n = 1200
    x = rng.normal(size=n)
    c = rng.choice(["a", "b"], n)
    y = 3 * x + (c == "a") * 2 + rng.normal(scale=0.3, size=n) + 10
    names = [f"r{i}" for i in range(n)]
    pq.write_table(
        pa.table({"x": x, "c": c.tolist(), "key": names, "y": y}), tmp_path / "t.parquet"
    )
    (tmp_path / "r.yaml").write_text(
        CONFIG.replace("path: ds", "path: t.parquet\n  columns: {key: id}").replace(
            "{type: dropout, p: 0.1}", "tanh"
        )
    )
    run = fit(tmp_path / "r.yaml", out=tmp_path / "run", figures=False)
    setup = build(load_config(tmp_path / "r.yaml"))
    load_model_state(setup.model, model_tensors(state_of(run.dir, "best")), source="test")
    plan = setup.data.stream
    whole = load_table(tmp_path / "t.parquet")
    parts = assign_parts(row_hashes(whole, plan.key_columns, plan.seed), Placement(0.2, 0.1))
    rows = np.flatnonzero(parts == PART_NAMES.index("test"))
    X, _ = plan.encoder.transform(whole, rows, np.float32)
    expected = regression_metrics(whole.columns["y"].values[rows], setup.trained.predict(X))
    got = run.report["metrics"]["test"]
    assert got["r2"] > 0.9
    for key in ("mse", "rmse", "mae", "r2", "mape"):
        assert got[key] == pytest.approx(expected[key], rel=1e-6), key
    # the baseline: the training rows' mean target for every test row
    y_all = whole.columns["y"].values
    train_mean = y_all[parts == PART_NAMES.index("train")].mean()
    baseline = run.report["baseline"]
    assert (baseline["split"], baseline["strategy"]) == ("test", "training mean")
    assert baseline["metrics"]["mse"] == pytest.approx(np.mean((y_all[rows] - train_mean) ** 2))
    assert baseline["metrics"]["mae"] == pytest.approx(np.mean(np.abs(y_all[rows] - train_mean)))
    # the worst test rows with their id column, as the test rows held at once give them
    ids = {"key": np.array(names)[rows]}
    held = worst_rows(setup.trained, Split(X, y_all[rows], rows=rows, ids=ids), None)
    assert held[0]["ids"] == {"key": f"r{held[0]['row']}"}
    assert_same_worst(run.report["worst"], held)
    assert_same_sample(run.report["predictions"]["test"],
                       prediction_sample(setup.trained, Split(X, y_all[rows])))  # fmt: skip


@pytest.mark.parametrize("k", [2, 3, 5])
def test_ranking_metrics_from_histograms_against_scikit_learn(k: int) -> None:
    """Probabilities on the bins' centres: every bin holds one value, so the histograms' ROC
    AUC and average precision are scikit-learn's exactly (ties included). Free probabilities:
    the AUC within the bound the tally states, which is small."""
    from sklearn import metrics

    from mlptrain.reporting.streamed_metrics import RANK_BINS, RankHistograms

    rng = np.random.default_rng(k)
    n = 5000
    labels = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[labels]
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    on_centres = (np.floor(proba * RANK_BINS) + 0.5) / RANK_BINS
    for p, exact in ((on_centres, True), (proba, False)):
        # the histograms alone (a tally renormalises each row, which moves the centres)
        ranked = RankHistograms(k)
        tally = ClassificationTally(k)
        for start in range(0, n, 613):
            ranked.add(labels[start : start + 613], p[start : start + 613])
            tally.add(labels[start : start + 613], np.log(p[start : start + 613]), None)
        auc, ap, bound = ranked.metrics()
        if not exact:  # the tally's own histograms, from its log-probabilities
            assert tally.metrics([str(j) for j in range(k)], None)["roc_auc"] == (
                pytest.approx(auc, abs=1e-12)
            )
        if k == 2:
            want_auc = metrics.roc_auc_score(labels, p[:, 1])
            want_ap = metrics.average_precision_score(labels, p[:, 1])
        else:  # one class against the rest, averaged (what "ovr", "macro" compute)
            want_auc = np.mean([metrics.roc_auc_score(labels == j, p[:, j]) for j in range(k)])
            want_ap = metrics.average_precision_score(np.eye(k)[labels], p, average="macro")
        if exact:
            assert auc == pytest.approx(want_auc, rel=1e-12)
            assert ap == pytest.approx(want_ap, rel=1e-12)
        else:
            assert abs(auc - want_auc) <= bound + 1e-12
            assert bound < 1e-3
            assert ap == pytest.approx(want_ap, abs=1e-3)


def test_gradcheck_of_a_streamed_config_never_holds_the_table(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first pass, then the first training rows of the stream: the in-memory reader is
    never called."""
    from mlptrain.data import splits
    from mlptrain.training import validate

    def whole_table(*args: object, **kwargs: object) -> None:
        raise AssertionError("a streamed table was read whole")

    monkeypatch.setattr(splits, "prepare", whole_table)
    monkeypatch.setattr("mlptrain.data.prepare", whole_table)
    result = validate.gradcheck_config(config, samples=4)
    assert result.passed, result.table()
    assert any(name.startswith("model") or "loss" in name for name, _ in result.rows)
