"""Sign-in that tells nothing and cannot lock anyone out, sessions that end, site-scoped tokens,
and two service replicas sharing one database (SQLite and PostgreSQL)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from definitions import CATALOG
from records import Ledger
from tests.approving import approve_all
from tests.harness import Harness
from tests.products import TEST_PRODUCTS
from tests.records.conftest import ledger_url, postgres_admin  # noqa: F401  (fixtures)
from tests.service.support import (
    BASE,
    FAST_HASHER,
    ROOT,
    Client,
    People,
    identity_of,
    key,
    login,
    make_token,
    order_json,
    own_password,
    start_via_api,
)
from vein2vein.service import admin, authn
from vein2vein.service.app import create_app
from vein2vein.service.auth import SESSION_COOKIE
from vein2vein.service.db import open_database, sessions
from vein2vein.service.files import SECRET_FILE
from vein2vein.settings import Settings
from workflows.model import Role


def _private_app(tmp_path: Path, url: str | None = None, name: str = "a") -> FastAPI:
    """A service on its own data directory (no Temporal needed for signing in)."""
    settings = Settings(
        data_dir=tmp_path / name, ledger_url=url or f"sqlite:///{tmp_path / 'ledger.db'}"
    )
    return create_app(settings, catalog=CATALOG)


def _http(app: FastAPI, address: str = "10.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url=BASE)


def _add(app: FastAPI, user_id: str, *roles: Role) -> tuple[str, str]:
    settings: Settings = app.state.ctx.settings
    password = f"{user_id}-password"
    admin.add_user(
        identity_of(settings),
        user_id,
        user_id.title(),
        roles,
        password,
        by=ROOT,
        hasher=FAST_HASHER,
    )
    own_password(identity_of(settings), user_id)
    return user_id, password


async def test_unknown_names_get_the_same_answer_after_the_same_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = _private_app(tmp_path)
    user_id, _ = _add(app, "qa-real", Role.QA)
    checked: list[str] = []
    real = authn.verify_password

    def spy(password_hash: str, password: str) -> bool:
        checked.append(password_hash[:9])
        return real(password_hash, password)

    monkeypatch.setattr(authn, "verify_password", spy)
    async with _http(app) as http:
        wrong = await login(http, user_id, "not-the-password")
        unknown = await login(http, "nobody-here", "not-the-password")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.text.replace(user_id, "X") == unknown.text.replace("nobody-here", "X")
    assert checked == ["$argon2id", "$argon2id"], "an argon2 check for the unknown name too"


async def test_failures_throttle_names_known_or_not_and_addresses_never_lock(
    tmp_path: Path,
) -> None:
    app = _private_app(tmp_path)
    boss = _add(app, "boss", Role.ADMIN)
    async with _http(app, "10.0.0.1") as attacker, _http(app, "10.0.0.2") as office:
        for name in ("boss", "ghost"):
            answers = [(await login(attacker, name, "guess-guess")).status_code for _ in range(4)]
            assert answers == [401, 401, 401, 429], name
        throttled = await login(attacker, "ghost", "guess-guess")
        assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) >= 1
        # No lockout: the admin signs in as soon as the wait is over (the clock moved on).
        identity = app.state.ctx.identity
        later = datetime.now(UTC) + timedelta(seconds=9)
        assert identity.throttle.blocked("account:x", now=later) is None
        assert (await login(office, *boss)).status_code == 429  # within the 8 s
        admin.unlock_user(identity, "boss", by=ROOT)
        assert (await login(office, *boss)).status_code == 303
        # One address guessing at many names is throttled as a whole.
        for n in range(10):
            await login(attacker, f"name-{n}", "guess-guess")
        assert (await login(attacker, *boss)).status_code == 429
        assert (await login(office, *boss)).status_code == 303


async def test_sessions_expire_when_idle_and_at_the_latest_after_the_absolute_limit(
    client: Client, people: People, service_settings: Settings
) -> None:
    engine = open_database(service_settings.ledger)
    for column in ("last_seen_at", "expires_at"):
        user = people.make(Role.QA)
        http = await client(user=user)
        assert (await http.get("/api/inbox")).status_code == 200
        past = {
            "last_seen_at": datetime.now(UTC) - timedelta(minutes=31),
            "expires_at": datetime.now(UTC) - timedelta(seconds=1),
        }[column]
        with engine.begin() as conn:
            conn.execute(
                update(sessions)
                .where(sessions.c.user_id == user[0])
                .values({column: past.isoformat()})
            )
        assert (await http.get("/api/inbox")).status_code == 401, column


async def test_a_site_scoped_token_reports_only_for_its_sites_batches(
    client: Client, service_settings: Settings
) -> None:
    orders = await client(token=make_token(service_settings, "his-site", ["orders"]))
    batch_id = await start_via_api(orders)  # sites TC-NORTH, MFG-EAST, COURIER-CRYO
    event = {
        "batch_id": batch_id,
        "step": "pickup",
        "type": "courier.pickup",
        "occurred_at": "2026-12-01T08:00:00Z",
    }
    other = await client(
        token=make_token(service_settings, "courier-other", ["custody"], site="COURIER-ELSE")
    )
    r = await other.post(
        "/api/events", json={**event, "event_id": "e1"}, headers={"Idempotency-Key": key()}
    )
    assert r.status_code == 403 and "COURIER-ELSE" in r.json()["detail"]
    missing = {**event, "batch_id": "B-NOSUCHBAT", "event_id": "e2"}
    r = await other.post("/api/events", json=missing, headers={"Idempotency-Key": key()})
    assert r.status_code == 403, "an unknown batch gets the same answer"
    ours = await client(
        token=make_token(service_settings, "courier-ours", ["custody"], site="COURIER-CRYO")
    )
    r = await ours.post(
        "/api/events", json={**event, "event_id": "e3"}, headers={"Idempotency-Key": key()}
    )
    assert r.status_code != 403, r.text
    site_orders = await client(
        token=make_token(service_settings, "his-south", ["orders"], site="TC-SOUTH")
    )
    r = await site_orders.post(
        "/api/batches",
        json={"product": "test-flaky-booking", "order": order_json()},
        headers={"Idempotency-Key": key()},
    )
    assert r.status_code == 403


@pytest.fixture
async def replicas(
    ledger_url: str,  # noqa: F811  (SQLite, then PostgreSQL)
    harness: Harness,
    tmp_path: Path,
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient, FastAPI]]:
    """Two services on one database, each with its own data directory (sharing only the
    deployment's secret, as replicas share the signing key)."""
    made = []
    for name in ("one", "two"):
        data_dir = tmp_path / name
        if name == "two":
            data_dir.mkdir()
            shutil.copy(tmp_path / "one" / SECRET_FILE, data_dir / SECRET_FILE)
        app = create_app(
            Settings(data_dir=data_dir, ledger_url=ledger_url),
            harness.client,
            clock=harness.env.get_current_time,
            key=harness.key,
            catalog={**CATALOG, **TEST_PRODUCTS},
        )
        made.append(app)
    with Ledger.from_url(ledger_url) as records:  # the shared database holds the approvals
        approve_all(records, harness.key, TEST_PRODUCTS.values())
    async with _http(made[0]) as one, _http(made[1]) as two:
        yield one, two, made[0]


async def test_two_replicas_share_people_sessions_tokens_and_idempotency(
    replicas: tuple[httpx.AsyncClient, httpx.AsyncClient, FastAPI],
) -> None:
    one, two, app_one = replicas
    identity = app_one.state.ctx.identity
    admin.add_user(identity, "boss", "Bo Boss", ["admin"], "boss-password", by=admin.BOOTSTRAP)
    # A user added through one replica signs in through the other.
    admin.add_user(identity, "qa-both", "Qa Both", ["qa", "operator"], "qa-password", by="boss")
    own_password(identity, "qa-both")
    assert (await login(two, "qa-both", "qa-password")).status_code == 303
    # A session opened on one is valid on the other, and revoked on logout through the other.
    assert (await login(one, "qa-both", "qa-password")).status_code == 303
    session = one.cookies[SESSION_COOKIE]
    two.cookies.set(SESSION_COOKIE, session, domain="service.test")
    assert (await two.get("/api/inbox")).status_code == 200
    page = (await two.get("/console/inbox")).text
    csrf = page.split('name="csrf" value="')[1].split('"')[0]
    assert (await two.post("/logout", data={"csrf": csrf})).status_code == 303
    assert (await one.get("/api/inbox")).status_code == 401
    # A token created on one is accepted by the other.
    token = admin.create_token(identity, "his-both", ["orders", "read"], by="boss")
    auth = {"Authorization": f"Bearer {token}"}
    assert (await two.get("/api/products", headers=auth)).status_code == 200
    # An idempotency key used on one replays on the other.
    body = {"product": "test-flaky-booking", "order": order_json()}
    headers = {**auth, "Idempotency-Key": key()}
    first = await one.post("/api/batches", json=body, headers=headers)
    assert first.status_code == 201, first.text
    replay = await two.post("/api/batches", json=body, headers=headers)
    assert replay.json() == first.json() and replay.headers["Idempotent-Replayed"] == "true"
    # Throttling is shared too: failures through one count on the other.
    for _ in range(3):
        await login(one, "qa-both", "wrong-password")
    assert (await login(two, "qa-both", "qa-password")).status_code == 429


async def test_security_headers_forbid_inline_script_framing_and_caching(client: Client) -> None:
    http = await client()
    login_page = await http.get("/login")
    csp = login_page.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert "'unsafe-inline'" not in csp and "frame-ancestors 'none'" in csp
    assert "<script>" not in login_page.text and "<style>" not in login_page.text
    assert login_page.headers["X-Frame-Options"] == "DENY"
    assert login_page.headers["X-Content-Type-Options"] == "nosniff"
    assert login_page.headers["Referrer-Policy"] == "no-referrer"
    assert login_page.headers["Cache-Control"] == "no-store"
    assert "Strict-Transport-Security" in login_page.headers  # service.test is not loopback
    api = await http.get("/api/health")
    assert api.headers["Cache-Control"] == "no-store" and "Content-Security-Policy" in api.headers
    docs = await http.get("/docs")
    assert docs.status_code == 200 and "<script>" not in docs.text
    assert (await http.get("/console.css")).headers["content-type"].startswith("text/css")
    assert "Cache-Control" not in (await http.get("/static/live.js")).headers
