"""Early stopping: patience, min_delta and both directions, epoch by epoch."""

from __future__ import annotations

import pytest

from mlptrain.training.stopping import EarlyStopping


def feed(stopper: EarlyStopping, values: list[float]) -> list[tuple[bool, bool]]:
    """(is the new best, should stop) after each epoch, epochs numbered from 1."""
    return [
        (stopper.update(epoch, value), stopper.should_stop)
        for epoch, value in enumerate(values, start=1)
    ]


def test_min_mode_patience_counts_epochs_without_improvement():
    stopper = EarlyStopping("val_loss", patience=3)
    steps = feed(stopper, [1.0, 0.8, 0.9, 0.8, 0.85])
    # 0.8 again is not an improvement; the third bad epoch in a row stops.
    assert steps == [(True, False), (True, False), (False, False), (False, False), (False, True)]
    assert (stopper.best, stopper.best_epoch) == (0.8, 2)


def test_an_improvement_resets_the_count():
    stopper = EarlyStopping("val_loss", patience=2)
    steps = feed(stopper, [1.0, 1.5, 0.5, 0.7, 0.6])
    assert [stop for _, stop in steps] == [False, False, False, False, True]
    assert [best for best, _ in steps] == [True, False, True, False, False]
    assert stopper.best_epoch == 3


def test_max_mode_for_scores():
    stopper = EarlyStopping("val_accuracy", patience=2)
    steps = feed(stopper, [0.5, 0.7, 0.6, 0.9, 0.9, 0.1])
    assert [best for best, _ in steps] == [True, True, False, True, False, False]
    assert [stop for _, stop in steps] == [False, False, False, False, False, True]
    assert (stopper.best, stopper.best_epoch) == (0.9, 4)


def test_min_delta_min_mode():
    stopper = EarlyStopping("val_loss", patience=1, min_delta=0.25)
    # improvement must exceed 0.25: 0.75 is exactly 0.25 better (not enough), 0.7 is.
    assert stopper.update(1, 1.0)
    assert not stopper.update(2, 0.75)
    assert stopper.should_stop
    assert stopper.update(3, 0.7)
    assert not stopper.should_stop
    assert (stopper.best, stopper.best_epoch) == (0.7, 3)


def test_min_delta_max_mode():
    stopper = EarlyStopping("val_r2", patience=2, min_delta=0.125)
    steps = feed(stopper, [0.5, 0.625, 0.7, 0.5])
    assert [best for best, _ in steps] == [True, False, True, False]
    assert stopper.best == 0.7


@pytest.mark.parametrize("patience", [1, 2, 5])
def test_stops_exactly_after_patience_bad_epochs(patience):
    stopper = EarlyStopping("val_mse", patience=patience)
    stopper.update(1, 1.0)
    for bad in range(1, patience + 1):
        assert not stopper.should_stop
        stopper.update(1 + bad, 2.0)
    assert stopper.should_stop


def test_state_round_trip():
    values = [1.0, 0.5, 0.6, 0.7]
    straight = EarlyStopping("val_loss", patience=3)
    expected = feed(straight, values)
    first = EarlyStopping("val_loss", patience=3)
    feed(first, values[:3])
    resumed = EarlyStopping("val_loss", patience=3)
    resumed.load_state(dict(first.state()))
    assert resumed.state() == {"best": 0.5, "best_epoch": 2, "bad_epochs": 1}
    steps = [(resumed.update(4, values[3]), resumed.should_stop)]
    assert steps == expected[3:]
    assert resumed.state() == straight.state()


def test_a_fresh_stopper():
    stopper = EarlyStopping("val_loss", patience=1, min_delta=0.5)
    assert (stopper.monitor, stopper.mode, stopper.patience, stopper.min_delta) == (
        "val_loss",
        "min",
        1,
        0.5,
    )
    assert stopper.state() == {"best": None, "best_epoch": 0, "bad_epochs": 0}
    assert not stopper.should_stop
    assert EarlyStopping("val_f1_macro", patience=1).mode == "max"


def test_fresh_state_round_trip():
    resumed = EarlyStopping("val_loss", patience=3)
    resumed.load_state(EarlyStopping("val_loss", patience=3).state())
    assert resumed.best is None and resumed.best_epoch == 0
    assert resumed.update(1, 123.0)


def test_unknown_monitor_is_refused():
    with pytest.raises(ValueError, match="unknown monitor 'val_los'"):
        EarlyStopping("val_los", patience=1)
