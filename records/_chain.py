"""The hash chain: what an entry's hash covers, how it links to the entry before it, and the
walk that names the first broken link of each batch."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

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


class Break(BaseModel):
    """Something that does not verify in one batch's chain: a broken link or a checkpoint."""

    model_config = ConfigDict(frozen=True)

    batch_id: str
    seq: int = Field(description="seq of the first entry that does not verify; 0 if none exist")
    reason: str
    checkpoint_id: str | None = Field(
        default=None, description="The signed checkpoint the chain disagrees with, if any"
    )
    checkpoint_at: datetime | None = Field(default=None, description="When it was made")


class ChainChecker:
    """Walks rows ordered by (batch_id, seq) and records the first break of each batch.

    It also remembers each batch's head (last seq and its stored hash) and the stored hash of
    every entry named in `wanted` (batch id to seqs), so checkpoints can be compared with it.
    """

    def __init__(self, wanted: Mapping[str, set[int]] | None = None) -> None:
        self.batches = 0
        self.entries = 0
        self.breaks: list[Break] = []
        self.heads: dict[str, tuple[int, str]] = {}
        self.hashes: dict[tuple[str, int], str] = {}
        self._wanted = wanted or {}
        self._batch: str | None = None
        self._broken = False
        self._expected_seq = 1
        self._prev_hash = GENESIS_HASH

    def check(self, row: Mapping[Any, Any]) -> None:
        """Check the next row (the hashed columns, idempotency_key, prev_hash, entry_hash)."""
        batch_id, seq = str(row["batch_id"]), int(row["seq"])
        if batch_id != self._batch:
            self._batch, self._broken = batch_id, False
            self._expected_seq, self._prev_hash = 1, GENESIS_HASH
            self.batches += 1
        self.entries += 1
        self.heads[batch_id] = (seq, str(row["entry_hash"]))
        if seq in self._wanted.get(batch_id, ()):
            self.hashes[(batch_id, seq)] = str(row["entry_hash"])
        if self._broken:
            return
        reason = self._fault(row)
        if reason is not None:
            self._broken = True
            self.breaks.append(Break(batch_id=batch_id, seq=seq, reason=reason))
            return
        self._expected_seq += 1
        self._prev_hash = str(row["entry_hash"])

    def _fault(self, row: Mapping[Any, Any]) -> str | None:
        seq = int(row["seq"])
        if seq != self._expected_seq:
            return f"seq gap: expected seq {self._expected_seq}, found {seq}"
        if row["idempotency_key"] != f"{row['batch_id']}:{seq}":
            return f"idempotency key {row['idempotency_key']!r} does not match the entry"
        if row["prev_hash"] != self._prev_hash:
            return "prev_hash mismatch: the entry does not link to the previous entry's hash"
        if chain_hash(self._prev_hash, row_content(row)) != row["entry_hash"]:
            return "entry_hash mismatch: the entry's content was changed after it was written"
        return None
