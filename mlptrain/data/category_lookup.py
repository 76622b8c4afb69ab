"""A categorical column's fitted one-hot positions, built once per model (``CategoryLookup``).

``TableEncoder.transform`` looks each level of a file up: its one-hot position, and whether it
is new (neither a category nor an infrequent one). The lookup is built from the encoder's state
once, not per call, and answers a few levels (a served request) by dictionary, many (a file)
by sorted search: the same positions either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mlptrain.data.membership import SMALL, isin_text

# up to this many rows (a served request's), ``encode`` looks each row up in Python: its
# general path's dozen NumPy calls cost ~2-5 µs each whatever the size
FEW_ROWS = 16


@dataclass(frozen=True)
class CategoryLookup:
    """``known``: the categories in one-hot order; ``rare``: the infrequent ones; ``fallback``:
    where rare and unseen levels go (the infrequent column, or -1: nowhere); ``fill``: where a
    gap goes (the fill category's position, or -1 when gaps are refused); ``size``: the
    column's width in the encoded matrix."""

    known: np.ndarray
    rare: frozenset[str]
    fallback: int
    fill: int
    size: int
    positions: dict[str, int]
    order: np.ndarray  # argsort of known
    ordered: np.ndarray  # known[order]

    @classmethod
    def of(cls, column: dict[str, Any]) -> CategoryLookup:
        """From one entry of ``TableEncoder.categorical``."""
        known = np.asarray(column["categories"], dtype=str)
        infrequent = column["infrequent"]
        fallback = len(known) if infrequent is not None else -1
        positions = {str(category): j for j, category in enumerate(known.tolist())}
        fill = -1 if column["fill"] is None else positions.get(str(column["fill"]), fallback)
        order = np.argsort(known)
        return cls(
            known=known,
            rare=frozenset(np.asarray(infrequent or [], dtype=str).tolist()),
            fallback=fallback,
            fill=fill,
            size=len(known) + (infrequent is not None),
            positions=positions,
            order=order,
            ordered=known[order],
        )

    def position(self, levels: np.ndarray) -> np.ndarray:
        """Each level's one-hot position, ``fallback`` where it is not a frequent category."""
        if len(levels) <= SMALL:
            get = self.positions.get
            return np.fromiter(
                (get(level, self.fallback) for level in levels.tolist()), np.int64, len(levels)
            )
        if len(self.known) == 0:
            return np.full(len(levels), self.fallback, dtype=np.int64)
        at = np.minimum(np.searchsorted(self.ordered, levels), len(self.known) - 1)
        return np.where(self.ordered[at] == levels, self.order[at], self.fallback)

    def new(self, levels: np.ndarray) -> np.ndarray:
        """Whether each level is new: neither a category nor an infrequent one."""
        return ~(isin_text(levels, self.positions) | isin_text(levels, self.rare))

    def encode(self, levels: np.ndarray, codes: np.ndarray, block: np.ndarray) -> tuple[int, bool]:
        """Set each row's one-hot cell in ``block`` (n, size): rows of ``codes`` into
        ``levels``, -1 a gap (to ``fill``); rare and new levels to ``fallback`` (-1: no cell).
        Returns how many rows hold a new level, and whether any row is a gap."""
        index, n_unseen, gap = self.positions_of(levels, codes)
        hot = np.flatnonzero(index >= 0)
        block[hot, index[hot]] = 1
        return n_unseen, gap

    def positions_of(self, levels: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, int, bool]:
        """Each row's one-hot position (-1: no cell), how many rows hold a new level, and
        whether any row is a gap; ``codes`` index ``levels``, -1 is a gap."""
        if len(codes) <= FEW_ROWS:
            return self._positions_of_few(levels, codes)
        # one lookup entry per level of this file (and one for a gap), never per row
        lookup = np.append(self.position(levels), self.fill)
        new_level = self.new(levels)
        codes = np.where(codes < 0, len(levels), codes)
        n_unseen = int(np.append(new_level, False)[codes].sum())
        return lookup[codes], n_unseen, bool((codes == len(levels)).any())

    def _positions_of_few(
        self, levels: np.ndarray, codes: np.ndarray
    ) -> tuple[np.ndarray, int, bool]:
        """``positions_of`` row by row in Python (a served request's few rows): the same
        positions, counts and gaps without the vectorised path's fixed cost."""
        get, names = self.positions.get, levels.tolist()
        index = np.empty(len(codes), dtype=np.int64)
        n_unseen, gap = 0, False
        for i, code in enumerate(codes.tolist()):
            if code < 0:
                gap, at = True, self.fill
            else:
                at = get(names[code], -2)
                if at == -2:  # not a frequent category: rare or new, both to the fallback
                    at = self.fallback
                    n_unseen += names[code] not in self.rare
            index[i] = at
        return index, n_unseen, gap
