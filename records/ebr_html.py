"""The electronic batch record as one self-contained HTML page.

No scripts, no external stylesheets or fonts: the file must open the same way in thirty years,
offline, in whatever an auditor has. Every value from the record goes through `html.escape`;
the only unescaped strings are the fixed markup written here.

One display format (`vein2vein.readable`): moments to the minute in the named zone, the exact
UTC instant in each `<time>` element's `datetime` and title; measured values with their unit
and at most four significant digits. A record of a batch that has not finished is marked in
progress: it is built by the same code as the final one, but it is not the final record.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from records.ebr_markup import Html as _Html
from records.ebr_markup import badge as _badge
from records.ebr_markup import escape as _e
from records.ebr_markup import flag as _flag
from records.ebr_markup import section as _section
from records.ebr_markup import table as _table
from records.ebr_markup import verdict as _verdict
from records.ebr_temperature import legs_html
from records.ledger import VerifyReport
from records.review import ReviewItem, is_final, review_by_exception
from records.temperature import LegTemperature, temperature_legs
from vein2vein.readable import number, quantity
from workflows.model import AuditEvent, BatchRecord, CustodyEntry, RecordedResult

# Long audit values (the record snapshot itself is one) are shortened, with a hash that still
# identifies the exact value in the ledger.
_MAX_VALUE_CHARS = 160

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem;color:#1b1b1b;
line-height:1.4}
h1{font-size:1.5rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin-top:2rem;
border-bottom:2px solid #444;padding-bottom:.2rem}
table{border-collapse:collapse;width:100%;font-size:.85rem;margin-top:.5rem}
th,td{border:1px solid #bbb;padding:.25rem .4rem;text-align:left;vertical-align:top}
th{background:#eee}.meta{color:#555}.mono{font-family:ui-monospace,monospace;font-size:.8rem;
word-break:break-all}
.badge{display:inline-block;padding:0 .4rem;border-radius:.3rem;font-size:.75rem;
font-weight:600}.bad{background:#f8d7da;color:#842029}.ok{background:#d1e7dd;color:#0f5132}
.warn{background:#fff3cd;color:#664d03}
.review{border:2px solid #842029;padding:.5rem 1rem;background:#fff8f8}
.review.clean{border-color:#0f5132;background:#f6fffa}
.leg{margin-top:1rem}.leg h3{font-size:1rem;margin-bottom:.2rem}.leg table{width:auto}
td.bad{color:#842029;font-weight:600}
.in-progress{border:2px dashed #664d03;background:#fff3cd;padding:.5rem 1rem;font-weight:600}
@media print{body{margin:0}h2{page-break-after:avoid}}
"""


def render_html(
    record: BatchRecord,
    *,
    verification: VerifyReport | None = None,
    legs: Sequence[LegTemperature] | None = None,
    tz: str | None = None,
) -> str:
    """The batch record as a self-contained HTML page that opens with review by exception.

    `legs` are the custody legs judged against the pinned definition, with their stored series
    (`records.temperature.temperature_legs`); without them ranges and series are not shown.
    Times print in zone `tz` (IANA name, default UTC). A batch that has not finished gets an
    "in progress" title and banner: its record will still change.
    """
    legs = temperature_legs(record) if legs is None else legs
    title = f"Electronic batch record {record.batch_id}"
    if not is_final(record):
        title += " (in progress)"
    body = "\n".join(
        [
            f"<h1>{_e(title)}</h1>",
            _state(record),
            f'<p class="meta">{_e(record.product)} &middot; definition'
            f" {_e(record.definition_version)} &middot; status {_badge(record.status)}"
            f" &middot; record version {_e(record.version)} &middot; times in"
            f" {_e(tz or 'UTC')} (exact UTC on hover)</p>",
            _review(record, verification, legs, tz),
            _identification(record, verification),
            _custody(record.custody, tz),
            _section("Temperature history", legs_html(legs, tz)),
            _timeline(record, tz),
            _results(record.results.values(), tz),
            _observations(record, tz),
            _deviations(record, tz),
            _lots(record),
            _signatures(record, tz),
            _audit(record.audit, tz),
        ]
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"{body}\n</body>\n</html>\n"
    )


