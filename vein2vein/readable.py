"""How a person reads the engine's typed state: durations, a clock's remaining time, moments
and measured quantities, in one format everywhere (console, CLI, batch record).

Moments print in a named time zone (a site's, or the deployment's display zone) as
'2025-03-01 14:05 CET'; exports and hover titles carry the exact UTC instant
('2025-03-01T13:05:00Z'). Quantities print with at most four significant digits and their
unit; counts of ten thousand or more in powers of ten ('2.417 × 10⁹ cells').

Nothing here computes a clock: `remaining` is what the engine published (`Clock.remaining`),
rendered as text.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, tzinfo
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from workflows.durations import duration_text

__all__ = [
    "DEFAULT_ZONE",
    "duration",
    "number",
    "quantity",
    "remaining",
    "utc_iso",
    "when",
    "zone",
]

#: The display zone when neither a site nor the deployment names one.
DEFAULT_ZONE = "UTC"
_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def duration(d: timedelta) -> str:
    """A duration as a person reads it: '2 d 3 h', '4 h', '45 min', '30 s' (sign dropped)."""
    return duration_text(d)


def remaining(left: timedelta | None) -> str:
    """A clock's published remaining time: '3 h 10 min left', '2 d 1 h overdue', or ''."""
    if left is None:
        return ""
    return f"{duration(left)} left" if left >= timedelta(0) else f"{duration(left)} overdue"


@cache
def zone(name: str | None) -> tzinfo:
    """The time zone called `name` (IANA, e.g. 'Europe/Berlin'); UTC for None or ''.

    Raises `ValueError` naming the zone when the name is unknown, so a misconfigured site
    fails at start-up rather than printing wrong times."""
    if not name or name == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise ValueError(f"unknown time zone {name!r}") from e


def when(at: datetime | None, tz: str | None = None) -> str:
    """A moment as a person reads it, in zone `tz` (default UTC): '2025-03-01 14:05 CET';
    '' for None. A naive datetime is taken to be UTC (the engine records only UTC)."""
    if at is None:
        return ""
    local = _aware(at).astimezone(zone(tz))
    return f"{local:%Y-%m-%d %H:%M} {local.tzname() or 'UTC'}"


def utc_iso(at: datetime | None) -> str:
    """The exact instant for exports and hover titles, to the second: '2025-03-01T13:05:00Z'."""
    if at is None:
        return ""
    return _aware(at).astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def number(value: float | int) -> str:
    """A measured number with at most four significant digits: 72.5, 0.0312, 1,250,
    4.2 × 10⁻⁶, 2.417 × 10⁹ (powers of ten from ten thousand up and below a thousandth)."""
    if isinstance(value, bool) or not math.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    if magnitude >= 4 or magnitude < -3:
        mantissa = f"{value / 10**magnitude:.4g}"
        if mantissa in ("10", "-10"):  # rounding carried into the next power
            mantissa, magnitude = mantissa[:-1], magnitude + 1
        return f"{mantissa} × 10{str(magnitude).translate(_SUPERSCRIPT)}"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{float(value):.4g}"


def quantity(value: float | int | str, unit: str = "") -> str:
    """A result or computed value with its unit: '2.417 × 10⁹ cells', '87.5 %', 'negative'."""
    text = value if isinstance(value, str) else number(value)
    return f"{text} {unit}".strip()


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
