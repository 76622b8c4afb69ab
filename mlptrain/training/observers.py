"""Several observers of one run (a progress bar, a tracker, a sweep's pruner) as one ``Callbacks``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import Any

from mlptrain.training.trainer import Callbacks


def _chain(hooks: list[Callable[..., None]]) -> Callable[..., None] | None:
    if not hooks:
        return None
    if len(hooks) == 1:
        return hooks[0]

    def call_all(*args: Any) -> None:
        # In order; an observer that raises StopTraining still lets the earlier ones see the
        # epoch, which is why a pruner is best composed last.
        for hook in hooks:
            hook(*args)

    return call_all


def compose(*callbacks: Callbacks | None) -> Callbacks:
    """One ``Callbacks`` calling each given one's hooks in order (``None`` entries skipped)."""
    given = [c for c in callbacks if c is not None]
    return Callbacks(
        **{
            hook.name: _chain([getattr(c, hook.name) for c in given if getattr(c, hook.name)])
            for hook in fields(Callbacks)
        }
    )
