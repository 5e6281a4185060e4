"""What `vein2vein serve` refuses before it binds anywhere but loopback.

On loopback only the machine's own accounts reach the service, which is how `vein2vein dev`
runs with its published demonstration passwords. Bound to any other interface, the service
must not start while:

- a user still has a demonstration password (`admin.DEMO_USERS`: the stored hash is checked
  against the published password of that user id);
- the deployment has no signing key of its own yet (the service would otherwise make one on
  the spot, which nobody registered deliberately with the workers or archived);
- the data directory, a file in it, the signing key or the key registry can be read by group
  or others (`vein2vein.private.exposed`).

It only warns (`off_loopback_warnings`) about users whose password an administrator set and
who have not chosen their own yet: they cannot do anything but change it at their first
sign-in, so they are no open door, but somebody should hand the password over soon.
"""

from __future__ import annotations

import ipaddress

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from vein2vein.private import exposed
from vein2vein.settings import Settings


def is_loopback(host: str) -> bool:
    """True when `host` is a loopback address or `localhost` (names are not resolved: any
    other name counts as off loopback)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def demo_password_users(settings: Settings) -> list[str]:
    """Ids of the users whose password is still their published demonstration password."""
    from vein2vein.service.admin import DEMO_USERS, list_users
    from vein2vein.service.identity import Identity

    published = {user_id: password for user_id, _, _, password in DEMO_USERS}
    hasher = PasswordHasher()
    found = []
    for user in list_users(Identity.open(settings.ledger, settings.data_dir)):
        password = published.get(user.user_id)
        if password is None or user.password_hash is None:
            continue
        try:
            if hasher.verify(user.password_hash, password):
                found.append(user.user_id)
        except (VerificationError, InvalidHashError):
            continue
    return found


def off_loopback_warnings(settings: Settings) -> list[str]:
    """What `serve` says beyond loopback without refusing: users who must still replace a
    password an administrator set (demo passwords are refused by `off_loopback_problems`)."""
    from vein2vein.service.admin import list_users
    from vein2vein.service.identity import Identity

    demo = set(demo_password_users(settings))
    users = list_users(Identity.open(settings.ledger, settings.data_dir))
    waiting = [u.user_id for u in users if u.must_change_password and u.user_id not in demo]
    if not waiting:
        return []
    return [
        f"user(s) {', '.join(waiting)} still have a password an administrator set; they must"
        " choose their own at their first console sign-in and cannot sign until then"
    ]


def off_loopback_problems(settings: Settings) -> list[str]:
    """Why the service may not serve beyond loopback with `settings` (empty: it may)."""
    problems = []
    demo = demo_password_users(settings)
    if demo:
        problems.append(
            f"user(s) {', '.join(demo)} still have the published demo password"
            " (`vein2vein users passwd USER`)"
        )
    if not settings.signing_key_file.exists():
        problems.append(
            f"no signing key of this deployment's own at {settings.signing_key_file}"
            " (make and register one with `vein2vein keys rotate`)"
        )
    data_dir = settings.data_dir
    files = [data_dir, *sorted(data_dir.iterdir())] if data_dir.is_dir() else []
    files += [settings.signing_key_file, settings.trusted_keys_file]
    loose = exposed(dict.fromkeys(files))
    if loose:
        problems.append(
            f"readable by group or others: {', '.join(loose)} (chmod 700 the data directory,"
            " 600 its files)"
        )
    return problems
