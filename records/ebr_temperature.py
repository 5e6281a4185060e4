"""Each custody leg's temperature history as HTML: evidence, verdict, sparkline, readings.

Shared by the exported batch record (`records.ebr_html`) and the console's batch page. The
sparkline is inline SVG (no scripts, no fonts) so the exported file still opens offline; every
value goes through `html.escape`; times and numbers print in the one display format
(`vein2vein.readable`, via `records.ebr_markup.moment`).
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from records.ebr_markup import moment
from records.temperature import LegTemperature, TemperatureSeries
from vein2vein.readable import number, when
from workflows.language import TemperatureRange

#: At most this many readings are listed per leg; the SVG and the summary cover them all.
TABLE_ROWS = 24
_W, _H, _PAD = 320, 60, 4


def _e(value: object) -> str:
    return "&mdash;" if value is None else html.escape(str(value), quote=True)


def range_text(limit: TemperatureRange | None) -> str:
    """`2..8 °C (tolerates 30 min outside)`, or that the range is not known here."""
    if limit is None:
        return "not known here"
    text = f"{number(limit.min_c)}..{number(limit.max_c)} °C"
    if limit.max_minutes_outside:
        text += f" (tolerates {number(limit.max_minutes_outside)} min outside)"
    return text


def sparkline(series: TemperatureSeries, limit: TemperatureRange | None) -> str:
    """An inline SVG of the readings over time, the range shaded, readings outside it in red."""
    values = [c for _, c in series.readings]
    low, high = min(values), max(values)
    if limit is not None:
        low, high = min(low, limit.min_c), max(high, limit.max_c)
    span = (high - low) or 1.0
    last = max(len(values) - 1, 1)

    def x(i: int) -> float:
        return _PAD + (_W - 2 * _PAD) * i / last

    def y(c: float) -> float:
        return _PAD + (_H - 2 * _PAD) * (high - c) / span

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}"'
        f' viewBox="0 0 {_W} {_H}" role="img" aria-label="temperature readings of leg'
        f' {_e(series.step)}">'
    ]
    if limit is not None:
        top, bottom = y(limit.max_c), y(limit.min_c)
        parts.append(
            f'<rect x="0" y="{top:.1f}" width="{_W}" height="{bottom - top:.1f}"'
            ' fill="#d1e7dd"><title>allowed range</title></rect>'
        )
    # Long series are thinned for drawing only: one point per horizontal pixel is enough.
    stride = max(1, len(values) // (_W - 2 * _PAD))
    points = " ".join(f"{x(i):.1f},{y(c):.1f}" for i, c in enumerate(values) if i % stride == 0)
    parts.append(f'<polyline fill="none" stroke="#1b1b1b" stroke-width="1" points="{points}"/>')
    if limit is not None:
        for i, c in enumerate(values):
            if (c < limit.min_c or c > limit.max_c) and i % stride == 0:
                parts.append(f'<circle cx="{x(i):.1f}" cy="{y(c):.1f}" r="1.5" fill="#842029"/>')
    parts.append("</svg>")
    return "".join(parts)


def readings_table(
    series: TemperatureSeries, limit: TemperatureRange | None, tz: str | None = None
) -> str:
    """A compact table of readings: all of them if few, else evenly spaced ones (said so)."""
    count = len(series.readings)
    step = max(1, -(-count // TABLE_ROWS))
    chosen = list(range(0, count, step))
    if chosen[-1] != count - 1:
        chosen.append(count - 1)
    rows = []
    for i in chosen:
        at, c = series.readings[i]
        out = limit is not None and not limit.min_c <= c <= limit.max_c
        mark = ' class="bad"' if out else ""
        rows.append(
            f"<tr><td>{i + 1}</td><td>{moment(at, tz)}</td><td{mark}>{_e(number(c))}</td></tr>"
        )
    note = "every reading" if step == 1 else f"every {step}th reading and the last"
    return (
        f"<details><summary>{count} readings ({_e(note)})</summary><table><thead><tr>"
        "<th>#</th><th>At</th><th>°C</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table></details>"
    )


def leg_html(leg: LegTemperature, tz: str | None = None) -> str:
    """One leg: evidence facts, verdict, and the stored series drawn and listed (times in
    zone `tz`, default UTC)."""
    t = leg.summary
    facts: list[tuple[str, object]] = [("Range", range_text(leg.range))]
    if t is None:
        facts.append(("Evidence", "no temperature evidence"))
    else:
        facts += [
            ("Min / max", f"{number(t.min_c)} / {number(t.max_c)} °C"),
            ("Minutes outside range", number(t.minutes_outside_range)),
            ("Logger", t.logger_id or "none recorded"),
            ("Readings", t.readings if t.readings is not None else "none recorded"),
            (
                "Interval",
                f"{number(t.interval_seconds)} s" if t.interval_seconds else "none recorded",
            ),
            ("Series SHA-256", t.series_sha256 or "no series sent"),
        ]
    rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in facts)
    if not leg.problems and t is None:
        verdict = "<p>No temperature range declared for this handoff; none required.</p>"
    elif leg.problems:
        verdict = "".join(
            f'<li><span class="badge bad">{"EVIDENCE" if p.evidence else "EXCURSION"}</span>'
            f" {_e(p.text)}</li>"
            for p in leg.problems
        )
        verdict = f"<ul>{verdict}</ul>"
    else:
        verdict = '<p><span class="badge ok">evidence complete, within range</span></p>'
    if leg.series is not None:
        drawn = sparkline(leg.series, leg.range) + readings_table(leg.series, leg.range, tz)
    elif t is not None and t.series_sha256:
        drawn = "<p>Series not stored in this records database.</p>"
    else:
        drawn = ""
    title = f"{leg.step}: {leg.from_party} → {leg.to_party}, {when(leg.at, tz)}"
    return (
        f'<div class="leg" id="temperature-{_e(leg.step)}"><h3>{_e(title)}</h3>'
        f"<table>{rows}</table>{verdict}{drawn}</div>"
    )


def legs_html(legs: Sequence[LegTemperature], tz: str | None = None) -> str:
    """Every leg's history (times in zone `tz`), or a sentence saying there were no legs."""
    if not legs:
        return "<p>No custody transfers recorded.</p>"
    return "".join(leg_html(leg, tz) for leg in legs)
