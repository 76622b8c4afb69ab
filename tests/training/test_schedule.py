"""Learning-rate schedules at chosen epochs, against values worked out by hand."""

from __future__ import annotations

import math

import pytest

from mlptrain.config.schema import ConstantSchedule, CosineSchedule, PlateauSchedule, StepSchedule
from mlptrain.training.schedule import Constant, Cosine, Plateau, StepDecay, make_schedule


def test_constant_is_the_base_rate_at_every_epoch():
    schedule = Constant(0.3, epochs=5)
    assert [schedule.lr_for(e) for e in range(5)] == [0.3] * 5
    schedule.observe(1.0)  # ignored
    assert schedule.lr_for(4) == 0.3


def test_step_decay_values():
    schedule = StepDecay(0.8, epochs=10, step_size=3, gamma=0.5)
    expected = [0.8, 0.8, 0.8, 0.4, 0.4, 0.4, 0.2, 0.2, 0.2, 0.1]
    assert [schedule.lr_for(e) for e in range(10)] == pytest.approx(expected, rel=1e-15)


def test_step_decay_step_size_one_decays_every_epoch():
    schedule = StepDecay(1.0, epochs=4, step_size=1, gamma=0.1)
    assert [schedule.lr_for(e) for e in range(4)] == pytest.approx([1, 0.1, 0.01, 0.001])


def test_cosine_without_warmup():
    # epochs 9: the half cosine spans epochs 0..8, so epoch 4 is half way.
    schedule = Cosine(1.0, epochs=9, warmup_epochs=0, min_lr=0.2)
    assert schedule.lr_for(0) == pytest.approx(1.0, rel=1e-15)
    assert schedule.lr_for(4) == pytest.approx(0.6, rel=1e-14)  # 0.2 + 0.8 · ½(1 + cos π/2)
    assert schedule.lr_for(2) == pytest.approx(0.2 + 0.4 * (1 + math.sqrt(0.5)), rel=1e-14)
    assert schedule.lr_for(6) == pytest.approx(0.2 + 0.4 * (1 - math.sqrt(0.5)), rel=1e-14)
    assert schedule.lr_for(8) == pytest.approx(0.2, rel=1e-14)
    assert schedule.lr_for(20) == pytest.approx(0.2, rel=1e-14)  # held at min_lr past the end
    values = [schedule.lr_for(e) for e in range(9)]
    assert all(a > b for a, b in zip(values, values[1:], strict=False))


def test_cosine_warmup_edges():
    # warm-up over 3 epochs: base·1/4, base·2/4, base·3/4, then the cosine from base.
    schedule = Cosine(2.0, epochs=8, warmup_epochs=3, min_lr=0.0)
    assert [schedule.lr_for(e) for e in range(3)] == pytest.approx([0.5, 1.0, 1.5], rel=1e-15)
    assert schedule.lr_for(3) == pytest.approx(2.0, rel=1e-15)  # first epoch after warm-up
    # cosine over epochs 3..7 (span 4): epoch 5 is half way.
    assert schedule.lr_for(5) == pytest.approx(1.0, rel=1e-14)
    assert schedule.lr_for(7) == pytest.approx(0.0, abs=1e-15)


def test_cosine_two_epochs_after_warmup_go_from_base_to_min():
    schedule = Cosine(1.0, epochs=4, warmup_epochs=2, min_lr=0.1)
    assert [schedule.lr_for(e) for e in range(4)] == pytest.approx([1 / 3, 2 / 3, 1.0, 0.1])


def test_cosine_single_epoch_after_warmup_is_base():
    schedule = Cosine(1.0, epochs=3, warmup_epochs=2, min_lr=0.1)
    assert schedule.lr_for(1) == pytest.approx(2 / 3)
    assert schedule.lr_for(2) == pytest.approx(1.0)


def feed(schedule: Plateau, values: list[float]) -> list[float]:
    """The rate for the next epoch after each observed value."""
    rates = []
    for value in values:
        schedule.observe(value)
        rates.append(schedule.lr_for(0))
    return rates


def test_plateau_min_mode_patience_and_min_lr():
    schedule = Plateau(1.0, epochs=20, factor=0.5, patience=2, min_lr=0.2, mode="min")
    assert schedule.lr_for(0) == 1.0
    values = [1.0, 0.9, 0.95, 0.9, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95]
    # 0.9 repeated is no improvement (strict); the 3rd bad epoch in a row (> patience 2)
    # halves the rate and starts counting again; min_lr 0.2 stops the third halving at 0.2.
    expected = [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.2, 0.2, 0.2]
    assert feed(schedule, values) == pytest.approx(expected, rel=1e-15)


