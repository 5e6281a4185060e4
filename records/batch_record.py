"""The electronic batch record, rebuilt from the ledger alone and exported for review.

Convention (the engine follows it): when a batch closes, its final audit event has action
`"record.closed"` and `new_value` = `BatchRecord.model_dump_json()` of the full record with an
empty `audit` list (`snapshot_value` builds exactly that). While a batch runs, the engine may
append `"record.snapshot"` events with the same `new_value`, so an interim record can be
exported too. The audit trail itself is never copied into the snapshot: it is the ledger.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from pydantic import ValidationError

from records.ebr_html import render_html
from records.ledger import Ledger, VerifyReport
from records.review import is_final, review_by_exception
from records.temperature import LegTemperature, temperature_legs
from workflows.model import AuditEvent, BatchRecord

__all__ = [
    "RECORD_CLOSED",
    "RECORD_SNAPSHOT",
    "RecordNotFound",
    "load_record",
    "render_html",
    "render_json",
    "snapshot_value",
]

#: Action of the final audit event of a closed batch; its new_value is the whole record.
RECORD_CLOSED = "record.closed"
#: Action of an interim copy of the record, used when the batch has not closed yet.
RECORD_SNAPSHOT = "record.snapshot"


class RecordNotFound(LookupError):
    """The ledger holds no batch record (no "record.closed" or "record.snapshot") for a batch."""


def snapshot_value(record: BatchRecord) -> str:
    """The `new_value` of a "record.closed" or "record.snapshot" event for `record`."""
    return record.model_copy(update={"audit": []}).model_dump_json()


def load_record(ledger: Ledger, batch_id: str) -> BatchRecord:
    """Rebuild `batch_id`'s record from the ledger, with the ledger's entries as its audit.

    Uses the latest "record.closed" entry, else the latest "record.snapshot"; raises
    `RecordNotFound` when there is neither, and `ValueError` when the stored record is not a
    valid `BatchRecord` of this batch.
    """
    entries = ledger.entries(batch_id)
    if not entries:
        raise RecordNotFound(f"the ledger holds no entries for batch {batch_id}")
    source = _latest(entries, RECORD_CLOSED) or _latest(entries, RECORD_SNAPSHOT)
    if source is None:
        raise RecordNotFound(
            f"batch {batch_id} has {len(entries)} ledger entries but no"
            f" {RECORD_CLOSED!r} or {RECORD_SNAPSHOT!r} entry to rebuild its record from"
        )
    try:
        record = BatchRecord.model_validate_json(source.new_value or "")
    except ValidationError as exc:
        raise ValueError(
            f"{source.idempotency_key} ({source.action}) does not hold a valid batch record"
        ) from exc
    if record.batch_id != batch_id:
        raise ValueError(
            f"{source.idempotency_key} holds the record of {record.batch_id}, not {batch_id}"
        )
    return record.model_copy(update={"audit": entries})


def render_json(
    record: BatchRecord,
    *,
    verification: VerifyReport | None = None,
    legs: Sequence[LegTemperature] | None = None,
    tz: str | None = None,
) -> str:
    """The batch record as JSON, opening with the review-by-exception summary.

    `record_state` is "in_progress" until the batch has finished (the record will still
    change), then "final". `temperature` holds each custody leg's range, summary, verdict and,
    when stored, its full reading series (see `render_html` for `legs` and `tz`).
    """
    legs = temperature_legs(record) if legs is None else legs
    document = {
        "review_by_exception": [
            item.model_dump(mode="json") for item in review_by_exception(record, legs, tz)
        ],
        "record_state": "final" if is_final(record) else "in_progress",
        "ledger_verification": verification.model_dump(mode="json") if verification else None,
        "batch_record": record.model_dump(mode="json"),
        "temperature": [leg.model_dump(mode="json") for leg in legs],
        "content_hash": record.content_hash(),
    }
    return json.dumps(document, indent=2, ensure_ascii=False)


def _latest(entries: list[AuditEvent], action: str) -> AuditEvent | None:
    return next((e for e in reversed(entries) if e.action == action), None)
