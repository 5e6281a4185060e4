"""The batch's search attributes: what operators filter on in Temporal's visibility.

Never patient data: product, status, stage and COI only.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.common import SearchAttributeKey

from workflows.engine.state import BatchState

SA_PRODUCT = SearchAttributeKey.for_keyword("BatchProduct")
SA_STATUS = SearchAttributeKey.for_keyword("BatchStatus")
SA_STAGE = SearchAttributeKey.for_keyword("BatchStage")
SA_COI = SearchAttributeKey.for_keyword("BatchCoi")
SEARCH_ATTRIBUTES = (SA_PRODUCT, SA_STATUS, SA_STAGE, SA_COI)


def publish(state: BatchState) -> None:
    """Upsert the attributes that changed since they were last published: at once for a batch
    recorded before audit events rode with calls, else once per workflow task, when the batch's
    next call or audit projection leaves (`flush`)."""
    if state.carry:
        state.search_due = True
    else:
        _upsert(state)


def flush(state: BatchState) -> None:
    """Publish the attributes that `publish` deferred, in one upsert."""
    if state.search_due:
        state.search_due = False
        _upsert(state)


def _upsert(state: BatchState) -> None:
    rec = state.rec
    wanted = {
        SA_PRODUCT.name: rec.product,
        SA_STATUS.name: rec.status.value,
        SA_STAGE.name: rec.stage or "",
        SA_COI.name: rec.coi or "",
    }
    changed = [
        key.value_set(wanted[key.name])
        for key in SEARCH_ATTRIBUTES
        if state.search.get(key.name) != wanted[key.name]
    ]
    if changed:
        state.search = wanted
        workflow.upsert_search_attributes(changed)
