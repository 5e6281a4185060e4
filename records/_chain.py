"""The hash chain: what an entry's hash covers, and how it links to the entry before it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from workflows.model import AuditEvent

#: The `prev_hash` of a batch's first entry.
GENESIS_HASH = "0" * 64

#: Columns covered by `entry_hash`, i.e. everything an auditor reads in an entry.
CONTENT_COLUMNS = (
    "batch_id",
    "seq",
    "at",
    "actor",
    "action",
    "subject",
    "old_value",
    "new_value",
    "reason",
    "signature_json",
    "definition_hash",
    "product",
)

Content = dict[str, str | int | None]


def canonical_json(value: object) -> str:
    """JSON with sorted keys and no whitespace, so equal content always gives equal bytes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def event_content(event: AuditEvent) -> Content:
    """The column values of `event` exactly as they are stored and hashed."""
    signature = canonical_json(event.signature.model_dump(mode="json")) if event.signature else None
    return {
        "batch_id": event.batch_id,
        "seq": event.seq,
        "at": event.model_dump(mode="json", include={"at"})["at"],
        "actor": event.actor,
        "action": event.action,
        "subject": event.subject,
        "old_value": event.old_value,
        "new_value": event.new_value,
        "reason": event.reason,
        "signature_json": signature,
        "definition_hash": event.definition_hash,
        "product": event.product,
    }


def row_content(row: Mapping[Any, Any]) -> Content:
    """The hashed columns of a stored row (a mapping of column name to value)."""
    content: Content = {}
    for column in CONTENT_COLUMNS:
        value = row[column]
        if value is not None and not isinstance(value, str | int):
            raise TypeError(f"unexpected {type(value).__name__} in ledger column {column}")
        content[column] = value
    return content


def chain_hash(prev_hash: str, content: Content) -> str:
    """sha256 of the previous entry's hash followed by this entry's canonical content."""
    return hashlib.sha256((prev_hash + canonical_json(content)).encode("utf-8")).hexdigest()
