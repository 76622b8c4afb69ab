"""Numbers as people write them in tables: "64,324" (a thousands separator), "3,5" (a decimal
comma). The one rule for turning a text column's levels into numbers; docs/tables.md.

``data.decimal`` says which mark is the decimal point ("." unless set). ``data.thousands``
names the grouping mark, or ``auto`` (the default): the other one of "," and "." -- so that a
column whose every cell is written like "1,234,567.5" or "950" is read as numbers with the
default settings, and "1.234,5" with ``decimal: ","``. With ``none``, no grouping mark is
allowed. A grouped cell must group exactly: 1-3 digits, then groups of 3 ("12,34" is not a
number, and the column stays text).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import numpy as np

Thousands = Literal["auto", "none", ",", ".", " ", "'"]
Decimal = Literal[".", ","]


@dataclass(frozen=True)
class NumberFormat:
    """How a table writes its numbers: the decimal mark and the grouping mark (None: none)."""

    decimal: str = "."
    thousands: str | None = ","

    @classmethod
    def from_options(cls, thousands: str = "auto", decimal: str = ".") -> NumberFormat:
        if thousands == "auto":
            return cls(decimal, "." if decimal == "," else ",")
        return cls(decimal, None if thousands == "none" else thousands)

    @property
    def plain(self) -> bool:
        """Whether numpy's own parse is right for this format (a decimal point)."""
        return self.decimal == "."

    def _pattern(self) -> re.Pattern[str]:
        d = re.escape(self.decimal)
        whole = r"\d+"
        if self.thousands is not None:
            whole = rf"(?:\d{{1,3}}(?:{re.escape(self.thousands)}\d{{3}})+|\d+)"
        return re.compile(rf"[+-]?(?:{whole}(?:{d}\d*)?|{d}\d+)")

    def read(self, levels: np.ndarray) -> tuple[np.ndarray | None, bool]:
        """(the float64 values of text ``levels``, or None when one is not a number; whether
        every level was a plain number that needed none of this format's marks)."""
        if self.plain:
            try:
                return levels.astype(np.float64), True
            except ValueError:
                pass
        return self.parse(levels), False

    def parse(self, levels: np.ndarray) -> np.ndarray | None:
        """The float64 values of text ``levels`` written in this format, or None when one of
        them is not such a number."""
        pattern = self._pattern()
        if not all(pattern.fullmatch(str(level)) for level in levels):
            return None
        text = levels.astype(str)
        if self.thousands is not None:
            text = np.char.replace(text, self.thousands, "")
        if self.decimal != ".":
            text = np.char.replace(text, self.decimal, ".")
        return text.astype(np.float64)


PLAIN = NumberFormat()
