"""Single sign-on against a real OpenID Connect provider on loopback (issue 14, item 4).

The provider is `oidc-provider-mock` (authlib's server components in a Flask app, served by
werkzeug in a thread): discovery, authorization with a login form, token endpoint, JWKS, a
registered client whose secret is checked, nonces required. The service runs under uvicorn on
another loopback port. The test is the browser: one httpx client with a cookie jar that follows
every redirect by hand, between the two servers, so each check of the flow (state, PKCE,
nonce, signature, issuer, audience, the browser binding) is exercised over real HTTP.
"""

from __future__ import annotations

import asyncio
import html
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import uvicorn
from oidc_provider_mock import run_server_in_thread

from definitions import AUTOLOGOUS_CD19_CAR_T, CATALOG
from tests.harness import Harness
from tests.products import TEST_PRODUCTS
from tests.service.support import free_port, key
from vein2vein.service.app import QuietServer, create_app
from vein2vein.service.auth import SESSION_COOKIE
from vein2vein.service.context import ServiceContext
from vein2vein.settings import OidcSettings, Settings
from workflows.model import Role

_ALICE = {"name": "Alice Quality", "preferred_username": "alice", "groups": ["gmp-qa", "x"]}


@dataclass
class Sso:
    """The provider's and the service's base URLs, and the service's context."""

    provider: str
    service: str
    ctx: ServiceContext

    def claims(self, sub: str, **claims: Any) -> None:
        """Set what the provider says about `sub` (its ID token claims)."""
        r = httpx.put(f"{self.provider}/users/{sub}", json=claims)
        assert r.status_code < 300, r.text


@pytest.fixture(scope="module")
async def sso(harness: Harness, service_settings: Settings) -> AsyncIterator[Sso]:
    """A provider on loopback with a registered client, and a service configured for it."""
    port = free_port()
    service = f"http://127.0.0.1:{port}"
    with run_server_in_thread(require_client_registration=True, require_nonce=True) as server:
        provider = f"http://localhost:{server.server_port}"
        registered = httpx.post(
            f"{provider}/oauth2/clients",
            json={"redirect_uris": [f"{service}/login/oidc/callback"]},
        ).json()
        oidc = OidcSettings(
            issuer=provider,
            client_id=registered["client_id"],
            client_secret=registered["client_secret"],
            group_roles={"gmp-qa": ("qa",), "gmp-qp": ("qualified_person",)},
            name="Test IdP",
        )
        app = create_app(
            service_settings.model_copy(update={"oidc": oidc}),
            harness.client,
            clock=harness.env.get_current_time,
            key=harness.key,
            catalog={**CATALOG, **TEST_PRODUCTS},
        )
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        uv = QuietServer(config)
        task = asyncio.create_task(uv.serve())
        while not uv.started:
            await asyncio.sleep(0.05)
        try:
            yield Sso(provider=provider, service=service, ctx=app.state.ctx)
        finally:
            uv.should_exit = True
            await task


async def _at_provider(http: httpx.AsyncClient, sso: Sso, url: str, sub: str) -> httpx.Response:
    """Sign in at the provider as `sub`; returns the service's answer to the callback (after
    its same-site reload)."""
    assert url.startswith(sso.provider), url
    assert (await http.get(url)).status_code == 200  # the provider's login form
    back = await http.post(url, data={"sub": sub})
    assert back.status_code == 302, back.text
    callback = back.headers["location"]
    assert callback.startswith(f"{sso.service}/login/oidc/callback?")
    reload = await http.get(callback)
    assert reload.status_code == 200 and 'http-equiv="refresh"' in reload.text
    found = re.search(r'id="continue" href="([^"]+)"', reload.text)
    assert found
    return await http.get(sso.service + html.unescape(found.group(1)))


async def _sso_login(http: httpx.AsyncClient, sso: Sso, sub: str, next: str = "/console") -> Any:
    page = await http.get(f"{sso.service}/login")
    assert "Sign in with Test IdP" in page.text
    token = re.search(r'name="login_csrf" value="([^"]+)"', page.text)
    assert token
    go = await http.post(
        f"{sso.service}/login/oidc", data={"login_csrf": token.group(1), "next": next}
    )
    assert go.status_code == 303, go.text
    query = parse_qs(urlsplit(go.headers["location"]).query)
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"]
    assert query["state"] and query["nonce"] and "openid" in query["scope"][0]
    return go.headers["location"], await _at_provider(http, sso, go.headers["location"], sub)


async def test_sign_in_maps_groups_to_roles_and_refuses_without_one(sso: Sso) -> None:
    sso.claims("alice-sub", **_ALICE)
    sso.claims("bob-sub", name="Bob Visitor", preferred_username="bob", groups=["visitors"])
    async with httpx.AsyncClient() as http:
        _, done = await _sso_login(http, sso, "alice-sub", next="/console/inbox")
        assert done.status_code == 303 and done.headers["location"] == "/console/inbox"
        inbox = await http.get(f"{sso.service}/console/inbox")
        assert inbox.status_code == 200 and "Alice Quality (qa)" in inbox.text
        assert 'id="nav-password"' not in inbox.text  # the provider keeps the password
        user = sso.ctx.users.by_identity(sso.provider, "alice-sub")
        assert user is not None and user.roles == (Role.QA,) and user.password_hash is None
        session = sso.ctx.sessions.read(http.cookies[SESSION_COOKIE])
        assert session is not None and session.method == "oidc"
    # Roles follow the groups at every sign-in.
    sso.claims("alice-sub", **{**_ALICE, "groups": ["gmp-qa", "gmp-qp"]})
    async with httpx.AsyncClient() as http:
        await _sso_login(http, sso, "alice-sub")
        again = sso.ctx.users.by_identity(sso.provider, "alice-sub")
        assert again is not None and again.user_id == user.user_id
        assert again.roles == (Role.QA, Role.QUALIFIED_PERSON)
    log = [(e.event, e.actor) for e in sso.ctx.security.entries(user_id=user.user_id)]
    assert ("user.added", "system:oidc") in log and ("user.roles_changed", "system:oidc") in log
    assert ("session.opened", user.user_id) in log
    # Groups that grant no role: refused, and nobody is made.
    async with httpx.AsyncClient() as http:
        _, refused = await _sso_login(http, sso, "bob-sub")
        assert refused.status_code == 403 and "grant no vein2vein role" in refused.text
        assert SESSION_COOKIE not in http.cookies
    assert sso.ctx.users.by_identity(sso.provider, "bob-sub") is None