def _state(record: BatchRecord) -> str:
    if is_final(record):
        return '<p class="meta" id="record-state" data-state="final">Final record.</p>'
    return (
        '<p class="in-progress" id="record-state" data-state="in_progress">IN PROGRESS:'
        " an interim record of a batch that is still running, as of record version"
        f" {_e(record.version)}. It is not the final batch record.</p>"
    )


def _review(
    record: BatchRecord,
    verification: VerifyReport | None,
    legs: Sequence[LegTemperature],
    tz: str | None,
) -> str:
    items = review_by_exception(record, legs, tz)
    lines: list[str] = []
    if verification is not None and not verification.ok and verification.first_break:
        brk = verification.first_break
        lines.append(
            f"<li>{_badge('ledger integrity', 'bad')} chain broken at {_e(brk.batch_id)}"
            f" seq {_e(brk.seq)}: {_e(brk.reason)}</li>"
        )
    lines.extend(_review_line(item) for item in items)
    if not lines:
        content = "<p>No departures from plan were recorded.</p>"
    else:
        still_open = sum(item.open for item in items)
        content = (
            f"<p>{len(lines)} item(s) departed from plan; {still_open} still open.</p>"
            f"<ul>{''.join(lines)}</ul>"
        )
    css = "review" if lines else "review clean"
    return (
        f'<section class="{css}" id="review-by-exception">'
        f"<h2>Review by exception</h2>{content}</section>"
    )


def _review_line(item: ReviewItem) -> str:
    status = _badge("open", "bad") + " " if item.open else ""
    return (
        f"<li>{status}{_badge(item.kind.replace('_', ' '), 'warn')}"
        f" <strong>{_e(item.reference)}</strong>: {_e(item.summary)}</li>"
    )


def _identification(record: BatchRecord, verification: VerifyReport | None) -> str:
    rows: list[Sequence[object]] = [
        ("Batch", record.batch_id),
        ("Product", record.product),
        ("Definition version", record.definition_version),
        ("Definition hash", _Html(f'<span class="mono">{_e(record.definition_hash)}</span>')),
        ("Chain of identity (COI)", record.coi),
        ("Order", record.order_id),
        *((f"Site: {role}", site) for role, site in sorted(record.sites.items())),
        ("Status", _Html(_badge(record.status))),
        ("Released", "yes" if record.released else "no"),
        ("Exceptional release", "yes" if record.exceptional_release else "no"),
        ("Record content hash", _Html(f'<span class="mono">{_e(record.content_hash())}</span>')),
    ]
    if verification is not None:
        outcome = (
            f"verified: {verification.entries_checked} entries in an unbroken chain"
            if verification.ok
            else "BROKEN (see review by exception)"
        )
        rows.append(("Ledger hash chain", outcome))
    return _section("Identification", _table(("Field", "Value"), rows))


def _custody(entries: Sequence[CustodyEntry], tz: str | None) -> str:
    rows = [
        (
            c.step,
            c.from_party,
            c.to_party,
            c.at,
            c.location,
            c.container_label,
            c.scanned_coi,
            _Html(_flag(c.identity_verified)),
            _Html(_flag(c.label_verified)),
            _temperature(c),
        )
        for c in entries
    ]
    headers = (
        "Step",
        "From",
        "To",
        "At",
        "Location",
        "Container",
        "Scanned COI",
        "Identity verified",
        "Label verified",
        "Temperature",
    )
    table = _table(headers, rows, "No custody transfers recorded.", tz)
    return _section("Chain of custody", table)


def _timeline(record: BatchRecord, tz: str | None) -> str:
    rows = [
        (r.stage, r.step, r.iteration, r.state, r.started_at, r.ended_at, r.performed_by)
        for r in sorted(record.steps, key=lambda r: r.started_at)
    ]
    headers = ("Stage", "Step", "Iteration", "State", "Started", "Ended", "Performed by")
    return _section("Timeline", _table(headers, rows, "No steps recorded.", tz))


