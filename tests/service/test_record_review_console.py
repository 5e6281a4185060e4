"""QA reviews a running batch's record from the console inbox, signed, before releasing it."""

from __future__ import annotations

import pytest

from tests.harness import Harness
from tests.service.support import Client, People
from tests.service.test_console import _sign_via_form
from tests.test_record_review import at_release
from workflows.model import Role
from workflows.review import RECORD_REVIEW, REVIEW_MEANING


@pytest.mark.requirement("PROD-REVIEW", "P11-200")
async def test_qa_reviews_the_record_from_the_inbox_then_releases(
    client: Client, people: People, harness: Harness
) -> None:
    handle = await at_release(harness)
    qa = people.make(Role.QA, name="Rita Review")
    http = await client(user=qa)
    inbox = (await http.get("/console/inbox")).text
    assert f'data-batch="{handle.id}" data-target="{RECORD_REVIEW}"' in inbox
    page = (await http.get(f"/console/batches/{handle.id}")).text
    assert "Review the batch record (due before release)" in page

    early = await _sign_via_form(http, handle.id, "release", qa[1], reason="release")
    assert "cannot release before QA reviews the batch record" in early.text
    reviewed = await _sign_via_form(http, handle.id, RECORD_REVIEW, qa[1], reason="by exception")
    assert reviewed.status_code in (200, 303), reviewed.text
    inbox = (await http.get("/console/inbox")).text
    assert f'data-target="{RECORD_REVIEW}"' not in inbox
    released = await _sign_via_form(http, handle.id, "release", qa[1], reason="release")
    assert released.status_code in (200, 303), released.text
    rec = await harness.advance_until(handle, lambda r: r.released, what="released")
    review = next(s for s in rec.signatures if s.target == RECORD_REVIEW)
    assert (review.printed_name, review.meaning) == ("Rita Review", REVIEW_MEANING)
    await harness.finish(handle)
