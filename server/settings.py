"""The server's settings: one typed object, read once at start from TOML and ``COFFER_*``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from protocol import settings as loader
from protocol.wire import DEFAULT_CHUNK_SIZE, MAX_CHUNK_SIZE

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
    log_level: str = "info"

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
        if self.session_ttl <= 0 or self.ticket_ttl <= 0 or self.max_retention <= 0:
            raise loader.SettingsError("session_ttl, ticket_ttl and max_retention must be positive")
        if not 0 < self.default_chunk_size <= self.max_chunk_size <= MAX_CHUNK_SIZE:
            raise loader.SettingsError(f"need 0 < default_chunk_size <= max_chunk_size <= {MAX_CHUNK_SIZE}")
        if self.log_level.lower() not in ("debug", "info", "warning", "error"):
            raise loader.SettingsError("log_level must be debug, info, warning or error")


def load(path: Path | None = None) -> ServerSettings:
    """Read the settings from *path* (its ``[server]`` table, or the whole file) and the environment."""
    data = loader.read_toml(path)
    table = data.get("server", data)
    return loader.load(ServerSettings, table, env_prefix=ENV_PREFIX, source=str(path or "defaults"))