def test_plateau_improvement_resets_the_count():
    schedule = Plateau(1.0, epochs=20, factor=0.1, patience=1, min_lr=0.0, mode="min")
    # bad, improve, bad, bad -> reduce only after two bad epochs in a row
    assert feed(schedule, [5.0, 6.0, 4.0, 4.5, 4.2]) == pytest.approx([1, 1, 1, 1, 0.1])


def test_plateau_max_mode():
    schedule = Plateau(0.4, epochs=20, factor=0.25, patience=0, min_lr=0.0, mode="max")
    # patience 0: every epoch that does not beat the best reduces the rate.
    assert feed(schedule, [0.5, 0.6, 0.55, 0.6, 0.7]) == pytest.approx(
        [0.4, 0.4, 0.1, 0.025, 0.025]
    )


def test_plateau_state_round_trip():
    values = [1.0, 1.1, 1.2, 0.9, 1.0, 1.0, 1.0]
    straight = Plateau(1.0, epochs=20, factor=0.5, patience=1, min_lr=0.0)
    expected = feed(straight, values)
    first = Plateau(1.0, epochs=20, factor=0.5, patience=1, min_lr=0.0)
    feed(first, values[:2])  # stopped with one bad epoch counted
    resumed = Plateau(1.0, epochs=20, factor=0.5, patience=1, min_lr=0.0)
    resumed.load_state(dict(first.state()))
    assert resumed.state() == first.state()
    assert feed(resumed, values[2:]) == expected[2:]
    assert expected == pytest.approx([1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25])


def test_plateau_fresh_state_round_trip():
    fresh = Plateau(0.5, epochs=3, factor=0.5, patience=0, min_lr=0.0)
    assert fresh.state() == {"current": 0.5, "best": None, "bad_epochs": 0}
    resumed = Plateau(0.5, epochs=3, factor=0.5, patience=0, min_lr=0.0)
    resumed.load_state(fresh.state())
    assert resumed.state() == fresh.state()
    assert feed(resumed, [2.0, 3.0]) == [0.5, 0.25]


def test_stateless_schedules_have_empty_state():
    for schedule in (Constant(1.0, 3), StepDecay(1.0, 3, 1, 0.5), Cosine(1.0, 3, 0, 0.0)):
        assert schedule.state() == {}
        schedule.load_state({})


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (ConstantSchedule(), [0.1, 0.1, 0.1, 0.1]),
        (StepSchedule(step_size=2, gamma=0.5), [0.1, 0.1, 0.05, 0.05]),
        (CosineSchedule(warmup_epochs=1, min_lr=0.02), [0.05, 0.1, 0.06, 0.02]),
    ],
    ids=["constant", "step", "cosine"],
)
def test_make_schedule_uses_every_setting(spec, expected):
    schedule = make_schedule(spec, base_lr=0.1, epochs=4)
    assert [schedule.lr_for(e) for e in range(4)] == pytest.approx(expected, rel=1e-14)


@pytest.mark.parametrize(
    ("monitor", "values", "expected"),
    [
        ("val_loss", [1.0, 1.1, 1.2], [0.1, 0.1, 0.05]),
        ("val_accuracy", [0.5, 0.4, 0.3], [0.1, 0.1, 0.05]),
        ("val_accuracy", [0.5, 0.6, 0.7], [0.1, 0.1, 0.1]),
    ],
)
def test_make_schedule_plateau_uses_the_monitor_direction(monitor, values, expected):
    spec = PlateauSchedule(factor=0.5, patience=1, min_lr=0.01, monitor=monitor)
    schedule = make_schedule(spec, base_lr=0.1, epochs=10)
    assert feed(schedule, values) == pytest.approx(expected)


def test_make_schedule_plateau_min_lr():
    spec = PlateauSchedule(factor=0.1, patience=0, min_lr=0.05)
    schedule = make_schedule(spec, base_lr=1.0, epochs=10)
    assert feed(schedule, [1.0, 2.0, 2.0, 2.0]) == pytest.approx([1.0, 0.1, 0.05, 0.05])
