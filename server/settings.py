"""The server's settings: one typed object, read once at start from TOML and ``COFFER_*``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from coffer.protocol import settings as loader
from coffer.protocol.copies import MAX_COPY_ORDERS
from coffer.protocol.wire import DEFAULT_BODY_IDLE_TIMEOUT, DEFAULT_CHUNK_SIZE, MAX_CHUNK_SIZE
from coffer.serving.binds import check_bind
from coffer.serving.limits import DEFAULT_CONNECTIONS_PER_ADDRESS, DEFAULT_HEADER_TIMEOUT, EdgeLimits
from coffer.serving.origins import parse_origins

from .proxies import TrustedProxies

ENV_PREFIX = "COFFER_"


@dataclass(frozen=True)
class ServerSettings:
    database_url: str = "sqlite:///var/coffer.db"
    bind: str = "127.0.0.1:8000"
    public_url: str = "http://127.0.0.1:8000"
    workers: int = 2
    threads: int = 8
    pool_size: int = 8
    lease_seconds: float = 30.0
    heartbeat_interval: float = 10.0
    session_ttl: float = 12 * 3600.0
    ticket_ttl: float = 900.0
    max_chunk_size: int = MAX_CHUNK_SIZE
    default_chunk_size: int = DEFAULT_CHUNK_SIZE
    max_retention: float = 30 * 86400.0
    lifecycle_interval: float = 30.0
    """Seconds between runs of the lifecycle job (expiry, abandoned uploads, lost fileservers); 0 disables it."""
    upload_grace: float = 86400.0
    """An upload not finalized this long after its last put ticket expired is abandoned and collected."""
    upload_deadline: float = 86400.0
    """An upload not finalized this long after its file was created gets no more put tickets and is collected."""
    orphan_grace: float = 86400.0
    """Chunks of a file the server does not know are deleted by reconciliation once this old."""
    repair_grace: float = 600.0
    """A chunk copy on a fileserver unseen this long stops counting, and repair copies the chunk elsewhere."""
    repair_batch: int = 16
    """Open copy orders one fileserver may hold, topped up each heartbeat: the bound on repair's rate; 0: no repair."""
    nudges: bool = True
    """Nudge fileservers that have new copy work to beat now (docs/sites.md); off: orders wait for their next beat."""
    link_default_expiry: float = 7 * 86400.0
    """Seconds a share link lives when its owner gives no ``expires_in`` (never past max_retention or its file)."""
    link_download_window: float = 6 * 3600.0
    """Seconds an anonymous download started through a link may keep asking for fresh tickets."""
    link_ticket_passes: int = 3
    """Passes over the file one started link download may be given tickets for: its first, then renewals
    of the chunks it still lacks once its tickets ran out. Bounds what one counted download can fetch."""
    default_quota_bytes: int = 100 * 10**9
    """Bytes a user without an override may store: 100 GB, decimal like every figure Coffer prints."""
    default_quota_files: int = 100_000
    rate_limit_per_address: int = 12_000
    """Requests a minute from one client address (all users behind one NAT share it); 0 disables."""
    rate_limit_per_user: int = 1_800
    """Requests a minute from one user's sessions together; 0 disables."""
    rate_limit_lookups: int = 120
    """Lookups of other users by name (public keys, shares) a minute from one user; 0 disables.
    Each tells whether a name is a user with keys, so a tighter limit keeps a directory from being walked."""
    rate_limit_fileservers: int = 6_000
    """Requests a minute to /api/fileservers/* from one address (a site's fileservers); 0 disables."""
    login_free_failures: int = 5
    """Failed logins in a row for one name before each further attempt must wait 1, 2, 4, … s."""
    login_max_delay: float = 60.0
    login_lock_failures: int = 20
    """Failed logins in a row that lock the name for login_lock_seconds; 0 never locks."""
    login_lock_seconds: float = 900.0
    login_address_failures: int = 100
    """Failed logins from one address per login_lock_seconds before it is locked out; 0 disables."""
    redis_url: str = ""
    """Keep limit counters in Redis (redis://host:6379/0) instead of the database."""
    redis_prefix: str = "coffer:"
    trusted_proxies: str = ""
    """Comma-separated addresses or networks of reverse proxies whose X-Forwarded-For is believed."""
    body_idle_timeout: float = DEFAULT_BODY_IDLE_TIMEOUT
    """Seconds a request body may send nothing before the request is answered 408 and its connection closed."""
    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    """Seconds a connection may take to send a whole request head before it is answered 408 and closed."""
    connections_per_address: int = DEFAULT_CONNECTIONS_PER_ADDRESS
    """Connections one client address may hold open in one worker (trusted proxies exempt); 0: no cap."""
    web_dir: str = ""
    """The built web page (index.html, link.html, assets/) served at / and /s/{link id}; empty: this
    checkout's web/dist, where `make web` builds it."""
    web_connect_origins: str = ""
    """Comma-separated origins the page may fetch chunks from besides the registered fileservers' own
    (say, a load balancer in front of them): added to the page's Content-Security-Policy connect-src."""
    events_url: str = ""
    """The NATS server the file and fileserver events go to (``nats://127.0.0.1:4222``); empty: no events,
    and none are written to the outbox either."""
    events_stream: str = "COFFER_EVENTS"
    """The JetStream stream the events are published to; created (subjects ``<prefix>.>``) if missing."""
    events_subject_prefix: str = "coffer.events"
    """Each event goes to ``<prefix>.<type>``, e.g. ``coffer.events.file.created``."""
    events_interval: float = 0.25
    """Seconds between looks at the outbox by the publishing job."""
    events_batch: int = 200
    """Events published, acknowledged and removed from the outbox at most per round."""
    events_duplicate_window: float = 600.0
    """Seconds the stream remembers message ids to drop a republished event (set when it creates the stream)."""
    log_level: str = "info"
    metrics_bind: str = ""
    """Where a process beside the workers serves Prometheus metrics (``127.0.0.1:9100``); empty: none."""
    metrics_dir: str = "var/metrics"
    """The workers' metric files of this run, emptied at start: one directory per server instance."""
    fault_create_pause: float = 0.0
    """FAULT INJECTION, for tests only; leave 0 in production. Seconds a file's create waits after its record is
    committed and before it answers, so a test can kill the server instance inside the create (docs/operations.md)."""

    def __post_init__(self) -> None:
        if not self.database_url.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise loader.SettingsError(
                f"database_url {self.database_url!r} is neither sqlite:///PATH nor postgresql://..."
            )
        if ":" not in self.bind:
            raise loader.SettingsError(f"bind {self.bind!r} must be HOST:PORT")
        if not self.public_url.startswith(("http://", "https://")):
            raise loader.SettingsError(f"public_url {self.public_url!r} must start with http:// or https://")
        for name in ("workers", "threads", "pool_size"):
            if getattr(self, name) < 1:
                raise loader.SettingsError(f"{name} must be at least 1")
        if self.heartbeat_interval <= 0 or self.lease_seconds < self.heartbeat_interval:
            raise loader.SettingsError("lease_seconds must be at least heartbeat_interval, and both positive")
        if self.session_ttl <= 0 or self.ticket_ttl <= 0 or self.max_retention <= 0 or self.upload_deadline <= 0:
            raise loader.SettingsError("session_ttl, ticket_ttl, max_retention and upload_deadline must be positive")
        if self.link_default_expiry <= 0 or self.link_download_window <= 0:
            raise loader.SettingsError("link_default_expiry and link_download_window must be positive")
        if self.lifecycle_interval < 0 or self.upload_grace < 0 or self.orphan_grace < 0:
            raise loader.SettingsError("lifecycle_interval, upload_grace and orphan_grace must not be negative")
        if self.default_quota_bytes < 0 or self.default_quota_files < 0:
            raise loader.SettingsError("default_quota_bytes and default_quota_files must not be negative")
        if not 0 < self.default_chunk_size <= self.max_chunk_size <= MAX_CHUNK_SIZE:
            raise loader.SettingsError(f"need 0 < default_chunk_size <= max_chunk_size <= {MAX_CHUNK_SIZE}")
        if not 0 < self.body_idle_timeout <= 3600:
            raise loader.SettingsError("body_idle_timeout must be more than 0 and at most 3600 seconds")
        self._check_limits()
        try:
            self.edge_limits()
        except ValueError as exc:
            raise loader.SettingsError(str(exc)) from exc
        self._check_events()
        if self.log_level.lower() not in ("debug", "info", "warning", "error"):
            raise loader.SettingsError("log_level must be debug, info, warning or error")

    def _check_limits(self) -> None:
        if self.repair_grace < self.lease_seconds or not 0 <= self.repair_batch <= MAX_COPY_ORDERS:
            raise loader.SettingsError(
                f"repair_grace must be at least lease_seconds, and repair_batch from 0 to {MAX_COPY_ORDERS}"
            )
        if not 0 <= self.fault_create_pause <= 60:
            raise loader.SettingsError("fault_create_pause (fault injection, for tests) must be 0 to 60 seconds")
        if self.link_ticket_passes < 1:
            raise loader.SettingsError("link_ticket_passes must be at least 1 (the download's first pass)")
        for name in ("rate_limit_per_address", "rate_limit_per_user", "rate_limit_fileservers", "rate_limit_lookups"):
            if getattr(self, name) < 0:
                raise loader.SettingsError(f"{name} must be 0 (no limit) or more requests a minute")
        if self.login_address_failures < 0 or self.login_lock_failures < 0 or self.login_free_failures < 0:
            raise loader.SettingsError(
                "login_free_failures, login_lock_failures and login_address_failures must be 0 or more"
            )
        if 0 < self.login_lock_failures <= self.login_free_failures:
            raise loader.SettingsError("login_lock_failures must be more than login_free_failures (or 0: never lock)")
        if self.login_lock_seconds <= 0 or self.login_max_delay < 1:
            raise loader.SettingsError("login_lock_seconds must be positive and login_max_delay at least 1 second")
        if self.redis_url and not self.redis_url.startswith(("redis://", "rediss://", "unix://")):
            # SECURITY: the URL may hold a password, so it is not echoed.
            raise loader.SettingsError("redis_url must start with redis://, rediss:// or unix://")
        try:
            TrustedProxies.parse(self.trusted_proxies)
        except ValueError as exc:
            raise loader.SettingsError(f"trusted_proxies: {exc}") from exc
        try:
            check_bind(self.metrics_bind)
        except ValueError as exc:
            raise loader.SettingsError(str(exc)) from exc
        try:
            self.connect_origins()
        except ValueError as exc:
            raise loader.SettingsError(f"web_connect_origins: {exc}") from exc

    def _check_events(self) -> None:
        if self.events_url and not self.events_url.startswith(("nats://", "tls://")):
            # SECURITY: the URL may hold a password or token, so it is not echoed.
            raise loader.SettingsError("events_url must start with nats:// or tls:// (or be empty: no events)")
        token = r"[A-Za-z0-9_-]+"
        if not re.fullmatch(token, self.events_stream):
            raise loader.SettingsError("events_stream must be letters, digits, '_' or '-'")
        if not re.fullmatch(rf"{token}(\.{token})*", self.events_subject_prefix):
            raise loader.SettingsError("events_subject_prefix must be dot-separated tokens without wildcards")
        if self.events_interval <= 0 or self.events_batch < 1 or self.events_duplicate_window <= 0:
            raise loader.SettingsError(
                "events_interval and events_duplicate_window must be positive; events_batch at least 1"
            )

    def connect_origins(self) -> tuple[str, ...]:
        """Return the origins of ``web_connect_origins``."""
        return parse_origins(self.web_connect_origins)

    def edge_limits(self) -> EdgeLimits:
        """Return the limits the worker holds connections to before a request reaches the app."""
        trusted = TrustedProxies.parse(self.trusted_proxies)
        return EdgeLimits(self.header_timeout, self.connections_per_address, exempt=trusted.trusts)


def load(path: Path | None = None) -> ServerSettings:
    """Read the settings from *path* (its ``[server]`` table, or the whole file) and the environment."""
    data = loader.read_toml(path)
    table = data.get("server", data)
    return loader.load(ServerSettings, table, env_prefix=ENV_PREFIX, source=str(path or "defaults"))
