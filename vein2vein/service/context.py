"""What every request handler needs: settings, Temporal client, key, clock and stores."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from fastapi import HTTPException, Request
from temporalio.client import Client

from activities.adapters import SitesConfig
from records import Ledger
from records.external_tasks import TaskStore
from records.temperature_store import TemperatureStore
from vein2vein.service.idempotency import IdempotencyStore
from vein2vein.service.identity import Identity
from vein2vein.service.oidc import OidcProvider
from vein2vein.service.orders import OrderStore
from vein2vein.service.security import SecurityLog
from vein2vein.service.sessions import SessionStore
from vein2vein.service.tokens import TokenStore
from vein2vein.service.users import UserStore
from vein2vein.settings import Settings
from workflows.definition import CompiledDefinition
from workflows.model import BatchRecord
from workflows.signatures import SigningKey

#: The service's clock. Signatures are checked against workflow time, so tests on the
#: time-skipping server pass the environment's clock (`env.get_current_time`).
Clock = Callable[[], Awaitable[datetime]]


async def wall_clock() -> datetime:
    """The real time, in UTC."""
    return datetime.now(UTC)


@dataclass
class ServiceContext:
    """Shared by every request of one app."""

    settings: Settings
    key: SigningKey
    clock: Clock
    secret: bytes
    #: People, sessions, sign-in throttling, tokens and the security log, in the database.
    identity: Identity
    idempotency: IdempotencyStore
    tasks: TaskStore
    orders: OrderStore
    ledger: Ledger
    #: Custody legs' temperature series (beside the ledger; the workflow sees summaries only).
    temperature: TemperatureStore
    catalog: Mapping[str, CompiledDefinition]
    sites: SitesConfig
    client: Client | None = None
    #: The single sign-on provider, when `VEIN2VEIN_OIDC_ISSUER` is set.
    oidc: OidcProvider | None = None
    #: Definitions fetched from batches' start inputs, by content hash.
    definitions: dict[str, CompiledDefinition] = field(default_factory=dict)
    #: False once the server said it cannot list workflows (the time-skipping test server).
    can_list: bool = True
    #: The board's recently read records: batch id -> (monotonic time read, record).
    board_cache: dict[str, tuple[float, BatchRecord]] = field(default_factory=dict)

    @property
    def users(self) -> UserStore:
        """The people."""
        return self.identity.users

    @property
    def tokens(self) -> TokenStore:
        """The integration tokens."""
        return self.identity.tokens

    @property
    def sessions(self) -> SessionStore:
        """The console sessions."""
        return self.identity.sessions

    @property
    def security(self) -> SecurityLog:
        """The security log."""
        return self.identity.security

    def temporal(self) -> Client:
        """The Temporal client, or 503 while the service is still connecting."""
        if self.client is None:
            raise HTTPException(503, "not connected to Temporal yet; try again shortly")
        return self.client


def get_context(request: Request) -> ServiceContext:
    """FastAPI dependency: the app's context."""
    ctx: ServiceContext = request.app.state.ctx
    return ctx
