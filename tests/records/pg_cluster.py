"""A throwaway PostgreSQL cluster for tests: initdb into a temporary directory, listen on
127.0.0.1 on a free port, stop and delete everything afterwards.

Uses the server binaries of the distribution package (`apt-get install postgresql` puts them in
/usr/lib/postgresql/<major>/bin), or `$VEIN2VEIN_PG_BIN`, or initdb/pg_ctl on PATH. PostgreSQL
refuses to run as root, so under root the cluster runs as the `postgres` system user (created
by the package) via `runuser`.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

#: Speed over durability: the cluster lives for one test session.
_SERVER_SETTINGS = (
    "-c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off"
    " -c full_page_writes=off -c max_connections=200"
)


def find_bin_dir() -> Path | None:
    """The directory holding initdb and pg_ctl, newest major version first; None if absent."""
    candidates: list[Path] = []
    if os.environ.get("VEIN2VEIN_PG_BIN"):
        candidates.append(Path(os.environ["VEIN2VEIN_PG_BIN"]))
    versions = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += [Path(p) for p in sorted(versions, key=_major, reverse=True)]
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).parent)
    for directory in candidates:
        if (directory / "initdb").is_file() and (directory / "pg_ctl").is_file():
            return directory
    return None


def _major(bin_dir: str) -> int:
    name = Path(bin_dir).parent.name
    return int(name) if name.isdigit() else 0


@dataclass
class PostgresCluster:
    """A running throwaway cluster; `url` connects as the superuser without a password."""

    bin_dir: Path
    base: Path
    port: int
    run_as: str | None

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the cluster's `postgres` database."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    @classmethod
    def start(cls, bin_dir: Path, attempts: int = 3) -> PostgresCluster:
        """initdb and start a cluster; retries on another port if the chosen one was taken."""
        run_as = _unprivileged_user()
        # The server's user must reach its directory; $TMPDIR may be private to root.
        parent = "/tmp" if run_as is not None else None
        base = Path(tempfile.mkdtemp(prefix="vein2vein-pg-", dir=parent))
        if run_as is not None:
            entry = pwd.getpwnam(run_as)
            os.chown(base, entry.pw_uid, entry.pw_gid)
        cluster = cls(bin_dir=bin_dir, base=base, port=0, run_as=run_as)
        try:
            cluster._make_socket_dir()
            cluster._run(
                "initdb", "-D", str(base / "data"), "-U", "postgres", "--auth=trust",
                "--no-sync", "--no-locale", "-E", "UTF8",
            )  # fmt: skip
            last_error = ""
            for _ in range(attempts):
                cluster.port = _free_port()
                try:
                    cluster._pg_ctl_start()
                    return cluster
                except RuntimeError as exc:
                    last_error = str(exc)
            raise RuntimeError(last_error)
        except BaseException:
            shutil.rmtree(base, ignore_errors=True)
            raise

    def stop(self) -> None:
        """Stop the server at once and delete its files."""
        try:
            self._run("pg_ctl", "-D", str(self.base / "data"), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.base, ignore_errors=True)

    def _make_socket_dir(self) -> None:
        # The socket directory must exist and be writable by the server's user.
        (self.base / "socket").mkdir()
        if self.run_as is not None:
            entry = pwd.getpwnam(self.run_as)
            os.chown(self.base / "socket", entry.pw_uid, entry.pw_gid)

    def _pg_ctl_start(self) -> None:
        options = f"{_SERVER_SETTINGS} -p {self.port} -k {self.base / 'socket'}"
        log = self.base / "server.log"
        try:
            self._run(
                "pg_ctl", "-D", str(self.base / "data"), "-l", str(log), "-o", options,
                "-w", "-t", "60", "start",
            )  # fmt: skip
        except RuntimeError as exc:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{exc}\n--- server log ---\n{tail}") from None

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bin_dir / program), *args]
        if self.run_as is not None:
            command = ["runuser", "-u", self.run_as, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(
                f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}{done.stderr}"
            )


def _unprivileged_user() -> str | None:
    if os.geteuid() != 0:
        return None
    for name in (os.environ.get("VEIN2VEIN_PG_USER"), "postgres"):
        if not name:
            continue
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise RuntimeError(
        "PostgreSQL will not run as root and there is no 'postgres' user to run it as:"
        " install the postgresql package (it creates the user) or set VEIN2VEIN_PG_USER"
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
