"""How a duration reads, in one format for every reader: diagrams, the console, the CLI and
the batch record ('2 d 3 h', '4 h', '45 min', '30 s'). Pure; the sign is dropped."""

from __future__ import annotations

from datetime import timedelta


def duration_text(d: timedelta) -> str:
    """A duration as vein2vein prints it everywhere: '2 d 3 h', '4 h 5 min', '45 min', '30 s'."""
    seconds = int(abs(d).total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    days, rem = divmod(seconds // 60, 24 * 60)
    hours, mins = divmod(rem, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {mins} min" if mins else f"{hours} h"
    return f"{mins} min"
