"""Markup primitives of the exported batch record: escaped text, moments, badges, tables.

Every value goes through `html.escape`; `Html` marks markup built here from escaped parts so a
table cell passes it through. Moments are `<time>` elements: to the minute in the record's
zone, the exact UTC instant in `datetime` and the title (`vein2vein.readable`).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from datetime import datetime

from vein2vein.readable import utc_iso, when

__all__ = ["Html", "badge", "escape", "flag", "moment", "section", "table", "verdict"]


class Html(str):
    """Markup built from escaped parts; `table` puts it in a cell unescaped."""


def section(title: str, content: str) -> str:
    """A titled section, its id the title in lower case with hyphens (a stable anchor)."""
    anchor = title.lower().replace(" ", "-")
    return f'<section id="{escape(anchor)}"><h2>{escape(title)}</h2>{content}</section>'


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[object]],
    empty: str = "None.",
    tz: str | None = None,
) -> str:
    """A table of escaped cells (moments in zone `tz`), or the `empty` sentence for no rows."""
    body = "".join("<tr>" + "".join(_cell(v, tz) for v in row) + "</tr>" for row in rows)
    if not body:
        return f"<p>{escape(empty)}</p>"
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(value: object, tz: str | None = None) -> str:
    if isinstance(value, datetime):
        return f"<td>{moment(value, tz)}</td>"
    return f"<td>{value if isinstance(value, Html) else escape(value)}</td>"


def moment(at: datetime, tz: str | None = None) -> str:
    """A `<time>` element: to the minute in zone `tz`, the exact UTC instant as its title."""
    exact = escape(utc_iso(at))
    return f'<time datetime="{exact}" title="{exact}">{escape(when(at, tz))}</time>'


def escape(value: object) -> str:
    """`value` escaped for HTML text and attributes; an em dash for None."""
    if value is None:
        return "&mdash;"
    if isinstance(value, datetime):
        return html.escape(utc_iso(value))
    return html.escape(str(value), quote=True)


def badge(label: object, tone: str = "") -> str:
    """A small label; `tone` is '', 'ok', 'warn' or 'bad'."""
    return f'<span class="badge {tone}">{escape(label)}</span>'


def flag(ok: bool) -> str:
    """'yes' in green or 'NO' in red."""
    return badge("yes", "ok") if ok else badge("NO", "bad")


def verdict(in_specification: bool | None) -> str:
    """A result's verdict against its specification line."""
    if in_specification is None:
        return badge("not assessed")
    return badge("in specification", "ok") if in_specification else badge("OUT OF SPEC", "bad")
