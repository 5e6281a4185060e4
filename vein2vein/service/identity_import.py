"""The one-time import of users.json and tokens.json, where versions before the database kept
people and tokens: each file is imported, then renamed `*.imported` so it is never read again.

Hashes are copied as they are (argon2 for passwords, SHA-256 for token secrets). A user or token
already in the database is kept as it is there. Imported tokens had no expiry: they get the
default one, counted from the import.
"""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError

from vein2vein.service.security import SecurityEvent, SecurityLog
from vein2vein.service.tokens import DEFAULT_EXPIRY_DAYS, ApiToken, TokenStore
from vein2vein.service.users import User, UserStore

USERS_FILE = "users.json"
TOKENS_FILE = "tokens.json"
IMPORTER = "system:import"


def import_legacy_files(
    data_dir: Path, users: UserStore, tokens: TokenStore, security: SecurityLog
) -> None:
    """Import and rename `data_dir`'s users.json and tokens.json, if present."""
    users_file, tokens_file = data_dir / USERS_FILE, data_dir / TOKENS_FILE
    if users_file.exists():
        n = _import(users_file, "users", lambda uid, body: _add_user(users, uid, body))
        security.record(
            SecurityEvent.USERS_IMPORTED, actor=IMPORTER, detail=f"{n} from {users_file}"
        )
    if tokens_file.exists():
        n = _import(tokens_file, "tokens", lambda tid, body: _add_token(tokens, tid, body))
        security.record(
            SecurityEvent.TOKENS_IMPORTED, actor=IMPORTER, detail=f"{n} from {tokens_file}"
        )


def _import(path: Path, section: str, add: Any) -> int:
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:  # another replica imported it meanwhile
        return 0
    added = sum(1 for key, body in dict(raw.get(section, {})).items() if add(key, body))
    with contextlib.suppress(FileNotFoundError):  # renamed by another replica meanwhile
        path.rename(path.with_name(path.name + ".imported"))
    return added


def _add_user(store: UserStore, user_id: str, body: dict[str, Any]) -> bool:
    try:
        store.insert(User.model_validate({"user_id": user_id, **body}))
    except ValueError:  # already in the database
        return False
    return True


def _add_token(store: TokenStore, token_id: str, body: dict[str, Any]) -> bool:
    expires = datetime.now(UTC) + timedelta(days=DEFAULT_EXPIRY_DAYS)
    token = ApiToken.model_validate(
        {"token_id": token_id, "created_by": IMPORTER, "expires_at": expires, **body}
    )
    try:
        store.insert(token)
    except IntegrityError:
        return False
    return True
