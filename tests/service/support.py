"""Helpers the service tests share: users, HTTP clients, orders, keys, ports."""

from __future__ import annotations

import contextlib
import itertools
import re
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from argon2 import PasswordHasher

from tests.harness import order
from tests.products import FLAKY_BOOKING
from vein2vein.service import admin
from vein2vein.service.identity import Identity
from vein2vein.service.users import User
from vein2vein.settings import Settings
from workflows.model import Role

#: Cheap argon2 parameters: the tests check hundreds of passwords.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
BASE = "http://service.test"
_n = itertools.count(1)

#: The `client` fixture: makes an HTTP client, anonymous, with a token or signed in.
Client = Callable[..., Awaitable[httpx.AsyncClient]]


#: The administrator the test helpers act as (added directly, as a deployment's first admin).
ROOT = "test-root"


def identity_of(settings: Settings) -> Identity:
    """The identity stores of `settings`' database, with the helpers' administrator in them."""
    identity = Identity.open(settings.ledger, settings.data_dir)
    if identity.users.get(ROOT) is None:
        root = User(
            user_id=ROOT,
            printed_name="Test Root",
            roles=(Role.ADMIN,),
            password_hash=FAST_HASHER.hash("test-root-password"),
        )
        with contextlib.suppress(ValueError):  # added meanwhile
            identity.users.insert(root)
    return identity


def own_password(identity: Identity, *user_ids: str) -> None:
    """As if `user_ids` had replaced the password an administrator set (most tests are about
    something else than the forced change, `test_password_change.py`)."""
    for user_id in user_ids:
        identity.users.change(user_id, must_change_password=False)


def make_token(settings: Settings, client: str, scopes: list[str], **kw: Any) -> str:
    """A token issued by the helpers' administrator."""
    return admin.create_token(identity_of(settings), client, scopes, by=ROOT, **kw)


class People:
    """Makes users of the service's database, each with a fresh id (no shared throttling)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.identity = identity_of(settings)

    def make(self, *roles: Role, name: str | None = None) -> tuple[str, str]:
        """A new user holding `roles`; returns (user id, password)."""
        label = roles[0].value.replace("_", "-") if roles else "nobody"
        user_id = f"{label}-{next(_n)}"
        password = f"pw-{user_id}-secret"
        admin.add_user(
            self.identity,
            user_id,
            name or f"Test {user_id.title()}",
            roles,
            password,
            by=ROOT,
            hasher=FAST_HASHER,
        )
        own_password(self.identity, user_id)
        return user_id, password


async def login(
    http: httpx.AsyncClient, user_id: str, password: str, **form: str
) -> httpx.Response:
    """Sign in through the login form (its anti-forgery token included)."""
    page = await http.get("/login")
    found = re.search(r'name="login_csrf" value="([^"]+)"', page.text)
    assert found, page.text
    data = {"user_id": user_id, "password": password, "login_csrf": found.group(1), **form}
    return await http.post("/login", data=data)


def key() -> str:
    """A fresh Idempotency-Key."""
    return f"k-{next(_n)}-{id(object())}"


def order_json(**overrides: Any) -> dict[str, Any]:
    """A valid order as JSON."""
    return order(**overrides).model_dump(mode="json")


async def start_via_api(http: httpx.AsyncClient, product: str = FLAKY_BOOKING.product) -> str:
    """Start a batch through the API; returns its id."""
    r = await http.post(
        "/api/batches",
        json={"product": product, "order": order_json()},
        headers={"Idempotency-Key": key()},
    )
    assert r.status_code == 201, r.text
    return str(r.json()["batch_id"])


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
