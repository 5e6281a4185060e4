"""The batch timeline as a picture: a server-rendered SVG, no script.

One row per step, grouped under its stage in the order the batch reached them; each run of a
step is a bar from its start to its end (a repeat draws one bar per iteration, labelled #2, #3);
a running step's bar reaches the current time, which is a dashed line; deviations are red
marks on their step's row (filled while open). Every bar and mark has a `<title>` that names it
in full, so hovering answers "what is this". Every text from the record is escaped.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime, timedelta

from records import is_final
from vein2vein.readable import duration, when, zone
from workflows.model import BatchRecord, StepRun, StepState

__all__ = ["timeline_svg"]

_WIDTH, _LABELS, _RIGHT = 960, 210, 24
_TOP, _ROW, _BOTTOM = 30, 18, 10
_FILL = {StepState.DONE: "#4a7fb5", StepState.ACTIVE: "#e0a030", StepState.FAILED: "#b3261e"}
#: Tick spacings to choose from, the smallest that gives at most ten ticks.
_TICKS = tuple(timedelta(hours=h) for h in (1, 3, 6, 12, 24, 48, 7 * 24, 14 * 24, 28 * 24))


_LEGEND = (
    '<g font-size="10" fill="#333">'
    + "".join(
        f'<rect x="{x}" y="6" width="9" height="9" fill="{_FILL[state]}"/>'
        f'<text x="{x + 12}" y="14">{label}</text>'
        for x, state, label in (
            (6, StepState.DONE, "done"),
            (52, StepState.ACTIVE, "running"),
            (110, StepState.FAILED, "failed"),
        )
    )
    + '<path d="M160,6 l5,9 h-10 z" fill="#b3261e"/><text x="168" y="14">deviation</text></g>'
)


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


@dataclass(frozen=True)
class _Scale:
    start: datetime
    end: datetime

    def x(self, at: datetime) -> float:
        span = (self.end - self.start).total_seconds()
        share = (_aware(at) - self.start).total_seconds() / span
        return _LABELS + (_WIDTH - _LABELS - _RIGHT) * min(max(share, 0.0), 1.0)


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=zone(None))


def _rows(rec: BatchRecord) -> list[tuple[str, str | None]]:
    """(stage, step) rows: each stage's header row (step None) then its steps, in the order
    the batch first reached them."""
    order: dict[str, list[str]] = {}
    for run in sorted(rec.steps, key=lambda r: _aware(r.started_at)):
        steps = order.setdefault(run.stage, [])
        if run.step not in steps:
            steps.append(run.step)
    return [
        row
        for stage, steps in order.items()
        for row in [(stage, None), *((stage, s) for s in steps)]
    ]


def _scale(rec: BatchRecord, now: datetime) -> _Scale:
    moments = [_aware(r.started_at) for r in rec.steps]
    moments += [_aware(r.ended_at) for r in rec.steps if r.ended_at is not None]
    moments += [_aware(d.opened_at) for d in rec.deviations]
    start, end = min(moments), max(moments)
    if not is_final(rec):
        end = max(end, _aware(now))
    return _Scale(start, max(end, start + timedelta(hours=1)))


def _axis(scale: _Scale, height: int, tz: str | None) -> list[str]:
    span = scale.end - scale.start
    step = next((t for t in _TICKS if span / t <= 10), _TICKS[-1])
    local = scale.start.astimezone(zone(tz))
    if step >= timedelta(days=1):
        first, fmt = local.replace(hour=0, minute=0, second=0, microsecond=0), "%d %b"
    else:
        first, fmt = local.replace(minute=0, second=0, microsecond=0), "%d %b %H:%M"
    parts: list[str] = []
    tick = first
    while tick <= scale.end:
        if tick >= scale.start:
            x = scale.x(tick)
            parts.append(
                f'<line x1="{x:.1f}" y1="{_TOP - 6}" x2="{x:.1f}" y2="{height - _BOTTOM}"'
                ' stroke="#dde1e6"/>'
                f'<text x="{x:.1f}" y="{_TOP - 10}" font-size="10" text-anchor="middle"'
                f' fill="#555">{_e(tick.strftime(fmt))}</text>'
            )
        tick = (tick + step).astimezone(zone(tz))
    return parts


def _bar(run: StepRun, y: float, scale: _Scale, now: datetime, tz: str | None) -> str:
    start = scale.x(run.started_at)
    end = scale.x(run.ended_at or now)
    width = max(end - start, 2.0)
    ended = f"ended {when(run.ended_at, tz)}" if run.ended_at else "still running"
    took = duration((run.ended_at or _aware(now)) - _aware(run.started_at))
    title = (
        f"{run.step} (stage {run.stage}) #{run.iteration}: {run.state.value}, started"
        f" {when(run.started_at, tz)}, {ended} ({took})"
        + (f", by {run.performed_by}" if run.performed_by else "")
    )
    fill = _FILL.get(run.state, "#888")
    # Later iterations are lighter, so a repeat reads as attempts rather than one long step.
    opacity = 0.6 if run.iteration > 1 else 1.0
    part = (
        f'<rect class="run" data-state="{_e(run.state.value)}" x="{start:.1f}" y="{y + 3:.1f}"'
        f' width="{width:.1f}" height="{_ROW - 6}" rx="2" fill="{fill}"'
        f' fill-opacity="{opacity}"><title>{_e(title)}</title></rect>'
    )
    if run.iteration > 1:
        part += (
            f'<text x="{start + width + 3:.1f}" y="{y + _ROW - 5:.1f}" font-size="9"'
            f' fill="#333">#{run.iteration}</text>'
        )
    return part


def timeline_svg(rec: BatchRecord, now: datetime, tz: str | None = None) -> str:
    """The batch's steps over time as an inline SVG (times in zone `tz`, default UTC), or a
    sentence when no step has started."""
    if not rec.steps:
        return '<p id="timeline-chart">No step has started yet.</p>'
    rows = _rows(rec)
    index = {row: i for i, row in enumerate(rows)}
    scale = _scale(rec, now)
    height = _TOP + len(rows) * _ROW + _BOTTOM
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="timeline-chart" width="{_WIDTH}"'
        f' height="{height}" viewBox="0 0 {_WIDTH} {height}" role="img"'
        f' aria-label="timeline of batch {_e(rec.batch_id)}" font-family="system-ui,sans-serif">'
        f"<title>Timeline of batch {_e(rec.batch_id)}, times in {_e(tz or 'UTC')}</title>",
        f'<rect width="{_WIDTH}" height="{height}" fill="#fff"/>',
        *_axis(scale, height, tz),
        _LEGEND,
    ]
    for (stage, step), i in index.items():
        y = _TOP + i * _ROW
        if step is None:
            parts.append(
                f'<rect x="0" y="{y}" width="{_WIDTH}" height="{_ROW}" fill="#eef1f4"'
                ' fill-opacity="0.7"/>'
                f'<text x="6" y="{y + _ROW - 5}" font-size="11" font-weight="600">'
                f"{_e(stage)}</text>"
            )
        else:
            parts.append(f'<text x="16" y="{y + _ROW - 5}" font-size="11">{_e(step)}</text>')
    for run in rec.steps:
        parts.append(_bar(run, _TOP + index[(run.stage, run.step)] * _ROW, scale, now, tz))
    for dev in rec.deviations:
        row = next((i for (_, s), i in index.items() if s == dev.step), 0)
        x, mid = scale.x(dev.opened_at), _TOP + row * _ROW + _ROW / 2
        state = "open" if dev.is_open else f"disposed: {dev.disposition}"
        title = f"{dev.deviation_id} {dev.kind} at {dev.step}, {when(dev.opened_at, tz)}: "
        title += f"{dev.description} ({state})"
        fill = "#b3261e" if dev.is_open else "#fff"
        parts.append(
            f'<path class="deviation" data-open="{str(dev.is_open).lower()}"'
            f' d="M{x:.1f},{mid - 7:.1f} l6,12 h-12 z" fill="{fill}" stroke="#b3261e"'
            f' stroke-width="1.5"><title>{_e(title)}</title></path>'
        )
    if not is_final(rec) and scale.start <= _aware(now) <= scale.end:
        x = scale.x(now)
        parts.append(
            f'<line id="timeline-now" x1="{x:.1f}" y1="{_TOP - 6}" x2="{x:.1f}"'
            f' y2="{height - _BOTTOM}" stroke="#1f3b57" stroke-dasharray="4 3">'
            f"<title>now: {_e(when(now, tz))}</title></line>"
        )
    parts.append("</svg>")
    return "".join(parts)
