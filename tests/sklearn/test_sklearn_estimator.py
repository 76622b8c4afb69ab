"""The scikit-learn estimators: the contract beyond scikit-learn's own checks, continuing
training (warm_start, partial_fit), persistence (save/load, pickle, to_run_dir), and the
same weights as ``mlptrain fit``."""

from __future__ import annotations

import math
import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_iris, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import InvalidParameterError

import mlptrain
from mlptrain.errors import CheckpointError
from mlptrain.sklearn import MLPClassifier, MLPRegressor, load

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

# No early stopping (n_iter_no_change=inf): every fit runs exactly max_iter epochs.
FIXED = dict(hidden_layer_sizes=(16,), random_state=0, n_iter_no_change=math.inf, batch_size=32)


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"])
    return X, names[y]


def weights_of(est):
    return [w.copy() for w in est.coefs_ + est.intercepts_]


def assert_same_weights(a, b):
    for left, right in zip(weights_of(a), weights_of(b), strict=True):
        np.testing.assert_array_equal(left, right)


def test_string_labels_classes_and_probabilities(iris):
    X, y = iris
    clf = MLPClassifier(**FIXED, max_iter=40, learning_rate_init=0.01).fit(X, y)
    assert clf.classes_.tolist() == ["setosa", "versicolor", "virginica"]
    assert set(clf.predict(X)) <= set(clf.classes_)
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-12)
    np.testing.assert_allclose(np.log(proba), clf.predict_log_proba(X), atol=1e-10)
    # predict is the argmax of predict_proba, and score is the accuracy of predict
    assert np.array_equal(clf.predict(X), clf.classes_[proba.argmax(axis=1)])
    assert clf.score(X, y) == pytest.approx(np.mean(clf.predict(X) == y))
    assert clf.score(X, y) > 0.9
    assert clf.n_features_in_ == 4 and clf.n_iter_ == 40 and len(clf.loss_curve_) == 40
    assert clf.best_loss_ == min(clf.loss_curve_) and clf.validation_scores_ is None


def test_log_proba_is_finite_where_proba_underflows():
    X = np.array([[0.0], [1.0]] * 20)
    y = np.array([0, 1] * 20)
    clf = MLPClassifier(**FIXED, max_iter=200, learning_rate_init=0.5, dtype="float64").fit(
        X * 1000, y
    )
    assert np.all(np.isfinite(clf.predict_log_proba(X * 1e6)))


def test_loss_curve_is_the_trainers_mean_training_loss(iris):
    """loss_curve_[0] recomputed independently: the mean cross-entropy over the first epoch's
    batches is only known to the loop, but with one full batch it is the loss of the initial
    weights on all rows."""
    X, y = iris
    clf = MLPClassifier(**{**FIXED, "batch_size": 150}, max_iter=1, alpha=0, dtype="float64")
    clf.fit(X, y)
    # the initial weights: the same fit with a learning rate too small to move them
    tiny = MLPClassifier(
        **{**FIXED, "batch_size": 150}, max_iter=1, dtype="float64", learning_rate_init=1e-300
    ).fit(X, y)
    logits = X @ tiny.coefs_[0] + tiny.intercepts_[0]
    hidden = np.maximum(logits, 0) @ tiny.coefs_[1] + tiny.intercepts_[1]
    labels = np.searchsorted(tiny.classes_, y)
    shifted = hidden - hidden.max(axis=1, keepdims=True)
    expected = np.mean(np.log(np.exp(shifted).sum(axis=1)) - shifted[np.arange(150), labels])
    assert clf.loss_curve_[0] == pytest.approx(expected, rel=1e-12)


def test_coefs_are_views_of_the_trained_weights(iris):
    X, y = iris
    clf = MLPClassifier(**FIXED, max_iter=5).fit(X, y)
    flat = clf._setup.model.flat_params
    assert all(np.shares_memory(w, flat) for w in clf.coefs_ + clf.intercepts_)
    assert [w.shape for w in clf.coefs_] == [(4, 16), (16, 3)]
    before = clf.predict_proba(X)
    clf.coefs_[1][...] = 0
    clf.intercepts_[1][...] = 0
    np.testing.assert_allclose(clf.predict_proba(X), 1 / 3, rtol=1e-6)
    assert not np.allclose(before, 1 / 3)


