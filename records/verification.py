"""Verifying the ledger: recompute every hash chain and hold each chain to its checkpoints.

Recomputing the chain finds an entry changed or removed behind the database's back. It cannot
find a chain that was rewritten and re-hashed from the changed entry on; the signed checkpoints
(see `records.checkpoints`) can. Each checkpoint in the table, and in the journal or archive
file given, must

- carry a valid signature of a known public key (when the public keys are given);
- still match the chain: the entry at its seq exists and has the hash it signed;
- be in the table when it is in the file, with the same content (rows deleted or changed
  behind the database's back are found this way).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, select

from records._chain import CONTENT_COLUMNS, Break, ChainChecker
from records._schema import ledger_entries
from records.checkpoints import (
    Checkpoint,
    read_checkpoint_file,
    signature_problem,
    stored_checkpoints,
)


class VerifyReport(BaseModel):
    """The outcome of recomputing hash chains and comparing them with signed checkpoints."""

    model_config = ConfigDict(frozen=True)

    ok: bool
    batches_checked: int
    entries_checked: int
    first_break: Break | None = None
    breaks: list[Break] = Field(
        default_factory=list,
        description="The first broken link of every broken batch, then every checkpoint the"
        " ledger disagrees with",
    )
    checkpoints_checked: int = Field(default=0, description="Distinct checkpoints compared")
    found: bool = Field(
        default=True,
        description="False when the one batch asked for has neither ledger entries nor a"
        " checkpoint: an unknown batch, not a broken chain",
    )
    signatures_checked: bool = Field(
        default=False, description="Whether checkpoint signatures were verified with public keys"
    )
    checkpoint_file: str | None = Field(
        default=None, description="The journal or archive compared with the checkpoint table"
    )
    not_in_file: int = Field(
        default=0,
        description="Checkpoints in the table but not in the file: newer than an archive, or"
        " made on another host; not a failure",
    )


def verify_ledger(
    conn: Connection,
    batch_id: str | None = None,
    *,
    public_keys: Mapping[str, str] | None = None,
    checkpoint_file: Path | None = None,
) -> VerifyReport:
    """Verify one batch (or all): its chain, and every checkpoint of it (see the module).

    `public_keys` (key id to hex Ed25519 public key) turns on signature checks. The
    `checkpoint_file` (a journal or an exported archive) must exist.
    """
    return _verify(conn, batch_id, public_keys, checkpoint_file)[0]


def verify_head(conn: Connection, batch_id: str) -> tuple[VerifyReport, tuple[int, str] | None]:
    """Verify `batch_id` against the table's checkpoints (signatures unchecked) and return its
    head (seq, entry_hash), None without entries: what a new checkpoint would sign."""
    report, checker = _verify(conn, batch_id, None, None)
    return report, checker.heads.get(batch_id)


def _verify(
    conn: Connection,
    batch_id: str | None,
    public_keys: Mapping[str, str] | None,
    checkpoint_file: Path | None,
) -> tuple[VerifyReport, ChainChecker]:
    table = stored_checkpoints(conn, batch_id)
    candidates: dict[Checkpoint, None] = dict.fromkeys(table)
    file_breaks: list[Break] = []
    not_in_file = 0
    if checkpoint_file is not None:
        by_id = {cp.checkpoint_id: cp for cp in table}
        in_file: set[str] = set()
        for cp in read_checkpoint_file(checkpoint_file, batch_id):
            in_file.add(cp.checkpoint_id)
            stored = by_id.get(cp.checkpoint_id)
            if stored == cp:
                continue
            where = "missing from" if stored is None else "different in"
            candidates[cp] = None
            file_breaks.append(
                _break(cp, f"{cp.label()} is in {checkpoint_file} but {where} the checkpoint table")
            )
        not_in_file = sum(cp.checkpoint_id not in in_file for cp in table)

    wanted: dict[str, set[int]] = {}
    for cp in candidates:
        wanted.setdefault(cp.batch_id, set()).add(cp.seq)
    checker = walk_chains(conn, batch_id, wanted)
    # A batch the ledger never heard of is unknown; one whose entries are gone although a
    # checkpoint vouched for them is a broken chain (`_disagreement` names each checkpoint).
    found = batch_id is None or checker.batches > 0 or batch_id in wanted
    if batch_id is not None and checker.batches == 0 and batch_id in wanted:
        checker.breaks.append(Break(batch_id=batch_id, seq=0, reason="no ledger entries"))
    breaks = [*checker.breaks, *file_breaks]
    for cp in candidates:
        problem = _disagreement(cp, checker, public_keys)
        if problem is not None:
            breaks.append(_break(cp, problem))
    report = VerifyReport(
        ok=not breaks and found,
        found=found,
        batches_checked=checker.batches,
        entries_checked=checker.entries,
        first_break=breaks[0] if breaks else None,
        breaks=breaks,
        checkpoints_checked=len(candidates),
        signatures_checked=public_keys is not None,
        checkpoint_file=str(checkpoint_file) if checkpoint_file is not None else None,
        not_in_file=not_in_file,
    )
    return report, checker


def walk_chains(
    conn: Connection, batch_id: str | None = None, wanted: Mapping[str, set[int]] | None = None
) -> ChainChecker:
    """Recompute the chain of one batch (or all), keeping heads and the hashes at `wanted`."""
    stmt = select(
        *(ledger_entries.c[name] for name in CONTENT_COLUMNS),
        ledger_entries.c.idempotency_key,
        ledger_entries.c.prev_hash,
        ledger_entries.c.entry_hash,
    ).order_by(ledger_entries.c.batch_id, ledger_entries.c.seq)
    if batch_id is not None:
        stmt = stmt.where(ledger_entries.c.batch_id == batch_id)
    checker = ChainChecker(wanted)
    for row in conn.execution_options(yield_per=1000).execute(stmt):
        checker.check(row._mapping)
    return checker


def _disagreement(
    cp: Checkpoint, checker: ChainChecker, public_keys: Mapping[str, str] | None
) -> str | None:
    if public_keys is not None:
        problem = signature_problem(cp, public_keys)
        if problem is not None:
            return f"{cp.label()}: {problem}"
    head_seq = checker.heads.get(cp.batch_id, (0, ""))[0]
    if head_seq < cp.seq:
        return f"the chain ends at seq {head_seq}, shorter than {cp.label()} of seq {cp.seq}"
    stored = checker.hashes.get((cp.batch_id, cp.seq))
    if stored != cp.entry_hash:
        return (
            f"entry {cp.seq} no longer has the hash that {cp.label()} signed"
            f" ({cp.entry_hash[:12]}…, now {(stored or 'none')[:12]}…):"
            " the chain was rewritten after it was checkpointed"
        )
    return None


def _break(cp: Checkpoint, reason: str) -> Break:
    return Break(
        batch_id=cp.batch_id,
        seq=cp.seq,
        reason=reason,
        checkpoint_id=cp.checkpoint_id,
        checkpoint_at=cp.at,
    )
