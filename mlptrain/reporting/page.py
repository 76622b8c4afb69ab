"""The HTML shell both pages share (report.html, sweep.html), and its building blocks.

A page is self-contained: its stylesheet (a package-data ``.css`` file beside this module) is
inlined, and a Content-Security-Policy forbids scripts and any network fetch, so even a missed
escape could neither run code nor load anything. Every string from a report comes from user
files (labels, layer names, error texts) and goes through ``e``.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from functools import cache
from importlib import resources
from typing import Any, TypeGuard

from mlptrain.reporting.tables import format_number

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
NUM_CLASS = ' class="num"'


@cache
def stylesheet_text(name: str) -> str:
    """A stylesheet shipped with the package (``report.css``, ``sweep.css``)."""
    return resources.files("mlptrain.reporting").joinpath(name).read_text(encoding="utf-8")


def html_page(title: str, body: Iterable[str], *, stylesheet: str) -> str:
    """The whole document: head (charset, CSP, viewport, no referrer, title, inline style)
    and ``body``'s parts inside ``<main>``, one per line."""
    parts = [
        "<!doctype html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="referrer" content="no-referrer">',
        f"<title>{e(title)}</title>",
        f"<style>{stylesheet_text(stylesheet)}</style>",
        "</head>",
        "<body>",
        "<main>",
        *body,
        "</main>",
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"


def e(value: object) -> str:
    """Escaped for HTML text and attribute values."""
    return html.escape(str(value), quote=True)


def is_number(value: object) -> TypeGuard[int | float]:
    """A finite measurement: bool is an int subclass but never one, and None is how a report
    stores a non-finite value."""
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def fmt(value: Any) -> str:
    """Numbers for tables: 4 decimals, or 4 significant digits when that would hide them."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return format_number(value)
    return str(value)


def cell(value: Any, tag: str = "td", extra: str = "") -> str:
    """One table cell: numbers right-aligned, missing values muted, text escaped."""
    if value is None:
        return f'<{tag} class="na">–</{tag}>'
    cls = "num" if is_number(value) else ""
    classes = " ".join(c for c in (cls, extra) if c)
    attr = f' class="{classes}"' if classes else ""
    return f"<{tag}{attr}>{e(fmt(value))}</{tag}>"


def table(
    header: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    numeric_header: Sequence[bool] | None = None,
    row_classes: Sequence[str] | None = None,
    row_headers: bool = False,
    text_class: str = "",
) -> str:
    """A table; the first column becomes a row header when ``row_headers`` (for screen
    readers and for the bold first column); ``text_class`` styles the text (non-number)
    cells, e.g. "mono" for layer names."""
    numeric_header = numeric_header or [False] * len(header)
    head = "".join(
        f'<th scope="col"{NUM_CLASS if num else ""}>{e(h)}</th>'
        for h, num in zip(header, numeric_header, strict=True)
    )
    body = []
    for index, row in enumerate(rows):
        cls = row_classes[index] if row_classes else ""
        cells = [
            f'<th scope="row">{e(fmt(v))}</th>'
            if row_headers and i == 0
            else cell(v, extra="" if is_number(v) else text_class)
            for i, v in enumerate(row)
        ]
        attr = f' class="{cls}"' if cls else ""
        body.append(f"<tr{attr}>{''.join(cells)}</tr>")
    return (
        f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )
