"""Issue 22: a run whose best epoch is its last says it was still improving."""

from __future__ import annotations

from mlptrain.reporting.diagnostics import warnings_from_history
from mlptrain.training.observers import compose
from mlptrain.training.trainer import Callbacks

HISTORY = [{"epoch": e, "train_loss": 1.0 / e, "val_loss": 1.0 / e} for e in range(1, 6)]
NOTE = (
    "still improving at the last epoch: val_loss is lowest at the last epoch (5); more epochs "
    "may help (e.g. train.epochs: 10)"
)


def _improving(history: list[dict]) -> list[str]:
    return [w for w in warnings_from_history(history) if w.startswith("still improving")]


def test_the_least_loss_at_the_last_epoch_is_still_improving() -> None:
    assert _improving(HISTORY) == [NOTE]
    no_val = [{"epoch": r["epoch"], "train_loss": r["train_loss"]} for r in HISTORY]
    assert _improving(no_val) == [NOTE.replace("val_loss", "train_loss")]


def test_an_earlier_least_loss_or_one_epoch_says_nothing() -> None:
    worse_at_the_end = [*HISTORY[:4], {**HISTORY[4], "val_loss": 0.3}]
    assert _improving(worse_at_the_end) == []
    assert _improving(HISTORY[:1]) == []


def test_compose_passes_every_hook_on() -> None:
    seen: list[object] = []
    first = Callbacks(on_data=lambda data: seen.append(("a", data)))
    second = Callbacks(on_data=lambda data: seen.append(("b", data)), on_gradcheck=seen.append)
    both = compose(first, None, second)
    both.on_data("rows")
    both.on_gradcheck("check")
    assert seen == [("a", "rows"), ("b", "rows"), "check"]
