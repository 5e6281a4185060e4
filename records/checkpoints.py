"""Signed checkpoints of the ledger's chain heads, kept where a ledger rewrite does not reach.

The hash chain alone proves nothing to someone who can rewrite the whole chain: drop the
trigger, change an entry, recompute every hash after it. A checkpoint anchors a chain: it names
a batch, the seq and `entry_hash` of its head at that moment, when, and the key that signed
those facts with the deployment's Ed25519 key. Every checkpoint is stored twice:

- in the `ledger_checkpoints` table, append-only like the ledger (its own triggers);
- in the checkpoint journal, an append-only JSON-lines file (mode 0600) beside the worker,
  outside the database; the same format is what `export_checkpoints` writes for an external
  archive.

`records.verification` holds each chain to every checkpoint it can find. The writer is
`records.anchoring.Checkpointer`.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Connection, Insert, func, inspect, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from records._chain import canonical_json
from records._schema import ledger_checkpoints

#: Prefix of the signed bytes, so a checkpoint signature can never pass for another document's.
SIGNATURE_DOMAIN = b"vein2vein ledger checkpoint v1\n"


class CheckpointFileError(ValueError):
    """A checkpoint journal or archive line is not a checkpoint; the message says where."""


class Signer(Protocol):
    """What signs checkpoints: `workflows.signatures.SigningKey` in a deployment."""

    key_id: str

    def sign_bytes(self, data: bytes) -> str:
        """The hex Ed25519 signature of `data`."""
        ...


class Checkpoint(BaseModel):
    """One chain head, signed: batch `batch_id` had `entry_hash` at `seq` at time `at`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    checkpoint_id: str = Field(description="`<batch_id>@<seq>`: one checkpoint per head")
    batch_id: str
    seq: int = Field(ge=1, description="seq of the head entry")
    entry_hash: str = Field(description="The head entry's `entry_hash`")
    at: datetime = Field(description="When the checkpoint was made (UTC)")
    key_id: str = Field(description="Id of the Ed25519 key that signed it")
    signature: str = Field(description="Hex Ed25519 signature of `signed_bytes()`")

    def signed_bytes(self) -> bytes:
        """The canonical bytes the signature covers: every field except the signature."""
        return SIGNATURE_DOMAIN + canonical_json(self._signed_fields()).encode("utf-8")

    def _signed_fields(self) -> dict[str, object]:
        return self.model_dump(mode="json", exclude={"signature"})

    def row(self) -> dict[str, object]:
        """The `ledger_checkpoints` column values."""
        return self.model_dump(mode="json")

    def label(self) -> str:
        """How messages name the checkpoint: its id and when it was made."""
        return f"checkpoint {self.checkpoint_id} of {self._signed_fields()['at']}"


def checkpoint_id(batch_id: str, seq: int) -> str:
    """The id of the checkpoint of `batch_id`'s head at `seq`."""
    return f"{batch_id}@{seq}"


def sign_checkpoint(
    signer: Signer, batch_id: str, seq: int, entry_hash: str, at: datetime
) -> Checkpoint:
    """A checkpoint of `batch_id`'s head, signed by `signer`."""
    unsigned = Checkpoint(
        checkpoint_id=checkpoint_id(batch_id, seq),
        batch_id=batch_id,
        seq=seq,
        entry_hash=entry_hash,
        at=at,
        key_id=signer.key_id,
        signature="",
    )
    return unsigned.model_copy(update={"signature": signer.sign_bytes(unsigned.signed_bytes())})


def signature_problem(checkpoint: Checkpoint, public_keys: Mapping[str, str]) -> str | None:
    """Why `checkpoint`'s signature is not valid for `public_keys` (key id to hex), or None."""
    public_hex = public_keys.get(checkpoint.key_id)
    if public_hex is None:
        return f"signed with key {checkpoint.key_id!r}, which is not a known public key"
    try:
        public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_hex))
        public.verify(bytes.fromhex(checkpoint.signature), checkpoint.signed_bytes())
    except (InvalidSignature, ValueError):
        return f"signature does not verify with key {checkpoint.key_id!r}"
    return None


