"""Re-authenticating a signer before the deployment key signs on their behalf (11.200).

The CLI and the service both call `authenticate_signer`; it asks for the password again even
if the person is already logged in, and refuses a role the user does not hold.
"""

from __future__ import annotations

import getpass

from vein2vein.settings import Settings
from workflows.model import Role


class SignerRefused(Exception):
    """The signer could not be re-authenticated; the message says why."""


def authenticate_signer(settings: Settings, signer_id: str, role: Role) -> str:
    """Prompt for `signer_id`'s password, check it and the role; return the printed name.

    Failed attempts count towards the same lockout as the console's.
    """
    from vein2vein.service.users import UserStore  # the service owns the user store

    store = UserStore(settings.data_dir, settings.ledger)
    password = getpass.getpass(f"password for {signer_id} (signing as {role.value}): ")
    problem = store.check_signer(signer_id, password, role)
    if problem is not None:
        raise SignerRefused(problem)
    user = store.get(signer_id)
    if user is None:
        raise SignerRefused(f"unknown user {signer_id}")
    return user.printed_name
