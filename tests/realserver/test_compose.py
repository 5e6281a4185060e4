"""docker-compose.yml: valid for Compose, and wired so the worker reaches that Temporal.

No Docker engine runs here, so nothing is started: Debian's `docker-compose` (1.29) validates
the file, and the parsed YAML is checked for what a typo would silently break (the worker's
Temporal address, the ledger URL, the start order, the search attributes).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url

from vein2vein.embedded import temporal_binary
from workflows.engine import SEARCH_ATTRIBUTES

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"


def _interpolate(value: str) -> str:
    """Resolve `${VAR:-default}` the way Compose does when VAR is unset."""
    return re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", value)


def _unescape(script: str) -> str:
    """A Compose command as the shell sees it (`$$` is a literal `$`)."""
    return _interpolate(script).replace("$$", "$")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    assert isinstance(env, dict), "write environment as a mapping"
    return {k: _interpolate(str(v)) for k, v in env.items()}


def _by_image(services: dict[str, dict[str, Any]], prefix: str) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in services.items() if str(s.get("image", "")).startswith(prefix)}


def _script(service: dict[str, Any]) -> str:
    command = service.get("command", [])
    return "\n".join(command) if isinstance(command, list) else str(command)


def _tag(service: dict[str, Any]) -> str:
    return str(service["image"]).rpartition(":")[2]


def test_docker_compose_validates_the_file() -> None:
    binary = shutil.which("docker-compose")
    if binary is None:
        if os.environ.get("VEIN2VEIN_SKIP_COMPOSE") == "1":
            pytest.skip("docker-compose is not installed and VEIN2VEIN_SKIP_COMPOSE=1")
        pytest.fail(
            "docker-compose is not installed, so docker-compose.yml cannot be validated: "
            "run 'apt-get install -y --no-install-recommends docker-compose' (no Docker engine "
            "is needed) or set VEIN2VEIN_SKIP_COMPOSE=1 to skip this test"
        )
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPOSE_")}
    result = subprocess.run(
        [binary, "-f", str(COMPOSE_FILE), "config", "-q"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, f"docker-compose config refused the file:\n{result.stderr}"


def test_worker_reaches_the_temporal_frontend(services: dict[str, dict[str, Any]]) -> None:
    servers = _by_image(services, "temporalio/server:")
    assert len(servers) == 1, f"one Temporal server service, found {list(servers)}"
    ((name, server),) = servers.items()
    frontend_port = _env(server).get("FRONTEND_GRPC_PORT", "7233")
    for client in ("worker", "service", "temporal-ui", "temporal-namespace"):
        address = _env(services[client])["TEMPORAL_ADDRESS"]
        assert address == f"{name}:{frontend_port}", f"{client} dials {address}"
    assert _env(server)["DB"] == "postgres12"
    assert _env(server)["BIND_ON_IP"] == "0.0.0.0", "listen beyond the container's loopback"
    assert _env(services["worker"])["TEMPORAL_NAMESPACE"] == "default"


def test_ledger_url_points_at_the_compose_postgres(services: dict[str, dict[str, Any]]) -> None:
    postgres = _by_image(services, "postgres:")
    servers = {n for n, s in postgres.items() if "healthcheck" in s}
    assert len(servers) == 1, f"one PostgreSQL server service, found {servers}"
    (pg_name,) = servers
    urls = {_env(services[n])["VEIN2VEIN_LEDGER_URL"] for n in ("worker", "service")}
    assert len(urls) == 1, "the worker and the service must read and write the same ledger"
    url = make_url(urls.pop())
    # psycopg (3) is the driver vein2vein depends on; a bare postgresql:// would need psycopg2.
    assert url.drivername == "postgresql+psycopg"
    assert (url.host, url.port, url.database) == (pg_name, 5432, "vein2vein")
    setup = _unescape(_script(services["ledger-setup"]))
    assert f"CREATE ROLE {url.username} LOGIN PASSWORD '$LEDGER_DB_PASSWORD'" in setup
    assert f"CREATE DATABASE {url.database} OWNER {url.username}" in setup
    assert _env(services["ledger-setup"])["LEDGER_DB_PASSWORD"] == url.password
    assert _env(services["ledger-setup"])["PGHOST"] == pg_name
    assert (
        _env(services[pg_name])["POSTGRES_PASSWORD"] == _env(services["temporal"])["POSTGRES_PWD"]
    )


def test_start_order(services: dict[str, dict[str, Any]]) -> None:
    def needs(service: str) -> dict[str, str]:
        deps = services[service].get("depends_on", {})
        assert isinstance(deps, dict), f"{service}: depends_on needs conditions"
        return {k: v["condition"] for k, v in deps.items()}

    schema = next(n for n, s in services.items() if "temporal-sql-tool" in _script(s))
    namespace = next(n for n, s in services.items() if "operator namespace create" in _script(s))
    done = "service_completed_successfully"
    assert needs("worker")[schema] == done, "the worker must wait for the schema setup"
    assert needs("worker")[namespace] == done
    assert needs("worker")["ledger-setup"] == done
    assert needs("worker")["temporal"] == "service_healthy"
    assert needs("temporal")[schema] == done
    assert needs(namespace)["temporal"] == "service_healthy"
    assert needs("service")["worker"] == "service_healthy"
    for service in services:
        for dep, condition in needs(service).items():
            if condition == "service_healthy":
                assert "healthcheck" in services[dep], f"{service} waits on {dep}'s health"
            if condition == done:
                assert services[dep].get("restart", "no").startswith(("no", "on-failure"))


def test_schema_setup_and_search_attributes(services: dict[str, dict[str, Any]]) -> None:
    schema = _unescape(_script(services["temporal-schema"]))
    for db in ("temporal", "temporal_visibility"):
        assert db in schema
    for step in ("create", "setup-schema -v 0.0", "update-schema -d"):
        assert step in schema
    assert "postgresql/v12/temporal/versioned" in schema
    assert "postgresql/v12/visibility/versioned" in schema
    namespace = _unescape(_script(services["temporal-namespace"]))
    for_line = next(line for line in namespace.splitlines() if line.startswith("for name in"))
    registered = for_line.removeprefix("for name in").removesuffix("; do").split()
    assert registered == [key.name for key in SEARCH_ATTRIBUTES]
    assert "--type Keyword" in namespace


def test_temporal_versions_move_together(services: dict[str, dict[str, Any]]) -> None:
    """The cluster runs the Server release the embedded dev server runs, with matching tools."""
    server_tag = _tag(services["temporal"])
    assert {_tag(s) for s in _by_image(services, "temporalio/admin-tools:").values()} == {
        server_tag
    }
    version = subprocess.run(
        [temporal_binary(), "--version"], capture_output=True, text=True, timeout=30
    ).stdout
    embedded = re.search(r"Server (\d+\.\d+)\.\d+", version)
    assert embedded is not None, version
    assert server_tag.startswith(embedded.group(1) + "."), f"{server_tag} vs {version}"
    pulled = [str(s["image"]) for s in services.values() if "build" not in s]
    assert all(":" in i and not i.endswith(":latest") for i in pulled), f"unpinned: {pulled}"


def test_worker_and_service_run_this_repository(services: dict[str, dict[str, Any]]) -> None:
    worker, service = services["worker"], services["service"]
    assert worker["build"] == "." and service["build"] == "."
    assert worker["image"] == service["image"]
    assert worker["command"] == ["python", "worker.py"]
    assert service["command"] == ["vein2vein", "serve", "--host", "0.0.0.0", "--port", "8000"]
    assert "8000" in " ".join(service.get("ports", []))
    dockerfile = (REPO / "Dockerfile").read_text()
    assert dockerfile.startswith("#") and "FROM python:3.11-slim" in dockerfile
    assert "pip install ." in dockerfile
    assert 'CMD ["python", "worker.py"]' in dockerfile
    ignored = (REPO / ".dockerignore").read_text().split()
    for private in (".vein2vein", ".venv", ".git"):
        assert private in ignored, f"{private} must never be copied into the image"


def test_worker_and_service_share_the_key_registry(services: dict[str, dict[str, Any]]) -> None:
    """The worker trusts only the registry's keys; the service registers its signing key there."""
    paths = {_env(services[n])["VEIN2VEIN_TRUSTED_KEYS"] for n in ("worker", "service")}
    assert len(paths) == 1, "the worker and the service must use the same key registry"
    folder = str(Path(paths.pop()).parent)
    mounts = [
        {v.partition(":")[2]: v.partition(":")[0] for v in services[n]["volumes"]}
        for n in ("worker", "service")
    ]
    assert mounts[0][folder] == mounts[1][folder], "one volume holds the registry for both"
    assert f"mkdir /data {folder}" in (REPO / "Dockerfile").read_text(), "owned by the app user"


def test_inline_scripts_parse(services: dict[str, dict[str, Any]]) -> None:
    shell = shutil.which("sh")
    assert shell is not None
    for name, service in services.items():
        if service.get("entrypoint", [None])[0] != "/bin/sh":
            continue
        result = subprocess.run(
            [shell, "-n"], input=_unescape(_script(service)), capture_output=True, text=True
        )
        assert result.returncode == 0, f"{name}: {result.stderr}"