def _results(results: Iterable[RecordedResult], tz: str | None) -> str:
    rows = [
        (
            r.name,
            quantity(r.value, r.unit),
            r.limit,
            _Html(_verdict(r.in_specification)),
            r.step,
            r.at,
            r.reporter,
        )
        for r in results
    ]
    headers = ("Result", "Value", "Specification", "Verdict", "Step", "At", "Reported by")
    table = _table(headers, rows, "No results recorded.", tz)
    return _section("Results against specification", table)


def _deviations(record: BatchRecord, tz: str | None) -> str:
    rows = [
        (
            d.deviation_id,
            d.kind,
            d.step,
            d.opened_at,
            d.description,
            _Html(_badge("open", "bad")) if d.is_open else d.disposition,
            d.disposed_by,
            d.disposed_at,
            d.reason,
            d.severity,
            d.capa,
            d.on_hold,
            d.terms(),
        )
        for d in record.deviations
    ]
    headers = (
        "Deviation",
        "Kind",
        "Step",
        "Opened",
        "Description",
        "Disposition",
        "By",
        "At",
        "Reason",
        "Classification",
        "CAPA",
        "Held for",
        "Terms",
    )
    table = _table(headers, rows, "No deviations recorded.", tz)
    return _section("Deviations and dispositions", table)


def _observations(record: BatchRecord, tz: str | None) -> str:
    if not record.observations:
        return ""
    rows = [
        (
            o.name,
            o.occurrence,
            quantity(o.value, o.unit),
            _Html(_verdict(o.in_specification)),
            o.step,
            o.at,
            o.reporter,
        )
        for o in record.observations
    ]
    headers = ("Observation", "No.", "Value", "Verdict", "Step", "At", "Reported by")
    return _section("Observations", _table(headers, rows, "", tz))


def _lots(record: BatchRecord) -> str:
    rows = [(lot,) for lot in record.lots]
    parts = [_table(("Lot",), rows, "No material lots recorded.")]
    if record.ended_outcome:
        parts.append(f"<p>Ended early: {_e(record.ended_outcome)}</p>")
    if record.abandoned_reason:
        parts.append(f"<p>Abandoned: {_e(record.abandoned_reason)}</p>")
    if record.compensations or record.abandoned_reason or record.ended_outcome:
        parts.append(_table(("Compensation",), [(c,) for c in record.compensations], "None."))
    return _section("Materials and compensations", "".join(parts))


def _signatures(record: BatchRecord, tz: str | None) -> str:
    rows = [
        (
            s.printed_name,
            s.role,
            s.signed_at,
            s.meaning,
            s.action,
            s.target,
            s.reason,
            _Html(f'<span class="mono">{_e(s.record_hash)}</span>'),
        )
        for s in record.signatures
    ]
    headers = (
        "Printed name",
        "Role",
        "Signed at",
        "Meaning",
        "Action",
        "Target",
        "Reason",
        "Record hash signed",
    )
    return _section("Signatures", _table(headers, rows, "No signatures recorded.", tz))


def _audit(entries: Sequence[AuditEvent], tz: str | None) -> str:
    rows = [
        (
            e.seq,
            e.at,
            e.actor,
            e.action,
            e.subject,
            _shorten(e.old_value),
            _shorten(e.new_value),
            e.reason,
            f"{e.signature.printed_name} ({e.signature.meaning})" if e.signature else None,
        )
        for e in entries
    ]
    headers = (
        "Seq",
        "At",
        "Actor",
        "Action",
        "Subject",
        "Old value",
        "New value",
        "Reason",
        "Signature",
    )
    return _section("Audit trail", _table(headers, rows, "No audit entries.", tz))


def _temperature(entry: CustodyEntry) -> str | None:
    t = entry.temperature
    if t is None:
        return None
    return (
        f"{number(t.min_c)} to {number(t.max_c)} °C,"
        f" {number(t.minutes_outside_range)} min outside range"
    )


def _shorten(value: str | None) -> str | None:
    if value is None or len(value) <= _MAX_VALUE_CHARS:
        return value
    digest = hashlib.sha256(value.encode("utf-8")).hexdigest()[:16]
    return f"{value[:100]}… ({len(value)} characters, sha256 {digest}…)"
