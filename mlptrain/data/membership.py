"""Which text cells are among a few others: ``np.isin`` without its fixed cost on small arrays.

``np.isin`` sorts both arrays and costs ~15-20 µs a call whatever their size; a served
request reads a handful of levels per column, several calls per column, so that fixed cost
was a large share of a one-row request. For few values a set lookup answers the same (text
cells compare as Python strings do) in about a microsecond.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np

# above this many values, np.isin's sort beats a Python loop over them
SMALL = 256


def isin_text(values: np.ndarray, members: np.ndarray | Collection[str]) -> np.ndarray:
    """``np.isin(values, members)`` for a 1-D str array ``values`` and str ``members``."""
    if len(values) > SMALL:
        return np.isin(values, np.asarray(list(members), dtype=str))
    wanted = set(members.tolist() if isinstance(members, np.ndarray) else members)
    return np.fromiter((value in wanted for value in values.tolist()), bool, len(values))