def test_warm_start_continues_weights_and_optimizer_state(iris):
    """2 + 3 warm-started epochs are bit for bit 5 epochs in one fit: the Adam moments, its
    step count and the shuffling stream all carry over (a reset optimizer would differ)."""
    X, y = iris
    once = MLPClassifier(**FIXED, max_iter=5).fit(X, y)
    warm = MLPClassifier(**FIXED, max_iter=2, warm_start=True).fit(X, y)
    warm.set_params(max_iter=3).fit(X, y)
    assert_same_weights(once, warm)
    assert warm.n_iter_ == 5 and warm.loss_curve_ == once.loss_curve_
    cold = MLPClassifier(**FIXED, max_iter=2).fit(X, y)
    cold.set_params(max_iter=3).fit(X, y)  # warm_start=False: starts over
    assert_same_weights(MLPClassifier(**FIXED, max_iter=3).fit(X, y), cold)


def test_warm_start_refuses_a_changed_architecture(iris):
    X, y = iris
    clf = MLPClassifier(**FIXED, max_iter=1, warm_start=True).fit(X, y)
    with pytest.raises(ValueError, match="layer parameters .* changed"):
        clf.set_params(hidden_layer_sizes=(8,)).fit(X, y)


def test_partial_fit_is_one_epoch_of_fit(iris):
    X, y = iris
    fitted = MLPClassifier(**FIXED, max_iter=3).fit(X, y)
    partial = MLPClassifier(**FIXED)
    for _ in range(3):
        partial.partial_fit(X, y, classes=np.unique(y))
    assert_same_weights(fitted, partial)
    assert partial.n_iter_ == 3 and partial.t_ == 3 * len(y)


def test_partial_fit_needs_classes_first_and_keeps_them(iris):
    X, y = iris
    clf = MLPClassifier(**FIXED)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        clf.partial_fit(X, y)
    # the first batch may lack a class that classes= announces
    clf.partial_fit(X[:100], y[:100], classes=["setosa", "versicolor", "virginica"])
    assert clf.predict_proba(X).shape == (150, 3)
    with pytest.raises(ValueError, match="not in classes_"):
        clf.partial_fit(X[:2], np.array(["setosa", "rose"]))


def test_sample_weight_of_two_is_a_repeated_row(iris):
    X, y = iris
    weight = np.random.default_rng(0).integers(0, 3, len(y))
    params = dict(FIXED, batch_size=1000, max_iter=5, dtype="float64")
    weighted = MLPClassifier(**params).fit(X, y, sample_weight=weight)
    repeated = MLPClassifier(**params).fit(np.repeat(X, weight, 0), np.repeat(y, weight))
    np.testing.assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X), rtol=1e-9)


def test_early_stopping_keeps_the_best_validation_weights(iris):
    X, y = iris
    clf = MLPClassifier(
        hidden_layer_sizes=(16,),
        random_state=0,
        early_stopping=True,
        n_iter_no_change=3,
        max_iter=200,
        learning_rate_init=0.05,
    ).fit(X, y)
    assert clf.best_loss_ is None
    assert len(clf.validation_scores_) == clf.n_iter_ < 200
    assert clf.best_validation_score_ == max(clf.validation_scores_)


def test_multi_output_regression_and_one_target_shape():
    X, Y = make_regression(n_samples=120, n_features=5, n_targets=3, random_state=0)
    reg = MLPRegressor(**FIXED, max_iter=100, learning_rate_init=0.01).fit(X, Y)
    assert reg.predict(X).shape == (120, 3) and reg.n_outputs_ == 3
    assert reg.score(X, Y) > 0.8
    one = MLPRegressor(**FIXED, max_iter=2).fit(X, Y[:, 0])
    assert one.predict(X).shape == (120,)


