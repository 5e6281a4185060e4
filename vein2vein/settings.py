"""Deployment settings, read from the environment (prefix `VEIN2VEIN_`, plus `TEMPORAL_*`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from vein2vein.readable import zone

#: Batches one worker keeps cached (`Settings.workflow_cache`): each costs about 60 KiB once
#: the engine is shared by every batch (`workflows.sandbox`); a batch evicted from the cache is
#: replayed from its history when it next moves or is read.
DEFAULT_WORKFLOW_CACHE = 2000
#: Workflow tasks one worker holds at once (`vein2vein.worker.build_worker`). Workflow code
#: runs on one Python thread, so more slots only make each task wait longer for it: after a
#: worker SIGKILL, 10 instead of the SDK's 100 roughly halved the time until every batch moved
#: again (`benchmarks.recovery`, README Performance).
DEFAULT_WORKFLOW_TASK_SLOTS = 10

#: Largest request body the service reads (`Settings.max_body_bytes`): orders, decisions,
#: forms and results are a few KiB.
DEFAULT_MAX_BODY_BYTES = 1 << 20

#: Largest body of `POST /api/events` (`Settings.max_event_body_bytes`): a custody report may
#: carry a logger's whole series, up to `records.temperature.MAX_READINGS` readings, which is
#: about 4.5 MiB even pretty-printed with microsecond times and 17-digit values.
DEFAULT_MAX_EVENT_BODY_BYTES = 8 << 20


class OidcSettings(BaseModel):
    """Single sign-on through an OpenID Connect provider (`vein2vein.service.oidc`)."""

    model_config = ConfigDict(frozen=True)

    #: The provider's issuer URL; its discovery document is `/.well-known/openid-configuration`.
    issuer: str = Field(min_length=1)
    client_id: str = Field(min_length=1)
    client_secret: str = Field(min_length=1, repr=False)
    #: Provider group -> vein2vein role values (one group may grant several roles).
    group_roles: dict[str, tuple[str, ...]]
    #: The ID token claim that lists the person's groups.
    groups_claim: str = "groups"
    #: What the login page's button says: "Sign in with <name>".
    name: str = "single sign-on"

    @field_validator("group_roles")
    @classmethod
    def _known_roles(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        from workflows.model import Role

        known = {r.value for r in Role}
        for group, roles in value.items():
            unknown = [r for r in roles if r not in known]
            if unknown:
                raise ValueError(
                    f"group {group!r} maps to unknown role(s) {', '.join(unknown)};"
                    f" roles: {', '.join(sorted(known))}"
                )
        return value

    @classmethod
    def from_env(cls, e: Mapping[str, str]) -> OidcSettings | None:
        """The `VEIN2VEIN_OIDC_*` settings, or None when no issuer is set."""
        issuer = e.get("VEIN2VEIN_OIDC_ISSUER", "").strip()
        if not issuer:
            return None
        secret = e.get("VEIN2VEIN_OIDC_CLIENT_SECRET", "")
        secret_file = e.get("VEIN2VEIN_OIDC_CLIENT_SECRET_FILE", "")
        if secret_file:
            secret = Path(secret_file).read_text(encoding="utf-8").strip()
        return cls(
            issuer=issuer.rstrip("/"),
            client_id=e.get("VEIN2VEIN_OIDC_CLIENT_ID", ""),
            client_secret=secret,
            group_roles=parse_group_roles(e.get("VEIN2VEIN_OIDC_GROUP_ROLES", "")),
            groups_claim=e.get("VEIN2VEIN_OIDC_GROUPS_CLAIM") or "groups",
            name=e.get("VEIN2VEIN_OIDC_NAME") or urlsplit(issuer).hostname or issuer,
        )


def parse_group_roles(text: str) -> dict[str, tuple[str, ...]]:
    """`"gmp-qa=qa,gmp-qp=qualified_person"` as {group: roles}; a group may repeat."""
    found: dict[str, tuple[str, ...]] = {}
    for pair in filter(None, (p.strip() for p in text.split(","))):
        group, sep, role = pair.rpartition("=")
        if not sep or not group.strip() or not role.strip():
            raise ValueError(f"VEIN2VEIN_OIDC_GROUP_ROLES: {pair!r} is not group=role")
        found[group.strip()] = (*found.get(group.strip(), ()), role.strip())
    return found


class Settings(BaseModel):
    """Where Temporal, the ledger and the keys are; how to observe the worker."""

    model_config = ConfigDict(frozen=True)

    data_dir: Path = Field(default=Path(".vein2vein"))
    temporal_address: str | None = None
    namespace: str = "default"
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_ca: Path | None = None
    temporal_port: int = 7233
    ui_port: int = 8233
    ledger_url: str | None = None
    sites_file: Path | None = None
    sim_seed: int = 7
    sim_speed: float = 1.0
    tracing: str | None = Field(default=None, description="'console' or an OTLP HTTP endpoint")
    metrics_bind: str | None = Field(
        default=None, description="host:port of this process's Prometheus scrape endpoint"
    )
    metrics_otlp: str | None = Field(
        default=None, description="OTLP/HTTP endpoint metrics are pushed to (e.g. .../v1/metrics)"
    )
    breach_margin: float = Field(
        default=4 * 3600.0,
        ge=0,
        description="Seconds before its limit a running clock counts as near breach (metrics)",
    )
    log_level: str = "INFO"
    extra_definitions: str | None = Field(
        default=None, description="More definitions to run: 'module:ATTR,module:ATTR'"
    )
    checkpoint_journal_path: Path | None = Field(
        default=None,
        description="The ledger checkpoint journal (default: ledger-checkpoints.jsonl in data_dir)",
    )
    checkpoint_interval: float = Field(
        default=300.0, gt=0, description="Seconds between the worker's ledger checkpoint passes"
    )
    trusted_keys_path: Path | None = Field(
        default=None, description="The key registry file (default: trusted_keys.json in data_dir)"
    )
    require_approval: bool = Field(
        default=True,
        description="Start batches only on definition versions QA approved (off: development)",
    )
    definition_lock_path: Path | None = Field(
        default=None,
        description="The definition lock (default: the one shipped with the built-in products)",
    )
    time_zone: str = Field(
        default="UTC",
        description="IANA time zone the console and CLI print times in (exports stay UTC)",
    )
    workflow_cache: int = Field(
        default=DEFAULT_WORKFLOW_CACHE,
        ge=1,
        description="Batches a worker keeps in memory; more are replayed when they next move",
    )
    workflow_task_slots: int = Field(
        default=DEFAULT_WORKFLOW_TASK_SLOTS,
        ge=1,
        description="Workflow tasks a worker holds at once; the rest wait on the server",
    )
    release_sticky: bool = Field(
        default=True,
        description="On start, take running batches off other workers' sticky queues "
        "(vein2vein.sticky): a dead worker's batches move at once instead of after 5-15 s",
    )
    max_body_bytes: int = Field(
        default=DEFAULT_MAX_BODY_BYTES,
        ge=1024,
        description="Largest request body the service accepts (413 above it)",
    )
    max_event_body_bytes: int = Field(
        default=DEFAULT_MAX_EVENT_BODY_BYTES,
        ge=1024,
        description="Largest body of POST /api/events, which may carry a temperature series",
    )
    oidc: OidcSettings | None = Field(
        default=None, description="Single sign-on through an OpenID Connect provider"
    )

    payload_key: str | None = Field(
        default=None,
        description="Payload encryption: off, 'file', a key file path or 64 hex characters"
        " (vein2vein.payload_keys)",
    )
    codec_origins: tuple[str, ...] = Field(
        default=(),
        description="Origins (scheme://host:port) of a Temporal Web UI allowed to call the"
        " codec endpoints from the browser, with the signed-in user's session",
    )

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        """Settings from `env` (default: the process environment)."""
        e = os.environ if env is None else env

        def path(name: str) -> Path | None:
            return Path(e[name]) if e.get(name) else None

        def flag(name: str) -> bool:
            """On unless set to 0, false, no or off."""
            return e.get(name, "1").lower() not in ("0", "false", "no", "off")

        return cls(
            data_dir=Path(e.get("VEIN2VEIN_DATA_DIR", ".vein2vein")),
            temporal_address=e.get("TEMPORAL_ADDRESS") or None,
            namespace=e.get("TEMPORAL_NAMESPACE", "default"),
            tls_cert=path("TEMPORAL_TLS_CERT"),
            tls_key=path("TEMPORAL_TLS_KEY"),
            tls_ca=path("TEMPORAL_TLS_CA"),
            temporal_port=int(e.get("VEIN2VEIN_TEMPORAL_PORT", "7233")),
            ui_port=int(e.get("VEIN2VEIN_UI_PORT", "8233")),
            ledger_url=e.get("VEIN2VEIN_LEDGER_URL") or None,
            sites_file=path("VEIN2VEIN_SITES"),
            sim_seed=int(e.get("VEIN2VEIN_SIM_SEED", "7")),
            sim_speed=float(e.get("VEIN2VEIN_SIM_SPEED", "1")),
            tracing=e.get("VEIN2VEIN_TRACING") or None,
            metrics_bind=e.get("VEIN2VEIN_METRICS") or None,
            metrics_otlp=e.get("VEIN2VEIN_METRICS_OTLP") or None,
            breach_margin=float(e.get("VEIN2VEIN_BREACH_MARGIN", str(4 * 3600))),
            log_level=e.get("VEIN2VEIN_LOG_LEVEL", "INFO"),
            extra_definitions=e.get("VEIN2VEIN_DEFINITIONS") or None,
            checkpoint_journal_path=path("VEIN2VEIN_CHECKPOINT_JOURNAL"),
            checkpoint_interval=float(e.get("VEIN2VEIN_CHECKPOINT_INTERVAL", "300")),
            trusted_keys_path=path("VEIN2VEIN_TRUSTED_KEYS"),
            workflow_cache=int(e.get("VEIN2VEIN_WORKFLOW_CACHE", str(DEFAULT_WORKFLOW_CACHE))),
            workflow_task_slots=int(
                e.get("VEIN2VEIN_WORKFLOW_TASK_SLOTS", str(DEFAULT_WORKFLOW_TASK_SLOTS))
            ),
            release_sticky=flag("VEIN2VEIN_RELEASE_STICKY"),
            time_zone=e.get("VEIN2VEIN_TIME_ZONE") or "UTC",
            definition_lock_path=path("VEIN2VEIN_DEFINITION_LOCK"),
            require_approval=flag("VEIN2VEIN_REQUIRE_APPROVAL"),
            max_body_bytes=int(e.get("VEIN2VEIN_MAX_BODY_BYTES", str(DEFAULT_MAX_BODY_BYTES))),
            max_event_body_bytes=int(
                e.get("VEIN2VEIN_MAX_EVENT_BODY_BYTES", str(DEFAULT_MAX_EVENT_BODY_BYTES))
            ),
            oidc=OidcSettings.from_env(e),
            payload_key=e.get("VEIN2VEIN_PAYLOAD_KEY") or None,
            codec_origins=tuple(
                o.strip().rstrip("/")
                for o in e.get("VEIN2VEIN_CODEC_ORIGINS", "").split(",")
                if o.strip()
            ),
        )

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        zone(value)  # raises ValueError naming the zone
        return value

    @property
    def ledger(self) -> str:
        """The ledger database URL: SQLite in the data directory unless configured."""
        return self.ledger_url or f"sqlite:///{(self.data_dir / 'ledger.db').resolve()}"

    @property
    def address(self) -> str:
        """The Temporal frontend address to use (the embedded server's when none is set)."""
        return self.temporal_address or f"127.0.0.1:{self.temporal_port}"

    @property
    def signing_key_file(self) -> Path:
        """The deployment's Ed25519 signing key."""
        return self.data_dir / "signing.key"

    @property
    def checkpoint_journal_file(self) -> Path:
        """The append-only journal of signed ledger checkpoints, outside the database."""
        return self.checkpoint_journal_path or self.data_dir / "ledger-checkpoints.jsonl"

    @property
    def trusted_keys_file(self) -> Path:
        """The registry of public keys whose signed decisions the workers accept."""
        return self.trusted_keys_path or self.data_dir / "trusted_keys.json"
