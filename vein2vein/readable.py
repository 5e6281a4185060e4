"""How a person reads the engine's typed state: durations, a clock's remaining time, times.

Shared by the console and the CLI. Nothing here computes a clock: `remaining` is what the
engine published (`Clock.remaining`), rendered as text.
"""

from __future__ import annotations

from datetime import datetime, timedelta


def duration(d: timedelta) -> str:
    """A duration as a person reads it: '2 d 3 h', '45 min' (the sign is dropped)."""
    minutes = int(abs(d).total_seconds() // 60)
    days, rem = divmod(minutes, 24 * 60)
    hours, mins = divmod(rem, 60)
    if days:
        return f"{days} d {hours} h"
    return f"{hours} h {mins} min" if hours else f"{mins} min"


def remaining(left: timedelta | None) -> str:
    """A clock's published remaining time: '3 h 10 min left', '2 d 1 h overdue', or ''."""
    if left is None:
        return ""
    return f"{duration(left)} left" if left >= timedelta(0) else f"{duration(left)} overdue"


def when(at: datetime | None) -> str:
    """A moment as the console and the CLI print it, e.g. '2025-03-01 14:05 UTC'."""
    return "" if at is None else at.strftime("%Y-%m-%d %H:%M UTC")