def test_parameters_are_validated_with_sklearns_messages(iris):
    X, y = iris
    with pytest.raises(InvalidParameterError, match="The 'solver' parameter of MLPClassifier"):
        MLPClassifier(solver="lbfgs").fit(X, y)
    with pytest.raises(InvalidParameterError, match=r"'momentum' parameter .* range \[0.0, 1.0\)"):
        MLPClassifier(solver="sgd", momentum=1.0).fit(X, y)
    with pytest.raises(ValueError, match="hidden_layer_sizes must be > 0"):
        MLPClassifier(hidden_layer_sizes=(4, 0)).fit(X, y)


def test_mlptrain_options_dropout_batch_norm_layers_and_schedules(iris):
    X, y = iris
    short = MLPClassifier(**FIXED, max_iter=2, dropout=0.2, batch_norm=True, activation="gelu")
    short.fit(X, y)
    kinds = [type(m).__name__ for m in short._setup.model.modules]
    assert kinds == ["Linear", "BatchNorm1d", "GELU", "Dropout", "Linear"]
    long = MLPClassifier(
        layers=[{"type": "linear", "units": 8}, "tanh", "linear"],
        learning_rate="cosine",
        solver="adamw",
        random_state=0,
        max_iter=2,
    ).fit(X, y)
    assert [w.shape for w in long.coefs_] == [(4, 8), (8, 3)]
    assert long._setup.config.train.schedule.type == "cosine"
    logistic = MLPClassifier(**FIXED, max_iter=1, activation="logistic").fit(X, y)
    assert type(logistic._setup.model.modules[1]).__name__ == "Sigmoid"


def test_bad_layers_give_the_config_error(iris):
    X, y = iris
    with pytest.raises(mlptrain.errors.ConfigError, match="last layer must be 'linear'"):
        MLPClassifier(layers=[{"type": "linear", "units": 8}, "relu"]).fit(X, y)


def test_convergence_warning_when_max_iter_is_reached(iris):
    X, y = iris
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        MLPClassifier(**FIXED, max_iter=2).fit(X, y)
    assert any(issubclass(w.category, ConvergenceWarning) for w in caught)


def test_verbose_prints_one_line_per_iteration(iris, capsys):
    X, y = iris
    clf = MLPClassifier(**FIXED, max_iter=3, verbose=True).fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        f"Iteration {i + 1}, loss = {loss:.8f}" for i, loss in enumerate(clf.loss_curve_)
    ]


def test_save_and_load_round_trip(iris, tmp_path):
    X, y = iris
    clf = MLPClassifier(**FIXED, max_iter=4, warm_start=True).fit(X, y)
    clf.save(tmp_path / "clf.safetensors")
    back = load(tmp_path / "clf.safetensors")
    assert type(back) is MLPClassifier and back.get_params() == clf.get_params()
    np.testing.assert_array_equal(back.predict_proba(X), clf.predict_proba(X))
    assert back.classes_.tolist() == clf.classes_.tolist()
    for name in ("loss_curve_", "n_iter_", "t_", "best_loss_", "n_features_in_"):
        assert getattr(back, name) == getattr(clf, name)
    # the optimizer state was saved too: continuing after load == continuing in memory
    clf.fit(X, y)
    back.fit(X, y)
    assert_same_weights(clf, back)
    # the checkpoint is an ordinary mlptrain checkpoint: mlptrain.load predicts the same
    np.testing.assert_array_equal(
        mlptrain.load(tmp_path / "clf.safetensors").predict(X[:5]),
        load(tmp_path / "clf.safetensors").predict(X[:5]),
    )