# -- the table -------------------------------------------------------------------------------


def has_checkpoint_table(conn: Connection) -> bool:
    """True once `Ledger.create_schema` has made the table (older databases lack it)."""
    return inspect(conn).has_table(ledger_checkpoints.name)


def stored_checkpoints(conn: Connection, batch_id: str | None = None) -> list[Checkpoint]:
    """The checkpoints in the table (of one batch, or all), in the order they were written."""
    if not has_checkpoint_table(conn):
        return []
    columns = [ledger_checkpoints.c[name] for name in Checkpoint.model_fields]
    stmt = select(*columns).order_by(ledger_checkpoints.c.id)
    if batch_id is not None:
        stmt = stmt.where(ledger_checkpoints.c.batch_id == batch_id)
    return [Checkpoint.model_validate(dict(row._mapping)) for row in conn.execute(stmt)]


def last_checkpointed(conn: Connection, batch_ids: Sequence[str] | None = None) -> dict[str, int]:
    """The highest checkpointed seq of each batch that has a checkpoint."""
    grouped = select(ledger_checkpoints.c.batch_id, func.max(ledger_checkpoints.c.seq)).group_by(
        ledger_checkpoints.c.batch_id
    )
    if batch_ids is not None:
        grouped = grouped.where(ledger_checkpoints.c.batch_id.in_(list(batch_ids)))
    return {str(batch): int(seq) for batch, seq in conn.execute(grouped)}


def insert_checkpoint(conn: Connection, checkpoint: Checkpoint) -> bool:
    """Store `checkpoint` unless that head already has one; True when it was new."""
    insert: Insert = (
        pg_insert(ledger_checkpoints).on_conflict_do_nothing()
        if conn.dialect.name == "postgresql"
        else sqlite_insert(ledger_checkpoints).on_conflict_do_nothing()
    )
    # RETURNING rather than rowcount: psycopg reports no rowcount for an INSERT ... RETURNING,
    # which SQLAlchemy adds for the generated id.
    inserted = conn.execute(insert.returning(ledger_checkpoints.c.id), checkpoint.row())
    return inserted.first() is not None


# -- the journal and archives ----------------------------------------------------------------


def append_to_journal(path: Path, checkpoints: Sequence[Checkpoint]) -> None:
    """Append `checkpoints` to the journal at `path` and flush them to disk.

    The file is created with mode 0600 and only ever opened for appending; an exclusive lock
    keeps lines of several processes on one host from interleaving.
    """
    if not checkpoints:
        return
    data = "".join(cp.model_dump_json() + "\n" for cp in checkpoints).encode("utf-8")
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def write_checkpoint_file(path: Path, checkpoints: Iterable[Checkpoint]) -> int:
    """Write `checkpoints` to a new file at `path` (journal format, mode 0600); return how many.

    An existing file is refused rather than replaced: an archive is only ever added to.
    """
    lines = [cp.model_dump_json() + "\n" for cp in checkpoints]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.writelines(lines)
        fh.flush()
        os.fsync(fh.fileno())
    return len(lines)


def read_checkpoint_file(path: Path, batch_id: str | None = None) -> list[Checkpoint]:
    """The checkpoints in a journal or exported archive (of one batch, or all), in file order.

    Raises `FileNotFoundError` when there is no such file and `CheckpointFileError` naming the
    line when a line is not a checkpoint.
    """
    found: list[Checkpoint] = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                checkpoint = Checkpoint.model_validate_json(line)
            except ValidationError as err:
                raise CheckpointFileError(f"{path}:{number}: not a checkpoint: {err}") from err
            if batch_id is None or checkpoint.batch_id == batch_id:
                found.append(checkpoint)
    return found
