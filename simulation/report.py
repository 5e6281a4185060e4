"""The HTML report of one or two simulation runs: the summary side by side with the
difference, and plots (matplotlib, Agg backend) embedded as PNG, so the file stands alone."""

from __future__ import annotations

import base64
import io
from html import escape
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from simulation.capacity import DAY_H
from simulation.metrics import Summary, patients_of
from simulation.simulate import SimulationResult

Run = tuple[Summary, SimulationResult]


def rows(summary: Summary) -> list[tuple[str, str, float | None]]:
    """The summary as (label, text, number) rows; the number is what a comparison subtracts."""

    def days(v: float | None) -> str:
        return "-" if v is None else f"{v:.1f} d"

    out: list[tuple[str, str, float | None]] = [
        ("patients", str(summary.patients), summary.patients),
        ("infused", str(summary.infused), summary.infused),
        ("infused within window", f"{summary.within_window:.1%}", summary.within_window * 100),
        ("vein-to-vein p50", days(summary.v2v_p50_days), summary.v2v_p50_days),
        ("vein-to-vein p90", days(summary.v2v_p90_days), summary.v2v_p90_days),
        ("vein-to-vein p99", days(summary.v2v_p99_days), summary.v2v_p99_days),
        ("abandoned", str(summary.abandoned), summary.abandoned),
        ("ended early", str(summary.ended), summary.ended),
        ("still running at the end", str(summary.still_running), summary.still_running),
        ("lots", str(summary.lots), summary.lots),
    ]
    for s in summary.sites:
        out += [
            (f"{s.site} lanes", str(s.lanes), s.lanes),
            (f"{s.site} slot utilisation", f"{s.utilisation:.1%}", s.utilisation * 100),
            (
                f"{s.site} wait for a slot (mean)",
                days(s.slot_wait_mean_days),
                s.slot_wait_mean_days,
            ),
            (f"{s.site} wait for a slot (p90)", days(s.slot_wait_p90_days), s.slot_wait_p90_days),
            (
                f"{s.site} waiting for a slot (mean / max)",
                f"{s.backlog_mean:.1f} / {s.backlog_max}",
                s.backlog_mean,
            ),
            (
                f"{s.site} QA decisions, wait mean / p90",
                f"{s.qa_decisions}, {s.qa_wait_mean_h:.1f} h / {s.qa_wait_p90_h:.1f} h",
                s.qa_wait_mean_h,
            ),
            (
                f"{s.site} QA queue (mean / max)",
                f"{s.qa_queue_mean:.2f} / {s.qa_queue_max}",
                s.qa_queue_mean,
            ),
        ]
    out += [(f"deviations: {k}", str(n), n) for k, n in summary.deviations.items()]
    out += [(f"abandoned: {k}", str(n), n) for k, n in summary.abandoned_why.items()]
    return out


def compared(a: Summary, b: Summary) -> list[tuple[str, str, str, str]]:
    """(label, first, second, difference) for every row either summary has."""
    first = {label: (text, n) for label, text, n in rows(a)}
    second = {label: (text, n) for label, text, n in rows(b)}
    labels = list(dict.fromkeys([*first, *second]))
    out = []
    for label in labels:
        ta, na = first.get(label, ("-", 0.0))
        tb, nb = second.get(label, ("-", 0.0))
        diff = "" if na is None or nb is None or na == nb else f"{nb - na:+.3g}"
        out.append((label, ta, tb, diff))
    return out


def _figure() -> tuple[Figure, Any]:
    # A bare Figure on the Agg canvas: no pyplot, no GUI backend, no global figure state.
    fig = Figure(figsize=(7, 3.5))
    FigureCanvasAgg(fig)
    return fig, fig.subplots()


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=96, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode()


def plots(runs: list[Run]) -> list[tuple[str, str]]:
    """(title, base64 PNG) of each plot, every run drawn on the same axes."""
    out = []
    fig, ax = _figure()
    for summary, result in runs:
        v2v = [
            (j.infused_h - j.arrived_h) / DAY_H
            for j in patients_of(result)
            if j.infused_h is not None
        ]
        ax.hist(v2v, bins=40, alpha=0.5, label=summary.scenario)
    ax.set_xlabel("vein-to-vein time (days)")
    ax.set_ylabel("patients")
    ax.legend()
    out.append(("Vein-to-vein time", _png(fig)))
    for title, series in (
        ("Batches waiting for their slot", "slot_backlog"),
        ("Decisions waiting for a QA reviewer", "qa_queue"),
    ):
        fig, ax = _figure()
        for summary, result in runs:
            for site, values in getattr(result.samples, series).items():
                ax.plot(result.samples.days, values, label=f"{site} ({summary.scenario})", lw=1)
        ax.set_xlabel("day")
        ax.set_ylabel("count")
        ax.legend(fontsize="small")
        out.append((title, _png(fig)))
    fig, ax = _figure()
    width = 0.8 / len(runs)
    kinds = sorted({k for s, _ in runs for k in s.deviations})
    for n, (summary, _) in enumerate(runs):
        xs = [i + n * width for i in range(len(kinds))]
        ax.bar(xs, [summary.deviations.get(k, 0) for k in kinds], width, label=summary.scenario)
    ax.set_xticks([i + width * (len(runs) - 1) / 2 for i in range(len(kinds))])
    ax.set_xticklabels(kinds, rotation=30, ha="right", fontsize="small")
    ax.set_ylabel("deviations")
    ax.legend()
    out.append(("Deviations by kind", _png(fig)))
    return out


def write_report(path: Path, runs: list[Run]) -> None:
    """Write the report of one run, or of two side by side with their difference."""
    names = [escape(s.scenario) for s, _ in runs]
    if len(runs) == 2:
        head = f"<tr><th></th><th>{names[0]}</th><th>{names[1]}</th><th>difference</th></tr>"
        body = "".join(
            f"<tr><td>{escape(lab)}</td><td>{escape(a)}</td><td>{escape(b)}</td>"
            f"<td>{escape(d)}</td></tr>"
            for lab, a, b, d in compared(runs[0][0], runs[1][0])
        )
    else:
        head = f"<tr><th></th><th>{names[0]}</th></tr>"
        body = "".join(
            f"<tr><td>{escape(lab)}</td><td>{escape(text)}</td></tr>"
            for lab, text, _ in rows(runs[0][0])
        )
    figures = "".join(
        f'<figure><img alt="{escape(t)}" src="data:image/png;base64,{png}">'
        f"<figcaption>{escape(t)}</figcaption></figure>"
        for t, png in plots(runs)
    )
    seeds = ", ".join(
        f"{escape(s.scenario)}: seed {s.seed}, {s.horizon_days:g} days" for s, _ in runs
    )
    path.write_text(
        "<!doctype html><html lang=en><meta charset=utf-8>"
        f"<title>vein2vein simulation: {' vs '.join(names)}</title>"
        "<style>body{font-family:sans-serif;margin:2em;max-width:70em}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .6em;"
        "text-align:right}td:first-child{text-align:left}figure{display:inline-block}</style>"
        f"<h1>Simulation: {' vs '.join(names)}</h1><p>{seeds}</p>"
        f"<table>{head}{body}</table>{figures}</html>\n"
    )