def test_load_refuses_a_run_checkpoint_and_unfitted_save(tmp_path):
    run = mlptrain.fit(
        {
            "name": "r",
            "model": {"layers": [{"type": "linear", "units": 4}, "relu", "linear"]},
            "train": {"epochs": 1},
        },
        X=np.random.default_rng(0).normal(size=(40, 3)),
        y=np.arange(40) % 2,
        out=tmp_path / "run",
        figures=False,
    )
    with pytest.raises(CheckpointError, match="not a scikit-learn estimator checkpoint"):
        load(run.best_checkpoint)
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        MLPClassifier().save(tmp_path / "x.safetensors")


def test_pickle_keeps_predictions_and_training_state(iris):
    X, y = iris
    clf = MLPClassifier(**FIXED, max_iter=3, warm_start=True).fit(X, y)
    back = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(back.predict_proba(X), clf.predict_proba(X))
    # after unpickling, the weights are views of the flat buffer again and training continues
    assert all(np.shares_memory(w, back._setup.model.flat_params) for w in back.coefs_)
    clf.fit(X, y)
    back.fit(X, y)
    assert_same_weights(clf, back)


def test_regressor_save_load_keeps_the_target_scale(tmp_path):
    X, y = make_regression(n_samples=80, n_features=4, noise=1, random_state=1)
    reg = MLPRegressor(**FIXED, max_iter=20).fit(X, y * 100 + 5000)
    reg.save(tmp_path / "reg.safetensors")
    np.testing.assert_array_equal(load(tmp_path / "reg.safetensors").predict(X), reg.predict(X))


def test_clone_gives_an_unfitted_copy_with_the_same_parameters(iris):
    X, y = iris
    clf = MLPClassifier(**FIXED, max_iter=2).fit(X, y)
    copy = clone(clf)
    assert copy.get_params() == clf.get_params() and not hasattr(copy, "classes_")
    assert_same_weights(copy.fit(X, y), clf)  # same random_state: same weights


def test_load_checks_a_crafted_files_parameters_and_sets_only_known_attributes(iris, tmp_path):
    from mlptrain.store.checkpoint import load_checkpoint, save_checkpoint

    X, y = iris
    MLPClassifier(**FIXED, max_iter=1).fit(X, y).save(tmp_path / "a.safetensors")
    ckpt = load_checkpoint(tmp_path / "a.safetensors")
    meta = dict(ckpt.meta)
    meta["estimator"]["attributes"]["predict"] = "not a method"
    save_checkpoint(tmp_path / "b.safetensors", ckpt.tensors, meta)
    loaded = load(tmp_path / "b.safetensors")
    assert callable(loaded.predict) and loaded.predict(X[:2]).shape == (2,)
    meta["estimator"]["params"]["solver"] = "lbfgs"
    save_checkpoint(tmp_path / "c.safetensors", ckpt.tensors, meta)
    with pytest.raises(InvalidParameterError, match="'solver' parameter"):
        load(tmp_path / "c.safetensors")


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (lambda meta: meta.update(optimizer={}), "incomplete or damaged (KeyError('step_count'))"),
        (lambda meta: meta.pop("task"), "its run state (__metadata__ meta) has no 'task'"),
    ],
    ids=["optimizer state emptied", "no task"],
)
def test_a_re_signed_estimator_with_a_damaged_run_state_is_one_checkpoint_error(
    iris, tmp_path, damage, problem
):
    """The SHA-256 proves integrity, not good intent: a KeyError escaped before."""
    from mlptrain.store.checkpoint import load_checkpoint, save_checkpoint

    X, y = iris
    MLPClassifier(**FIXED, max_iter=1).fit(X, y).save(tmp_path / "a.safetensors")
    ckpt = load_checkpoint(tmp_path / "a.safetensors")
    meta = dict(ckpt.meta)
    damage(meta)
    save_checkpoint(tmp_path / "b.safetensors", ckpt.tensors, meta)
    with pytest.raises(CheckpointError) as caught:
        load(tmp_path / "b.safetensors")
    assert str(caught.value).startswith(f"{tmp_path / 'b.safetensors'}: ")
    assert problem in str(caught.value) and "\n" not in str(caught.value)
