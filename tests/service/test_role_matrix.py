"""Every role against every action, and every token scope against every action.

An allowed caller reaches the action and gets its own answer (e.g. 409 from the workflow's
validator, 404 for an unknown batch); a refused caller gets 403 before anything happens.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from activities import Fault
from definitions import AUTOLOGOUS_CD19_CAR_T
from tests.harness import Harness
from tests.products import FLAKY_BOOKING
from tests.service.support import Client, People, key, make_token, order_json
from vein2vein.service.tokens import SCOPES
from vein2vein.settings import Settings
from workflows.model import Role

Call = Callable[[httpx.AsyncClient, "Scene", str], Awaitable[httpx.Response]]


@dataclass
class Scene:
    """Batches in the states the actions need."""

    car_t: str  # a CAR T batch, not yet at its release gate
    held: str  # a batch with an open deviation DEV-1 (retries exhausted)


@pytest.fixture(scope="module")
async def scene(harness: Harness) -> Scene:
    car_t = await harness.start(AUTOLOGOUS_CD19_CAR_T)
    held = await harness.start(
        FLAKY_BOOKING, faults=[Fault(kind="flaky", step="book_slot", times=3)]
    )
    await harness.advance_until(held, lambda r: bool(r.deviations), step=timedelta(minutes=1))
    await harness.advance_until(car_t, lambda r: r.coi is not None, step=timedelta(minutes=1))
    return Scene(car_t=car_t.id, held=held.id)


def _post(path: str, body: Any = None) -> Call:
    async def call(http: httpx.AsyncClient, s: Scene, password: str) -> httpx.Response:
        filled = path.format(s=s)
        payload = body(s, password) if callable(body) else body
        return await http.post(filled, json=payload, headers={"Idempotency-Key": key()})

    return call


def _get(path: str) -> Call:
    async def call(http: httpx.AsyncClient, s: Scene, password: str) -> httpx.Response:
        return await http.get(path.format(s=s))

    return call


def _decision(target: str, action: str, role_from: str = "") -> Callable[[Scene, str], Any]:
    def body(s: Scene, password: str) -> dict[str, Any]:
        return {
            "target": target.format(s=s),
            "action": action,
            "role": role_from,  # filled per role below
            "password": password,
            "reason": "matrix",
        }

    return body


def _event(s: Scene, _: str) -> dict[str, Any]:
    return {
        "event_id": f"m-{key()}",
        "batch_id": "B-NOSUCHBATCH",
        "step": "expansion",
        "type": "mes.operation_done",
        "occurred_at": datetime.now(UTC).isoformat(),
    }


#: action -> (request, roles allowed, status an allowed caller gets)
ACTIONS: dict[str, tuple[Call, set[Role], int]] = {
    "read products": (_get("/api/products"), set(Role), 200),
    "read a batch": (_get("/api/batches/{s.car_t}"), set(Role), 200),
    "read the board": (_get("/api/batches?status=held"), set(Role), 200),
    "see my inbox": (_get("/api/inbox"), set(Role), 200),
    "start a batch": (
        _post("/api/batches", lambda s, _: {"product": "unknown", "order": order_json()}),
        {Role.OPERATOR},
        422,
    ),
    "report an event": (_post("/api/events", _event), {Role.OPERATOR}, 404),
    "sign the release gate": (
        _post("/api/batches/{s.car_t}/decisions", _decision("qa_disposition", "approve")),
        {Role.QA, Role.QUALIFIED_PERSON},
        409,
    ),
    "dispose of a deviation": (
        _post("/api/batches/{s.held}/decisions", _decision("DEV-1", "exceptional_release")),
        {Role.QA, Role.QUALIFIED_PERSON},
        409,
    ),
    "withdraw a batch": (
        _post("/api/batches/{s.held}/decisions", _decision("{s.held}", "approve")),
        {Role.QA, Role.QUALIFIED_PERSON, Role.PHYSICIAN},
        409,
    ),
    "unlock a user": (_post("/api/users/qa/unlock"), {Role.ADMIN}, 404),
    "read the security log": (_get("/api/security-log"), {Role.ADMIN, Role.QA}, 200),
    "complete an external task": (
        _post("/api/tasks/T-0123456789abcdefgh/complete", {}),
        set(),
        404,
    ),
    "open the admin page": (_get("/console/admin"), {Role.ADMIN}, 200),
}


def _signing_as(http: httpx.AsyncClient, role: Role) -> Callable[..., Awaitable[httpx.Response]]:
    """`http.post` that signs decisions in `role` (the one role the user holds)."""
    original = http.post

    async def post(url: str, *, json: Any = None, **kw: Any) -> httpx.Response:
        if isinstance(json, dict) and "role" in json:
            json = {**json, "role": role.value}
        return await original(url, json=json, **kw)

    return post


@pytest.mark.parametrize("action", list(ACTIONS))
@pytest.mark.requirement("P11-10d", "A11-12")
async def test_role_matrix(action: str, scene: Scene, client: Client, people: People) -> None:
    call, allowed, status = ACTIONS[action]
    got, want = {}, {}
    for role in Role:
        user_id, password = people.make(role)
        http = await client(user=(user_id, password))
        http.post = _signing_as(http, role)  # type: ignore[method-assign]
        r = await call(http, scene, password)
        got[role.value] = r.status_code
        want[role.value] = status if role in allowed else 403
    assert got == want


#: action -> (request, scopes allowed, status an allowed client gets)
TOKEN_ACTIONS: dict[str, tuple[Call, set[str], int]] = {
    "read a batch": (_get("/api/batches/{s.car_t}"), {"read"}, 200),
    "start a batch": (
        _post("/api/batches", lambda s, _: {"product": "unknown", "order": order_json()}),
        {"orders"},
        422,
    ),
    "report custody": (
        _post("/api/events", lambda s, p: {**_event(s, p), "type": "custody"}),
        {"custody", "hospital"},
        404,
    ),
    "report an MES step": (_post("/api/events", _event), {"mes"}, 404),
    "report a LIMS result": (
        _post("/api/events", lambda s, p: {**_event(s, p), "type": "lims.result"}),
        {"results"},
        404,
    ),
    "report an infusion": (
        _post("/api/events", lambda s, p: {**_event(s, p), "type": "centre.infusion_recorded"}),
        {"hospital"},
        404,
    ),
    "complete an external task": (
        _post("/api/tasks/T-0123456789abcdefgh/complete", {}),
        {"tasks"},
        404,
    ),
    "sign a decision": (
        _post("/api/batches/{s.car_t}/decisions", _decision("qa_disposition", "approve", "qa")),
        set(),
        0,
    ),
    "unlock a user": (_post("/api/users/qa/unlock"), set(), 0),
    "see an inbox": (_get("/api/inbox"), set(), 0),
}


@pytest.mark.parametrize("action", list(TOKEN_ACTIONS))
async def test_scope_matrix(
    action: str, scene: Scene, client: Client, service_settings: Settings
) -> None:
    call, allowed, status = TOKEN_ACTIONS[action]
    got, want = {}, {}
    for scope in SCOPES:
        token = make_token(service_settings, f"client-{scope}", [scope])
        http = await client(token=token)
        got[scope] = (await call(http, scene, "")).status_code
        want[scope] = status if scope in allowed else 403
    assert got == want


@pytest.mark.requirement("P11-10d", "A11-12")
async def test_nobody_unauthenticated(scene: Scene, client: Client) -> None:
    anonymous = await client()
    bogus = await client(token="v2v_000000000000_" + "x" * 43)
    for call, _, _ in [*ACTIONS.values(), *TOKEN_ACTIONS.values()]:
        for http in (anonymous, bogus):
            r = await call(http, scene, "")
            assert r.status_code in (401, 303), (r.request.url, r.status_code)
            if r.status_code == 303:
                assert r.headers["location"].startswith("/login")
