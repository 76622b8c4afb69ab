"""A fit that starts the figure worker trains on one BLAS thread from then on."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from mlptrain.session.training import _lend_a_core
from mlptrain.training.trainer import Callbacks


class _Drawer:
    """Starts its (pretend) worker after the first epoch, as FigureDrawer does."""

    def __init__(self) -> None:
        self.has_worker = False
        self.seen: list[int] = []

    def observe_epoch(self, record: dict[str, Any]) -> None:
        self.seen.append(record["epoch"])
        self.has_worker = True


def test_the_core_is_lent_once_the_worker_runs() -> None:
    seen: list[int] = []
    trainer: Any = SimpleNamespace(
        callbacks=Callbacks(on_epoch_end=lambda r: seen.append(r["epoch"])), core_lent=False
    )
    drawer = _Drawer()
    _lend_a_core(trainer, drawer)  # type: ignore[arg-type]
    assert trainer.core_lent is False  # nothing started before the first epoch ends
    trainer.callbacks.on_epoch_end({"epoch": 1})
    assert trainer.core_lent is True
    assert seen == drawer.seen == [1]  # the fit's own observers still see every epoch