async def test_a_callback_is_bound_to_its_browser_and_answered_once(sso: Sso) -> None:
    sso.claims("alice-sub", **_ALICE)
    async with httpx.AsyncClient() as http, httpx.AsyncClient() as victim:
        page = await http.get(f"{sso.service}/login")
        token = re.search(r'name="login_csrf" value="([^"]+)"', page.text)
        assert token
        forged = await http.post(f"{sso.service}/login/oidc", data={"login_csrf": "0" * 32})
        assert forged.status_code == 403
        go = await http.post(f"{sso.service}/login/oidc", data={"login_csrf": token.group(1)})
        url = go.headers["location"]
        back = await http.post(url, data={"sub": "alice-sub"})
        callback = back.headers["location"] + "&hop=1"
        # Another browser handed the attacker's callback (login CSRF) gets no session.
        planted = await victim.get(callback)
        assert planted.status_code == 403 and "not started by this browser" in planted.text
        assert SESSION_COOKIE not in victim.cookies
        # The request was taken by that attempt: it cannot be answered again.
        replay = await http.get(callback)
        assert replay.status_code == 400 and SESSION_COOKIE not in http.cookies


async def _sign(
    http: httpx.AsyncClient, sso: Sso, batch_id: str, sub: str
) -> tuple[str, httpx.Response]:
    base = f"{sso.service}/console/batches/{batch_id}/decide"
    form = await http.get(base, params={"target": "qa_disposition"})
    assert form.status_code == 200, form.text
    assert 'name="password"' not in form.text and "sign in again at Test IdP" in form.text
    fields = {
        name: re.search(rf'name="{name}" value="([^"]*)"', form.text).group(1)  # type: ignore[union-attr]
        for name in ("csrf", "form_id", "target", "record_hash")
    }
    go = await http.post(
        base, data={**fields, "action": "approve", "role": "qa", "reason": "all in spec"}
    )
    assert go.status_code == 303, go.text
    url = go.headers["location"]
    query = parse_qs(urlsplit(url).query)
    assert query["prompt"] == ["login"] and query["max_age"] == ["0"]
    return url, await _at_provider(http, sso, url, sub)


async def test_signing_needs_a_fresh_sign_in_at_the_provider_by_the_same_person(
    sso: Sso, harness: Harness
) -> None:
    handle = await harness.start(AUTOLOGOUS_CD19_CAR_T)
    await harness.until_waiting(handle, "decision at qa_disposition", step=timedelta(hours=6))
    sso.claims("alice-sub", **_ALICE)
    sso.claims("mallory-sub", name="Mallory", groups=["gmp-qa"])
    async with httpx.AsyncClient() as http:
        await _sso_login(http, sso, "alice-sub")
        alice = sso.ctx.users.by_identity(sso.provider, "alice-sub")
        assert alice is not None
        # The API has no password to check for her: it sends her to the console.
        api = await http.post(
            f"{sso.service}/api/batches/{handle.id}/decisions",
            json={"target": "qa_disposition", "action": "approve", "role": "qa", "password": "x"},
            headers={"Idempotency-Key": key()},
        )
        assert api.status_code == 403 and "single sign-on" in api.json()["detail"]
        # A sign-in the provider reports as an hour old is no re-authentication.
        sso.claims("alice-sub", **_ALICE, auth_time=int(time.time()) - 3600)
        _, stale = await _sign(http, sso, handle.id, "alice-sub")
        assert stale.status_code == 403 and "s old; a signature needs one" in stale.text
        assert "all in spec</textarea>" in stale.text  # what she typed is kept
        # Somebody else signing in at the provider cannot sign for her.
        sso.claims("alice-sub", **_ALICE)
        _, other = await _sign(http, sso, handle.id, "mallory-sub")
        assert other.status_code == 403 and "as somebody else" in other.text
        assert not (await harness.record(handle)).signatures
        # A fresh sign-in by her: signed.
        _, signed = await _sign(http, sso, handle.id, "alice-sub")
        assert signed.status_code == 303, signed.text
        assert signed.headers["location"].startswith(f"/console/batches/{handle.id}?signed=SIG-")
    rec = await harness.advance_until(handle, lambda r: r.released, what="released")
    assert rec.signatures[-1].signer_id == alice.user_id
    assert rec.signatures[-1].printed_name == "Alice Quality"
    refusals = [
        e.detail
        for e in sso.ctx.security.entries(user_id=alice.user_id)
        if e.event == "decision.refused"
    ]
    assert any("s old" in d for d in refusals) and any("somebody else" in d for d in refusals)
    assert "decision.accepted" in {e.event for e in sso.ctx.security.entries(user_id=alice.user_id)}
