"""Files vein2vein keeps are its OS account's alone: the data directory 0700, its files 0600.

Everything vein2vein writes itself is created with its final mode (keys, the registry, users,
tokens, the service secret, the checkpoint journal with `os.open(..., 0o600)`; SQLite files
are created empty with mode 0600 before SQLite opens them, and SQLite gives its `-wal`,
`-shm` and `-journal` files the mode of the database). What other code creates is covered by
the process umask: `vein2vein dev`, `serve` and `worker` (and `python worker.py`) set
`PRIVATE_UMASK` before they create anything, and the embedded Temporal server is started with
it, so its `temporal.db` is 0600 too. `exposed` is what `serve` checks before it binds off
loopback.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import IO

#: No permission for group or others on anything created while it is in force.
PRIVATE_UMASK = 0o077


def restrict_umask() -> int:
    """Set the process umask to `PRIVATE_UMASK`; returns the previous one."""
    return os.umask(PRIVATE_UMASK)


def private_dir(path: Path) -> Path:
    """Create `path` (and missing parents) with mode 0700 if it does not exist; return it.

    An existing directory keeps its mode: `serve` reports it if others can read it."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def open_private_log(path: Path) -> IO[str]:
    """`path` opened for appending text, created with mode 0600 if it does not exist."""
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    return os.fdopen(fd, "a", encoding="utf-8")


def exposed(paths: Iterable[Path]) -> list[str]:
    """Each existing path that group or others may access, with its mode (e.g. `... 0644`)."""
    found = []
    for path in paths:
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            continue
        if mode & 0o077:
            found.append(f"{path} is {mode:04o}")
    return found
