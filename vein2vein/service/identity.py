"""Everything about who is who, opened on one database: users, sessions, throttle, tokens, log.

Every replica of the service (and the CLI) opens the same tables through `Identity.open`, so a
user added, a session opened or revoked, a token issued or a failed sign-in counted through one
is seen by all.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vein2vein.service.authn import Authenticator
from vein2vein.service.identity_import import import_legacy_files
from vein2vein.service.security import SecurityLog
from vein2vein.service.sessions import SessionStore
from vein2vein.service.throttle import LoginThrottle
from vein2vein.service.tokens import TokenStore
from vein2vein.service.users import UserStore


@dataclass(frozen=True)
class Identity:
    """The identity stores of one database."""

    users: UserStore
    sessions: SessionStore
    throttle: LoginThrottle
    tokens: TokenStore
    security: SecurityLog
    auth: Authenticator

    @classmethod
    def open(cls, db_url: str, data_dir: Path | None = None) -> Identity:
        """The stores on `db_url`; with `data_dir`, first import its users.json and tokens.json
        if a version before the database kept them left them there."""
        users, throttle, security = UserStore(db_url), LoginThrottle(db_url), SecurityLog(db_url)
        identity = cls(
            users=users,
            sessions=SessionStore(db_url),
            throttle=throttle,
            tokens=TokenStore(db_url),
            security=security,
            auth=Authenticator(users, throttle, security),
        )
        if data_dir is not None:
            import_legacy_files(data_dir, users, identity.tokens, security)
        return identity
