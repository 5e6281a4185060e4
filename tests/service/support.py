"""Helpers the service tests share: users, HTTP clients, orders, keys, ports."""

from __future__ import annotations

import itertools
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from argon2 import PasswordHasher

from tests.harness import order
from tests.products import FLAKY_BOOKING
from vein2vein.service import admin
from workflows.model import Role

#: Cheap argon2 parameters: the tests check hundreds of passwords.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
BASE = "http://service.test"
_n = itertools.count(1)

#: The `client` fixture: makes an HTTP client, anonymous, with a token or signed in.
Client = Callable[..., Awaitable[httpx.AsyncClient]]


class People:
    """Makes users of the service's data directory, each with a fresh id (no shared lock state)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir

    def make(self, *roles: Role, name: str | None = None) -> tuple[str, str]:
        """A new user holding `roles`; returns (user id, password)."""
        label = roles[0].value.replace("_", "-") if roles else "nobody"
        user_id = f"{label}-{next(_n)}"
        password = f"pw-{user_id}-secret"
        admin.add_user(
            self.data_dir,
            user_id,
            name or f"Test {user_id.title()}",
            roles,
            password,
            hasher=FAST_HASHER,
        )
        return user_id, password


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
