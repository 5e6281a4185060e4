"""The regulated record store that outlives Temporal.

- `Ledger`: the append-only, hash-chained audit ledger (SQLite or PostgreSQL), with the
  batches that consumed a lot (`where_used`) and chain verification (`verify`).
- `Genealogy`: lots made from lots, followed to every batch at any depth (recalls).
- `Checkpointer`, `Checkpoint`: signed checkpoints of the chain heads, in their own table and
  an append-only journal file, that expose a rewritten and re-hashed chain.
- `load_record`, `render_html`, `render_json`: the electronic batch record, rebuilt from the
  ledger alone and exported with a review-by-exception summary first; `is_final` tells a
  closed batch's record from an interim one (exported marked "in progress").
- `biologically_derived_product`, `biologically_derived_product_dispense`: FHIR R5 views for
  the treatment centre, built and validated by the standard's models (`fhir.resources`).
"""

from records.anchoring import Checkpointer, CheckpointRun, checkpoint_periodically
from records.batch_record import (
    RECORD_CLOSED,
    RECORD_SNAPSHOT,
    RecordNotFound,
    load_record,
    render_html,
    render_json,
    snapshot_value,
)
from records.checkpoints import (
    Checkpoint,
    CheckpointFileError,
    read_checkpoint_file,
    stored_checkpoints,
    write_checkpoint_file,
)
from records.fhir import (
    biologically_derived_product,
    biologically_derived_product_dispense,
)
from records.genealogy import Genealogy, LotOrigin
from records.ledger import (
    DEFAULT_URL,
    LEDGER_URL_ENV,
    LOT_CONSUMED,
    Break,
    Ledger,
    LedgerConflictError,
    LedgerError,
    LedgerGapError,
    LotUse,
    VerifyReport,
)
from records.review import ExceptionKind, ReviewItem, is_final, review_by_exception

__all__ = [
    "DEFAULT_URL",
    "LEDGER_URL_ENV",
    "LOT_CONSUMED",
    "RECORD_CLOSED",
    "RECORD_SNAPSHOT",
    "Break",
    "Checkpoint",
    "CheckpointFileError",
    "CheckpointRun",
    "Checkpointer",
    "ExceptionKind",
    "Genealogy",
    "Ledger",
    "LedgerConflictError",
    "LedgerError",
    "LedgerGapError",
    "LotOrigin",
    "LotUse",
    "RecordNotFound",
    "ReviewItem",
    "VerifyReport",
    "biologically_derived_product",
    "biologically_derived_product_dispense",
    "checkpoint_periodically",
    "is_final",
    "load_record",
    "read_checkpoint_file",
    "render_html",
    "render_json",
    "review_by_exception",
    "snapshot_value",
    "stored_checkpoints",
    "write_checkpoint_file",
]
